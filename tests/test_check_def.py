"""`improve-hpo check-def`: each file in tests/defs has one fault; the bundled .def files pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from spython.main.parse.parsers import SingularityParser

from improve_hpo.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEFS = Path(__file__).resolve().parent / "defs"
# The template is meant to be edited: its placeholders fail (test_template_...).
BUNDLED = sorted(p for p in ROOT.glob("containers/**/*.def") if "templates" not in p.parts)

GOOD = """\
Bootstrap: docker
From: pytorch/pytorch:1.13.1-cuda11.6-cudnn8-runtime

%environment
    export IMPROVE_MODEL_DIR=/usr/local/GraphDRP

%post
    cd /usr/local
    git clone -b develop https://github.com/JDACS4C-IMPROVE/GraphDRP.git
    cd GraphDRP
    cp preprocess.sh train.sh infer.sh /usr/local/bin
    chmod a+x /usr/local/bin/*.sh
    mkdir -p /IMPROVE_DATA_DIR
"""


def check(capsys, path, *options):
    code = main(["check-def", str(path), *options])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def write(tmp_path, text, name="model.def"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", BUNDLED, ids=[str(p.relative_to(ROOT)) for p in BUNDLED])
def test_bundled_definition_files_pass(capsys, path):
    code, lines, _ = check(capsys, path)
    assert code == 0, "\n".join(lines)
    assert not [line for line in lines if line.startswith("FAIL")]


def test_template_passes_every_check_but_its_placeholders(capsys):
    """An unedited template must not pass: MyModel in the clone URL and folders fails, Your
    Name in %labels warns; every other check passes."""
    code, lines, _ = check(capsys, ROOT / "containers/templates/model.def")
    assert code == 1
    problems = [line for line in lines if line.startswith(("FAIL", "WARN"))]
    assert len(problems) == 2
    assert problems[0].startswith("FAIL  template: 'MyModel' (line 24), 'MyModel' (line 25)")
    assert problems[1].startswith("WARN  template: in %labels/%help: 'Your Name' (line 12)")
    assert [line.split(":")[0] for line in lines if line.startswith("PASS")] == [
        "PASS  header", "PASS  preprocess.sh on PATH", "PASS  train.sh on PATH",
        "PASS  infer.sh on PATH", "PASS  preprocess.sh executable", "PASS  train.sh executable",
        "PASS  infer.sh executable", "PASS  data mount point", "PASS  GPU base image",
        "PASS  sections"]


FAULTS = {
    "no_bootstrap.def": (1, "FAIL  header: no 'Bootstrap:' line before the first section; "
                         "start the file with 'Bootstrap: docker'"),
    "no_from.def": (1, "FAIL  header: Bootstrap docker (line 1) needs a 'From: <image>' line "
                    "in the header"),
    "from_in_post.def": (1, "FAIL  header: Bootstrap docker (line 1) needs a 'From: <image>' "
                         "line in the header; line 12 'From: pytorch/pytorch:1.13.1-cuda11.6-"
                         "cudnn8-runtime' is inside %post, not in the header"),
    "script_not_installed.def": (0, "WARN  infer.sh on PATH: not copied to a PATH directory "
                                 "in %files or %post, so the image has none: run improve-hpo "
                                 "with --infer none, or add 'cp infer.sh /usr/local/bin/' to "
                                 "%post"),
    "not_executable.def": (1, "FAIL  train.sh executable: chmod u+x (line 20) does not let "
                           "other users run it (the image belongs to root, trials run as you); "
                           "use chmod a+x or 755"),
    "no_mount_point.def": (1, "FAIL  data mount point: %post does not create /IMPROVE_DATA_DIR, "
                           "where the data folder is bound; add 'mkdir -p /IMPROVE_DATA_DIR' "
                           "to %post (or give --data-mount if the image uses another mount "
                           "point)"),
    "cpu_base_image.def": (0, "WARN  GPU base image: python:3.11-slim (line 2) does not look "
                           "like a CUDA image (not pytorch/pytorch, and no cuda, nvidia, "
                           "nvcr.io, rapidsai, rocm or gpu in its name); trials will use the "
                           "CPU unless %post installs CUDA"),
    "unknown_section.def": (1, "FAIL  sections: %enviroment (line 8) is not a Singularity "
                            "section, Apptainer will refuse the file; did you mean "
                            "%environment?"),
    "bootstrap_word.def": (0, "PASS  train.sh on PATH: put in /usr/local/bin by cp in %post "
                           "(line 20)"),
    "empty.def": (1, "FAIL  definition: the file is empty; a definition file starts with "
                  "'Bootstrap: docker' and 'From: <image>', then %post and other sections"),
    "junk.def": (1, "FAIL  definition: not a Singularity definition file: no 'Bootstrap:' "
                 "header and no %section (line 1 reads '[')"),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_is_reported_on_its_line(capsys, name):
    expected_code, expected_line = FAULTS[name]
    code, lines, _ = check(capsys, DEFS / name)
    assert expected_line in lines
    assert code == expected_code
    assert lines[-1] == f"{DEFS / name}: " + ("passed" if code == 0 else "failed")


def test_each_fault_file_has_exactly_one_fault(capsys):
    for name, (expected_code, _) in FAULTS.items():
        code, lines, _ = check(capsys, DEFS / name)
        problems = [line for line in lines if line.startswith(("FAIL", "WARN"))]
        # One missing chmod fails three scripts; spython's trap must not be a fault at all.
        expected = {"not_executable.def": 3, "bootstrap_word.def": 0}.get(name, 1)
        assert len(problems) == expected, (name, problems)
    assert sorted(FAULTS) == sorted(p.name for p in DEFS.glob("*.def"))


def test_the_spython_traps_in_the_fault_files_are_real():
    """Parsed directly, spython crashes on one file and takes %post's From for the header."""
    with pytest.raises(NotImplementedError):
        SingularityParser(str(DEFS / "bootstrap_word.def"))
    recipe = SingularityParser(str(DEFS / "from_in_post.def")).recipe["spython-base"]
    assert recipe.fromHeader.startswith("pytorch/pytorch")
    assert SingularityParser(str(DEFS / "empty.def")).recipe["spython-base"].install == []


def test_unparsed_valid_sections_are_named_not_failed(capsys):
    code, lines, _ = check(capsys, DEFS / "bootstrap_word.def")
    assert "INFO  sections: not checked: %help (line 24): valid sections that spython does " \
           "not parse" in lines
    assert code == 0


def results(capsys, tmp_path, text, *options):
    code, lines, _ = check(capsys, write(tmp_path, text), *options)
    return code, {line.split(":")[0].split("  ", 1)[1]: line for line in lines[:-1]
                  if not line.startswith("INFO")}


def test_the_good_base_passes(capsys, tmp_path):
    code, lines = results(capsys, tmp_path, GOOD)
    assert code == 0
    assert lines["train.sh on PATH"] == \
        "PASS  train.sh on PATH: put in /usr/local/bin by cp in %post (line 11)"
    assert lines["train.sh executable"] == \
        "PASS  train.sh executable: chmod a+x in %post (line 12)"
    assert lines["header"] == "PASS  header: Bootstrap docker, From " \
        "pytorch/pytorch:1.13.1-cuda11.6-cudnn8-runtime (lines 1-2)"


def test_a_clone_into_a_folder_that_environment_puts_on_path(capsys, tmp_path):
    text = GOOD.replace("    cp preprocess.sh train.sh infer.sh /usr/local/bin\n", "").replace(
        "chmod a+x /usr/local/bin/*.sh", "chmod -R 755 /usr/local/GraphDRP").replace(
        "%environment\n", "%environment\n    PATH=$PATH:/usr/local/GraphDRP\n")
    code, lines = results(capsys, tmp_path, text)
    # PATH from %environment is followed; whether the clone has infer.sh cannot be known
    assert lines["infer.sh on PATH"] == "UNKNOWN  infer.sh on PATH: put in /usr/local/GraphDRP " \
        "by git clone in %post (line 10), on PATH by %environment (line 5) only if the clone " \
        "of https://github.com/JDACS4C-IMPROVE/GraphDRP.git at develop (line 10) has infer.sh: " \
        "that cannot be known from this file; check the repository at the ref it checks out, " \
        "or name infer.sh explicitly (the build then fails when it is missing)"
    assert lines["infer.sh executable"] == "PASS  infer.sh executable: chmod 755 in %post (line 12)"
    assert code == 0


@pytest.mark.parametrize("post, expected", [
    ("for s in preprocess.sh train.sh infer.sh; do\n        ln -s /opt/m/$s /usr/local/bin/$s\n"
     "    done", "put in /usr/local/bin/train.sh by ln in %post (line 12)"),
    ("install -m 755 train.sh preprocess.sh infer.sh /usr/local/bin/",
     "put in /usr/local/bin by install in %post (line 11)"),
    ("cp -t /usr/bin \\\n        preprocess.sh train.sh infer.sh",
     "put in /usr/bin by cp in %post (line 11)"),
])
def test_other_ways_to_install_the_scripts(capsys, tmp_path, post, expected):
    text = GOOD.replace("cp preprocess.sh train.sh infer.sh /usr/local/bin", post)
    code, lines = results(capsys, tmp_path, text)
    assert lines["train.sh on PATH"] == f"PASS  train.sh on PATH: {expected}"


def test_install_gives_an_executable_mode_unless_told_otherwise(capsys, tmp_path):
    text = GOOD.replace("cp preprocess.sh train.sh infer.sh /usr/local/bin", "install -m 755 *.sh /usr/local/bin").replace(
        "    chmod a+x /usr/local/bin/*.sh\n", "")
    code, lines = results(capsys, tmp_path, text)
    assert lines["train.sh executable"] == \
        "PASS  train.sh executable: install in %post gives mode 0755 (line 11)"
    code, lines = results(capsys, tmp_path, text.replace("-m 755", "-m 744"))
    assert lines["train.sh executable"].startswith("FAIL  train.sh executable: no chmod")
    assert code == 1


def test_a_script_copied_off_path_names_the_folder(capsys, tmp_path):
    code, lines = results(capsys, tmp_path, GOOD.replace("/usr/local/bin\n", "/opt/bin\n"))
    assert lines["train.sh on PATH"] == "FAIL  train.sh on PATH: put in /opt/bin by cp in %post " \
        "(line 11), which is not on PATH; copy it to /usr/local/bin, or add that folder to PATH " \
        "in %environment"
    assert code == 1


def test_chmod_for_the_owner_only_fails(capsys, tmp_path):
    code, lines = results(capsys, tmp_path, GOOD.replace("chmod a+x", "chmod u+x"))
    assert lines["train.sh executable"] == "FAIL  train.sh executable: chmod u+x (line 12) does " \
        "not let other users run it (the image belongs to root, trials run as you); use chmod " \
        "a+x or 755"
    assert code == 1


def test_a_commented_out_command_does_not_count(capsys, tmp_path):
    code, lines = results(capsys, tmp_path, GOOD.replace("    mkdir", "    # mkdir"))
    assert lines["data mount point"].startswith("FAIL")
    assert code == 1


def test_files_sources_keep_their_host_mode(capsys, tmp_path):
    text = GOOD.replace("    cp preprocess.sh train.sh infer.sh /usr/local/bin\n    chmod a+x /usr/local/bin/*.sh\n", "")
    text += "\n%files\n    scripts/*.sh /usr/local/bin/\n"
    (tmp_path / "scripts").mkdir()
    for name, mode in (("preprocess.sh", 0o755), ("train.sh", 0o644)):
        (tmp_path / "scripts" / name).write_text("#!/bin/bash\n")
        (tmp_path / "scripts" / name).chmod(mode)
    code, lines = results(capsys, tmp_path, text)
    host = tmp_path / "scripts"
    assert lines["preprocess.sh executable"] == f"PASS  preprocess.sh executable: " \
        f"{host}/preprocess.sh has mode 755 and %files keeps it (line 14)"
    assert lines["train.sh executable"] == f"FAIL  train.sh executable: {host}/train.sh has " \
        f"mode 644, not executable by other users, and %files keeps it (line 14); run " \
        f"'chmod a+x {host}/train.sh' or add 'chmod a+x /usr/local/bin/train.sh' to %post"
    assert lines["infer.sh executable"] == f"WARN  infer.sh executable: %files copies " \
        f"scripts/*.sh (line 14) but {host}/infer.sh is not there to look at; if it is not " \
        "executable, add 'chmod a+x /usr/local/bin/infer.sh' to %post"
    assert lines["train.sh on PATH"] == "PASS  train.sh on PATH: put in /usr/local/bin by " \
        f"%files (line 14), which matches {host}/train.sh"
    # the pattern matches no infer.sh beside the definition file: the image would have none
    assert lines["infer.sh on PATH"] == "WARN  infer.sh on PATH: put in /usr/local/bin by " \
        f"%files (line 14), but no infer.sh matches it in {host}, so the image would have " \
        "none: add it there, or run improve-hpo with --infer none"
    (tmp_path / "scripts" / "train.sh").unlink()
    code, lines = results(capsys, tmp_path, text)
    assert lines["train.sh on PATH"] == "FAIL  train.sh on PATH: put in /usr/local/bin by " \
        f"%files (line 14), but no train.sh matches it in {host}, so the image would have " \
        "none: add it there"
    assert code == 1
    shutil.rmtree(host)  # the folder is not here: nothing to look at
    code, lines = results(capsys, tmp_path, text)
    assert lines["train.sh on PATH"].startswith("UNKNOWN  train.sh on PATH: put in "
                                                "/usr/local/bin by %files (line 14) only if")


def test_the_legacy_mount_point_warns_unless_asked_for(capsys, tmp_path):
    text = GOOD.replace("/IMPROVE_DATA_DIR", "/candle_data_dir")
    code, lines = results(capsys, tmp_path, text)
    assert lines["data mount point"] == "WARN  data mount point: %post creates the older mount " \
        "point /candle_data_dir (line 13), not /IMPROVE_DATA_DIR: run improve-hpo with " \
        "--data-mount /candle_data_dir (or --convention candle), and check with it too"
    assert code == 0
    code, lines = results(capsys, tmp_path, text, "--data-mount", "/candle_data_dir")
    assert lines["data mount point"] == \
        "PASS  data mount point: %post creates /candle_data_dir (line 13)"


def test_header_mistakes_are_named(capsys, tmp_path):
    code, lines = results(capsys, tmp_path, GOOD.replace("Bootstrap: docker", "Bootstrap: dokcer"))
    assert lines["header"].startswith("FAIL  header: Bootstrap 'dokcer' (line 1) is not a "
                                      "bootstrap agent; use one of arch, busybox")
    code, lines = results(capsys, tmp_path, "Form: ubuntu\n" + GOOD)
    assert lines["header"] == "FAIL  header: line 1 'Form: ubuntu' is not a header keyword; " \
        "did you mean From:?"
    assert code == 1


def test_a_multi_stage_file_is_checked_on_its_final_stage(capsys, tmp_path):
    text = "Bootstrap: docker\nFrom: ubuntu:22.04\nStage: build\n\n%post\n    make\n\n" + GOOD
    code, lines, _ = check(capsys, write(tmp_path, text))
    assert "INFO  stages: 2 build stages; checked the final stage (from line 8), which is " \
           "the image" in lines
    assert code == 0


def test_json_output(capsys):
    code, lines, _ = check(capsys, DEFS / "no_mount_point.def", "--json")
    report = json.loads("\n".join(lines))
    assert code == 1 and report["passed"] is False
    failed = [item for item in report["checks"] if item["status"] == "FAIL"]
    assert [item["check"] for item in failed] == ["data mount point"]
    header = report["checks"][0]
    assert header == {"status": "PASS", "check": "header", "lines": [1, 2],
                      "message": "Bootstrap docker, From pytorch/pytorch:1.13.1-cuda11.6-"
                                 "cudnn8-runtime (lines 1-2)"}


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.def", "no such file; give the path of a definition (.def) file"),
    (lambda tmp: tmp, "not a file; give the path of a definition (.def) file"),
    (lambda tmp: (tmp / "latin1.def", (tmp / "latin1.def").write_bytes(b"From: caf\xe9\n"))[0],
     "not UTF-8 text (byte 9); a definition file is a text file, save it as UTF-8"),
])
def test_unreadable_files_are_usage_errors(capsys, tmp_path, make, message):
    path = make(tmp_path)
    code, lines, err = check(capsys, path)
    assert code == 2 and lines == []
    assert err == f"improve-hpo check-def: error: {path}: {message}\n"


def test_a_relative_data_mount_is_a_usage_error(capsys):
    code, lines, err = check(capsys, DEFS / "empty.def", "--data-mount", "data")
    assert code == 2
    assert err == "improve-hpo check-def: error: --data-mount data: give the absolute path of " \
        "the mount point inside the container, e.g. /IMPROVE_DATA_DIR\n"


def test_the_installed_command_exits_with_the_checks_code():
    for name, expected in (("cpu_base_image.def", 0), ("unknown_section.def", 1)):
        done = subprocess.run([sys.executable, "-m", "improve_hpo", "check-def",
                               str(DEFS / name)], capture_output=True, text=True)
        assert done.returncode == expected, done.stderr
        assert done.stderr == ""


TEMPLATES = ROOT / "containers/templates"


@pytest.mark.parametrize("script", ["preprocess.sh", "train.sh", "infer.sh"])
def test_template_scripts_are_valid_executable_bash(script):
    path = TEMPLATES / script
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert path.stat().st_mode & 0o111 == 0o111
    assert "# EDIT:" in path.read_text()


@pytest.mark.parametrize("script, positionals, entry", [
    ("preprocess.sh", ["/data"], "mymodel_preprocess_improve.py"),
    ("train.sh", ["3", "/data"], "mymodel_train_improve.py"),
    ("infer.sh", ["3", "/data"], "mymodel_infer_improve.py"),
])
def test_template_scripts_follow_the_improve_conventions(tmp_path, script, positionals, entry):
    """The entry point gets the flags unchanged, a config file as --config_file, the GPU and
    the data folder in its environment; `python` is the first on PATH."""
    (tmp_path / entry).write_text(
        "import json, os, sys\n"
        "print(json.dumps([sys.argv[1:], os.environ.get('CUDA_VISIBLE_DEVICES'),"
        " os.environ['IMPROVE_DATA_DIR']]))\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(os.environ, IMPROVE_MODEL_DIR=str(tmp_path),
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    config = tmp_path / "params.ini"
    config.write_text("[Train]\nepochs = 1\n")
    for extra, expected in (
        (["--epochs", "2", "--learning_rate", "0.001"],
         ["--epochs", "2", "--learning_rate", "0.001"]),
        ([str(config), "--epochs", "2"], ["--config_file", str(config), "--epochs", "2"]),
    ):
        done = subprocess.run(["bash", str(TEMPLATES / script), *positionals, *extra],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        gpu = positionals[0] if len(positionals) == 2 else None
        assert json.loads(done.stdout) == [expected, gpu, "/data"]


def test_template_scripts_without_their_arguments_print_usage():
    done = subprocess.run(["bash", str(TEMPLATES / "train.sh"), "0"], capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert done.stderr == "usage: train.sh CUDA_VISIBLE_DEVICES IMPROVE_DATA_DIR [CONFIG_FILE] " \
        "[--flag value ...]\n"
