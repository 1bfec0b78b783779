"""OUT/best.json and OUT/best_config.ini: the best trial so far, rewritten when it changes.

best.json: trial, generation, metric, metric_name, mode, values (all hyperparameters), folder
(relative to OUT), updated (ISO time). best_config.ini: the best values as an IMPROVE config
file, one section per stage ([Preprocess], [Train], [Infer]), to train the final model with.
Both are written to a temporary file and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import configparser
import json
import time
from pathlib import Path

from improve_hpo.ledger import TrialRecord
from improve_hpo.reports.csv_files import cell, iso_time

JSON_NAME = "best.json"
CONFIG_NAME = "best_config.ini"
SECTIONS = {"preprocess": "Preprocess", "train": "Train", "infer": "Infer"}


def write_best(out: Path, space, record: TrialRecord, metric_name: str, mode: str) -> None:
    out = Path(out)
    document = dict(trial=record.number, generation=record.generation, metric=record.metric,
                    metric_name=metric_name, mode=mode, values=record.values,
                    folder=record.folder, updated=iso_time(time.time()))
    _replace(out / JSON_NAME, json.dumps(document, indent=2) + "\n")
    config = configparser.RawConfigParser()
    config.optionxform = str  # keep the parameter names' case
    for stage, section in SECTIONS.items():
        values = space.stage_values(record.values, stage)
        if values:
            config[section] = {name: cell(value) for name, value in values.items()}
    header = (f"# Best trial {record.number} (generation {record.generation}) of this "
              f"experiment: {metric_name} = {cell(record.metric)} ({mode}).\n")
    partial = out / (CONFIG_NAME + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(header)
        config.write(handle)
    partial.replace(out / CONFIG_NAME)


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
