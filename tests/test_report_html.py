"""`improve-hpo report OUT --html`: one self-contained file (plotly's JavaScript inline, no
server, no network) with the summary, a sortable trials table and the plots; headless Chromium,
where installed, renders it offline. And the report's output paths as usage errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from csv_exact import read_csv
from engine_models.harness import command, run

from improve_hpo.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    space = tmp / "hp.json"
    space.write_text(json.dumps([
        {"name": "x", "type": "float", "lower": 0.001, "upper": 1.0, "use_log_scale": True},
        {"name": "n", "type": "int", "lower": 0, "upper": 3},
        {"name": "act", "type": "categorical", "element_type": "string",
         "values": ["relu", "tanh"]},
        {"name": "fail_n", "type": "constant", "value": 3}]))
    result = run(command(tmp, "--workers", 2, "--population", 6, "--generations", 2,
                         "--seed", 2, space=space))
    assert result.returncode == 0, result.stderr
    return tmp / "out"


def test_the_html_report_is_one_self_contained_file(experiment, tmp_path):
    target = tmp_path / "r.html"
    done = subprocess.run([sys.executable, "-m", "improve_hpo", "report", str(experiment),
                           "--html", str(target), "--no-plots"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"improve-hpo report: html: {target}" in done.stderr
    text = target.read_text()
    assert not re.search(r"<script[^>]+src=", text)  # nothing fetched: the library is inline
    assert not re.search(r"<link[^>]+href=", text)
    assert text.count("Plotly.newPlot(") == 4 and "plotly.js v" in text
    for title in ("the metric per generation", "the metric against each hyperparameter",
                  "parallel coordinates of the successful trials", "tasks on each worker"):
        assert title in text
    trials = read_csv(experiment / "trials.csv")
    assert text.count("<tr class='") == len(trials)  # one row per trial in the table
    assert "<td class='num' data-v='0'>0</td>" in text
    assert set(trials["status"]) == {"ok", "failed"} and "train.sh exited" in text
    assert "table.sortable th" in text and "addEventListener(\"click\"" in text
    assert f"experiment {experiment}: val_loss (minimize)" in text  # the summary
    assert (experiment / "report.html").exists() is False


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium to render the page "
                    "(apt-get install chromium)")
def test_headless_chromium_renders_the_plots_offline(experiment, tmp_path):
    assert main(["report", str(experiment), "--html", "--no-plots"]) == 0
    page = experiment / "report.html"
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           f"--user-data-dir={tmp_path / 'profile'}",
                           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=600)  # slow on a busy machine
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('class="main-svg"') >= 8  # plotly drew every figure's SVG
    assert "parcoords" in done.stdout


def test_report_paths_that_cannot_be_written_are_usage_errors(experiment, tmp_path, capsys):
    afile = tmp_path / "a-file"
    afile.write_text("")
    assert main(["report", str(experiment), "--plots", str(afile)]) == 2
    assert f"--plots {afile}: is a file; give a folder for the PNG plots" in \
        capsys.readouterr().err
    assert main(["report", str(experiment), "--html", str(tmp_path / "no/such/r.html")]) == 2
    assert f"{tmp_path / 'no/such'} is not a folder" in capsys.readouterr().err
    assert main(["report", str(experiment), "--html", str(tmp_path)]) == 2
    assert "is a folder; give the HTML file to write" in capsys.readouterr().err


def test_the_readme_report_examples_run_as_written(experiment, tmp_path):
    """Each `$ improve-hpo report hpo-quickstart ...` line of the README's report section, run
    on a copy of an experiment in place of hpo-quickstart."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### `improve-hpo report OUT`", 1)[1].split("\n## ", 1)[0]
    examples = [line.split("$ ", 1)[1].split("#", 1)[0].split()
                for line in section.splitlines() if line.startswith("    $ improve-hpo report")]
    assert len(examples) == 3 and any("--html" in argv for argv in examples)
    copy = tmp_path / "hpo-quickstart"
    shutil.copytree(experiment, copy)
    for argv in examples:
        done = subprocess.run([sys.executable, "-m", "improve_hpo", *argv[1:]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, (argv, done.stderr)
        if "--json" in argv:
            assert json.loads(done.stdout)["best"]["metric"] is not None
    page = (copy / "report.html").read_text()
    assert page.count("Plotly.newPlot(") == 4 and "<table class='sortable'" in page
    assert sorted(p.name for p in (copy / "plots").glob("*.png"))  # the first example's PNGs
