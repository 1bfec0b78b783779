"""The README's main command, `bash workflows/quickstart.sh OUT`, run for real (3 MPI ranks)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from csv_exact import read_csv

REPO = Path(__file__).resolve().parents[1]


def test_quickstart_runs_a_real_search_and_says_where_the_reports_are(tmp_path):
    out = tmp_path / "quick"
    # An active environment that has improve-hpo is used as it is: nothing is installed.
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    result = subprocess.run(
        ["bash", str(REPO / "workflows" / "quickstart.sh"), str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"reports in {out}" in result.stdout
    assert "installing" not in result.stderr
    trials = read_csv(out / "trials.csv")
    assert len(trials) == 8 + 4 * 4  # mu + generations * lambda, lambda = round(0.5 * mu)
    assert set(trials["rank"].dropna()) <= {1, 2}  # rank 0 runs the GA only
    best = json.loads((out / "best.json").read_text())
    assert best["metric"] == trials.loc[trials["status"] == "ok", "metric"].min()
    # The README's quick start shows what this run printed: each of its progress lines has
    # the form of a line of the run (numbers, times and paths aside).
    shown = {_form(line) for line in result.stderr.splitlines()}
    for line in _readme_progress_lines():
        assert _form(line) in shown, (line, result.stderr[-3000:])


def _readme_progress_lines() -> list[str]:
    section = (REPO / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ")[0]
    lines = [line.strip() for line in section.splitlines()
             if line.startswith("    improve-hpo: ")]
    assert len(lines) >= 10
    return lines


def _form(line: str) -> str:
    """A progress line with its paths, numbers and durations as placeholders."""
    line = re.sub(r"(?<!\S)\.?/\S*[^\s;,)]", "PATH", line.strip())
    line = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", line)
    return re.sub(r"N:N:N|N s\b", "TIME", line)
