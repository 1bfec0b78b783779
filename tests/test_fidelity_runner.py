"""Intermediate results and early stopping in the runner: the documented IMPROVE_PROGRESS line,
a user's pattern for a model that prints its losses in its own words, the published cutoffs,
and a stopped trial: a result at the fidelity it reached, with its whole process tree ended."""

from __future__ import annotations

import json
import textwrap

from runner_fixtures import CPU_WORKER, assert_all_gone, make_model, settings_for

from improve_hpo.runner import run_trial
from improve_hpo.runner.intermediate import (ProgressReader, ProgressWatch, ThresholdsFile,
                                             falls_behind, parse_progress, standing)

# A train.sh that starts a grandchild ignoring SIGTERM, records both pids, then prints one
# validation loss per epoch (0.2 s apart), each worse than the cutoffs below at epoch 3.
EPOCHS_WITH_GRANDCHILD = textwrap.dedent('''
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    Path("pids.json").write_text(json.dumps([os.getpid(), child.pid]))
    epochs = int(flag("--epochs"))
    for epoch in range(1, epochs + 1):
        time.sleep(0.2)
        print(LINE.format(epoch=epoch, value=1.0 / epoch), flush=True)
    child.kill()
    print("IMPROVE_RESULT val_loss: %s" % (1.0 / epochs), flush=True)
''')


def test_the_documented_line_and_its_variants():
    assert parse_progress("IMPROVE_PROGRESS epoch=3 val_loss=0.25", "val_loss") == (3, 0.25)
    assert parse_progress("  IMPROVE_PROGRESS epoch=4 loss=1 val_loss=2e-3 ", "val_loss") == \
        (4, 0.002)
    assert parse_progress("IMPROVE_PROGRESS val_loss=0.5", "val_loss") == (None, 0.5)
    assert parse_progress("IMPROVE_PROGRESS epoch=3 loss=0.25", "val_loss") is None
    assert parse_progress("IMPROVE_PROGRESS epoch=x val_loss=0.25", "val_loss") is None
    assert parse_progress("epoch=3 val_loss=0.25", "val_loss") is None


def test_the_reader_follows_a_growing_log(tmp_path):
    log = tmp_path / "train.stdout.log"
    log.write_text("starting\nIMPROVE_PROGRESS epoch=1 val_loss=0.9\nIMPROVE_PROGRESS ep")
    reader = ProgressReader(log, "val_loss")
    assert reader.poll() == [(1, 0.9)]
    assert reader.poll() == []
    with open(log, "a") as handle:
        handle.write("och=2 val_loss=0.5\n")  # the rest of a line written in two pieces
    assert reader.poll() == [(2, 0.5)]


def test_a_pattern_reads_a_model_that_prints_in_its_own_words(tmp_path):
    log = tmp_path / "train.stdout.log"
    log.write_text("Epoch 1/3\n  - loss: 0.8 - val_loss: 0.7\nEpoch 2/3\n  - loss: 0.5 - "
                   "val_loss: 0.4\n")
    # no epoch group: the n-th matching line is epoch n (Keras prints one per epoch)
    assert ProgressReader(log, "val_loss", r"val_loss: (?P<value>[-+.\deE]+)").poll() == \
        [(1, 0.7), (2, 0.4)]
    log.write_text("[epoch 5] validation mse 0.31\n[epoch 10] validation mse 0.2\n")
    pattern = r"\[epoch (?P<epoch>\d+)\] validation mse (?P<value>\S+)"
    assert ProgressReader(log, "val_loss", pattern).poll() == [(5, 0.31), (10, 0.2)]


def test_a_line_is_read_as_a_terminal_shows_it(tmp_path):
    """Keras (2.10 on Linux) redraws its progress bar with backspaces and carriage returns on
    one line, also into a file; a pattern is matched against the last redraw, the one with the
    validation metric (anchored there), and a \\r\\n ending does not hide a line."""
    log = tmp_path / "train.stdout.log"
    bar = ("1/4 [======>...] - ETA: 3s - loss: 0.9" + "\b" * 40 + "\r4/4 [==========] - 2s "
           "80ms/step - loss: 0.8 - val_loss: {} - val_rmse: 0.9\n")
    log.write_text("Epoch 1/2\n" + bar.format(0.7) + "Epoch 2/2\n" + bar.format(0.4)
                   + "IMPROVE_PROGRESS epoch=3 val_loss=0.3\r\n")
    anchored = r"^4/4 \[=+\] - \d+s .* - val_loss: (?P<value>[-+.\deE]+)"
    assert ProgressReader(log, "val_loss", anchored).poll() == [(1, 0.7), (2, 0.4)]
    assert ProgressReader(log, "val_loss").poll() == [(3, 0.3)]
    assert ProgressReader(log, "val_loss", r"^1/4 .* loss: (?P<value>\S+)").poll() == []


