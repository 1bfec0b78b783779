"""Every bad option value of `improve-hpo run` is a usage error: exit 2, one message naming the
flag (or file, row and column), and nothing started: no output folder is created."""

from __future__ import annotations

import sqlite3

import pytest
from engine_models.harness import FAKE_MODEL, command, run, write_space

from improve_hpo import cli


@pytest.fixture()
def base(tmp_path):
    """Arguments of a valid run; the output folder must not appear after a usage error."""
    (tmp_path / "data").mkdir()
    space = write_space(tmp_path)
    return ["--space", str(space), "--model-dir", str(FAKE_MODEL), "--data-dir",
            str(tmp_path / "data"), "--output", str(tmp_path / "out")]


def usage_error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    (["--population", "-3"], "--population: must be at least 2, got -3"),
    (["--population", "1"], "--population: must be at least 2, got 1"),
    (["--generations", "-1"], "--generations: must be at least 0, got -1"),
    (["--offspring", "0"], "--offspring: must be at least 1, got 0"),
    (["--cxpb", "1.5", "--mutpb", "0"], "--cxpb: must be a probability between 0 and 1, got 1.5"),
    (["--mutpb", "-0.1"], "--mutpb: must be a probability between 0 and 1, got -0.1"),
    (["--indpb", "2"], "--indpb: must be a probability between 0 and 1, got 2.0"),
    (["--cxpb", "0.5", "--mutpb", "0.8"], "--cxpb/--mutpb: cxpb + mutpb must be at most 1"),
    (["--tournament-size", "0"], "--tournament-size: must be at least 1, got 0"),
    (["--seed", "-1"], "--seed: must be at least 0, got -1"),
    (["--grid-points", "1"], "--grid-points: must be at least 2, got 1"),
    (["--max-evaluations", "0"], "--max-evaluations: must be at least 1, got 0"),
    (["--max-failures", "0"], "--max-failures: must be at least 1, got 0"),
    (["--candidates", "0"], "--candidates: must be at least 1, got 0"),
    (["--workers", "0"], "--workers: must be at least 1, got 0"),
])
def test_bad_search_options(base, tmp_path, capsys, options, message):
    assert message in usage_error(capsys, ["run", *base, *options])
    assert not (tmp_path / "out").exists()


def test_a_bad_number_is_refused_by_the_parser(base, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", *base, "--population", "many"])
    assert stop.value.code == 2
    assert "argument --population: invalid int value: 'many'" in capsys.readouterr().err


def write_csv(tmp_path, text):
    path = tmp_path / "init.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ("x,n\n0.5,1\n0.2,9\n", 'row 3: column "n" (int)'),
    ("x,bogus\n0.5,2\n", 'has no column for the parameter(s) n of'),
    ("x,n\n0.5,1,7\n", "row 2: has 3 cells but the header has 2"),
    ("x,n\n", "needs a header row naming the parameters and at least one row"),
    ("x,x\n0.1,0.2\n", 'column "x" appears more than once'),
    ("trial,status,metric,x,n\n0,failed,,0.1,0\n", "holds no successful trial (status ok)"),
])
def test_bad_init_population_files(base, tmp_path, capsys, text, message):
    path = write_csv(tmp_path, text)
    err = usage_error(capsys, ["run", *base, "--population", "2", "--init-population", path])
    assert f"--init-population {path}" in err and message in err
    assert not (tmp_path / "out").exists()


def test_missing_init_population_file(base, tmp_path, capsys):
    err = usage_error(capsys, ["run", *base, "--init-population", str(tmp_path / "no.csv")])
    assert f"--init-population {tmp_path / 'no.csv'}: no such file" in err


def test_init_population_that_is_not_text(base, tmp_path, capsys):
    path = tmp_path / "init.csv"
    path.write_bytes(b"x,n\n\xff\xfe,1\n")
    err = usage_error(capsys, ["run", *base, "--init-population", str(path)])
    assert f"--init-population {path}: cannot read it as CSV (" in err


def test_a_ledger_whose_trial_had_other_values_is_not_resumed(base, tmp_path, capsys):
    first = run(command(tmp_path, "--population", 2, "--generations", 0,
                        "--strategy", "generational"))
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(tmp_path / "out" / "ledger.sqlite") as db:
        db.execute("UPDATE trials SET key = 'edited' WHERE number = 0")
    err = usage_error(capsys, ["run", *base, "--population", "2", "--generations", "0",
                               "--strategy", "generational"])
    assert (f"{tmp_path / 'out' / 'ledger.sqlite'}: trial 0 was run with other values than "
            "this run asks for, so this experiment cannot be resumed here; use a new --output") in err


def test_init_population_with_grid_search(base, tmp_path, capsys):
    path = write_csv(tmp_path, "x,n\n0.5,1\n")
    err = usage_error(capsys, ["run", *base, "--algorithm", "grid", "--init-population", path])
    assert "--init-population: grid search evaluates the grid only" in err


def test_output_that_is_a_file(base, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    err = usage_error(capsys, ["run", *base, "--output", str(tmp_path / "file")])
    assert "--output" in err and "is a file" in err


def test_output_folder_with_other_content(base, tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    err = usage_error(capsys, ["run", *base, "--output", str(tmp_path / "busy")])
    assert "the folder is not empty and holds no improve-hpo experiment" in err
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]


def test_output_that_cannot_be_written(base, capsys):
    err = usage_error(capsys, ["run", *base, "--output", "/proc/improve-hpo-test/out"])
    assert "--output /proc/improve-hpo-test/out:" in err


def test_resuming_with_other_settings_names_what_changed(base, tmp_path, capsys):
    first = run(command(tmp_path, "--population", 2, "--generations", 1))
    assert first.returncode == 0, first.stderr
    err = usage_error(capsys, ["run", *base, "--population", "3", "--generations", "1",
                               "--seed", "5"])
    assert "--population: the experiment in" in err
    assert "was started with --population 2, not 3" in err
    assert "--seed: " in err and "--seed 0, not 5" in err
    err = usage_error(capsys, ["run", *base, "--population", "2", "--generations", "0"])
    assert "--generations: " in err and "may raise it to extend the run, not lower it to 0" in err
    other_space = write_space(tmp_path / "data", [{"name": "x", "type": "float", "lower": 0,
                                                   "upper": 2}])
    base[1] = str(other_space)
    err = usage_error(capsys, ["run", *base, "--population", "2", "--generations", "1"])
    assert f"--space {other_space}: differs from the space the experiment" in err


def test_usage_errors_under_mpi_are_printed_once_and_exit_2(tmp_path):
    result = run(command(tmp_path, "--population", 0, ranks=3))
    assert result.returncode == 2
    assert result.stderr.count("--population: must be at least 2, got 0") == 1
    assert not (tmp_path / "out").exists()
    result = run(command(tmp_path, "--workers", 2, ranks=2))
    assert result.returncode == 2
    assert "--workers: starts local worker processes without MPI" in result.stderr
