"""The Slurm and PBS job scripts: syntax, directives, and a real local run of their command line.

Slurm and PBS cannot run here. The scripts are checked with `bash -n`, their #SBATCH/#PBS
directives against the schedulers' documented options, and then run with bash outside a
scheduler: the launcher is the mpich wheel's mpiexec (IMPROVE_HPO_LAUNCHER), the model a tiny
native one, and improve-hpo the real engine. The only stand-in is the scheduler's submit command
(sbatch/qsub), which records its arguments and checks them as the real one would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SLURM = ROOT / "workflows/slurm/improve-hpo.sbatch"
PBS = ROOT / "workflows/pbs/improve-hpo.pbs"
POLARIS = ROOT / "workflows/pbs/improve-hpo-polaris.pbs"
SCRIPTS = [SLURM, PBS, POLARIS]
SCRIPT_IDS = ["slurm", "pbs", "polaris"]
VENV_BIN = Path(sys.executable).parent
MPIEXEC = VENV_BIN / "mpiexec"
IMPROVE_HPO = VENV_BIN / "improve-hpo"

# sbatch long options (Slurm 22.05 `sbatch --help`) used or likely to be used in the script.
SBATCH_OPTIONS = {
    "job-name", "nodes", "ntasks", "ntasks-per-node", "gpus-per-node", "gpus", "gres",
    "cpus-per-task", "time", "partition", "account", "qos", "signal", "output", "error",
    "mail-type", "mail-user", "constraint", "exclusive", "mem", "mem-per-gpu", "reservation",
    "distribution", "requeue", "no-requeue", "dependency",
}
# qsub options (PBS Pro) and the -l resources Polaris documents.
QSUB_OPTIONS = {"-N", "-l", "-q", "-A", "-j", "-o", "-e", "-m", "-M", "-W", "-v", "-V", "-r"}
PBS_RESOURCES = {"select", "place", "walltime", "filesystems"}
SELECT_RESOURCES = {"ncpus", "ngpus", "mpiprocs", "mem", "system"}


def directives(path: Path, prefix: str) -> list[str]:
    return [line[len(prefix):].split("#", 1)[0].strip()
            for line in path.read_text().splitlines() if line.startswith(prefix)]


def default(path: Path, name: str) -> str:
    found = re.search(rf"^{name}=\$\{{{name}:-([^}}]*)\}}", path.read_text(), re.MULTILINE)
    assert found, f"{path.name}: no {name}=${{{name}:-...}} line"
    return found.group(1)


@pytest.mark.parametrize("path", SCRIPTS, ids=SCRIPT_IDS)
def test_job_scripts_are_valid_bash_with_marked_edit_lines(path):
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    assert text.startswith("#!/bin/bash\n")
    assert text.count("# EDIT:") >= 10
    for name in ("SPACE", "SIF", "DATA_DIR", "OUTPUT", "POPULATION", "GENERATIONS"):
        assert re.search(rf"^{name}=.*# EDIT:", text, re.MULTILINE), name


def test_sbatch_directives_are_known_options_and_consistent():
    values = {}
    for directive in directives(SLURM, "#SBATCH"):
        found = re.fullmatch(r"--([a-z-]+)(?:=(\S+))?", directive)
        assert found, f"malformed #SBATCH line: {directive}"
        assert found.group(1) in SBATCH_OPTIONS, f"unknown sbatch option --{found.group(1)}"
        values[found.group(1)] = found.group(2)
    nodes, gpus = int(values["nodes"]), int(values["gpus-per-node"])
    assert int(values["ntasks"]) == nodes * gpus + 1
    assert default(SLURM, "GPUS_PER_NODE") == values["gpus-per-node"]
    assert re.fullmatch(r"B:TERM@\d+", values["signal"])
    assert re.fullmatch(r"\d+:\d\d:\d\d", values["time"])


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (apt-get install shellcheck)")
def test_every_shell_script_is_shellcheck_clean():
    scripts = [*SCRIPTS, *sorted((ROOT / "workflows").glob("*.sh")), ROOT / "tests/run.sh"]
    for script in scripts:
        assert script.read_text().startswith(("#!/bin/bash\n", "#!/usr/bin/env bash\n")), script
    done = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def pbs_resources(path: Path) -> dict[str, str]:
    resources = {}
    for directive in directives(path, "#PBS"):
        option, _, value = directive.partition(" ")
        assert option in QSUB_OPTIONS, f"unknown qsub option {option}"
        assert value, f"#PBS {option} without a value"
        if option == "-l":
            name, _, setting = value.partition("=")
            assert name in PBS_RESOURCES, f"unknown PBS resource {name}"
            resources[name] = setting
    assert re.fullmatch(r"\d+:\d\d:\d\d", resources["walltime"])
    return resources


def test_pbs_directives_are_known_options_and_consistent():
    chunk = pbs_resources(PBS)["select"].split(":")
    assert chunk[0].isdigit()
    settings = dict(item.split("=") for item in chunk[1:])
    assert set(settings) <= SELECT_RESOURCES
    assert default(PBS, "GPUS_PER_NODE") == settings["ngpus"]
    assert int(settings["mpiprocs"]) == int(settings["ngpus"]) + 1  # rank 0 and one per GPU
    assert 'mpiexec -n $TOTAL}"' in PBS.read_text()


def test_polaris_directives_are_known_options_and_consistent():
    assert re.fullmatch(r"\d+:system=polaris", pbs_resources(POLARIS)["select"])
    text = POLARIS.read_text()
    assert "mpiexec -n $TOTAL --ppn $PPN --depth $DEPTH --cpu-bind depth" in text


FAKE_MODEL = """\
import json, os, sys, time
stage, args = sys.argv[1], sys.argv[2:]
flags = dict(zip(args[0::2], args[1::2]))
out = flags.get("--output_dir", ".")
os.makedirs(out, exist_ok=True)
if stage == "train":
    if flags.get("--fail") == "True":
        sys.exit("train: told to fail")
    x = float(flags.get("--x", "0.5"))
    started = os.environ.get("FAKE_STARTED")
    if started:
        open(started, "a").close()
        time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    loss = (x - 0.3) ** 2
    with open(os.path.join(out, "val_scores.json"), "w") as f:
        json.dump({"val_loss": loss, "mse": loss}, f)
    print(f"IMPROVE_RESULT val_loss:\\t{loss}", flush=True)
