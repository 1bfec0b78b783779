"""check-def on real definition files of JDACS4C-IMPROVE/Singularity (tests/defs/real/, source in
its README): what the file cannot tell (a cloned repository's files and modes) is UNKNOWN, PATH
from %environment is followed, CUDA base images are recognised, other mount points are named,
template placeholders fail, and scripts an image lacks name the improve-hpo flag that runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from improve_hpo.cli import main

REAL = Path(__file__).resolve().parent / "defs" / "real"


def statuses(capsys, name: str) -> tuple[int, dict[str, tuple[str, str]]]:
    code = main(["check-def", str(REAL / name)])
    lines = capsys.readouterr().out.splitlines()
    found = {}
    for line in lines[:-1]:
        status, _, rest = line.partition("  ")
        check, _, message = rest.partition(": ")
        found.setdefault(check, (status.strip(), message))
    return code, found, lines[-1]


def test_scripts_from_a_clone_on_path_are_unknown_not_pass(capsys):
    """HiDRA master: the clone is on PATH through %environment; which scripts the repository
    has at v0.6.0 cannot be known from the file (HiDRA's release_00 had no infer.sh)."""
    code, found, summary = statuses(capsys, "HiDRA@master.def")
    assert code == 0
    for script in ("preprocess.sh", "train.sh", "infer.sh"):
        status, message = found[f"{script} on PATH"]
        assert status == "UNKNOWN"
        assert "on PATH by %environment (line 11)" in message
        assert "HiDRA.git at v0.6.0 (line 41)" in message
    assert summary.endswith("passed; 3 check(s) UNKNOWN: the file alone cannot tell, check "
                            "those by hand")


def test_cp_star_from_a_clone_without_chmod_is_unknown_not_fail(capsys):
    """DeepTTC develop: `cp *.sh /usr/local/bin` from the clone, no chmod: git keeps the modes
    the repository committed (DeepTTC's are 100755), so neither PASS nor FAIL."""
    code, found, _ = statuses(capsys, "DeepTTC@develop.def")
    assert code == 0
    status, message = found["train.sh executable"]
    assert status == "UNKNOWN" and "git ls-files -s train.sh" in message
    assert found["infer.sh on PATH"][0] == "UNKNOWN"
    assert found["GPU base image"] == ("PASS", "pytorch/pytorch (line 2)")


def test_lgbm_never_had_infer_sh_so_a_clone_on_path_cannot_pass_it(capsys):
    _, found, _ = statuses(capsys, "LGBM@develop.def")
    assert found["infer.sh on PATH"][0] == "UNKNOWN"
    assert found["infer.sh executable"][0] == "PASS"  # chmod +x LGBM/*.sh covers it if present
    assert found["GPU base image"][0] == "WARN"  # python:3.7 is no CUDA image


def test_explicitly_named_scripts_pass(capsys):
    code, found, summary = statuses(capsys, "Paccmann_MCA@develop.def")
    assert code == 0 and summary.endswith("passed")
    assert {found[f"{s} on PATH"][0] for s in ("preprocess.sh", "train.sh", "infer.sh")} == {"PASS"}
    status, message = found["data mount point"]
    assert status == "WARN" and "--data-mount /candle_data_dir (or --convention candle)" in message


def test_an_image_with_train_sh_only_names_the_flags_that_run_it(capsys):
    code, found, _ = statuses(capsys, "tCNNS@release.def")
    assert code == 0
    assert found["preprocess.sh on PATH"][0] == "WARN"
    assert "--no-preprocess" in found["preprocess.sh on PATH"][1]
    assert "--infer none" in found["infer.sh on PATH"][1]
    assert found["infer.sh executable"][0] == "INFO"
    assert found["GPU base image"][0] == "PASS"


def test_another_mount_point_is_named_with_its_flag(capsys):
    _, found, _ = statuses(capsys, "ScreenDL@LGBM.def")
    status, message = found["data mount point"]
    assert status == "WARN"
    assert message.startswith("%post creates /improve_data_dir (line 28), not /IMPROVE_DATA_DIR: "
                              "run improve-hpo with --data-mount /improve_data_dir, and check")


def test_an_unedited_template_fails(capsys):
    code, found, _ = statuses(capsys, "improve-template@develop.def")
    assert code == 1
    status, message = found["template"]
    assert status == "FAIL"
    assert message.startswith("'{{IMAGE}}' (line 2), '{{MODEL}}' (line 14), '{{MODEL_URL}}' "
                              "(line 36)")


@pytest.mark.parametrize("image, status", [
    ("pytorch/pytorch", "PASS"), ("pytorch/pytorch:2.0.1-cuda11.7-cudnn8-runtime", "PASS"),
    ("nvidia/cuda:12.2.0-runtime-ubuntu22.04", "PASS"), ("nvcr.io/nvidia/pytorch:24.01-py3", "PASS"),
    ("tensorflow/tensorflow:2.4.2-gpu", "PASS"), ("tensorflow/tensorflow:2.4.2", "WARN"),
    ("python:3.7", "WARN"), ("continuumio/anaconda3", "WARN"),
])
def test_cuda_base_images_by_their_common_names(tmp_path, capsys, image, status):
    path = tmp_path / "model.def"
    path.write_text(f"Bootstrap: docker\nFrom: {image}\n\n%post\n    mkdir -p /IMPROVE_DATA_DIR\n")
    main(["check-def", str(path)])
    line = next(l for l in capsys.readouterr().out.splitlines() if "GPU base image" in l)
    assert line.startswith(status)
