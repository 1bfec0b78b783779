"""Smaller report and settings fixes: the utilization of a chained experiment leaves out the
time between its runs; --strategy async with grid or random search is refused."""

from __future__ import annotations

import json
import time

import pytest
from engine_models.harness import FAKE_MODEL, command, run, write_space

from improve_hpo.cli import main
from improve_hpo.reports.experiment_reader import read_experiment
from improve_hpo.reports.summary import summarize


def test_utilization_leaves_out_the_time_between_resumed_runs(tmp_path):
    argv = command(tmp_path, "--population", 2, "--generations", 1, "--offspring", 2,
                   "--strategy", "generational")
    first = run([*argv, "--max-evaluations", "2"])
    assert first.returncode == 0, first.stderr
    time.sleep(4)  # the queue between two jobs of a chain
    second = run(argv)
    assert second.returncode == 0, second.stderr
    snapshot = read_experiment(tmp_path / "out")
    summary = summarize(snapshot)
    starts = [t.start for t in snapshot.trials if t.start is not None]
    ends = [t.end for t in snapshot.trials if t.end is not None]
    assert summary["sessions"] == 2
    span = max(ends) - min(starts)
    assert summary["time"]["wall_s"] < span - 3.5  # the 4 s gap is not wall-clock time
    busy = summary["time"]["busy_s"]
    assert summary["time"]["utilization"] == pytest.approx(busy / summary["time"]["wall_s"],
                                                           abs=2e-3)
    assert len(json.loads(snapshot.meta["session_starts"])) == 2


def test_strategy_async_is_refused_for_grid_and_random_search(tmp_path, capsys):
    space = write_space(tmp_path)
    for algorithm in ("grid", "random"):
        code = main(["run", "--space", str(space), "--model-dir", str(FAKE_MODEL),
                     "--data-dir", str(tmp_path), "--algorithm", algorithm, "--strategy",
                     "async", "--output", str(tmp_path / "out")])
        assert code == 2
        assert (f"--strategy async: applies to --algorithm ga only; --algorithm {algorithm} "
                "already sends a new trial whenever a worker is free") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
