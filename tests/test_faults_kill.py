"""Fault injection: kill -9 at random points under real mpiexec (the whole job, rank 0, or one
worker rank), then resume. After every kill: no process of the run and none its trials spawned
(a background child, a `setsid` child, a double-forked daemon in every trial) is left; no trial
the ledger held finished is lost, changed, or trained again; the last run ends normally.

The default run makes KILLS = 3 kills (one of each kind); the long form is opt-in, and with
IMPROVE_HPO_FAULT_REPORT=FILE it writes its counts there as JSON (docs/engine.md quotes them):
    IMPROVE_HPO_FAULT_KILLS=24 bash tests/run.sh tests/test_faults_kill.py
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

from engine_models.harness import (BASE_SPACE, TIMEOUT, command, run, runs_log, started,
                                   wait_for, write_space)
from faults import assert_nothing_left, finished_trials, spawned_pids

KILLS = int(os.environ.get("IMPROVE_HPO_FAULT_KILLS", "3"))
TARGETS = ("job", "rank 0", "worker")
SPACE = [*BASE_SPACE[:2], {"name": "sleep", "type": "constant", "value": 0.2},
         {"name": "spawn", "type": "constant", "value": "true"}]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def job_processes(mpiexec: int) -> list[int]:
    """mpiexec, its proxies and the ranks: what a scheduler's kill of the job step reaches
    (the ranks' trial processes, the trials' keepers and scripts live in sessions of their
    own)."""
    tree, found, queue = _children(), [mpiexec], [mpiexec]
    while queue:
        for child in tree.get(queue.pop(), []):
            if not any(name in _cmdline(child) for name in (b"keeper.py", b"trial_process.py")):
                found.append(child)
                queue.append(child)
    return found


def ranks(mpiexec: int) -> dict[int, int]:
    """{MPI rank: pid} of the job's rank processes."""
    found = {}
    for pid in job_processes(mpiexec):
        if b"\0-m\0improve_hpo\0" in _cmdline(pid):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for item in environ:
                if item.startswith(b"PMI_RANK="):
                    found[int(item[9:])] = pid
    return found


def kill(target: str, mpiexec: int, rng: random.Random) -> None:
    if target == "job":
        victims = job_processes(mpiexec)
    else:
        by_rank = ranks(mpiexec)
        if target == "rank 0":
            victims = [by_rank[0]]
        else:
            victims = [by_rank[rng.choice(sorted(rank for rank in by_rank if rank))]]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def train_starts(tmp: Path) -> list[str]:
    return [folder for stage, event, folder in runs_log(tmp) if (stage, event) == ("train", "start")]


def test_kill_9_at_random_points_loses_retrains_and_leaves_nothing(tmp_path):
    rng = random.Random(2026)
    space = write_space(tmp_path, SPACE)
    out = tmp_path / "out"
    argv = command(tmp_path, "--population", 6, "--generations", 3 * KILLS, "--infer", "none",
                   space=space, out=out, ranks=4)
    kept: dict[int, tuple] = {}  # trial -> (status, metric, folder): finished at some kill
    protected: set[str] = set()  # folders of those trials: never trained again
    kills = {target: 0 for target in TARGETS}
    for number in range(KILLS):
        target = TARGETS[number % len(TARGETS)]
        log_length = len(runs_log(tmp_path))
        with started(argv, tmp_path) as job:
            wait_for(lambda: len(runs_log(tmp_path)) > log_length or job.poll() is not None,
                     timeout=TIMEOUT)
            time.sleep(rng.uniform(0.0, 2.0))  # a random point: in preprocess, train or between
            assert job.poll() is None, "the run ended before its kill: give it more generations"
            kill(target, job.pid, rng)
            job.communicate(timeout=TIMEOUT)
            kills[target] += 1
            assert_nothing_left(tmp_path)  # before `started` would kill what is left
        now = finished_trials(out)
        assert {n: now.get(n) for n in kept} == kept, f"kill {number} ({target}) lost a trial"
        retrained = protected & set(train_starts(tmp_path)[_starts_at(tmp_path, log_length):])
        assert not retrained, f"kill {number} ({target}): trained again: {sorted(retrained)}"
        kept.update(now)
        protected.update(Path(folder).name for _, _, folder in now.values())
    log_length = len(runs_log(tmp_path))
    final = run(argv)
    assert final.returncode == 0, final.stderr
    assert_nothing_left(tmp_path)
    now = finished_trials(out)
    assert {n: now.get(n) for n in kept} == kept
    assert not protected & set(train_starts(tmp_path)[_starts_at(tmp_path, log_length):])
    assert sum(kills.values()) == KILLS
    if os.environ.get("IMPROVE_HPO_FAULT_REPORT"):
        Path(os.environ["IMPROVE_HPO_FAULT_REPORT"]).write_text(json.dumps(dict(
            kills=kills, finished_trials_kept=len(kept), trials=len(now),
            spawned_processes=len(spawned_pids(tmp_path))), indent=2))


def _starts_at(tmp: Path, log_length: int) -> int:
    """How many train starts the log held when it had `log_length` lines."""
    return sum((stage, event) == ("train", "start")
               for stage, event, _ in runs_log(tmp)[:log_length])
