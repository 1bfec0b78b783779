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
  spawn           when true, train (and preprocess) first start three processes that outlive
                  it unless the engine contains them: one left running in the background (as
                  `cmd &` does), one in its own session (the real `setsid`), one double-forked
                  daemon; their pids are appended to IMPROVE_DATA_DIR/spawned.log
  epochs          train epoch by epoch (sleeping epoch_sleep seconds each), printing
                  "IMPROVE_PROGRESS epoch=E val_loss=V" after each (or, with own_words true,
                  "Epoch E/N - val_loss: V"); the metric is then that of the last epoch,
                  (x - 0.3) ** 2 + 0.01 * n + 1 / E. With can_continue true it starts after the
                  epochs recorded in OUT/checkpoint.json and records each epoch there. When
                  n == slow_n, each epoch sleeps slow_sleep seconds instead.
  record_ledger   when true, train first writes ledger_seen.json in its output folder: the
                  numbers of the trials the ledger (OUT/ledger.sqlite) holds as finished
Every start and end of a stage is appended to IMPROVE_DATA_DIR/runs.log as
"<stage> start|end <output_dir>" (and "train epoch <output_dir>" for each epoch trained), so
tests can see what ran, and how often.
"""

import json
import os
import subprocess
import sys
import time


def flags(argv):
    """--name value pairs; --name=value is one element (the engine's form for values that
    start with '-')."""
    pairs = {}
    index = 0
    while index < len(argv):
        if argv[index].startswith("--") and "=" in argv[index]:
            name, value = argv[index][2:].split("=", 1)
            index += 1
        else:
            name, value = argv[index].lstrip("-"), argv[index + 1] if index + 1 < len(argv) else ""
            index += 2
        pairs[name] = value
    return pairs


def spawn_survivors(data_dir):
    """Start the three kinds of processes that outlive a script (see the module doc)."""
    background = subprocess.Popen(["sleep", "300"])
    detached = subprocess.Popen(["setsid", "sleep", "300"])
    reader, writer = os.pipe()
    if os.fork() == 0:  # the double fork: the middle process exits, the daemon is orphaned
        os.setsid()
        daemon = os.fork()
        if daemon == 0:
            os.close(reader)
            os.close(writer)
            time.sleep(300)
            os._exit(0)
        os.write(writer, str(daemon).encode())
        os._exit(0)
    os.close(writer)
    daemon = int(os.read(reader, 32))
    os.close(reader)
    pids = [background.pid, detached.pid, daemon]
    with open(os.path.join(data_dir, "spawned.log"), "a") as handle:
        handle.write("".join(f"{pid}\n" for pid in pids))


def truthy(text):
    return str(text).lower() in ("true", "1", "yes")


def log(data_dir, line):
    with open(os.path.join(data_dir, "runs.log"), "a") as handle:
        handle.write(line + "\n")


def train_epochs(data_dir, out, options):
    base = (float(options.get("x", 0)) - 0.3) ** 2 + 0.01 * int(options.get("n", 0))
    epochs = int(options["epochs"])
    checkpoint = os.path.join(out, "checkpoint.json")
    done = 0
    if truthy(options.get("can_continue", "false")) and os.path.exists(checkpoint):
        with open(checkpoint) as handle:
            done = json.load(handle)["epochs"]
    metric = None
    pause = float(options.get("epoch_sleep", 0))
    if "slow_n" in options and int(options["slow_n"]) == int(options.get("n", 0)):
        pause = float(options.get("slow_sleep", 5))
    for epoch in range(done + 1, epochs + 1):
        time.sleep(pause)
        metric = base + 1.0 / epoch
        log(data_dir, f"train epoch {out}")
        with open(checkpoint, "w") as handle:
            json.dump({"epochs": epoch}, handle)
        if truthy(options.get("own_words", "false")):
            print(f"Epoch {epoch}/{epochs} - val_loss: {metric}", flush=True)
        else:
            print(f"IMPROVE_PROGRESS epoch={epoch} val_loss={metric}", flush=True)
    with open(os.path.join(out, "val_scores.json"), "w") as handle:
        json.dump({"val_loss": metric}, handle)
    print(f"IMPROVE_RESULT val_loss:\t{metric}")
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
    if truthy(options.get("spawn", "false")):
        spawn_survivors(data_dir)
    if stage == "preprocess":
        if truthy(options.get("prep_fail", "false")):
            print("preprocess: told to fail", file=sys.stderr)
            return 1
        with open(os.path.join(out, "prepared.txt"), "w") as handle:
            handle.write(json.dumps(options))
    elif stage == "train" and "epochs" in options:
        train_epochs(data_dir, out, options)
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
