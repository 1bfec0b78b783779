"""Real container images for the tests, run by the real runtime (Singularity 3.4.2 from
../shared/runtime, see docs/runner.md), and the real engine run against them.

Fixture API (import the fixtures you use into your test module):

    needs_runtime                  skip marker: the reason names what is missing
    base_sandbox (session fixture) a Debian 12 + python3 sandbox image, made once per session
    image_with(base, dest, {"train.sh": text, ...}, mode=0o755) -> Path
                                   a copy of the sandbox (hard links, ~1 s) with the scripts
                                   written into its /usr/local/bin, like a definition's %post
    model_scripts(train=..., preprocess=..., infer=...) -> {"preprocess.sh": ..., ...}
                                   test-model scripts for the image's python3; each records what it
                                   saw inside (argv, environment, cwd, the data mount's listing) as
                                   <script>.seen.json in its stage folder: read with `seen(folder,
                                   "train.sh")`
    session_sif (session fixture)  one SIF built from the sandbox + model_scripts() (~15 s)
    engine_argv(tmp, image, *extra, space=..., ranks=...) / run_engine(...)
                                   the real `improve-hpo run --sif IMAGE` (under mpiexec when
                                   ranks is given), with the runtime on PATH
    runtime_env(**extra)           os.environ with the test venv and the runtime first on PATH

A sandbox is writable (root, non-suid 3.4): a test that changes an image makes its own copy with
image_with, never writes into base_sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# CI and the worktrees have the shared files beside the clone.
RUNTIME_FILES = REPO.parent / "shared" / "runtime"
INSTALLED_RUNTIME = Path("/opt/singularity-3.4.2/bin/singularity")
MPIEXEC = Path(sys.executable).parent / "mpiexec"
TIMEOUT = 600  # generous: the machine running the tests may be shared and busy
BUILD_TIMEOUT = 1200  # a SIF build (mksquashfs) on a busy 2-core machine


def find_runtime() -> tuple[Path | None, str]:
    """(the runtime to test against, "") or (None, why the real-runtime tests skip).

    IMPROVE_HPO_TEST_RUNTIME names another runtime (an Apptainer install, say); by default the
    3.4.2 that ../shared/runtime/install.sh installs (tests/run.sh and .ci/run install it)."""
    chosen = os.environ.get("IMPROVE_HPO_TEST_RUNTIME")
    runtime = Path(shutil.which(chosen) or chosen) if chosen else INSTALLED_RUNTIME
    if not (runtime.is_file() and os.access(runtime, os.X_OK)):
        return None, (f"no container runtime at {runtime}: run bash "
                      f"{RUNTIME_FILES}/install.sh as root (tests/run.sh does when it can)")
    if not (RUNTIME_FILES / "make-image.sh").is_file():
        return None, f"{RUNTIME_FILES}/make-image.sh is absent: the test images cannot be made"
    if os.geteuid() != 0:
        return None, "make-image.sh and the non-suid runtime need root"
    return runtime, ""


RUNTIME, _SKIP_REASON = find_runtime()
# .ci/run sets IMPROVE_HPO_REQUIRE_RUNTIME=1: there a missing runtime fails the tests.
if RUNTIME is None and os.environ.get("IMPROVE_HPO_REQUIRE_RUNTIME") == "1":
    raise RuntimeError(f"IMPROVE_HPO_REQUIRE_RUNTIME=1 but {_SKIP_REASON}")
needs_runtime = pytest.mark.skipif(RUNTIME is None, reason=f"real runtime: {_SKIP_REASON}")

_made: dict[str, Path] = {}  # one base sandbox and one SIF per session, whichever module asks


@pytest.fixture(scope="session")
def base_sandbox(tmp_path_factory) -> Path:
    if RUNTIME is None:
        pytest.skip(f"real runtime: {_SKIP_REASON}")
    if "sandbox" not in _made:
        dest = tmp_path_factory.mktemp("images") / "base"
        subprocess.run(["bash", str(RUNTIME_FILES / "make-image.sh"), str(dest)], check=True,
                       capture_output=True, timeout=TIMEOUT)
        _made["sandbox"] = dest
    return _made["sandbox"]


@pytest.fixture(scope="session")
def session_sif(base_sandbox, tmp_path_factory) -> Path:
    """The one SIF of the suite: the base sandbox with model_scripts() in it."""
    if "sif" not in _made:
        folder = tmp_path_factory.mktemp("sif")
        sandbox = image_with(base_sandbox, folder / "sandbox", model_scripts())
        sif = folder / "model.sif"
        run_in_own_group([str(RUNTIME), "build", str(sif), str(sandbox)], BUILD_TIMEOUT)
        _made["sif"] = sif
    return _made["sif"]


def run_in_own_group(argv: list[str], timeout: float) -> None:
    """Run argv to success; past `timeout`, kill its whole process group (the runtime's
    mksquashfs would outlive a plain kill) and fail."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    if process.returncode != 0:
        raise AssertionError(f"{argv} failed ({process.returncode}): {output[-2000:]!r}")


