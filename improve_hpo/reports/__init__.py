"""What curators read: trials.csv, generations.csv, generations/gen_NNNN.csv, best.json,
best_config.ini and the progress line on stderr. All CSV is real CSV (the csv module, header
first) that pandas reads without hints."""
