"""No process a trial started outlives the trial, whatever it started and however it ends.

The trial's train.sh starts the three kinds of processes that escape a process-group kill: one
left running in the background (`cmd &`), one in its own session (the real `setsid`), one
double-forked daemon (tests/engine_models/fake/fake_model.py, spawn_survivors). It runs in a
real worker process (the runner's own start-up: signal handlers, child subreaper), which is
then left to end normally, timed out, killed with kill -9, or has its script's keeper killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from runner_fixtures import make_model, wait_for_file, wait_until_gone

FAKE_MODEL = Path(__file__).resolve().parent / "engine_models" / "fake"

# train.sh: spawn the survivors (their pids go to spawned.log in the trial folder), record its
# own pid and its parent's (the keeper), then end as the test's MODE says.
TRAIN = textwrap.dedent(f"""
    sys.path.insert(0, {str(FAKE_MODEL)!r})
    from fake_model import spawn_survivors
    spawn_survivors(os.getcwd())
    Path("script.json").write_text(json.dumps([os.getpid(), os.getppid()]))
    if os.environ.get("MODE") == "hang":
        time.sleep(600)
    print("IMPROVE_RESULT val_loss:\\t0.5", flush=True)
""")

# A worker process: the runner's start-up as a rank has it, then one trial; prints the result.
WORKER = textwrap.dedent("""
    import argparse, dataclasses, json, sys
    from improve_hpo.parallel.context import current_worker, start_worker
    from improve_hpo.runner import add_runner_arguments, run_trial, settings_from_args
    parser = argparse.ArgumentParser()
    add_runner_arguments(parser)
    settings = settings_from_args(parser.parse_args(sys.argv[3:]))
    start_worker(1, 0, settings)
    result = run_trial(settings, {}, sys.argv[1], sys.argv[2], current_worker())
    print(json.dumps(dataclasses.asdict(result)), flush=True)
""")


def start_worker(tmp_path: Path, mode: str, *options: str) -> subprocess.Popen:
    model = make_model(tmp_path / "model", train=TRAIN)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "prep").mkdir(exist_ok=True)
    argv = [sys.executable, "-c", WORKER, str(tmp_path / "trial"), str(tmp_path / "prep"),
            "--model-dir", str(model), "--data-dir", str(tmp_path / "data"), "--infer", "none",
            *options]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MODE": mode})


def spawned(tmp_path: Path) -> list[int]:
    """The survivors' pids, once all three are recorded."""
    log = tmp_path / "trial" / "spawned.log"
    assert wait_for_file(tmp_path / "trial" / "script.json"), "train.sh did not start"
    return [int(line) for line in log.read_text().split()]


def assert_gone(pids: list[int]) -> None:
    survivors = [pid for pid in pids if not wait_until_gone(pid, limit=20)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"still running: {survivors}"


def result_of(worker: subprocess.Popen) -> dict:
    stdout, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    return json.loads(stdout)


def test_a_normal_end_leaves_nothing_running(tmp_path):
    worker = start_worker(tmp_path, "exit")
    pids = spawned(tmp_path)
    result = result_of(worker)
    assert (result["status"], result["metric"]) == ("ok", 0.5)
    assert_gone(pids)


def test_a_timeout_leaves_nothing_running(tmp_path):
    worker = start_worker(tmp_path, "hang", "--trial-timeout", "2")
    pids = spawned(tmp_path)
    result = result_of(worker)
    assert result["status"] == "failed" and "ran past --trial-timeout 2 s" in result["reason"]
    assert_gone(pids + json.loads((tmp_path / "trial" / "script.json").read_text()))


def test_kill_9_of_the_worker_leaves_nothing_running(tmp_path):
    worker = start_worker(tmp_path, "hang")
    pids = spawned(tmp_path)
    script, keeper = json.loads((tmp_path / "trial" / "script.json").read_text())
    worker.kill()  # SIGKILL: the worker gets no chance to clean up
    worker.communicate(timeout=30)
    assert_gone([*pids, script, keeper])  # the keeper's parent-death signal did it


def test_kill_9_of_the_keeper_leaves_nothing_running(tmp_path):
    worker = start_worker(tmp_path, "hang")
    pids = spawned(tmp_path)
    script, keeper = json.loads((tmp_path / "trial" / "script.json").read_text())
    os.kill(keeper, signal.SIGKILL)  # the script and the survivors are re-parented to the
    result = result_of(worker)  # worker, which kills everything carrying the keeper's marker
    assert result["status"] == "failed" and "killed by SIGKILL" in result["reason"]
    assert_gone([*pids, script])
