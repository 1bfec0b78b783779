"""Multi-fidelity runs of the real engine on the fake model: promotion and early stopping over
local workers and MPI, a kill -9 and resume, a model that continues from its own folder, the
reports' fidelity columns, usage errors, and ledgers written before the fidelity columns."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

import pandas as pd
import pytest
from csv_exact import read_csv
from engine_models.harness import (BASE_SPACE, FAKE_MODEL, command, kill_job, ledger_rows, processes_under,
                                   run, runs_log, started, wait_for, write_space)

from improve_hpo import cli
from improve_hpo.ledger import Ledger
from improve_hpo.scheduling.settings import bracket_sequence

SPACE = [*BASE_SPACE[:2],
         {"name": "epochs", "type": "int", "lower": 1, "upper": 9, "fidelity": True},
         {"name": "epoch_sleep", "type": "constant", "value": 0.04}]
# --eta 3 (not the default 2): rungs 1, 3, 9 on 1..9 epochs, whose counts the tests spell out
OPTIONS = ("--strategy", "async", "--population", 6, "--generations", 2, "--offspring", 3,
           "--seed", 5, "--eta", 3)
# 9 points; promotion alone (the fake model prints its metric each epoch, so by default new
# points would train fully and be stopped once the first result is in)
SMALL = ("--strategy", "async", "--population", 6, "--generations", 1, "--offspring", 3,
         "--seed", 5, "--early-stopping", "off", "--eta", 3)


def epochs_trained(tmp) -> Counter:
    """Epochs the fake model trained, per trial folder name."""
    return Counter(folder for stage, event, folder in runs_log(tmp)
                   if stage == "train" and event == "epoch")


def climbs_rung_by_rung(trials: pd.DataFrame) -> bool:
    """Each point was trained at consecutive rungs from the one it started at (its Hyperband
    bracket's) without a gap: promotion never skips a rung."""
    ledger_points = trials.sort_values("trial").groupby("point").rung.apply(list)
    return all(r == list(range(r[0], r[0] + len(r))) for r in ledger_points)


def test_promotion_on_local_workers(tmp_path):
    """Plain ASHA (--brackets 1): 9 points at 1 epoch, 3 promoted to 3 epochs, 1 to 9."""
    space = write_space(tmp_path, SPACE)
    dry = run(command(tmp_path, *SMALL, "--brackets", 1, "--dry-run", space=space))
    assert dry.returncode == 0, dry.stderr
    assert "fidelity: epochs, rungs 1, 3, 9 (eta 3)" in dry.stdout
    assert "--epochs 1 --epoch_sleep 0.04" in dry.stdout  # new points start at the lowest rung
    assert "brackets:" not in dry.stdout
    assert "ranks results across rungs by their estimated share of better points" in dry.stdout
    default = run(command(tmp_path, *SMALL[:-2], "--dry-run", space=space))
    assert "fidelity: epochs, rungs 2, 4, 8, 9 (eta 2)" in default.stdout  # the defaults
    result = run(command(tmp_path, *SMALL, "--brackets", 1, "--workers", 2, space=space))
    assert result.returncode == 0, result.stderr
    # 9 points x (1 + 1/3 + 1/9) trainings each on average: 13 planned, promotions included
    assert "13 trials planned (about: promotions included)" in result.stderr
    assert "13/13 done" in result.stderr
    out = tmp_path / "out"
    trials = read_csv(out / "trials.csv")
    assert list(trials.columns[6:9]) == ["metric", "fidelity", "rung"]
    assert set(trials.status) == {"ok"}
    assert (trials.epochs == trials.rung.map({0: 1, 1: 3, 2: 9})).all()
    assert (trials.origin == "promotion").sum() >= 3 and (trials.rung == 2).any()
    trained = epochs_trained(tmp_path)
    assert all(trained[f"trial_{n:06d}"] == e for n, e in zip(trials.trial, trials.epochs))
    rows = ledger_rows(out, "SELECT number, rung, point FROM trials")
    assert climbs_rung_by_rung(pd.DataFrame(rows, columns=["trial", "rung", "point"]))
    generations = read_csv(out / "generations.csv")
    assert list(generations.columns[-4:]) == ["epochs_spent", "rungs", "stopped", "promoted"]
    assert generations.epochs_spent.iloc[-1] == trials.epochs.sum()
    assert generations.promoted.iloc[-1] == (trials.origin == "promotion").sum()
    best = json.loads((out / "best.json").read_text())
    assert best["values"]["epochs"] == 9  # the best model is one trained fully
    report = run([*command(tmp_path)[:3], "report", "--no-plots", str(out)])
    assert f"{trials.epochs.sum()} epochs spent" in report.stdout
    assert not processes_under(tmp_path)


def test_hyperband_brackets_by_default_and_a_resume_keeps_them(tmp_path):
    """By default new points start at every rung in Hyperband's proportions (rungs 1, 3, 9:
    of every 17 new points 9 start at 1 epoch, 5 at 3, 3 at 9), what the model saw; a resume
    with another --brackets is refused, naming the flag."""
    space = write_space(tmp_path, SPACE)
    dry = run(command(tmp_path, *SMALL, "--dry-run", space=space))
    assert dry.returncode == 0, dry.stderr
    assert "brackets: 3 (Hyperband); of every 17 new points, 9 at epochs=1, 5 at epochs=3, " \
           "3 at epochs=9" in dry.stdout
    result = run(command(tmp_path, *SMALL, "--workers", 2, space=space))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    rows = ledger_rows(out, "SELECT number, point, rung, origin FROM trials")
    trials = pd.DataFrame(rows, columns=["trial", "point", "rung", "origin"])
    first = trials[trials.origin != "promotion"].sort_values("point")
    assert list(first.rung) == [0, 1, 0, 2, 0, 1, 0, 2, 0]  # bracket_sequence((9, 5, 3))
    assert climbs_rung_by_rung(trials)
    trained = epochs_trained(tmp_path)
    assert all(trained[f"trial_{n:06d}"] == (1, 3, 9)[r] for n, r in zip(trials.trial,
                                                                           trials.rung))
    again = run(command(tmp_path, *SMALL, "--brackets", 1, "--workers", 2, space=space))
    assert again.returncode == 2
    assert f"--brackets: the experiment in {out} was started with --brackets 3, not 1" in \
        again.stderr


def test_an_experiment_from_before_brackets_resumes_as_plain_asha(tmp_path):
    """A ledger written before --brackets and --fidelity-ranking existed has no such identity
    keys: it ran plain ASHA ranked by (rung, metric), so it resumes with --brackets 1
    --fidelity-ranking rung, and the new defaults are refused, naming the flags."""
    space = write_space(tmp_path, SPACE)
    small = ("--population", 3, "--generations", 0, "--seed", 5, "--workers", 2, "--eta", 3)
    before = ("--brackets", 1, "--fidelity-ranking", "rung", "--early-stopping", "off")
    first = run(command(tmp_path, *small, *before, space=space))
    assert first.returncode == 0, first.stderr
    ledger = tmp_path / "out" / "ledger.sqlite"
    with sqlite3.connect(ledger) as db:  # as the previous version wrote it
        [(text,)] = db.execute("SELECT value FROM meta WHERE name = 'identity'").fetchall()
        identity = json.loads(text)
        del identity["brackets"], identity["fidelity_ranking"], identity["stopping_brackets"]
        db.execute("UPDATE meta SET value = ? WHERE name = 'identity'", (json.dumps(identity),))
    again = run(command(tmp_path, *small, *before, space=space))
    assert again.returncode == 0, again.stderr
    default = run(command(tmp_path, *small, space=space))
    assert default.returncode == 2
    assert f"--brackets: the experiment in {tmp_path / 'out'} was started with --brackets 1, " \
           "not 3" in default.stderr
    assert "--fidelity-ranking: the experiment in " + str(tmp_path / "out") + " was started " \
           "with --fidelity-ranking rung, not share" in default.stderr
    assert "--early-stopping: the experiment in " + str(tmp_path / "out") + " was started " \
           "with --early-stopping off, not asha" in default.stderr


def test_early_stopping_alone_stops_trials_behind_and_leaves_no_process(tmp_path):
    """Every point aims at full training; one behind at a rung is stopped there, from its
    bracket's rung on (rungs 1, 3, 9: of every 14 points 9 from 1 epoch, 5 only from 3)."""
    space = write_space(tmp_path, SPACE)
    stopping = ("--promotion", "off", "--early-stopping", "asha")
    dry = run(command(tmp_path, *OPTIONS, *stopping, "--dry-run", space=space))
    assert "stopping brackets: 2 (Hyperband's hedge); of every 14 new points, 9 from epochs=1, " \
           "5 only from epochs=3" in dry.stdout
    assert "  per-epoch metric: IMPROVE_PROGRESS lines on train.sh's standard output " \
           "(`improve-hpo check-model --set epochs=3` with the same options shows what is " \
           "read)" in dry.stdout
    result = run(command(tmp_path, *OPTIONS, *stopping, "--workers", 2, space=space))
    assert result.returncode == 0, result.stderr
    trials = read_csv(tmp_path / "out" / "trials.csv")
    stopped = trials[trials.status == "stopped"]
    assert len(stopped) >= 3 and set(trials.status) == {"ok", "stopped"}
    assert (trials.epochs == 9).all()  # every point aims at full training
    assert (stopped.fidelity < 9).all() and stopped.reason.str.startswith("stopped at").all()
    trained = epochs_trained(tmp_path)
    for number, fidelity in zip(stopped.trial, stopped.fidelity):
        assert trained[f"trial_{number:06d}"] >= fidelity  # it reached the rung it was stopped at
    points = dict(ledger_rows(tmp_path / "out", "SELECT number, point FROM trials"))
    round_ = bracket_sequence((9, 5))
    assert all(fidelity >= (1, 3)[round_[points[number] % 14]]
               for number, fidelity in zip(stopped.trial, stopped.fidelity))
    assert not processes_under(tmp_path)


def test_an_early_stopping_experiment_from_before_its_brackets_resumes_with_one(tmp_path):
    """Early stopping had no brackets before and judged the value printed at a rung (no
    identity keys): such an experiment resumes with --stopping-brackets 1 --stopping-value
    last (and --strong-start off, as it was), and the new defaults are refused, naming the
    flags and the values."""
    space = write_space(tmp_path, SPACE)
    small = ("--population", 3, "--generations", 0, "--seed", 5, "--workers", 2, "--eta", 3,
             "--promotion", "off", "--early-stopping", "asha")
    before = ("--stopping-brackets", 1, "--stopping-value", "last")
    first = run(command(tmp_path, *small, *before, space=space))
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(tmp_path / "out" / "ledger.sqlite") as db:  # as the previous version
        [(text,)] = db.execute("SELECT value FROM meta WHERE name = 'identity'").fetchall()
        identity = json.loads(text)
        assert (identity.pop("stopping_brackets"), identity["brackets"]) == (1, 1)
        assert identity.pop("stopping_value") == "last"
        assert identity.pop("strong_start") == 0  # nor --strong-start (off: 0)
        db.execute("UPDATE meta SET value = ? WHERE name = 'identity'", (json.dumps(identity),))
    default = run(command(tmp_path, *small, space=space))
    assert default.returncode == 2
    assert f"--stopping-brackets: the experiment in {tmp_path / 'out'} was started with " \
           "--stopping-brackets 1, not 2" in default.stderr
    assert f"--stopping-value: the experiment in {tmp_path / 'out'} was started with " \
           "--stopping-value last, not best" in default.stderr
    again = run(command(tmp_path, *small, *before, space=space))
    assert again.returncode == 0, again.stderr


def test_by_default_a_model_that_prints_is_stopped_early_and_one_that_does_not_trains_fully(
        tmp_path):
    """The defaults (promotion on, the asha rule, --silent-model full): every point trains
    fully until a training printed its per-epoch metric. The fake model prints
    IMPROVE_PROGRESS each epoch, so once the first result is in some are stopped; in its own
    words (unread without --progress-pattern) it prints nothing the run reads: every point
    trains fully, nothing is promoted or stopped, and the run says so once. An experiment from
    before --silent-model promoted until the model printed: it resumes with --silent-model
    promotion, and the run names the flag."""
    default = [a for a in SMALL if a not in ("--early-stopping", "off")]
    prints = tmp_path / "prints"
    prints.mkdir()
    result = run(command(prints, *default, "--workers", 2, space=write_space(prints, SPACE)))
    assert result.returncode == 0, result.stderr
    trials = read_csv(prints / "out" / "trials.csv")
    assert (trials.status == "stopped").any() and (trials.epochs == 9).all()
    assert (trials.origin != "promotion").all()
    assert not processes_under(prints)
    assert "printed no per-epoch value" not in result.stderr
    silent = tmp_path / "silent"
    silent.mkdir()
    own_words = [*SPACE, {"name": "own_words", "type": "constant", "value": True}]
    space = write_space(silent, own_words)
    dry = run(command(silent, *default, "--workers", 2, "--dry-run", space=space))
    assert "until a training printed its per-epoch metric, every new point trains epochs=9 " \
           "and the GA is told its metric, as without a fidelity" in dry.stdout
    assert "promotion: new points" not in dry.stdout and "  brackets: " not in dry.stdout
    result = run(command(silent, *default, "--workers", 2, space=space))
    assert result.returncode == 0, result.stderr
    trials = read_csv(silent / "out" / "trials.csv")
    assert set(trials.status) == {"ok"} and len(trials) == 9  # 9 points, each trained once
    assert "9 trials planned\n" in result.stderr  # nothing promoted: no promotions to count
    assert (trials.epochs == 9).all() and (trials.origin != "promotion").all()
    trained = epochs_trained(silent)
    assert all(trained[f"trial_{n:06d}"] == 9 for n in trials.trial)  # what the model did
    said = ("improve-hpo: the first 8 trainings printed no per-epoch value this run can read "
            "(an IMPROVE_PROGRESS line, or --progress-pattern), so nothing can be stopped "
            "early: every point trains epochs=9, as without --fidelity, until one does")
    assert result.stderr.count(said) == 1, result.stderr
    assert "give --progress-pattern for the words it prints, or --fidelity-continue" \
        in result.stderr
    assert "The published IMPROVE models' patterns are in docs/compat.md; `improve-hpo " \
           "check-model --set epochs=3` shows the lines that may hold the metric" in result.stderr
    with sqlite3.connect(silent / "out" / "ledger.sqlite") as db:  # as the previous version
        [(text,)] = db.execute("SELECT value FROM meta WHERE name = 'identity'").fetchall()
        identity = json.loads(text)
        assert identity.pop("silent_model") == "full"
        db.execute("UPDATE meta SET value = ? WHERE name = 'identity'", (json.dumps(identity),))
    again = run(command(silent, *default, "--workers", 2, space=space))
    assert again.returncode == 2
    assert f"--silent-model: the experiment in {silent / 'out'} was started with " \
           "--silent-model promotion, not full" in again.stderr
    before = run(command(silent, *default, "--workers", 2, "--silent-model", "promotion",
                         space=space))
    assert before.returncode == 0, before.stderr


@pytest.mark.parametrize("mode", [("--promotion", "off", "--early-stopping", "asha"),
                                  ("--early-stopping", "off")],
                         ids=["early-stopping", "promotion"])
def test_kill_9_and_resume_lose_nothing_and_continue_the_rungs(tmp_path, mode):
    slow = [*SPACE[:3], {"name": "epoch_sleep", "type": "constant", "value": 0.1}]
    argv = command(tmp_path, *OPTIONS, *mode, space=write_space(tmp_path, slow), ranks=3)
    out = tmp_path / "out"
    with started(argv, tmp_path) as process:
        wait_for(lambda: sum(stage == "train" and event == "start"
                             for stage, event, _ in runs_log(tmp_path)) >= 8, process=process)
        kill_job(process, tmp_path)
    before = dict(ledger_rows(out, "SELECT number, status FROM trials"))
    finished_before = [n for n, status in before.items() if status in ("ok", "stopped")]

    resumed = run(argv)
    assert resumed.returncode == 0, resumed.stderr
    rows = ledger_rows(out, "SELECT number, status, rung, point, origin FROM trials")
    trials = pd.DataFrame(rows, columns=["trial", "status", "rung", "point", "origin"])
    assert set(trials.status) <= {"ok", "stopped"}  # nothing failed, nothing left unfinished
    assert all(before[n] == status for n, status in zip(trials.trial, trials.status)
               if n in finished_before)
    starts = Counter(f for stage, event, f in runs_log(tmp_path)
                     if stage == "train" and event == "start")
    assert all(starts[f"trial_{n:06d}"] == 1 for n in finished_before)  # none ran again
    assert trials.point.nunique() == 6 + 2 * 3  # the GA's budget of points, all trained
    if "asha" in mode:
        assert trials.point.is_unique and (trials.status == "stopped").any()
    else:
        assert climbs_rung_by_rung(trials) and (trials.origin == "promotion").any()
    csv = read_csv(out / "trials.csv")
    assert sorted(csv.trial) == sorted(trials.trial)
    if "asha" in mode:  # the interrupted trials' streamed milestones were not kept
        assert json.loads((out / "fidelity_cutoffs.json").read_text())["counts"] \
            == counted_once(out)
    assert not processes_under(tmp_path)


def counted_once(out) -> dict[str, int]:
    """Per rung fidelity below the top: the values the finished trials' records hold there,
    i.e. what the scheduler's rung lists hold once every trial is told, each value once."""
    rows = ledger_rows(out, "SELECT milestones FROM trials WHERE status IN ('ok', 'stopped')")
    counts = Counter(f for (text,) in rows for f in json.loads(text or "{}"))
    published = json.loads((out / "fidelity_cutoffs.json").read_text())["counts"]
    return {f: counts[f] for f in published}


# 3 points on 3 workers, all starting at once: two good ones that print every 0.5 s (4.5 s in
# all), a bad one (n == slow_n) every 1.5 s: it reaches 2 epochs at 3 s, 2 s after the good ones
# did and 1.5 s before they end. Rungs 2, 4, 8, 9 (eta 2); every point may be stopped from 2 on.
STREAM_SPACE = [*BASE_SPACE[:2],
                {"name": "epochs", "type": "int", "lower": 1, "upper": 9, "fidelity": True},
                {"name": "epoch_sleep", "type": "constant", "value": 0.5},
                {"name": "slow_n", "type": "constant", "value": 3},
                {"name": "slow_sleep", "type": "constant", "value": 1.5}]
STREAM_POINTS = "x,n,epochs\n0.3,0,9\n0.3,1,9\n0.9,3,9\n"


@pytest.mark.parametrize("workers", [dict(ranks=4), dict(workers=3)], ids=["mpi", "workers"])
def test_a_running_trials_milestone_stops_another_before_any_trial_ended(tmp_path, workers):
    """Streamed milestones: the two good trials reach 2 epochs (0.5, 0.51) while the bad one is
    still in its first; their values reach rank 0 while they train, so when the bad one
    reaches 2 epochs (0.89) the cutoff at 2 (the best half of 0.5, 0.51: 0.5) exists although
    no trial has ended, and it is stopped there. Each value counts once in the end."""
    (tmp_path / "init.csv").write_text(STREAM_POINTS)
    argv = command(tmp_path, "--strategy", "async", "--population", 3, "--max-evaluations", 3,
                   "--stopping-brackets", 1, "--seed", 1, "--init-population",
                   tmp_path / "init.csv", *(("--workers", 3) if "workers" in workers else ()),
                   space=write_space(tmp_path, STREAM_SPACE), ranks=workers.get("ranks"))
    result = run(argv)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    trials = read_csv(out / "trials.csv").set_index("n")
    assert list(trials.status.sort_index()) == ["ok", "ok", "stopped"]
    assert trials.fidelity[3] == 2 and (trials.fidelity[[0, 1]] == 9).all()
    assert "val_loss 0.89 (its best so far) is behind the rung cutoff 0.5 at 2" \
        in trials.reason[3]
    ends = dict(ledger_rows(out, "SELECT number, end FROM trials"))
    stopped = trials.trial[3]
    assert all(ends[stopped] < ends[n] for n in trials.trial[[0, 1]])  # both still ran
    # what the stopped model did: two epochs, printed, then nothing (killed in its third)
    folder = tmp_path / "out" / trials.folder[3]
    printed = (folder / "train.stdout.log").read_text().splitlines()
    assert [line.split()[1] for line in printed] == ["epoch=1", "epoch=2"]
    assert epochs_trained(tmp_path)[folder.name] == 2
    published = json.loads((out / "fidelity_cutoffs.json").read_text())
    assert published["counts"] == {"2": 3, "4": 2, "8": 2} == counted_once(out)
    assert published["cutoffs"]["2"] == 0.5
    assert not processes_under(tmp_path)


# --strong-start: five points trained one at a time, in this order; base values 0, 0.01, 0.02,
# 0.03 and 0.008 (the fake model prints base + 1/E after epoch E). Rungs 2, 4, 8, 9 (eta 2).
# Epochs 0.25 s apart, so the watch (every 0.1 s) stops a trial in the epoch after its rung.
STRONG_SPACE = [*SPACE[:3], {"name": "epoch_sleep", "type": "constant", "value": 0.25}]
STRONG_POINTS = "x,n,epochs\n0.3,0,9\n0.3,1,9\n0.3,2,9\n0.3,3,9\n0.38944271909999,0,9\n"


@pytest.mark.parametrize("workers", [dict(workers=1), dict(ranks=2)], ids=["workers", "mpi"])
def test_a_strong_start_trains_one_rung_further(tmp_path, workers):
    """The last point (0.508 at 2 epochs) passes the cutoff at 2 (0.51: the best half of 0.5,
    0.51, 0.52, 0.53) and is behind the cutoff at 4 (0.258 > 0.25). Plain early stopping stops
    it there; with --strong-start 0.5 its value at 2 was within rung 2's best half, so it trains
    on and is stopped at 8 (0.133 > 0.125; its value at 4 was no strong start). The run
    publishes the strong starts beside the cutoffs, --dry-run prints the rule, and a resume
    with another value is refused, naming the flag. One worker: a local one, or an MPI rank."""
    (tmp_path / "init.csv").write_text(STRONG_POINTS)
    space = write_space(tmp_path, STRONG_SPACE)
    stopped_at = {}
    for strong in (None, 0.5):
        folder = tmp_path / str(strong)
        folder.mkdir()
        flags = ("--strategy", "async", "--population", 5, "--max-evaluations", 5,
                 *(("--workers", 1) if "workers" in workers else ()), "--stopping-brackets", 1,
                 "--seed", 1, "--init-population", tmp_path / "init.csv",
                 *(("--strong-start", strong) if strong else ()))
        result = run(command(folder, *flags, space=space, ranks=workers.get("ranks")))
        assert result.returncode == 0, result.stderr
        trials = read_csv(folder / "out" / "trials.csv").sort_values("trial")
        assert list(trials.status) == ["ok", "ok", "stopped", "stopped", "stopped"]
        last = trials.iloc[-1]
        stopped_at[strong] = last.fidelity
        # what the model did: it printed each epoch up to the rung it was stopped at
        printed = (folder / "out" / last.folder / "train.stdout.log").read_text().splitlines()
        assert printed[-1].split()[1] == f"epoch={last.fidelity}"
        assert epochs_trained(folder)[(folder / "out" / last.folder).name] == last.fidelity
        assert not processes_under(folder)
    assert stopped_at == {None: 4, 0.5: 8}
    out = tmp_path / "0.5" / "out"
    assert "behind the rung cutoff 0.125 at 8" in read_csv(out / "trials.csv").reason.iloc[-1]
    published = json.loads((out / "fidelity_cutoffs.json").read_text())
    # at the end: the best half of the five values at 2 (0.508 its own) and of the three at 4
    assert published["strong_starts"] == {"2": pytest.approx(0.508), "4": 0.25}
    assert "strong_starts" not in json.loads(
        (tmp_path / "None" / "out" / "fidelity_cutoffs.json").read_text())
    again = run(command(tmp_path / "0.5", *flags[:-2], "--dry-run", space=space))
    assert again.returncode == 2
    assert f"--strong-start: the experiment in {out} was started with --strong-start 0.5, not " \
           "0.0; give the same value to resume" in again.stderr
    dry = run(command(tmp_path / "0.5", *flags, "--dry-run", space=space))
    assert "strong starts: a trial within the best 0.5 of the values at a rung is not stopped " \
           "at the next rung" in dry.stdout


def test_a_model_that_continues_from_its_folder_trains_only_the_extra_epochs(tmp_path):
    space = [*SPACE, {"name": "can_continue", "type": "logical"}]
    space[-1] = {"name": "can_continue", "type": "constant", "value": True}
    result = run(command(tmp_path, *SMALL, "--fidelity-continue", "--brackets", 1, "--workers", 2,
                         space=write_space(tmp_path, space)))
    assert result.returncode == 0, result.stderr
    trials = read_csv(tmp_path / "out" / "trials.csv")
    rows = dict(ledger_rows(tmp_path / "out", "SELECT number, point FROM trials"))
    trials["point"] = trials.trial.map(rows)
    first = trials[trials.rung == 0].set_index("point").folder
    promoted = trials[trials.origin == "promotion"]
    assert len(promoted) >= 3
    assert (promoted.folder == promoted.point.map(first)).all()  # same folder as rung 0
    trained = epochs_trained(tmp_path)
    top = trials.groupby("point").epochs.max()
    # a point's folder saw as many epochs as its highest rung, not the sum of its rungs
    assert all(trained[first[p].split("/")[-1]] == top[p] for p in top.index)
    generations = read_csv(tmp_path / "out" / "generations.csv")
    assert generations.epochs_spent.iloc[-1] == sum(top)


def test_fidelity_usage_errors_start_nothing(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    base = ["--space", str(write_space(tmp_path)), "--model-dir", str(FAKE_MODEL), "--data-dir",
            str(tmp_path / "data"), "--output", str(tmp_path / "out")]
    assert cli.main([*base, "--early-stopping", "median"]) == 2
    assert "--early-stopping: needs a fidelity; name it with --fidelity NAME" in \
        capsys.readouterr().err
    assert cli.main([*base, "--fidelity", "x"]) == 2
    assert "--fidelity x: must be a train-stage int parameter" in capsys.readouterr().err
    assert cli.main([*base, "--fidelity", "n", "--progress-pattern", "(oops"]) == 2
    err = capsys.readouterr().err
    assert "--fidelity n: must be a train-stage int parameter" in err  # n's lower bound is 0
    space = ["--space", str(write_space(tmp_path, SPACE))]
    assert cli.main([*base, *space, "--promotion", "off", "--brackets", "2"]) == 2
    assert "--brackets 2: brackets are where promotion starts new points; drop --brackets, or " \
           "use --promotion on (early stopping's are --stopping-brackets)" in \
        capsys.readouterr().err
    assert cli.main([*base, *space, "--early-stopping", "off", "--stopping-brackets", "2"]) == 2
    assert "--stopping-brackets 2: needs early stopping" in capsys.readouterr().err
    assert cli.main([*base, *space, "--early-stopping", "off", "--stopping-value", "best"]) == 2
    assert "--stopping-value best: needs early stopping; drop it, or use --early-stopping " \
           "asha|median" in capsys.readouterr().err
    assert cli.main([*base, *space, "--fidelity-continue", "--silent-model", "full"]) == 2
    assert "--silent-model full: applies to the defaults (promotion on and early stopping) " \
           "only, not with --fidelity-continue; drop it" in capsys.readouterr().err
    assert cli.main([*base, *space, "--brackets", "2"]) == 2
    assert "--brackets 2: the defaults promote nothing (every point trains fully until the " \
           "model prints, then early stopping cuts it: --silent-model full); add " \
           "--silent-model promotion or --early-stopping off to promote, or drop --brackets" \
        in capsys.readouterr().err
    assert cli.main([*base, *space, "--early-stopping", "off", "--strong-start", "0.4"]) == 2
    assert "--strong-start 0.4: needs early stopping; drop it, or use --early-stopping " \
           "asha|median" in capsys.readouterr().err
    assert cli.main([*base, *space, "--strong-start", "1.5"]) == 2
    assert "--strong-start: must lie within 0..1 (the best share of a rung that is not stopped " \
           "at the next; 0: off), got 1.5" in capsys.readouterr().err
    assert cli.main([*base, *space, "--brackets", "5"]) == 2  # rungs 2, 4, 8, 9 (eta 2)
    assert "--brackets: must lie within 1..4 (the number of rungs), got 5" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:  # argparse's own check of the choices
        cli.main([*base, *space, "--fidelity-ranking", "quantile"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "argument --fidelity-ranking: invalid choice: 'quantile'" in err
    assert "share" in err and "rung" in err
    assert not (tmp_path / "out").exists()


OLD_TRIALS = """CREATE TABLE trials (
    number INTEGER PRIMARY KEY, generation INTEGER NOT NULL, key TEXT NOT NULL,
    "values" TEXT NOT NULL, origin TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
    metric REAL, start REAL, "end" REAL, rank INTEGER, host TEXT NOT NULL, gpu TEXT NOT NULL,
    folder TEXT NOT NULL, reused_from INTEGER, attempts INTEGER NOT NULL, finish_seq INTEGER)"""


def test_a_ledger_from_before_the_fidelity_columns_stays_readable(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(OLD_TRIALS)
        db.execute("INSERT INTO trials VALUES (0, 0, 'k', '{\"x\": 0.5}', 'initial', 'ok', '', "
                   "0.25, 1.0, 2.0, 1, 'h', '', 'trials/trial_000000', NULL, 1, 1)")
    with Ledger(path) as ledger:
        [record] = ledger.trials()
        assert (record.metric, record.fidelity, record.rung, record.milestones) == \
            (0.25, None, None, None)
        record.milestones = {1: 0.5}
    columns = [row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(trials)")]
    assert columns[-4:] == ["fidelity", "rung", "point", "milestones"]
