"""`improve-hpo run --dry-run`: the real run's checks, the plan, the exact commands of the first
trials, and nothing started or written (OUT not created, an existing OUT unchanged)."""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from engine_models.harness import FAKE_MODEL, MPIEXEC, TIMEOUT, write_space
from runner_fixtures import (EXAMPLE_DATA, EXAMPLE_DIR, STANDIN_DIR, python_first_on_path,
                             standin_on_path)

from improve_hpo import cli
from improve_hpo.ga import SearchSettings, make_algorithm
from improve_hpo.space import load_space

EXAMPLE = ["--space", str(EXAMPLE_DIR / "hp.json"), "--model-dir", str(EXAMPLE_DIR),
           "--data-dir", str(EXAMPLE_DATA), "--population", "3", "--generations", "0",
           "--seed", "11", "--infer", "none"]


def improve_hpo(*argv, ranks=None):
    """The real CLI in a subprocess (python3 first on PATH: the example model runs it)."""
    command = [sys.executable, "-m", "improve_hpo", "run", *map(str, argv)]
    if ranks:
        command = [str(MPIEXEC), "-n", str(ranks), *command]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def printed_commands(stdout: str) -> dict[str, str]:
    """{"preprocess FOLDER" or "trial N": its command line} from a dry run's output."""
    lines = stdout.splitlines()
    found = {}
    for title, command in zip(lines, lines[1:]):
        if title.startswith(("preprocess (", "trial ")) and command.startswith("  (cd "):
            name = title.split()[0] + " " + title.split()[1].strip("():,")
            found[name] = command.strip()
    return found


