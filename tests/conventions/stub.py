"""The stand-in for a real IMPROVE model's Python entry point: a strict argument parser (an
unknown flag exits 2 with argparse's "unrecognized arguments", as improvelib's and candle's
parsers do) and no ML. What each model accepts, reads, writes and prints is in models.json;
the model's own preprocess.sh/train.sh/infer.sh (beside this file, one folder per model)
reproduce how the real scripts take their arguments.

    python3 stub.py MODEL STAGE [--flag value ...]

Every call is appended to $CONVENTION_LOG/calls.jsonl (when set): model, stage, argv, and the
CUDA_VISIBLE_DEVICES / CANDLE_DATA_DIR its script exported, so tests assert what the model saw.
A training of a model with `per_epoch` output prints, for each of its --epochs, the lines the
real training loop prints (its own words, in its order: models.json), with a validation value
that falls towards the final loss and gets worse once (the third epoch), so that lines printed
only on an improvement are missing there; it appends the values and its folder to
$CONVENTION_LOG/epochs.jsonl.
"""

import argparse
import json
import math
import os
import sys
from pathlib import Path

MODEL, STAGE, ARGS = sys.argv[1], sys.argv[2], sys.argv[3:]
SPEC = json.loads((Path(__file__).resolve().parent / "models.json").read_text())[MODEL][STAGE]
DATA_MARKER = "ml_data.txt"  # what preprocess writes and train/infer read


def record():
    log = os.environ.get("CONVENTION_LOG")
    if log:
        with open(Path(log) / "calls.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({
                "model": MODEL, "stage": STAGE, "argv": ARGS,
                "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "data_dir": os.environ.get("CANDLE_DATA_DIR")}) + "\n")


def epoch_values(loss, epochs):
    """The validation value after each epoch: falling towards `loss`, worse at the third."""
    values = []
    for done in range(1, epochs + 1):
        values.append(values[-1] * 1.05 if done == 3 else loss * (1 + 2 / done))
    return values


def print_epochs(spec, loss, epochs, learning_rate):
    """Print what the real training loop prints per epoch (models.json: `before_epochs` once,
    then each `each_epoch` line whose `when` holds), and record the values printed."""
    values = epoch_values(loss, epochs)
    for line in spec.get("before_epochs", []):
        print(line.format(n=epochs, learning_rate=learning_rate), flush=True)
    best, best_e1, since = math.inf, 0, 0
    for e0, value in enumerate(values):
        improved, prev_best = value < best, best
        if improved:
            best, best_e1, since = value, e0 + 1, 0
        else:
            since += 1
        fields = dict(e0=e0, e1=e0 + 1, n=epochs, value=value, train=value * 0.9,
                      rmse=math.sqrt(value), train_rmse=math.sqrt(value * 0.9), best=best,
                      best_e1=best_e1, prev_best=prev_best, since=since,
                      sym="<" if improved else ">=")
        holds = {"always": True, "improved": improved, "not_improved": not improved,
                 "improved_after_first": improved and e0 > 0, "several_epochs": epochs > 1}
        for entry in spec["each_epoch"]:
            if holds[entry.get("when", "always")]:
                print(entry["print"].format(**fields), end=entry.get("end", "\n"), flush=True)
    log = os.environ.get("CONVENTION_LOG")
    if log:
        with open(Path(log) / "epochs.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"model": MODEL, "values": values,
                                     "folder": os.getcwd()}) + "\n")


def folder(params, where):
    """A folder named by a flag ("flag:NAME") or under the data folder ("data:SUB")."""
    kind, _, name = where.partition(":")
    if kind == "flag":
        return Path(params[name])
    return Path(os.environ["CANDLE_DATA_DIR"]) / name


def main():
    record()
    parser = argparse.ArgumentParser(prog=f"{MODEL}_{STAGE}")
    for name in SPEC["accepts"] + ["config_file"]:
        parser.add_argument(f"--{name}")
    params = vars(parser.parse_args(ARGS))  # strict: unknown flags exit 2
    if "reads" in SPEC:
        source = folder(params, SPEC["reads"])
        if not (source / DATA_MARKER).is_file():
            sys.exit(f"{MODEL} {STAGE}: no prepared data in {source} ({DATA_MARKER} missing)")
    if STAGE == "preprocess":
        target = folder(params, SPEC["writes"])
        target.mkdir(parents=True, exist_ok=True)
        (target / DATA_MARKER).write_text("prepared\n")
    elif STAGE == "train":
        learning_rate = float(params["learning_rate"])
        batch_size = int(params.get("batch_size") or 0)
        loss = (math.log10(learning_rate) + 3) ** 2 + batch_size / 1000
        if "per_epoch" in SPEC:
            print_epochs(SPEC["per_epoch"], loss, int(params.get("epochs") or 1), learning_rate)
        for line in SPEC["prints"]:
            print(line.format(loss=loss, pcc=1 / (1 + loss)), flush=True)
        if "scores" in SPEC:
            out = folder(params, SPEC["scores"])
            (out / "val_scores.json").write_text(json.dumps({"mse": loss, "pcc": 1 / (1 + loss)}))
    elif STAGE == "infer" and "writes" in SPEC:
        target = folder(params, SPEC["writes"])
        target.mkdir(parents=True, exist_ok=True)
        (target / "test_y_data_predicted.csv").write_text("improve_sample_id,auc_pred\n0,0.5\n")


main()