"""


@pytest.fixture
def experiment(tmp_path):
    """A tiny native model, its data folder and space, and the scripts' environment."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "fake_model.py").write_text(FAKE_MODEL)
    for script, positionals in (("preprocess.sh", 1), ("train.sh", 2), ("infer.sh", 2)):
        path = model / script
        path.write_text(textwrap.dedent(f"""\
            #!/bin/bash
            shift {positionals}
            exec {sys.executable} "$(dirname "$0")/fake_model.py" {script[:-3]} "$@"
            """))
        path.chmod(0o755)
    (tmp_path / "data").mkdir()
    space = tmp_path / "hp.json"
    space.write_text(json.dumps([{"name": "x", "type": "float", "lower": 0, "upper": 1}]))
    submitted = tmp_path / "submitted.txt"
    env = dict(os.environ,
               IMPROVE_HPO_SITE_SETUP="0", IMPROVE_HPO_LAUNCHER=f"{MPIEXEC} -n 3",
               IMPROVE_HPO=str(IMPROVE_HPO), SPACE=str(space), MODEL_DIR=str(model),
               DATA_DIR=str(tmp_path / "data"), OUTPUT=str(tmp_path / "out"),
               POPULATION="4", GENERATIONS="1", SEED="7", GPUS_PER_NODE="2",
               IMPROVE_HPO_SBATCH=str(standin(tmp_path, "sbatch", submitted)),
               IMPROVE_HPO_QSUB=str(standin(tmp_path, "qsub", submitted)),
               JOB_SCRIPT=str(tmp_path / "job-script"))
    for name in ("SLURM_JOB_ID", "SLURM_JOB_NUM_NODES", "PBS_JOBID", "PBS_NODEFILE",
                 "IMPROVE_HPO_CHAIN"):
        env.pop(name, None)
    (tmp_path / "job-script").write_text("#!/bin/bash\n")
    return tmp_path, env, submitted


