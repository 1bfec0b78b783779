"""A tiny IMPROVE-like model for the engine tests: real processes, behaviour set by its flags.

    fake_model.py preprocess IMPROVE_DATA_DIR --input_dir D --output_dir O [--flag value ...]
    fake_model.py train GPU IMPROVE_DATA_DIR --input_dir P --output_dir O [--flag value ...]
    fake_model.py infer GPU IMPROVE_DATA_DIR --input_data_dir P --input_model_dir M --output_dir O

Hyperparameters it understands (any other flag is accepted and ignored):
  x, n            the metric is (x - 0.3) ** 2 + 0.01 * n  (missing: 0)
  sleep           seconds train sleeps (default 0)
  slow_n, slow_sleep   train sleeps slow_sleep seconds instead when n == slow_n
  fail            train exits 1 when this is true (or when fail_n == n)
  fail_n          see fail
  prep_fail       preprocess exits 1 when true
  record_ledger   when true, train first writes ledger_seen.json in its output folder: the
                  numbers of the trials the ledger (OUT/ledger.sqlite) holds as finished
Every start and end of a stage is appended to IMPROVE_DATA_DIR/runs.log as
"<stage> start|end <output_dir>", so tests can see what ran, and how often.
"""

import json
import os
import sys
import time


def flags(argv):
    pairs = {}
    for index in range(0, len(argv) - 1, 2):
        pairs[argv[index].lstrip("-")] = argv[index + 1]
    return pairs


def truthy(text):
    return str(text).lower() in ("true", "1", "yes")


def log(data_dir, line):
    with open(os.path.join(data_dir, "runs.log"), "a") as handle:
        handle.write(line + "\n")


def record_ledger(out):
    """What another process sees in the ledger now: the finished trials' numbers."""
    import sqlite3

    ledger = os.path.join(out, "..", "..", "ledger.sqlite")
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT number FROM trials WHERE status IN ('ok', 'failed')")
        with open(os.path.join(out, "ledger_seen.json"), "w") as handle:
            json.dump(sorted(number for number, in rows), handle)


def main():
    stage = sys.argv[1]
    positionals = 1 if stage == "preprocess" else 2
    data_dir = sys.argv[1 + positionals]
    options = flags(sys.argv[2 + positionals:])
    out = options["output_dir"]
    os.makedirs(out, exist_ok=True)
    log(data_dir, f"{stage} start {out}")
    if stage == "preprocess":
        if truthy(options.get("prep_fail", "false")):
            print("preprocess: told to fail", file=sys.stderr)
            return 1
        with open(os.path.join(out, "prepared.txt"), "w") as handle:
            handle.write(json.dumps(options))
    elif stage == "train":
        if truthy(options.get("record_ledger", "false")):
            record_ledger(out)
        n = int(options.get("n", 0))
        seconds = float(options.get("sleep", 0))
        if "slow_n" in options and int(options["slow_n"]) == n:
            seconds = float(options.get("slow_sleep", 5))
        time.sleep(seconds)
        if truthy(options.get("fail", "false")) or options.get("fail_n") == str(n):
            print("train: told to fail", file=sys.stderr)
            return 1
        metric = (float(options.get("x", 0)) - 0.3) ** 2 + 0.01 * n
        with open(os.path.join(out, "val_scores.json"), "w") as handle:
            json.dump({"val_loss": metric}, handle)
        print(f"IMPROVE_RESULT val_loss:\t{metric}")
    else:
        with open(os.path.join(out, "test_scores.json"), "w") as handle:
            json.dump({"inferred": True}, handle)
    log(data_dir, f"{stage} end {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
