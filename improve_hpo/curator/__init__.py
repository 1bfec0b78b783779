"""Tools for model curators: `check-def` reads a Singularity definition file (check_def)."""
