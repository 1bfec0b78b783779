"""The engine end to end against the real runtime (Singularity 3.4.2, see docs/runner.md):
preprocess once, trials under mpiexec, infer, resume, timeout, the GPU id, asserting what the
model saw inside the container."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from container_images import (base_sandbox, engine_argv, image_with, model_scripts,  # noqa: F401
                              needs_runtime, run_engine, seen)

pytestmark = needs_runtime


@pytest.fixture(scope="module")
def image(base_sandbox, tmp_path_factory):  # noqa: F811 - the imported fixture
    return image_with(base_sandbox, tmp_path_factory.mktemp("engine") / "image",
                      model_scripts())


def test_a_search_under_mpiexec_in_the_real_runtime(tmp_path, image):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x_data").mkdir()
    (data / "y.csv").write_text("a\n")
    done = run_engine(tmp_path, image, "--population", 3, "--generations", 1, "--offspring", 2,
                      "--seed", 3, "--infer", "best", ranks=3)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    trials = pd.read_csv(out / "trials.csv")
    assert (trials.status == "ok").all(), trials.reason.tolist()
    folder = out / trials.folder.iloc[0]
    train = seen(folder, "train.sh")
    assert train["data"] == ["x_data", "y.csv"]
    assert train["args"][:2] == ["-1", "/IMPROVE_DATA_DIR"]
