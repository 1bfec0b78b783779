"""A `--workers K` run whose driver alone is killed with kill -9 leaves nothing running: its pool
workers notice, stop their trials (process groups included) and exit, so a resumed run is the
only one writing into the trial folders."""

import os
import signal
from pathlib import Path

from tests.engine_models.harness import BASE_SPACE, command, processes_under, started, wait_for, write_space

SLOW_SPACE = [*BASE_SPACE[:2], {"name": "sleep", "type": "constant", "value": 60}]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # the field after the state is the parent pid
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_pool_workers_and_their_trials_end_when_the_driver_is_killed(tmp_path):
    space = write_space(tmp_path, SLOW_SPACE)
    argv = command(tmp_path, "--workers", 2, "--population", 4, "--generations", 0, space=space)
    with started(argv, tmp_path) as driver:
        trials = tmp_path / "out" / "trials"

        def trial_processes():  # the two 60 s trainings (their logs are opened before they start)
            return [pid for pid in processes_under(tmp_path) if pid != driver.pid]

        wait_for(lambda: trials.is_dir() and len(list(trials.glob("*/train.stdout.log"))) == 2
                 and len(trial_processes()) >= 2, process=driver)
        workers = [pid for pid in children_of(driver.pid) if alive(pid)]
        assert len(workers) >= 2  # the two pool workers (spawn may add its resource tracker)
        trial_pids = trial_processes()

        os.kill(driver.pid, signal.SIGKILL)  # the driver only, not its process group
        driver.wait(timeout=10)

        wait_for(lambda: not any(alive(pid) for pid in workers + trial_pids), timeout=30)
