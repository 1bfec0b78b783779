"""One writer per experiment folder on any file system: the lease (OUT/ledger.owner, with host,
pid and a heartbeat) refuses a second run where flock is missing or node-local, and a dead
run's lease is taken over; a report from another host reads the snapshot the writer publishes,
never the live WAL database."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from engine_models.harness import BASE_SPACE, command, run, started, wait_for, write_space
from faults import finished_trials
from improve_hpo.errors import UsageError
from improve_hpo.ledger import Ledger, lock


def write_lease(out, host, pid, start="", heartbeat=0):
    (out / lock.OWNER_NAME).write_text(json.dumps(dict(
        host=host, pid=pid, process_start=start, token="other", heartbeat=heartbeat,
        time=time.time())))


def test_a_live_run_on_another_host_is_refused(tmp_path, capsys):
    write_lease(tmp_path, "node-b", 4242)
    stop = threading.Event()

    def beat():  # the other host's heartbeat moves
        beats = 0
        while not stop.wait(0.2):
            beats += 1
            partial = tmp_path / "lease.partial"
            partial.write_text(json.dumps(dict(host="node-b", pid=4242, process_start="",
                                               token="other", heartbeat=beats,
                                               time=time.time())))
            os.replace(partial, tmp_path / lock.OWNER_NAME)

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        with pytest.raises(UsageError, match="another improve-hpo run is using this output "
                                             r"folder \(pid 4242 on host node-b\)"):
            Ledger(tmp_path / "ledger.sqlite")
    finally:
        stop.set()
        beater.join()
    assert "watching its heartbeat" in capsys.readouterr().err


def test_a_dead_run_on_another_host_is_taken_over(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(lock, "STALE_SECONDS", 1.0)  # instead of 30 s
    write_lease(tmp_path, "node-b", 4242)  # its heartbeat never moves: killed with its node
    with Ledger(tmp_path / "ledger.sqlite"):
        owner = json.loads((tmp_path / lock.OWNER_NAME).read_text())
        assert (owner["host"], owner["pid"]) == (socket.gethostname(), os.getpid())
    assert "(pid 4242 on host node-b) is gone; taking over" in capsys.readouterr().err
    assert not (tmp_path / lock.OWNER_NAME).exists()  # released at close


def test_a_dead_run_on_this_host_is_taken_over_at_once(tmp_path, capsys):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True)
    write_lease(tmp_path, socket.gethostname(), int(ended.stdout), start="1")
    with Ledger(tmp_path / "ledger.sqlite"):
        pass
    assert "is gone; taking over" in capsys.readouterr().err


def test_the_lease_refuses_a_second_run_without_flock(tmp_path):
    """A live writer on this host that holds no flock (a file system without one): the lease
    alone refuses the second run."""
    me = os.getpid()
    write_lease(tmp_path, socket.gethostname(), me, start=lock._process_start(me))
    with pytest.raises(UsageError, match="another improve-hpo run is using this output folder"):
        Ledger(tmp_path / "ledger.sqlite")


def on_another_host(argv):
    """argv run with another host name (a UTS namespace made by bubblewrap)."""
    return ["bwrap", "--dev-bind", "/", "/", "--unshare-uts", "--hostname", "login-node", *argv]


def test_a_report_from_another_host_reads_the_snapshot(tmp_path):
    if shutil.which("bwrap") is None or run(on_another_host(["true"])).returncode != 0:
        pytest.skip("bubblewrap cannot make a UTS namespace here")
    space = write_space(tmp_path, [*BASE_SPACE[:2], {"name": "sleep", "type": "constant",
                                                      "value": 0.3}])
    out = tmp_path / "out"
    argv = command(tmp_path, "--population", 40, "--generations", 0, space=space, out=out)
    report = [*argv[:3], "report", str(out), "--json", "--no-plots"]
    with started(argv, tmp_path) as process:
        wait_for(lambda: (out / "ledger.snapshot.sqlite").exists() and finished_trials(out),
                 process=process)
        remote = run(on_another_host(report))
        local = run(report)
        process.kill()
    assert remote.returncode == 0, remote.stderr
    assert f"on host {socket.gethostname()}; it lags the run by up to 30 s" in remote.stderr
    assert json.loads(remote.stdout)["live"] is True
    assert local.returncode == 0 and "snapshot" not in local.stderr
