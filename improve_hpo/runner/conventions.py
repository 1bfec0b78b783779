"""Calling conventions of the published IMPROVE models: the directory flags their scripts'
parsers accept, where their images mount the data, and what preprocess.sh takes first.

A convention sets all of these at once (`--convention NAME`); any directory-flag option or
--data-mount given on the command line overrides its value. A flag value may name several
flags separated by commas (`train_ml_data_dir,val_ml_data_dir`): each gets the same folder.
docs/compat.md says which real model and version uses which convention.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CONVENTION = "improvelib"
# The RunnerSettings directory-flag fields of each stage.
STAGE_FIELDS = {"preprocess": ("preprocess_input_flag", "preprocess_output_flag"),
                "train": ("train_input_flag", "train_output_flag"),
                "infer": ("infer_data_flag", "infer_model_flag", "infer_output_flag")}


@dataclass(frozen=True)
class Convention:
    name: str
    stands_for: str  # the models and versions that call their scripts this way
    mount_point: str
    preprocess_gpu_arg: bool  # preprocess.sh takes CUDA_VISIBLE_DEVICES before the data folder
    flags: dict  # RunnerSettings directory-flag field -> flag name(s), '' for none
    positionals: bool = True  # False: the scripts take --flags only (no GPU id, no data folder)

    def flag_names(self, stage: str | None = None) -> set[str]:
        """The flag names this convention passes (to `stage`.sh, or to any script)."""
        fields = STAGE_FIELDS[stage] if stage else self.flags
        return {name for field in fields for name in self.flags[field].split(",") if name}


IMPROVELIB_FLAGS = dict(
    preprocess_input_flag="input_dir", preprocess_output_flag="output_dir",
    train_input_flag="input_dir", train_output_flag="output_dir",
    infer_data_flag="input_data_dir", infer_model_flag="input_model_dir",
    infer_output_flag="output_dir")

CONVENTIONS = {
    "improvelib": Convention(
        "improvelib", "improvelib 0.1.0: the IMPROVE models' develop branches and their "
        "v0.1.0-2024-09-27 tags (GraphDRP, DeepCDR, HiDRA, IGTD, tCNNS, DeepTTC)",
        "/IMPROVE_DATA_DIR", False, IMPROVELIB_FLAGS),
    "flags-only": Convention(
        "flags-only", "improvelib 0.1.0 models whose scripts hand every argument to the "
        "Python entry point (PathDSP develop): no GPU id or data folder positional "
        "(CUDA_VISIBLE_DEVICES is still set in their environment)",
        "/IMPROVE_DATA_DIR", False, IMPROVELIB_FLAGS, positionals=False),
    "improve-beta": Convention(
        "improve-beta", "the IMPROVE v0.0.3-beta framework (the models' v0.0.3-beta tags): "
        "separate train/val data folders, model_outdir, infer_outdir",
        "/candle_data_dir", False,
        dict(preprocess_input_flag="", preprocess_output_flag="ml_data_outdir",
             train_input_flag="train_ml_data_dir,val_ml_data_dir",
             train_output_flag="model_outdir",
             infer_data_flag="test_ml_data_dir", infer_model_flag="model_dir",
             infer_output_flag="infer_outdir")),
    "candle": Convention(
        "candle", "Supervisor-era images (v0.6 tags: GraphDRP, HiDRA, IGTD, tCNNS, "
        "Paccmann_MCA, DeepTTC, LGBM): candle's strict parser, folders as constants of the "
        "space or in the default config file, every script takes the GPU id first",
        "/candle_data_dir", True,
        dict(preprocess_input_flag="", preprocess_output_flag="", train_input_flag="",
             train_output_flag="", infer_data_flag="", infer_model_flag="",
             infer_output_flag="")),
}


def conventions_without(flags: set[str]) -> list[Convention]:
    """The conventions that pass none of `flags` (for a hint when a model's parser rejected
    them)."""
    found = [c for c in CONVENTIONS.values() if not flags & c.flag_names()]
    return sorted(found, key=lambda c: len(c.flag_names()))  # fewest flags first: candle


def describe() -> str:
    """One line per convention, for --help."""
    return "; ".join(f"{c.name}: {c.stands_for}" for c in CONVENTIONS.values())
