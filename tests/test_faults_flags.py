"""Flags that were accepted unchecked: sizes that exhaust memory or never answer, a relative
--data-mount, malformed --bind values. Each is a usage error (exit 2) naming the flag, before
anything starts, for the real run and --dry-run alike."""

from __future__ import annotations

import pytest
from engine_models.harness import FAKE_MODEL, write_space

from improve_hpo import cli
from runner_fixtures import EXAMPLE_DIR, python_first_on_path, standin_on_path


@pytest.fixture()
def base(tmp_path):
    (tmp_path / "data").mkdir()
    return ["--space", str(write_space(tmp_path)), "--data-dir", str(tmp_path / "data"),
            "--output", str(tmp_path / "out")]


@pytest.mark.parametrize("options, message", [
    (["--population", "1000000000"], "--population: must be at most 100,000 (a generation is "
     "held in memory and a population that large is never useful), got 1,000,000,000"),
    (["--offspring", "1000000000"], "--offspring: must be at most 100,000"),
    (["--algorithm", "grid", "--grid-points", "1000000000"],
     "--grid-points: must be at most 10,000 (the levels of every float parameter are held in "
     "memory), got 1,000,000,000"),
    (["--data-mount", "rel/x"], "--data-mount rel/x: must be an absolute path inside the "
     "container"),
])
@pytest.mark.parametrize("dry", [False, True])
def test_sizes_and_mounts(base, tmp_path, capsys, options, message, dry):
    argv = [*base, "--model-dir", str(FAKE_MODEL), *options, *(["--dry-run"] if dry else [])]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bind, message", [
    ("/tmp:/x,/missing:/y", "has a ',', which the container runtime's --bind splits at"),
    ("/missing:/y", "the source /missing does not exist"),
    ("/tmp:relative", "the destination relative must be an absolute path"),
    ("/tmp:/x:bogus", "'bogus' is not a bind option; give ro or rw"),
    ("/tmp:/x:ro:rw", "expected SRC, SRC:DST or SRC:DST:ro|rw"),
    ("/tmp:", "expected SRC, SRC:DST or SRC:DST:ro|rw"),
])
def test_bad_binds(base, tmp_path, capsys, monkeypatch, bind, message):
    standin_on_path(monkeypatch, tmp_path)
    python_first_on_path(monkeypatch)
    assert cli.main([*base, "--sif", str(EXAMPLE_DIR), "--bind", bind]) == 2
    assert f"--bind {bind}: {message}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_good_binds_list_and_forms(base, tmp_path, capsys, monkeypatch):
    standin_on_path(monkeypatch, tmp_path)
    python_first_on_path(monkeypatch)
    assert cli.main([*base, "--sif", str(EXAMPLE_DIR), "--bind", "/tmp:/x:ro", "--bind",
                     "/tmp:/y", "--bind", "/tmp", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "--bind /tmp:/x:ro --bind /tmp:/y --bind /tmp" in printed
