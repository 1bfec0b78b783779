"""The top-level CLI: version, help, the implicit `run`, exit codes, and a closed stdout pipe."""

import subprocess
import sys
from pathlib import Path

import pytest

from improve_hpo import __version__
from improve_hpo.cli import main

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "improve_hpo"]


def test_version_prints_the_package_version():
    result = subprocess.run([*CLI, "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"improve-hpo {__version__}"


def test_help_lists_every_subcommand():
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("run", "validate", "check-def", "check-model", "report"):
        assert command in result.stdout


def test_no_arguments_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage: improve-hpo" in capsys.readouterr().err


def test_options_without_a_subcommand_mean_run(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--space", "hp.json"])
    assert exit_.value.code == 2
    assert "improve-hpo run: error: the following arguments are required" in capsys.readouterr().err


def test_closed_stdout_pipe_ends_quietly():
    space = REPO / "containers" / "example" / "hp.json"
    process = subprocess.Popen(
        [*CLI, "validate", "--json", str(space)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()  # like `| head -0`: the reader is gone before anything is written
    stderr = process.stderr.read().decode()
    process.wait()
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
