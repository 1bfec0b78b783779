"""`improve-hpo status OUT` beside a real run: the running trials with their rank and how long
they run, the last results, the best; --watch follows the run to its end."""

from __future__ import annotations

import json
import subprocess
import sys

from engine_models.harness import command, started, wait_for
from runner_fixtures import make_model

from improve_hpo.cli import main


def status(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "improve_hpo", "status", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


# Trials with n == 1 wait while DATA/hold exists: the test decides when they end, whatever the
# machine's load.
TRAIN = '''n = int(flag("--n"))
while n == 1 and Path(ARGS[1], "hold").exists():
    time.sleep(0.05)
print(f"IMPROVE_RESULT val_loss: {(float(flag('--x')) - 0.3) ** 2 + 0.01 * n}", flush=True)
'''


def test_status_shows_the_running_trials_while_a_run_goes_on(tmp_path):
    space = tmp_path / "hp.json"
    space.write_text(json.dumps([
        {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
        {"name": "n", "type": "ordered", "element_type": "int", "values": [0, 1]}]))
    init = tmp_path / "init.csv"
    init.write_text("x,n\n0.3,0\n0.5,1\n0.6,1\n")
    out = tmp_path / "out"
    (tmp_path / "data").mkdir()
    hold = tmp_path / "data" / "hold"
    hold.write_text("wait")
    argv = command(tmp_path, "--workers", 2, "--population", 3, "--generations", 0,
                   "--init-population", init, space=space)
    argv[argv.index("--model-dir") + 1] = str(make_model(tmp_path / "model", train=TRAIN))
    with started(argv, tmp_path) as process:
        try:
            # the ledger commits a trial's start with the driver's next pass (batched commits):
            # wait until both started trials are on disk, not only their worker.json files
            wait_for(lambda: len(list(out.glob("trials/*/worker.json"))) >= 3
                     and len(json.loads(status(out, "--json").stdout or "{}").get("running", []))
                     >= 2, process=process)
            now = status(out, "--json")
            shown = status(out)
            watched = tmp_path / "watched.txt"
            with open(watched, "w") as sink:
                watch = subprocess.Popen([sys.executable, "-m", "improve_hpo", "status",
                                          str(out), "--watch", "0.5"], stdout=sink)
            wait_for(lambda: "running now" in watched.read_text(), timeout=120)
        finally:
            hold.unlink()
        watch.wait(timeout=120)
        process.communicate(timeout=120)
    watched_out = watched.read_text()
    assert now.returncode == 0, now.stderr
    document = json.loads(now.stdout)
    assert document["live"] and document["planned"] == 3 and document["finished"] == 1
    assert sorted(r["trial"] for r in document["running"]) == [1, 2]
    assert sorted(r["rank"] for r in document["running"]) == [1, 2]
    assert all(0 <= r["for_s"] < 120 for r in document["running"])
    assert document["best"]["trial"] == 0 and document["last"][0]["status"] == "ok"
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"experiment {out}: val_loss (minimize), running now")
    assert lines[1] == "  trials   1/3 finished (1 ok, 0 failed, 0 reused), 2 running"
    assert lines[3] == "running"
    assert lines[4].split() == ["trial", "gen", "rank", "host", "gpu", "for", "values"]
    assert {line.split()[0] for line in lines[5:7]} == {"1", "2"}
    assert all("n=1" in line for line in lines[5:7])
    # --watch printed the status until the run ended; its last one is of the finished run.
    assert watch.returncode == 0
    assert watched_out.count(f"experiment {out}:") >= 2
    last = watched_out.rsplit(f"experiment {out}:", 1)[1]
    assert "no run holds it now" in last and "3/3 finished (3 ok" in last


def test_status_usage_errors(tmp_path, capsys):
    assert main(["status", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["status", str(tmp_path), "--watch", "0"]) == 2
    assert "--watch: must be a positive number of seconds, got 0" in capsys.readouterr().err