def test_cutoffs_round_trip_and_compare_by_mode(tmp_path):
    path = ThresholdsFile(tmp_path / "cutoffs.json")
    assert path.read() == ("min", {}, {})  # not published yet: no cutoff
    path.write("max", {3: 0.5, 1: 0.25})
    assert path.read() == ("max", {1: 0.25, 3: 0.5}, {})
    published = json.loads((tmp_path / "cutoffs.json").read_text())
    assert published["cutoffs"] == {"1": 0.25, "3": 0.5} and "strong_starts" not in published
    path.write("min", {3: 0.5}, {1: 4, 3: 4}, strong={1: 0.75})  # --strong-start
    assert path.read() == ("min", {3: 0.5}, {1: 0.75})
    assert falls_behind(0.6, 0.5, "min") and not falls_behind(0.5, 0.5, "min")
    assert falls_behind(0.4, 0.5, "max") and not falls_behind(0.6, 0.5, "max")
    assert falls_behind(float("nan"), 0.5, "min")
    assert (standing(None, 0.4, "min"), standing(0.2, 0.4, "min"), standing(0.2, 0.4, "max")) \
        == (0.4, 0.2, 0.4)
    assert all(falls_behind(standing(*pair, "min"), 1.0, "min")  # a NaN: diverged for good
               for pair in ((0.2, float("nan")), (float("nan"), 0.1)))


def stopping_trial(tmp_path, line: str, pattern=None, cutoffs=None, stoppable=None,
                   strong=None, body=EPOCHS_WITH_GRANDCHILD, options=()):
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    model = make_model(tmp_path / "model", train=f"LINE = {line!r}\n" + body)
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data), *options)
    (tmp_path / "pre").mkdir(exist_ok=True)
    thresholds = ThresholdsFile(tmp_path / "cutoffs.json")
    thresholds.write("min", {1: 2.0, 3: 0.3} if cutoffs is None else cutoffs, strong=strong)
    watch = ProgressWatch(str(thresholds.path), "val_loss", (1, 3, 9), pattern, stoppable)
    return run_trial(settings, {"epochs": 27}, tmp_path / "t", tmp_path / "pre", CPU_WORKER,
                     watch=watch)


def test_a_trial_behind_at_a_rung_is_stopped_with_its_process_tree(tmp_path):
    result = stopping_trial(tmp_path, "IMPROVE_PROGRESS epoch={epoch} val_loss={value}")
    # epoch 1: 1.0 is within the cutoff 2.0; epoch 3: 0.333 is behind 0.3
    assert (result.status, result.stopped_at) == ("stopped", 3)
    assert abs(result.metric - 1 / 3) < 1e-12
    assert result.milestones == {1: 1.0, 3: result.metric}
    assert result.reason.startswith("stopped at 3 epochs: val_loss 0.333333 is behind the rung "
                                    "cutoff 0.3 at 3")
    assert_all_gone(tmp_path / "t" / "pids.json")
    log = (tmp_path / "t" / "train.stdout.log").read_text()
    assert "IMPROVE_RESULT" not in log  # it was stopped long before its 27 epochs


def test_a_trial_in_a_higher_bracket_is_not_stopped_below_its_rung(tmp_path):
    """Early stopping's brackets: a trial that may be stopped only from 3 epochs on passes the
    cutoff at 1 it is behind (recording its value there) and is stopped at 3."""
    result = stopping_trial(tmp_path, "IMPROVE_PROGRESS epoch={epoch} val_loss={value}",
                            cutoffs={1: 0.5, 3: 0.3}, stoppable=(3, 9))
    assert (result.status, result.stopped_at) == ("stopped", 3)
    assert result.milestones == {1: 1.0, 3: result.metric}
    assert "behind the rung cutoff 0.3 at 3" in result.reason
    assert_all_gone(tmp_path / "t" / "pids.json")


def test_a_strong_start_is_not_stopped_at_the_next_rung(tmp_path):
    """--strong-start: the trial's value at 1 epoch (1.0) is within rung 1's strong start, so it
    trains on past the cutoff at 3 it is behind (0.333 > 0.3) and is stopped at 9 (0.111 >
    0.1; its value at 3 is not a strong start there). Without the strong start at 1 it is
    stopped at 3, as before; with a strong-start limit it misses (0.9), too."""
    line = "IMPROVE_PROGRESS epoch={epoch} val_loss={value}"
    cutoffs = {1: 2.0, 3: 0.3, 9: 0.1}
    kept = stopping_trial(tmp_path / "kept", line, cutoffs=cutoffs, strong={1: 1.0, 3: 0.2})
    assert (kept.status, kept.stopped_at) == ("stopped", 9)
    assert kept.milestones == {1: 1.0, 3: 1 / 3, 9: 1 / 9}
    assert "behind the rung cutoff 0.1 at 9" in kept.reason
    log = (tmp_path / "kept" / "t" / "train.stdout.log").read_text()
    assert "epoch=9 " in log and "epoch=12 " not in log  # it trained to 9 epochs, no further
    assert_all_gone(tmp_path / "kept" / "t" / "pids.json")
    missed = stopping_trial(tmp_path / "missed", line, cutoffs=cutoffs, strong={1: 0.9})
    assert (missed.status, missed.stopped_at) == ("stopped", 3)
    log = (tmp_path / "missed" / "t" / "train.stdout.log").read_text()
    assert "epoch=3 " in log and "epoch=6 " not in log
    assert_all_gone(tmp_path / "missed" / "t" / "pids.json")