def standin(folder: Path, name: str, record: Path) -> Path:
    """sbatch/qsub stand-in: checks the arguments as the real command would, records them."""
    rules = {
        "sbatch": r'[[ "$1" == --dependency=afterany:* && "$2" == --export=ALL,* ]]',
        "qsub": r'[[ "$1" == -W && "$2" == depend=afterany:* && "$3" == -V && "$4" == -v ]]',
    }[name]
    path = folder / name
    path.write_text(textwrap.dedent(f"""\
        #!/bin/bash
        {rules} || {{ echo "{name}: bad arguments: $*" >&2; exit 1; }}
        [ -f "${{@: -1}}" ] || {{ echo "{name}: ${{@: -1}}: no such file" >&2; exit 1; }}
        printf '%s\\n' "{name} $*" >> {record}
        echo "Submitted batch job 1001"
        """))
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_the_job_scripts_command_runs_locally_under_mpiexec(experiment, script):
    folder, env, submitted = experiment
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{MPIEXEC} -n 3 {IMPROVE_HPO} run --space {folder}/hp.json --model-dir " \
           f"{folder}/model --data-dir {folder}/data --output {folder}/out --population 4 " \
           "--generations 1 --seed 7" in done.stdout
    assert "improve-hpo exited with 0" in done.stdout
    best = json.loads((folder / "out/best.json").read_text())
    assert set(best["values"]) == {"x"}
    assert not submitted.exists()  # finished: nothing resubmitted


def stop_during_a_trial(script: Path, env: dict, started: Path):
    """Run the job script and send it SIGTERM, as --signal=B:TERM or the walltime timer does,
    once the fake model reports that a trial is training."""
    job = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not started.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    job.send_signal(signal.SIGTERM)
    output, _ = job.communicate(timeout=120)
    return job, output


@pytest.mark.parametrize("script, expected", [
    (SLURM, "sbatch --dependency=afterany:42 --export=ALL,IMPROVE_HPO_CHAIN=3 {job}"),
    (PBS, "qsub -W depend=afterany:42 -V -v IMPROVE_HPO_CHAIN=3 {job}"),
    (POLARIS, "qsub -W depend=afterany:42 -V -v IMPROVE_HPO_CHAIN=3 {job}"),
], ids=SCRIPT_IDS)
def test_a_job_stopped_by_sigterm_resubmits_itself(experiment, script, expected):
    folder, env, submitted = experiment
    started = folder / "started"
    env.update(FAKE_STARTED=str(started), FAKE_SLEEP="60", IMPROVE_HPO_CHAIN="2",
               SLURM_JOB_ID="42", PBS_JOBID="42")
    job, output = stop_during_a_trial(script, env, started)
    assert "improve-hpo exited with 143" in output, output
    assert job.returncode == 143
    assert submitted.read_text() == expected.format(job=folder / "job-script") + "\n"
    # The resubmitted job runs the same command: it continues the experiment to its end.
    env.pop("FAKE_SLEEP")
    env["IMPROVE_HPO_CHAIN"] = "3"
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert "improve-hpo exited with 0" in done.stdout, done.stdout + done.stderr
    assert (folder / "out/best.json").is_file()


def test_no_resubmission_after_max_chain(experiment):
    folder, env, submitted = experiment
    started = folder / "started"
    env.update(FAKE_STARTED=str(started), FAKE_SLEEP="60", IMPROVE_HPO_CHAIN="5",
               MAX_CHAIN="5")
    job, output = stop_during_a_trial(SLURM, env, started)
    assert "not resubmitting: 5 resubmissions done (MAX_CHAIN)" in output, output
    assert not submitted.exists()


