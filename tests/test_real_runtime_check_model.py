"""`improve-hpo check-model --sif` against the real runtime (Singularity 3.4.2): a good image
passes, a broken one fails with a message that names the cause."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from container_images import (RUNTIME, base_sandbox, image_with, model_scripts,  # noqa: F401
                              needs_runtime, runtime_env)
from runner_fixtures import EXAMPLE_DIR

pytestmark = needs_runtime
SPACE = [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0}]
# A host site-packages folder that breaks any other Python than the host's own (as a host
# numpy built for another Python does): it stops the image's /usr/bin/python3 at start-up.
BREAKS_THE_IMAGE = ('import sys\nif sys.prefix == "/usr":\n'
                    '    raise SystemExit("image Python broken by the host PYTHONPATH")\n')


@pytest.fixture(scope="module")
def image(base_sandbox, tmp_path_factory):  # noqa: F811 - the imported fixture
    return image_with(base_sandbox, tmp_path_factory.mktemp("check") / "image", model_scripts())


@pytest.fixture
def host_lib(tmp_path):
    folder = tmp_path / "hostlib"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BREAKS_THE_IMAGE)
    return folder


def check_model(tmp_path, image, *extra, env=None):
    space, data = tmp_path / "hp.json", tmp_path / "data"
    space.write_text(json.dumps(SPACE))
    data.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "improve_hpo", "check-model", "--sif", str(image), "--data-dir",
         str(data), "--space", str(space), "--output", str(tmp_path / "check"),
         "--container-runtime", str(RUNTIME), *map(str, extra)],
        capture_output=True, text=True, env=env or runtime_env(), timeout=300)


def test_a_good_image_passes_even_with_the_hosts_python_variables(tmp_path, image, host_lib):
    # Bound, so that the folder is there inside (as a home or project folder is on clusters).
    done = check_model(tmp_path, image, "--bind", host_lib,
                       env=runtime_env(PYTHONPATH=str(host_lib)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: val_loss came back" in done.stdout
    inside = json.loads((tmp_path / "check" / "trial" / "train.sh.seen.json").read_text())
    assert "PYTHONPATH" not in inside["env"]


def test_a_train_sh_that_is_not_executable_is_named(tmp_path, base_sandbox):  # noqa: F811
    """A sandbox's scripts are checked before anything runs (runner/model_scripts.py); in a
    .sif the runtime's exit 126 is classified (test_real_runtime_runner.py)."""
    image = image_with(base_sandbox, tmp_path / "image", model_scripts())
    script = image / "usr" / "local" / "bin" / "train.sh"
    script.chmod(0o644)
    done = check_model(tmp_path, image)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--sif {image}: train.sh is not executable; run chmod a+x {script}" in done.stderr


@pytest.mark.parametrize("name, value, said", [
    ("PYTHONPATH", None, "SystemExit: image Python broken by the host PYTHONPATH"),
    ("PYTHONHOME", "/nonexistent/python", "ModuleNotFoundError: No module named 'encodings'"),
])
def test_a_python_broken_by_the_host_environment_is_named(tmp_path, image, host_lib, name,
                                                          value, said):
    """SINGULARITYENV_ variables reach the container even under --cleanenv (the runtime's way
    of passing variables): check-model names them when the image then fails."""
    variable = f"SINGULARITYENV_{name}"
    value = value or str(host_lib)
    done = check_model(tmp_path, image, "--bind", host_lib, env=runtime_env(**{variable: value}))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"  note        {variable}={value} reaches the container (even under --cleanenv)" \
        in lines
    assert (f"hint: {variable} is set in this shell and reaches the container as {name}, which "
            "breaks many images' Python or libraries; unset "
            f"{variable} and check again") in lines
    assert lines[-1].startswith(f"FAILED: preprocess.sh: preprocess.sh exited with code 1: {said}"
                                "; the files are kept in"), lines[-1]


def example_image(base: Path, dest: Path) -> Path:
    """The example model's image as containers/example/example.def builds it (%files into
    /opt/example, %post links the scripts into /usr/local/bin with absolute links), without
    its pip install: the test environment's site-packages are bound in instead (same Python
    3.11)."""
    image = image_with(base, dest, {})
    shutil.copytree(EXAMPLE_DIR, image / "opt" / "example", ignore=shutil.ignore_patterns("data"))
    for script in ("preprocess.sh", "train.sh", "infer.sh"):
        # Absolute links, as %post makes them: the up-front script check must follow them
        # inside the image, not on the host (where /opt/example does not exist).
        (image / "usr" / "local" / "bin" / script).symlink_to(f"/opt/example/{script}")
    return image


def test_the_example_model_passes_check_model_in_the_real_runtime(tmp_path,
                                                                 base_sandbox):  # noqa: F811
    image = example_image(base_sandbox, tmp_path / "image")
    site = Path(sysconfig.get_paths()["purelib"])
    done = subprocess.run(
        [sys.executable, "-m", "improve_hpo", "check-model", "--sif", str(image), "--data-dir",
         str(EXAMPLE_DIR / "data"), "--space", str(EXAMPLE_DIR / "hp.json"), "--set",
         "epochs=3", "--output", str(tmp_path / "check"), "--container-runtime", str(RUNTIME),
         "--bind", str(site), "--env", f"PYTHONPATH={site}"],
        capture_output=True, text=True, env=runtime_env(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: val_loss came back" in done.stdout
    assert (tmp_path / "check" / "trial" / "test_y_data_predicted.csv").exists()  # infer.sh