def test_a_model_that_prints_without_flushing_is_stopped_while_it_trains(tmp_path):
    """The IMPROVE models print their per-epoch metric without flush: into a log file, Python
    would write it in 8 KiB blocks, read only when the training ends. The runner sets
    PYTHONUNBUFFERED=1, so the trial is stopped at 3 epochs; with --env PYTHONUNBUFFERED= (off)
    the same trial's lines arrive only as it exits: it trains all 27 epochs."""
    line = "IMPROVE_PROGRESS epoch={epoch} val_loss={value}"
    unflushed = EPOCHS_WITH_GRANDCHILD.replace("value=1.0 / epoch), flush=True)",
                                               "value=1.0 / epoch))")
    assert unflushed != EPOCHS_WITH_GRANDCHILD
    result = stopping_trial(tmp_path / "default", line, body=unflushed)
    assert (result.status, result.stopped_at) == ("stopped", 3)
    log = (tmp_path / "default" / "t" / "train.stdout.log").read_text()
    assert "epoch=3 " in log and "epoch=6 " not in log
    assert_all_gone(tmp_path / "default" / "t" / "pids.json")
    stopping_trial(tmp_path / "off", line, body=unflushed, options=("--env", "PYTHONUNBUFFERED="))
    log = (tmp_path / "off" / "t" / "train.stdout.log").read_text()
    assert "epoch=27 " in log and "IMPROVE_RESULT" in log  # it trained to its end


def test_an_unmodified_model_is_stopped_through_the_pattern(tmp_path):
    result = stopping_trial(tmp_path, "Epoch {epoch}/27 - val_loss: {value}",
                            pattern=r"Epoch (?P<epoch>\d+)/\d+ - val_loss: (?P<value>\S+)")
    assert (result.status, result.stopped_at) == ("stopped", 3)
    assert_all_gone(tmp_path / "t" / "pids.json")


def test_a_trial_that_keeps_up_runs_to_its_end_and_reports_its_milestones(tmp_path):
    model_epochs = {"epochs": 4}
    data = tmp_path / "data"
    data.mkdir()
    model = make_model(tmp_path / "model", train="LINE = 'IMPROVE_PROGRESS epoch={epoch} "
                       "val_loss={value}'\n" + EPOCHS_WITH_GRANDCHILD)
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data))
    (tmp_path / "pre").mkdir()
    thresholds = ThresholdsFile(tmp_path / "cutoffs.json")
    thresholds.write("min", {1: 2.0, 3: 0.5})
    watch = ProgressWatch(str(thresholds.path), "val_loss", (1, 3), None)
    result = run_trial(settings, model_epochs, tmp_path / "t", tmp_path / "pre", CPU_WORKER,
                       watch=watch)
    assert (result.status, result.metric, result.stopped_at) == ("ok", 0.25, None)
    assert result.milestones == {1: 1.0, 3: 1 / 3}


# A bumpy learning curve: best at epoch 2, worse at 3 (a bump), then flat.
BUMPY = textwrap.dedent('''
    values = [0.5, 0.2, 0.4] + [0.45] * 24
    for epoch in range(1, int(flag("--epochs")) + 1):
        time.sleep(0.1)
        print(f"IMPROVE_PROGRESS epoch={epoch} val_loss={values[epoch - 1]}", flush=True)
    print(f"IMPROVE_RESULT val_loss: {values[-1]}", flush=True)
''')


def test_a_trial_is_judged_on_its_best_value_so_far_or_the_last(tmp_path):
    """--stopping-value best (the default): the bump at 3 epochs (0.4) is not held against a
    trial that printed 0.2 before, which is what it is recorded and stopped with at 9;
    --stopping-value last stops it at the bump."""
    data = tmp_path / "data"
    data.mkdir()
    model = make_model(tmp_path / "model", train=BUMPY)
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data))
    (tmp_path / "pre").mkdir()
    thresholds = ThresholdsFile(tmp_path / "cutoffs.json")
    thresholds.write("min", {1: 2.0, 3: 0.3, 9: 0.1})
    results = {}
    for judged_on in ("best", "last"):
        watch = ProgressWatch(str(thresholds.path), "val_loss", (1, 3, 9), None, None, judged_on)
        results[judged_on] = run_trial(settings, {"epochs": 27}, tmp_path / judged_on,
                                       tmp_path / "pre", CPU_WORKER, watch=watch)
    best, last = results["best"], results["last"]
    assert (best.status, best.stopped_at, best.metric) == ("stopped", 9, 0.2)
    assert best.milestones == {1: 0.5, 3: 0.2, 9: 0.2}
    assert best.reason.startswith("stopped at 9 epochs: val_loss 0.2 (its best so far) is "
                                  "behind the rung cutoff 0.1 at 9")
    assert (last.status, last.stopped_at, last.metric) == ("stopped", 3, 0.4)
    assert last.milestones == {1: 0.5, 3: 0.4}
    log = (tmp_path / "best" / "train.stdout.log").read_text()
    assert "epoch=9 " in log and "epoch=12 " not in log  # it trained to 9 epochs, no further