def tree(folder: Path) -> dict:
    """Every file under `folder` with its size and modification time."""
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """A dry run of the example model, then the real run of the same command on the same OUT."""
    out = tmp_path_factory.mktemp("example") / "out"
    dry = improve_hpo(*EXAMPLE, "--output", out, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert not out.exists()
    real = improve_hpo(*EXAMPLE, "--output", out)
    assert real.returncode == 0, real.stderr
    return out, dry.stdout


def test_the_dry_run_prints_the_commands_the_real_run_then_uses(example_run):
    out, stdout = example_run
    commands = printed_commands(stdout)
    preprocessed = sorted((out / "preprocess").iterdir())
    assert sorted(commands) == sorted([*(f"preprocess {folder}" for folder in preprocessed),
                                       "trial 0", "trial 1", "trial 2"])
    for number in range(3):
        recorded = (out / "trials" / f"trial_{number:06d}" / "command.txt").read_text()
        assert recorded.splitlines() == [commands[f"trial {number}"]]
    for folder in preprocessed:
        recorded = (folder / "command.txt").read_text()
        assert recorded.splitlines() == [commands[f"preprocess {folder}"]]
    assert "train.sh -1 " in commands["trial 0"]  # no GPU here: the CPU's -1
    assert "search: ga (async), population 3, offspring 2, generations 0, seed 11: " \
           "3 evaluations planned" in stdout
    assert "space " + str(EXAMPLE_DIR / "hp.json") + ": 9 parameters, continuous" in stdout
    assert "workers: 1 (trials run one at a time in this process)" in stdout


def test_a_dry_run_on_an_existing_experiment_changes_nothing(example_run):
    out, _ = example_run
    before = tree(out)
    done = improve_hpo(*EXAMPLE, "--output", out, "--dry-run", "--workers", "4")
    assert done.returncode == 0, done.stderr
    assert tree(out) == before  # no -wal/-shm file, no meta change, nothing
    assert f"output: {out}: resumes the experiment there: 3 of 3 planned trials finished, " \
           "0 to run again" in done.stdout
    assert "warning: 4 workers but 3 evaluations planned: 1 of them never get a trial" \
           in done.stdout
    assert "no unfinished trial to run again" in done.stdout


def test_a_command_that_cannot_resume_is_refused_as_by_the_real_run(example_run):
    out, _ = example_run
    before = tree(out)
    argv = [*EXAMPLE[:-4], "--seed", "12", "--infer", "none", "--output", out]
    dry, real = improve_hpo(*argv, "--dry-run"), improve_hpo(*argv)
    assert dry.returncode == real.returncode == 2
    assert dry.stderr == real.stderr
    assert f"--seed: the experiment in {out} was started with --seed 11, not 12" in dry.stderr
    assert dry.stdout == ""
    assert tree(out) == before


def test_a_folder_in_use_is_refused(example_run):
    out, _ = example_run
    with open(out / "ledger.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = improve_hpo(*EXAMPLE, "--output", out, "--dry-run")
    assert done.returncode == 2
    assert "another improve-hpo run is using this output folder" in done.stderr


def test_container_mode_prints_the_exact_runtime_line(tmp_path, monkeypatch, capsys):
    calls = standin_on_path(monkeypatch, tmp_path)
    python_first_on_path(monkeypatch)
    image, data, out = tmp_path / "image", tmp_path / "data", tmp_path / "out"
    image.mkdir()
    data.mkdir()
    space = write_space(tmp_path)
    assert cli.main(["run", "--space", str(space), "--sif", str(image), "--data-dir", str(data),
                     "--output", str(out), "--gpus", "3,5", "--population", "4",
                     "--generations", "1", "--seed", "2", "--dry-run"]) == 0
    stdout = capsys.readouterr().out
    first = make_algorithm(load_space(space), SearchSettings(population=4, offspring=2,
                                                             generations=1, seed=2)).ask()[0]
    trial = out / "trials" / "trial_000000"
    [pre] = [Path(name.split()[1]) for name in printed_commands(stdout)
             if name.startswith("preprocess ")]
    values = [f"--{name}={value!r}" for name, value in first.values.items()]
    expected = ["CUDA_VISIBLE_DEVICES=3", "APPTAINERENV_CUDA_VISIBLE_DEVICES=3",
                "APPTAINERENV_PYTHONUNBUFFERED=1",
                str(STANDIN_DIR / "apptainer"), "exec", "--cleanenv", "--nv",
                "--bind", f"{data}:/IMPROVE_DATA_DIR", "--bind", f"{pre}:{pre}",
                "--bind", f"{trial}:{trial}", str(image), "train.sh", "3", "/IMPROVE_DATA_DIR",
                "--input_dir", str(pre), "--output_dir", str(trial)]
    for value in values:
        expected += value.split("=", 1)
    line = printed_commands(stdout)["trial 0"]
    assert line == f"(cd {shlex.quote(str(trial))} && {shlex.join(expected)})"
    assert "GPU of the first worker: 3" in stdout
    assert "... and 3 more trials" in stdout
    assert not out.exists()
    assert not calls.exists()  # the runtime was asked its --version, never run


@pytest.fixture()
def fake(tmp_path):
    (tmp_path / "data").mkdir()
    return ["--space", str(write_space(tmp_path)), "--model-dir", str(FAKE_MODEL),
            "--data-dir", str(tmp_path / "data")]


@pytest.mark.parametrize("change, message", [
    (lambda tmp, argv: argv + ["--data-dir", str(tmp / "gone"), "--output", str(tmp / "out")],
     "--data-dir {tmp}/gone: no such folder; give the folder that holds the model's input data"),
    (lambda tmp, argv: argv + ["--output", str(tmp / "a-file" / "out")],
     "--output {tmp}/a-file/out: {tmp}/a-file is not writable; give a folder you can write to"),
    (lambda tmp, argv: argv + ["--space", str(tmp / "bad.json"), "--output", str(tmp / "out")],
     '{tmp}/bad.json: parameter 1 "x": missing required key "lower"'),
    (lambda tmp, argv: argv + ["--workers", "0", "--output", str(tmp / "out")],
     "--workers: must be at least 1, got 0"),
])
def test_bad_input_is_the_real_runs_usage_error(tmp_path, fake, capsys, change, message):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "bad.json").write_text('[{"name": "x", "type": "float"}]')
    before = tree(tmp_path)
    argv = change(tmp_path, ["run", *fake])
    assert cli.main([*argv, "--dry-run"]) == 2
    dry = capsys.readouterr()
    assert message.format(tmp=tmp_path) in dry.err
    assert dry.out == ""
    assert tree(tmp_path) == before
    assert cli.main(argv) == 2  # the real run stops with the same message
    assert capsys.readouterr().err == dry.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_an_unwritable_parent_is_refused(tmp_path, fake, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert cli.main(["run", *fake, "--output", str(locked / "out"), "--dry-run"]) == 2
    assert f"{locked} is not writable" in capsys.readouterr().err


def test_under_mpiexec_rank_0_prints_once_and_every_rank_exits(tmp_path, fake):
    out = tmp_path / "out"
    done = improve_hpo(*fake, "--output", out, "--dry-run", "--population", "2",
                       "--generations", "1", "--offspring", "1", "--strategy", "generational",
                       ranks=3)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("improve-hpo dry run: every check passed") == 1
    assert "workers: 2 (MPI world size 3: rank 0 runs the search, ranks 1..2 run trials)" \
           in done.stdout
    assert "warning: 2 workers but --offspring 1: 1 of them idle in every later generation" \
           in done.stdout
    assert not out.exists()
    bad = improve_hpo(*fake, "--output", out, "--dry-run", "--trials-per-gpu", "0", ranks=3)
    assert bad.returncode == 2
    assert bad.stderr.count("--trials-per-gpu 0: give a whole number of at least 1") == 1
    assert not out.exists()


def test_no_preprocess_prints_no_preprocess_command(tmp_path, fake, capsys):
    """With --no-preprocess the plan shows that nothing preprocesses, and each trial's
    train.sh reads the data folder itself, as the real run's command.txt then holds."""
    out = tmp_path / "out"
    argv = ["run", *fake, "--output", str(out), "--no-preprocess", "--population", "2",
            "--generations", "0", "--infer", "none"]
    assert cli.main([*argv, "--dry-run"]) == 0
    stdout = capsys.readouterr().out
    commands = printed_commands(stdout)
    assert sorted(commands) == ["trial 0", "trial 1"]
    assert stdout.count("preprocess: none (--no-preprocess: train.sh reads the data folder)") \
        == 1
    assert f"--input_dir {tmp_path / 'data'}" in commands["trial 0"]
    assert cli.main(argv) == 0
    assert not (out / "preprocess").exists() or not any((out / "preprocess").iterdir())
    recorded = (out / "trials" / "trial_000000" / "command.txt").read_text()
    assert recorded.splitlines() == [commands["trial 0"]]
