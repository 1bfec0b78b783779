"""The engine records its number of workers (evaluation slots) in the ledger, so that
`improve-hpo report` counts idle workers in the utilization; a resumed run records its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from engine_models.harness import command, ledger_rows, run


def recorded_workers(out) -> str:
    [(value,)] = ledger_rows(out, "SELECT value FROM meta WHERE name = 'workers'")
    return value


def report_time(out) -> dict:
    done = subprocess.run([sys.executable, "-m", "improve_hpo", "report", str(out), "--json",
                           "--no-plots"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["time"]


# --population 2 --generations 0: two trials, so at most two workers ever run one; the recorded
# count must still be every worker.
@pytest.mark.parametrize("launch, ranks, workers", [
    ([], None, 1),
    (["--workers", "3"], None, 3),
    ([], 4, 3),
])
def test_every_worker_is_recorded_even_an_idle_one(tmp_path, launch, ranks, workers):
    done = run(command(tmp_path, "--population", 2, "--generations", 0, *launch, ranks=ranks))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert recorded_workers(out) == str(workers)
    time_used = report_time(out)
    assert (time_used["workers"], time_used["workers_from"]) == (workers, "ledger")


def test_a_resumed_run_records_its_own_worker_count(tmp_path):
    first = run(command(tmp_path, "--population", 2, "--generations", 0, "--workers", 2))
    assert first.returncode == 0, first.stderr
    assert recorded_workers(tmp_path / "out") == "2"
    extended = run(command(tmp_path, "--population", 2, "--generations", 1, "--offspring", 1))
    assert extended.returncode == 0, extended.stderr
    assert recorded_workers(tmp_path / "out") == "1"
    assert report_time(tmp_path / "out")["workers"] == 1
