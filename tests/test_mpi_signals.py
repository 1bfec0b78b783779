"""SIGTERM/SIGINT: stop dispatching, mark running trials interrupted, flush reports, exit
128 + signal; the trials' processes are killed (mpiexec forwards the signal to every rank)."""

from __future__ import annotations

import os
import signal

import pytest
from csv_exact import read_csv
from engine_models.harness import (BASE_SPACE, TIMEOUT, command, ledger_rows, processes_under,
                                   runs_log, started, wait_for, write_space)

SLOW_SPACE = [*BASE_SPACE[:2], {"name": "sleep", "type": "constant", "value": 60}]


def train_starts(tmp_path):
    return [f for stage, event, f in runs_log(tmp_path) if stage == "train" and event == "start"]


@pytest.mark.parametrize("ranks, options, workers, signum, code", [
    (3, (), 2, signal.SIGTERM, 143),  # MPI: mpiexec forwards the signal to every rank
    (None, ("--workers", 2), 2, signal.SIGTERM, 143),  # rank 0 passes it on to its workers
    (None, (), 1, signal.SIGINT, 130),  # in-process
])
def test_a_signal_interrupts_running_trials_and_flushes_reports(tmp_path, ranks, options, workers,
                                                                signum, code):
    space = write_space(tmp_path, SLOW_SPACE)
    with started(command(tmp_path, "--population", 4, *options, space=space, ranks=ranks),
                 tmp_path) as process:
        wait_for(lambda: len(train_starts(tmp_path)) == workers, process=process)
        os.kill(process.pid, signum)
        _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == code, stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr
    out = tmp_path / "out"
    statuses = ledger_rows(out, "SELECT status, reason FROM trials")
    assert [status for status, _ in statuses] == ["interrupted"] * workers
    trials = read_csv(out / "trials.csv")
    assert list(trials.status) == ["interrupted"] * workers
    assert list(read_csv(out / "generations.csv").columns)[0] == "generation"
    wait_for(lambda: not processes_under(tmp_path), timeout=15)
    assert not [entry for entry in runs_log(tmp_path) if entry[:2] == ("train", "end")]