def test_slurm_gives_srun_the_cores_per_task(experiment):
    """Slurm >= 22.05: srun does not inherit --cpus-per-task; the script passes it and exports
    SRUN_CPUS_PER_TASK. A stand-in srun records both, then starts the ranks with mpiexec."""
    folder, env, _ = experiment
    seen = folder / "srun.txt"
    srun = folder / "bin/srun"
    srun.parent.mkdir()
    srun.write_text(textwrap.dedent(f"""\
        #!/bin/bash
        echo "$SRUN_CPUS_PER_TASK $*" > {seen}
        while [[ "$1" == --* ]]; do shift; done
        exec {MPIEXEC} -n 3 "$@"
        """))
    srun.chmod(0o755)
    env.pop("IMPROVE_HPO_LAUNCHER")
    env.update(PATH=f"{srun.parent}:{env['PATH']}", SLURM_CPUS_PER_TASK="8",
               SLURM_JOB_NUM_NODES="1")
    done = subprocess.run(["bash", str(SLURM)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen.read_text().startswith(
        f"8 --ntasks=3 --cpus-per-task=8 --distribution=block --cpu-bind=cores {IMPROVE_HPO} "
        f"run --space {folder}/hp.json ")


def test_pbs_stops_before_the_jobs_real_walltime(experiment):
    """The stop follows the walltime qstat reports (25 s, 5 s of it used), not WALLTIME."""
    folder, env, submitted = experiment
    qstat = folder / "qstat"
    qstat.write_text(textwrap.dedent("""\
        #!/bin/bash
        [ "$1" = -f ] && [ "$2" = 42 ] || exit 1
        echo "Job Id: 42.pbs"
        echo "    resources_used.walltime = 00:00:05"
        echo "    Resource_List.walltime = 00:00:25"
        """))
    qstat.chmod(0o755)
    env.update(IMPROVE_HPO_QSTAT=str(qstat), PBS_JOBID="42", STOP_BEFORE="10",
               WALLTIME="06:00:00", FAKE_SLEEP="60", FAKE_STARTED=str(folder / "started"))
    began = time.monotonic()
    done = subprocess.run(["bash", str(PBS)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert "improve-hpo: walltime 00:00:25; stop in 10 s" in done.stdout, done.stdout
    assert done.returncode == 143, done.stdout + done.stderr
    assert 10 <= time.monotonic() - began < 40
    assert submitted.read_text().startswith("qsub -W depend=afterany:42 -V -v ")


@pytest.mark.parametrize("script, case", [
    (SLURM, "usage error"), (PBS, "usage error"), (POLARIS, "usage error"),
    (SLURM, "failing trials"), (PBS, "failing trials")],
    ids=["slurm-2", "pbs-2", "polaris-2", "slurm-3", "pbs-3"])
def test_no_resubmission_after_a_usage_error_or_failing_trials(experiment, script, case):
    folder, env, submitted = experiment
    if case == "usage error":
        env["SPACE"] = str(folder / "missing.json")
        code = 2
    else:
        (folder / "failing.json").write_text(json.dumps([
            {"name": "x", "type": "float", "lower": 0, "upper": 1},
            {"name": "fail", "type": "constant", "value": True}]))
        env.update(SPACE=str(folder / "failing.json"), EXTRA_ARGS="--max-failures 2")
        code = 3
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == code, done.stdout + done.stderr
    assert f"not resubmitting: exit {code} is not a stop at the walltime" in done.stdout
    assert not submitted.exists()


def test_a_run_that_stops_at_its_walltime_budget_resubmits(experiment):
    """Exit 75: the engine stopped itself before the job's end with trials left."""
    folder, env, submitted = experiment
    env.update(EXTRA_ARGS="--time-limit 6 --stop-margin 1", FAKE_SLEEP="60",
               FAKE_STARTED=str(folder / "started"), SLURM_JOB_ID="42")
    done = subprocess.run(["bash", str(SLURM)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 75, done.stdout + done.stderr
    assert submitted.read_text().startswith("sbatch --dependency=afterany:42 ")
