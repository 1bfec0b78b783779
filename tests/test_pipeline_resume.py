"""Tasks queued behind a running trial (parallel/lookahead.py) and the rule that keeps a kill -9
from losing what finished: a worker writes its trial's result into the folder's worker.json
before it starts the queued task, and a resumed run adopts a result it finds there for a trial
its ledger still calls running (experiment/adopt_results.py) instead of training it again."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import threading
import time
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import Pipe
from pathlib import Path

import pytest
from engine_models.harness import (BASE_SPACE, TIMEOUT, command, kill_job, run, runs_log,
                                   started, wait_for, write_space)
from faults import assert_nothing_left, finished_trials
from improve_hpo.parallel.executors import ConnectionPool
from test_faults_kill import ranks

KILLS = int(os.environ.get("IMPROVE_HPO_PIPELINE_KILLS", "3"))  # long form: more kills
# trivial trials (a python3 start each): the driver queues ahead while trials are this short
QUICK_SPACE = [*BASE_SPACE[:2], {"name": "sleep", "type": "constant", "value": 0.0}]


def records(seconds: float) -> float:
    return seconds


records.leaves_result_on_disk = True


def plain(seconds: float) -> float:
    return seconds


def _second_task_sent(first) -> tuple[bool, object]:
    """A one-worker pool whose worker end the test holds: submit `first`, then another task;
    whether the second reached the worker while the first was still running, and the pool."""
    ours, theirs = Pipe()
    pool = ConnectionPool([ours])
    one = pool.submit(first, 1.0)
    second = pool.submit(plain, 2.0)
    assert theirs.poll(5) and theirs.recv()[0] is first
    sent = theirs.poll(0.3)
    theirs.send((True, 1.0))  # the first task ends
    assert pool.wait([one], timeout=5)[0] == {one}  # the driver reads its result
    if not sent:
        assert theirs.poll(5), "the queued task never went out after the first one ended"
    assert theirs.recv()[0] is plain
    theirs.send((True, 2.0))
    assert second.result(timeout=5) == 2.0
    theirs.close()
    return sent, pool


def test_a_task_waits_in_the_connection_only_behind_one_that_records_its_result():
    sent, _ = _second_task_sent(records)
    assert sent  # it waits at the worker, and starts the moment the first ends
    sent, _ = _second_task_sent(plain)
    assert not sent  # behind a task that does not record its result, it waits in the pool


def test_at_most_two_tasks_go_to_one_worker():
    ours, theirs = Pipe()
    pool = ConnectionPool([ours])
    futures = [pool.submit(records, float(n)) for n in range(3)]
    assert theirs.poll(5) and theirs.recv()[1] == (0.0,)
    assert theirs.poll(5) and theirs.recv()[1] == (1.0,)
    assert not theirs.poll(0.3)
    for n in range(3):
        theirs.send((True, float(n)))
        if n == 0:
            pool.wait(futures[:1], timeout=5)  # the driver reads the first result
            assert theirs.poll(5) and theirs.recv()[1] == (2.0,)
    assert [future.result(timeout=5) for future in futures] == [0.0, 1.0, 2.0]
    theirs.close()


def test_the_pool_reads_the_results_in_the_thread_that_waits():
    """No result thread (a result wakes only the driver's thread): the pool starts no thread,
    a result arrives when someone waits (pool.wait, as the driver does, or a future's
    result()), and a worker that ends before its result fails its task."""
    before = threading.active_count()
    ours, theirs = Pipe()
    pool = ConnectionPool([ours])
    assert threading.active_count() == before
    first = pool.submit(records, 1.0)
    assert theirs.poll(5) and theirs.recv()[1] == (1.0,)
    theirs.send((True, 1.0))
    time.sleep(0.2)
    assert not first.done()  # nobody waited yet
    done, waiting = pool.wait([first], timeout=5, return_when=FIRST_COMPLETED)
    assert done == {first} and not waiting and first.result() == 1.0
    second = pool.submit(records, 2.0)
    assert theirs.poll(5) and theirs.recv()[1] == (2.0,)
    theirs.close()  # the worker ends before its result
    with pytest.raises(BrokenProcessPool):
        second.result(timeout=5)


def _trained(tmp: Path) -> dict[str, int]:
    """How many times train.sh started in each trial folder."""
    counts: dict[str, int] = {}
    for stage, event, folder in runs_log(tmp):
        if (stage, event) == ("train", "start"):
            counts[folder] = counts.get(folder, 0) + 1
    return counts


def _as_if_killed_before_the_commit(out: Path, number: int) -> None:
    """What a kill -9 leaves when a worker finished trial `number` (its worker.json holds the
    result) but rank 0 had not committed it: the ledger row still says running."""
    with sqlite3.connect(out / "ledger.sqlite") as db:
        db.execute("UPDATE trials SET status = 'running', metric = NULL, reason = '', "
                   '"end" = NULL, finish_seq = NULL WHERE number = ?', (number,))


def test_a_resumed_run_adopts_a_result_left_in_the_folder_and_trains_it_once(tmp_path):
    argv = command(tmp_path, "--workers", 2, "--population", 6, "--generations", 1,
                   "--infer", "none", "--strategy", "generational",
                   space=write_space(tmp_path, QUICK_SPACE))
    first = run(argv)
    assert first.returncode == 0, first.stderr
    out = tmp_path / "out"
    before = finished_trials(out)
    adopted, torn = 3, 5
    _as_if_killed_before_the_commit(out, adopted)
    _as_if_killed_before_the_commit(out, torn)
    torn_mark = out / before[torn][2] / "worker.json"
    torn_mark.write_text(torn_mark.read_text()[:40])  # killed while the worker wrote it
    trained = _trained(tmp_path)

    again = run(argv)

    assert again.returncode == 0, again.stderr
    assert f"trial {adopted} finished after the last commit" in again.stderr
    now = finished_trials(out)
    assert now[adopted] == before[adopted]  # same status and metric, nothing trained
    assert _trained(tmp_path)[Path(before[adopted][2]).name] == \
        trained[Path(before[adopted][2]).name] == 1
    # a torn result is not taken: that trial runs again (and ends with its own result)
    assert f"trial {torn} did not finish in an earlier run" in again.stderr
    assert _trained(tmp_path)[Path(before[torn][2]).name] == 2
    assert now[torn][0] == "ok"
    csv = (out / "trials.csv").read_text().splitlines()
    assert sum(line.split(",")[0] == str(adopted) for line in csv) == 1


def _results_in_folders(out: Path) -> dict[int, tuple]:
    """{trial: (status, metric, folder)} of the trials the ledger calls running whose
    worker.json holds that trial's finished result: what a kill leaves between a worker that
    went on to its queued task and rank 0 (read as another process would)."""
    found = {}
    with sqlite3.connect(out / "ledger.sqlite") as db:
        rows = db.execute("SELECT number, folder FROM trials WHERE status = 'running'").fetchall()
    for number, folder in rows:
        try:
            result = json.loads((out / folder / "worker.json").read_text()).get("result")
        except (OSError, ValueError):
            continue
        if result and result["trial"] == number and result["status"] in ("ok", "failed"):
            found[number] = (result["status"], result["metric"], folder)
    return found


def _settled_results_in_folders(out: Path, quiet: float = 3.0) -> int:
    """How many results the workers of a frozen rank 0 leave in folders, counted once the count
    has held for `quiet` seconds. Each of the 3 workers finishes its running trial and, when rank 0
    had queued one behind it, that one too: 3 to 6, fewer than 6 where rank 0 froze between a
    commit and the next hand-out."""
    counted, since = -1, time.monotonic()

    def settled() -> bool:
        nonlocal counted, since
        now = len(_results_in_folders(out))
        if now != counted:
            counted, since = now, time.monotonic()
        return counted >= 3 and time.monotonic() - since >= quiet

    wait_for(settled, timeout=TIMEOUT)
    return counted


def _finished(out: Path) -> dict[int, tuple]:
    """Every finished trial a resumed run must keep: committed, or left in its folder."""
    return {**finished_trials(out), **_results_in_folders(out)}


def test_kill_9_of_the_job_while_workers_run_queued_tasks_loses_nothing(tmp_path):
    """Under mpiexec, trials short enough that the driver queues ahead; the whole job killed
    with SIGKILL, then resumed: no finished trial (committed, or left in its folder) is lost,
    changed, or trained again, and nothing a trial started is left. Every other kill comes
    while rank 0 is frozen (SIGSTOP: a stalled disk, a swapped-out process): the workers finish
    their running and their queued trial, which rank 0 never commits."""
    rng = random.Random(15)
    out = tmp_path / "out"
    argv = command(tmp_path, "--algorithm", "random", "--population", 400, "--generations", 0,
                   "--infer", "none", space=write_space(tmp_path, QUICK_SPACE), out=out,
                   ranks=4)
    kept: dict[int, tuple] = {}  # trial -> (status, metric, folder), finished at some kill
    protected: dict[str, int] = {}  # their folders -> train.sh starts when they had finished
    left_in_folders = 0
    most_at_a_stop = 0  # results in folders once the workers of a frozen rank 0 went idle
    for number in range(KILLS):
        log_length = len(runs_log(tmp_path))
        with started(argv, tmp_path) as job:
            wait_for(lambda: len(runs_log(tmp_path)) > log_length + 20, timeout=TIMEOUT,
                     process=job)
            time.sleep(rng.uniform(0.0, 0.3))
            assert job.poll() is None, "the run ended before its kill: give it more trials"
            if number % 2 == 0:
                os.kill(ranks(job.pid)[0], signal.SIGSTOP)
                most_at_a_stop = max(most_at_a_stop, _settled_results_in_folders(out))
            kill_job(job, tmp_path)
        assert_nothing_left(tmp_path)
        now = _finished(out)
        assert {n: now.get(n) for n in kept} == kept, "a finished trial was lost or changed"
        left_in_folders += len(_results_in_folders(out))
        trained = _trained(tmp_path)
        assert all(trained[folder] == count for folder, count in protected.items()), \
            "a finished trial was trained again"
        kept.update(now)
        protected.update({Path(folder).name: trained[Path(folder).name]
                          for _, _, folder in now.values() if Path(folder).name not in protected})
    final = run(argv)
    assert final.returncode == 0, final.stderr
    assert_nothing_left(tmp_path)
    now = finished_trials(out)
    assert {n: now.get(n) for n in kept} == kept
    assert len(now) == 400
    trained = _trained(tmp_path)
    assert all(trained[folder] == count for folder, count in protected.items())
    # more than one per worker: some worker finished a queued trial after the one rank 0 never saw
    assert most_at_a_stop > 3, most_at_a_stop
    print(f"{left_in_folders} finished trials were only in their folders at a kill")
