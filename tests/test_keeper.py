"""The keeper serves its worker for its whole life (runner/keeper.py, runner/process.py): real
scripts, a real keeper process, signals sent the way the worker's timers and a user send them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from improve_hpo.runner import process
from improve_hpo.runner.keeper import MARKER

SIGPIPE_BIT = 1 << (signal.SIGPIPE - 1)


def run(tmp_path: Path, script: str, timeout: float | None = None) -> tuple[process.Outcome, str]:
    """Run `sh -c script` through the keeper in tmp_path; (its outcome, what it printed)."""
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    outcome = process.run_logged(["/bin/sh", "-c", script], dict(os.environ), str(tmp_path),
                                 out, err, timeout)
    return outcome, out.read_text()


def gone(pid: int, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_one_keeper_runs_the_scripts_one_after_the_other(tmp_path):
    first, printed = run(tmp_path, f'echo ${MARKER}')
    second, again = run(tmp_path, f'echo ${MARKER}; exit 3')
    assert (first.returncode, second.returncode) == (0, 3)
    assert printed.strip() and printed == again  # the same keeper pid in both environments


def test_a_stop_that_comes_after_its_script_ended_does_not_reach_the_next(tmp_path):
    _, keeper = run(tmp_path, f'echo ${MARKER}')
    os.kill(int(keeper), signal.SIGTERM)  # what a timeout that fired as the script ended sends
    # longer than the grace time: a stop taken for the next script would kill it by then
    outcome, printed = run(tmp_path, f"sleep {process.KILL_GRACE_SECONDS + 0.5}; echo done")
    assert outcome == process.Outcome(0) and printed == "done\n"


def test_a_script_starts_with_sigpipe_at_its_default_action(tmp_path):
    # Python ignores SIGPIPE, and an ignored signal stays ignored across exec: `yes | head`
    # would then loop on EPIPE instead of ending
    _, status = run(tmp_path, "cat /proc/self/status")
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:"))
                  .split()[1], 16)
    assert not ignored & SIGPIPE_BIT


def test_a_keeper_killed_between_scripts_is_replaced(tmp_path):
    _, keeper = run(tmp_path, f'echo ${MARKER}')
    os.kill(int(keeper), signal.SIGKILL)
    assert gone(int(keeper))
    outcome, again = run(tmp_path, f'echo ${MARKER}')
    assert outcome.returncode == 0 and again.strip() and again != keeper


def test_the_timeout_kills_the_script_and_the_keeper_serves_on(tmp_path):
    outcome, _ = run(tmp_path, "sleep 30", timeout=0.5)
    assert outcome.timed_out and outcome.returncode == -signal.SIGTERM
    outcome, printed = run(tmp_path, "echo next")
    assert outcome == process.Outcome(0) and printed == "next\n"


def test_a_script_that_cannot_start_says_why(tmp_path):
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    (tmp_path / "plain.sh").write_text("echo hi\n")  # not executable
    outcome = process.run_logged([str(tmp_path / "plain.sh")], dict(os.environ), str(tmp_path),
                                 out, err, None)
    assert outcome.returncode is None and outcome.start_error == "Permission denied"


def test_the_keeper_exits_with_its_worker(tmp_path):
    """A worker that ends without closing its keeper (os._exit, a crash): the keeper sees its
    channel close and exits (after kill -9 the parent-death signal does it:
    test_faults_containment.py)."""
    worker = textwrap.dedent(f"""
        import os, sys
        from improve_hpo.runner import process
        log = {str(tmp_path / 'out.log')!r}
        process.run_logged(["/bin/sh", "-c", "echo ${MARKER}"], dict(os.environ), "/", log,
                           {str(tmp_path / 'err.log')!r}, None)
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", worker], check=True, timeout=60)
    keeper = int((tmp_path / "out.log").read_text())
    assert gone(keeper)


def test_a_worker_that_exits_while_a_script_runs_ends_it(tmp_path):
    """A worker whose main thread ends while another thread's script runs: at its exit the
    keeper is told to stop (SIGTERM), so the script does not outlive the worker."""
    worker = textwrap.dedent(f"""
        import os, threading, time
        from improve_hpo.runner import process
        log = {str(tmp_path / 'out.log')!r}
        script = ["/bin/sh", "-c", "echo $$; exec sleep 60"]
        threading.Thread(target=process.run_logged, daemon=True,
                         args=(script, dict(os.environ), "/", log,
                               {str(tmp_path / 'err.log')!r}, None)).start()
        while not (os.path.exists(log) and os.path.getsize(log)):  # the script has started
            time.sleep(0.02)
    """)
    subprocess.run([sys.executable, "-c", worker], check=True, timeout=60)
    assert gone(int((tmp_path / "out.log").read_text()))


def test_a_child_forked_from_a_worker_does_not_use_or_hold_its_keeper(tmp_path):
    _, keeper = run(tmp_path, f'echo ${MARKER}')
    child = os.fork()
    if child == 0:  # the child runs its own script under its own keeper, then exits normally
        try:
            _, mine = run(tmp_path, f'echo ${MARKER}')
            os._exit(0 if mine.strip() and mine != keeper else 1)
        except BaseException:
            os._exit(2)
    _, code = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(code) == 0
    outcome, again = run(tmp_path, f'echo ${MARKER}')  # the parent's keeper serves on
    assert outcome.returncode == 0 and again == keeper


def test_a_script_sees_the_environment_it_was_given_when_it_is_sent_once(tmp_path):
    """The keeper keeps the last environment it was sent and a request with the same one sends
    none (runner/process._send): a script must still see each change, and a keeper started
    after its predecessor died must be sent the environment again."""
    def printed(env: dict) -> str:
        out, err = tmp_path / "out.log", tmp_path / "err.log"
        outcome = process.run_logged(["/bin/sh", "-c", f"echo $IMPROVE_HPO_TEST_VALUE ${MARKER}"],
                                     env, str(tmp_path), out, err, None)
        assert outcome == process.Outcome(0)
        return out.read_text().split()

    one, two = dict(os.environ, IMPROVE_HPO_TEST_VALUE="one"), \
        dict(os.environ, IMPROVE_HPO_TEST_VALUE="two")
    first = printed(one)
    assert first[0] == "one" and printed(one) == first  # the same dict: sent once, still seen
    assert printed(two) == ["two", first[1]]
    os.kill(int(first[1]), signal.SIGKILL)
    assert gone(int(first[1]))
    value, keeper = printed(two)  # the same dict as the request before, to a new keeper
    assert value == "two" and keeper != first[1]