def image_with(base: Path, dest: Path, scripts: dict[str, str], mode: int = 0o755) -> Path:
    """A copy of `base` at `dest` with `scripts` in its /usr/local/bin (new files, so the hard
    links the copy shares with `base` are never written through)."""
    subprocess.run(["cp", "-al", str(base), str(dest)], check=True, timeout=TIMEOUT)
    for name, text in scripts.items():
        path = dest / "usr" / "local" / "bin" / name
        path.unlink(missing_ok=True)
        path.write_text(text)
        path.chmod(mode)
    return dest


# Every test model script starts with this: it records its argv, environment, working folder
# and what the data folder (its IMPROVE_DATA_DIR positional) lists, then runs the test's body.
_PRELUDE = '''#!/usr/bin/env python3
import json, os, sys, time
from pathlib import Path
ARGS = sys.argv[1:]
SCRIPT = Path(sys.argv[0]).name
DATA = ARGS[0] if SCRIPT == "preprocess.sh" else ARGS[1]
Path(SCRIPT + ".seen.json").write_text(json.dumps({
    "args": ARGS, "env": dict(os.environ), "cwd": os.getcwd(),
    "data": sorted(os.listdir(DATA)) if os.path.isdir(DATA) else None}))

def flag(name):
    return ARGS[ARGS.index(name) + 1]

'''
PRINT_RESULT = ('x = float(flag("--x")) if "--x" in ARGS else 0.5\n'
                'print(f"IMPROVE_RESULT val_loss:\\t{(x - 0.3) ** 2}", flush=True)\n')


def model_scripts(train: str = PRINT_RESULT, preprocess: str = "", infer: str = "") -> dict:
    """preprocess.sh, train.sh and infer.sh: the recording prelude, then each body."""
    return {name: _PRELUDE + body for name, body in
            (("preprocess.sh", preprocess), ("train.sh", train), ("infer.sh", infer))}


def seen(folder: Path, script: str) -> dict:
    """What a test model's script recorded inside the container."""
    return json.loads((Path(folder) / f"{script}.seen.json").read_text())


def runtime_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    first = [str(Path(sys.executable).parent)]
    if RUNTIME is not None:
        first.append(str(RUNTIME.parent))
    env["PATH"] = os.pathsep.join([*first, env.get("PATH", "")])
    env.update(extra)
    return env


SPACE = [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0, "sigma": 0.2},
         {"name": "scale", "type": "categorical", "element_type": "string",
          "values": ["a", "b"], "stage": "preprocess"}]


def engine_argv(tmp: Path, image: Path, *extra, space: Path | None = None,
                data: Path | None = None, out: Path | None = None,
                ranks: int | None = None) -> list[str]:
    """`improve-hpo run --sif IMAGE` on SPACE (or `space`), data tmp/data, output tmp/out."""
    tmp = Path(tmp)
    if space is None:
        space = tmp / "hp.json"
        space.write_text(json.dumps(SPACE))
    if data is None:
        data = tmp / "data"
        data.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "improve_hpo", "--space", str(space), "--sif", str(image),
            "--data-dir", str(data), "--output", str(out or tmp / "out"), *map(str, extra)]
    if ranks is not None:
        argv = [str(MPIEXEC), "-n", str(ranks), *argv]
    return argv


def run_engine(tmp: Path, image: Path, *extra, env: dict | None = None, cwd: Path | None = None,
               **where) -> subprocess.CompletedProcess:
    return subprocess.run(engine_argv(tmp, image, *extra, **where), capture_output=True,
                          text=True, timeout=TIMEOUT, env=env or runtime_env(), cwd=cwd or tmp)
