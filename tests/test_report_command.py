"""`improve-hpo report OUT`: the summary of a real experiment (checked against the engine's own
CSV reports and best.json), the plots, a report while the run is still going, the summary
without matplotlib, and usage errors."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from csv_exact import read_csv
from runner_fixtures import make_model, wait_for_file

from improve_hpo.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ["generations.png", "parameters.png", "timeline.png"]
SPACE = [
    {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0, "sigma": 0.3},
    {"name": "n", "type": "int", "lower": 0, "upper": 3},
    {"name": "lr", "type": "float", "lower": 0.0001, "upper": 0.1, "use_log_scale": True},
    {"name": "opt", "type": "categorical", "element_type": "string", "values": ["adam", "sgd"]},
    {"name": "epochs", "type": "constant", "value": 3},
]
# Fails for x > 0.75; while DATA/hold exists it waits (the live-report test holds it).
TRAIN = '''x, n = float(flag("--x")), int(flag("--n"))
while Path(ARGS[1], "hold").exists():
    time.sleep(0.05)
if x > 0.75:
    sys.stderr.write("diverged\\n")
    sys.exit(1)
print(f"IMPROVE_RESULT val_loss: {(x - 0.3) ** 2 + 0.01 * n}", flush=True)
'''


def run_command(tmp: Path, out: Path) -> list[str]:
    model = make_model(tmp / "model", train=TRAIN)
    space = tmp / "hp.json"
    space.write_text(json.dumps(SPACE))
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    return [sys.executable, "-m", "improve_hpo", "run", "--space", str(space), "--model-dir",
            str(model), "--data-dir", str(data), "--output", str(out), "--population", "8",
            "--generations", "2", "--workers", "2", "--seed", "5", "--infer", "none"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("experiment")
    out = tmp / "out"
    done = subprocess.run(run_command(tmp, out), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def report(*argv, block_matplotlib=False):
    """`improve-hpo report` in a subprocess; optionally with `import matplotlib` failing."""
    block = "sys.modules['matplotlib'] = None; " if block_matplotlib else ""
    code = (f"import sys; {block}from improve_hpo.cli import main; "
            f"sys.exit(main(['report', *sys.argv[1:]]))")
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True,
                          text=True, timeout=120)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_json_summary_agrees_with_the_engines_reports(experiment, tmp_path):
    done = report(experiment, "--json", "--no-plots")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    rows = read_csv(experiment / "trials.csv")
    ran = [row for row in rows if row["reused_from"] == ""]
    counts = summary["trials"]
    assert counts["total"] == len(rows) and counts["ran"] == len(ran)
    assert counts["reused"] == len(rows) - len(ran)
    assert counts["ok"] == sum(row["status"] == "ok" for row in ran)
    assert counts["failed"] == sum(row["status"] == "failed" for row in ran) > 0
    assert counts["running"] == counts["interrupted"] == 0
    failed = sorted(int(row["trial"]) for row in ran if row["status"] == "failed")
    assert summary["failures"] == [dict(reason="train.sh exited with code 1: diverged",
                                        count=len(failed), trials=failed)]
    best = json.loads((experiment / "best.json").read_text())
    assert {k: summary["best"][k] for k in ("trial", "metric", "folder", "values")} == {
        k: best[k] for k in ("trial", "metric", "folder", "values")}
    assert (summary["metric"], summary["mode"]) == ("val_loss", "min")
    generations = read_csv(experiment / "generations.csv")
    assert [g["generation"] for g in summary["generations"]] == [0, 1, 2]
    for mine, theirs in zip(summary["generations"], generations, strict=True):
        assert mine["best"] == pytest.approx(float(theirs["min"]))
        assert mine["mean"] == pytest.approx(float(theirs["mean"]))
        assert mine["best_so_far"] == pytest.approx(float(theirs["best_so_far"]))
        assert mine["reused"] == int(theirs["reused"])
    time_used = summary["time"]
    assert time_used["workers"] == 2 and time_used["workers_from"] == "ledger"
    durations = sum(float(row["duration_s"]) for row in ran)
    assert time_used["trials_busy_s"] == pytest.approx(durations, abs=0.01 * len(ran))
    assert 0 < time_used["utilization"] <= 1
    # busy_s and wall_s are rounded to milliseconds, utilization to 4 places: the run lasts
    # about half a second, so the ratio of the rounded times is off by up to about 0.002
    rounding = 5e-5 + time_used["utilization"] * 5e-4 * (1 / time_used["busy_s"]
                                                         + 1 / time_used["wall_s"])
    assert time_used["utilization"] == pytest.approx(
        time_used["busy_s"] / (2 * time_used["wall_s"]), abs=rounding)


def test_the_table_and_the_plots(experiment, tmp_path):
    done = report(experiment, "--plots", tmp_path / "p")
    assert done.returncode == 0, done.stderr
    summary = json.loads(report(experiment, "--json", "--no-plots").stdout)
    lines = done.stdout.splitlines()
    assert lines[0] == f"experiment {experiment}: val_loss (minimize)"
    counts = summary["trials"]
    assert lines[1].split() == ["trials", str(counts["total"]), f"({counts['ran']}", "ran,",
                                str(counts["reused"]), "reused", "an", "earlier", "result):",
                                str(counts["ok"]), "ok,", str(counts["failed"]), "failed,", "0",
                                "interrupted,", "0", "running"]
    best = summary["best"]
    assert (f"  best        val_loss = {best['metric']:.6g}, trial {best['trial']} "
            f"(generation {best['generation']}), folder {best['folder']}") in lines
    failures = f"{counts['failed']:>6} x train.sh exited with code 1: diverged (trial "
    assert failures in "\n".join(lines)
    assert any(line.startswith("  workers     2 (recorded by the run); utilization ")
               for line in lines)
    header = lines.index("generations") + 1
    assert lines[header].split() == ["gen", "trials", "ok", "failed", "reused",
                                     "best", "mean", "best", "so", "far"]
    assert [line.split()[0] for line in lines[header + 1:]] == ["0", "1", "2"]
    written = [tmp_path / "p" / name for name in PLOTS]
    assert done.stderr == f"improve-hpo report: plots: {', '.join(map(str, written))}\n"
    for path in written:
        assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 10_000
    assert not (experiment / "plots").exists()  # --plots chose the folder


def test_plots_go_to_out_plots_by_default(experiment):
    done = report(experiment, "--no-plots")
    assert done.returncode == 0 and done.stderr == "" and not (experiment / "plots").exists()
    done = report(experiment)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (experiment / "plots").iterdir()) == PLOTS


def test_without_matplotlib_the_table_comes_with_a_hint(experiment, tmp_path):
    done = report(experiment, "--plots", tmp_path / "p", block_matplotlib=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"experiment {experiment}: val_loss (minimize)\n")
    assert done.stderr == ("improve-hpo report: install matplotlib "
                           "(pip install 'improve-hpo[plots]') for plots\n")
    assert not (tmp_path / "p").exists()


def _running_trials(ledger: Path) -> int:
    try:
        with sqlite3.connect(f"{ledger.as_uri()}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM trials WHERE status = 'running'").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


@contextmanager
def held_run(tmp_path: Path):
    """A run whose trials wait while DATA/hold exists; yields it once two trials are running."""
    out = tmp_path / "out"
    argv = run_command(tmp_path, out)
    hold = tmp_path / "data" / "hold"
    hold.write_text("wait")
    engine = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        assert wait_for_file(out / "ledger.sqlite")
        end = time.monotonic() + 60
        while _running_trials(out / "ledger.sqlite") < 2 and time.monotonic() < end:
            time.sleep(0.05)
        assert _running_trials(out / "ledger.sqlite") == 2
        yield engine, out
    finally:
        hold.unlink()  # lets the trials (and any orphaned script) end
        if engine.poll() is None:
            engine.communicate(timeout=300)


def test_a_report_while_the_run_goes_on(tmp_path):
    with held_run(tmp_path) as (engine, out):
        done = report(out, "--json", "--plots", tmp_path / "p")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["live"] is True
        assert summary["trials"]["running"] == 2 and summary["best"] is None
        assert (tmp_path / "p" / "timeline.png").read_bytes().startswith(PNG_MAGIC)
        table = report(out, "--no-plots").stdout
        assert table.startswith(f"experiment {out}: val_loss (minimize), running now\n")
        assert "no successful trial yet" in table
    assert engine.returncode == 0, engine.stderr.read()  # the reports did not disturb the run
    after = json.loads(report(out, "--json", "--no-plots").stdout)
    assert after["live"] is False
    assert after["trials"]["running"] == 0 and after["best"] is not None


def test_a_report_after_the_run_was_killed(tmp_path):
    with held_run(tmp_path) as (engine, out):
        os.killpg(engine.pid, signal.SIGKILL)  # the engine and its worker processes
        engine.wait(timeout=60)
        done = report(out, "--json", "--no-plots")
        summary = json.loads(done.stdout)
        assert summary["live"] is False and summary["trials"]["running"] == 2
        table = report(out, "--no-plots").stdout
        assert table.startswith(f"experiment {out}: val_loss (minimize)\n")
        assert ("2 without a result: left unfinished by a run that ended, or running on "
                "another machine (running the same command again runs them)") in table


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "nothing",
     "{out}: no such folder; give the --output folder of an `improve-hpo run`"),
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file",
     "{out}: is not a folder; give the --output folder of an `improve-hpo run`"),
    (lambda tmp: tmp,
     "{out}: holds no ledger.sqlite, so it is not an improve-hpo experiment folder; give the "
     "folder passed as --output to `improve-hpo run` (it appears once the run has started)"),
])
def test_not_an_experiment_folder_exits_2(tmp_path, capsys, make, message):
    out = make(tmp_path)
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"improve-hpo report: error: {message.format(out=out)}\n")


def test_a_damaged_ledger_exits_5(tmp_path, capsys):
    (tmp_path / "ledger.sqlite").write_bytes(os.urandom(4096))
    assert main(["report", str(tmp_path)]) == 5  # errors.LedgerDamaged
    err = capsys.readouterr().err
    assert err.startswith(f"improve-hpo report: error: {tmp_path / 'ledger.sqlite'}: the trial "
                          "ledger is damaged (file is not a database); it was left as it is")
