"""OUT/best.json and OUT/best_config.ini: the best trial so far, rewritten as soon as a finished
trial improves it (a run stopped at any point leaves them).

best.json: trial, generation, metric, metric_name, mode, values (all hyperparameters), folder
(relative to OUT), updated (ISO time), default_config (what best_config.ini was merged into, or
why it was not), final_model_command (argv) and final_model_command_line (one shell line): the
command that trains the final model.

best_config.ini: the model's own default config (reports/default_config.py) with the best
values written into their stage's section ([Preprocess], [Train], [Infer]); every other line,
comments included, is kept. Without a default config it holds the best values alone. The final
model command is the model's train.sh given this file, the best trial's preprocessed data and
OUT/final_model as its output folder, and the searched train values as flags too, exactly as the
trial got them (improvelib 0.1.0 ignores config-file values of parameters with choices or a
boolean type; flags always win).

Both files are written to a temporary file and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from improve_hpo.ledger import TrialRecord
from improve_hpo.reports.csv_files import cell, iso_time
from improve_hpo.reports.default_config import DefaultConfig
from improve_hpo.runner.flags import directory_argv, format_value, values_to_argv
from improve_hpo.runner.launchers import build_command, data_dir_for_scripts, gpu_argument
from improve_hpo.runner.settings import NO_GPU

JSON_NAME = "best.json"
CONFIG_NAME = "best_config.ini"
FINAL_MODEL_FOLDER = "final_model"
SECTIONS = {"preprocess": "Preprocess", "train": "Train", "infer": "Infer"}
_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_KEY = re.compile(r"^\s*([^#;=:\s][^=:]*?)\s*[=:]")


class BestWriter:
    """Writes the best files of one experiment. `runner`: RunnerSettings; `default_config`:
    the model's default config (or None where no model scripts run)."""

    def __init__(self, out, space, runner, default_config: DefaultConfig | None):
        self.out = Path(out)
        self.space = space
        self.runner = runner
        self.default_config = default_config

    def write(self, record: TrialRecord, preprocess_folder: str | None) -> None:
        """`preprocess_folder`: the best trial's preprocessed data, relative to OUT."""
        command = self.final_model_command(record, preprocess_folder)
        document = dict(trial=record.number, generation=record.generation,
                        metric=record.metric, metric_name=self.runner.metric,
                        mode=self.runner.mode, values=record.values, folder=record.folder,
                        updated=iso_time(time.time()),
                        default_config=self.default_config.origin if self.default_config
                        else None,
                        final_model_command=list(command.argv) if command else None,
                        final_model_command_line=command.pasteable() if command else None)
        _replace(self.out / JSON_NAME, json.dumps(document, indent=2) + "\n")
        _replace(self.out / CONFIG_NAME, self._header(record, command) + self.config(record))

    def config(self, record: TrialRecord) -> str:
        stages = {SECTIONS[stage]: self.space.stage_values(record.values, stage)
                  for stage in SECTIONS}
        text = self.default_config.text if self.default_config and self.default_config.text \
            else ""
        return merge_config(text, {section: values for section, values in stages.items()
                                   if values})

    def final_model_command(self, record: TrialRecord, preprocess_folder: str | None):
        """The Command that trains the final model, or None where no model scripts run."""
        runner = self.runner
        if runner.launcher not in ("native", "container") or preprocess_folder is None:
            return None
        config = str((self.out / CONFIG_NAME).absolute())
        pre = str((self.out / preprocess_folder).absolute())
        final = str((self.out / FINAL_MODEL_FOLDER).absolute())
        train = self.space.stage_values(record.values, "train")
        gpu = "0" if record.gpu not in ("", None, NO_GPU) else None  # the trial's kind of device
        args = [gpu_argument(gpu), data_dir_for_scripts(runner), config,
                *directory_argv([(runner.train_input_flag, pre),
                                 (runner.train_output_flag, final)]),
                *values_to_argv(train)]
        return build_command(runner, "train.sh", args, gpu, [pre, final, str(self.out.absolute())],
                             cwd=str(self.out.absolute()))

    def _header(self, record: TrialRecord, command) -> str:
        lines = [f"Best trial {record.number} (generation {record.generation}) of this "
                 f"experiment: {self.runner.metric} = {cell(record.metric)} ({self.runner.mode})."]
        if self.default_config and self.default_config.text:
            lines.append(f"The model's default config {self.default_config.origin} with the "
                         "best values written in.")
        elif self.default_config:
            lines.append(f"The best values only: no default config to merge them into "
                         f"({self.default_config.origin}).")
        if command is not None:
            lines += ["Train the final model (into final_model/ beside this file; "
                      "mkdir it first):", f"  {command.pasteable()}"]
        return "".join(f"# {line}\n" for line in lines) + "\n"


def merge_config(text: str, sections: dict[str, dict]) -> str:
    """`text` (an INI file) with `sections` {section: {name: value}} written in: an existing
    `name = ...` line of that section gets the new value, a missing name is added at the end of
    its section, a missing section at the end of the file. Everything else is kept as it is."""
    lines = text.splitlines()
    pending = {section: dict(values) for section, values in sections.items()}
    out: list[str] = []
    current = None

    def close_section():
        if current in pending:
            while out and not out[-1].strip():
                out.pop()
            out.extend(f"{name} = {format_value(value)}"
                       for name, value in pending.pop(current).items())
            out.append("")

    for line in lines:
        header = _SECTION.match(line)
        if header:
            close_section()
            current = header.group(1).strip()
            out.append(line)
            continue
        key = _KEY.match(line)
        values = pending.get(current, {})
        if key and key.group(1) in values:
            out.append(f"{key.group(1)} = {format_value(values.pop(key.group(1)))}")
            continue
        out.append(line)
    close_section()
    for section, values in pending.items():
        out += [f"[{section}]", *(f"{name} = {format_value(value)}"
                                  for name, value in values.items()), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
