"""Up-front checks of the model's scripts, before anything starts: present (or turned off with
the flag that says so), and runnable the way the runner will start them.

A model folder (--model-dir) is looked at directly. A sandbox image (--sif FOLDER) is looked at
through the folders of its PATH (the standard ones and those its environment scripts add). A
.sif file cannot be opened without the runtime: its scripts are judged when they run, and a
failed start names the same fixes (runner/diagnose.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from improve_hpo.errors import UsageError

SCRIPTS = ("preprocess.sh", "train.sh", "infer.sh")
IMAGE_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_PATH_LINE = re.compile(r"PATH=[\"']?([^\"'\s]+)")
INTERPRETER_HINT = "or pass --script-interpreter bash to run it as `bash SCRIPT`"


def needed_scripts(preprocess: bool, infer: str) -> list[str]:
    return [script for script in SCRIPTS
            if (script != "preprocess.sh" or preprocess) and (script != "infer.sh" or infer != "none")]


def missing_hint(script: str) -> str:
    """What to do when `script` is not part of the model."""
    if script == "preprocess.sh":
        return ("if the data were prepared in advance (Supervisor-era images; their spaces name "
                "the data folders as constants), run with --no-preprocess")
    if script == "infer.sh":
        return "to search without inference, pass --infer none"
    return "train.sh is required: it trains the model and reports the metric"


def check_model_dir(folder: str, given: str, preprocess: bool, infer: str,
                    interpreter: str | None) -> None:
    """UsageError naming the flag or command that fixes a missing or unrunnable script."""
    for script in needed_scripts(preprocess, infer):
        path = Path(folder) / script
        if not path.is_file():
            raise UsageError(f"--model-dir {given}: {script} is missing; {missing_hint(script)}")
        if interpreter is None:
            _check_runnable(path, f"--model-dir {given}")


def check_sandbox(image: str, given: str, preprocess: bool, infer: str,
                  interpreter: str | None) -> None:
    """For a sandbox folder (one with /.singularity.d): the scripts on its PATH, like
    check_model_dir; a .sif file is not opened."""
    root = Path(image)
    if not (root / ".singularity.d").is_dir():
        return
    folders = _image_path(root)
    for script in needed_scripts(preprocess, infer):
        found = [_inside_image(root, f"{folder}/{script}") for folder in folders]
        found = [path for path in found if path is not None and path.is_file()]
        if not found:
            raise UsageError(f"--sif {given}: {script} is not on the image's PATH "
                             f"({':'.join(folders)}); {missing_hint(script)}")
        if interpreter is None:
            _check_runnable(found[0], f"--sif {given}")


def _image_path(root: Path) -> list[str]:
    """The image's PATH folders: the standard ones and those /.singularity.d/env adds."""
    folders = list(IMAGE_PATH)
    env = root / ".singularity.d" / "env"
    for script in sorted(env.glob("*.sh")) if env.is_dir() else []:
        try:
            text = script.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for value in _PATH_LINE.findall(text):
            folders += [item for item in value.split(":")
                        if item.startswith("/") and "$" not in item and item not in folders]
    return folders


def _inside_image(root: Path, inner: str, hops: int = 40) -> Path | None:
    """The host path of the image's `inner`, following symbolic links as the container sees them:
    an absolute link target (a definition file's `ln -s /opt/model/train.sh /usr/local/bin/`)
    is inside the image, not on the host. None for a loop or a link that leaves the image."""
    parts = [part for part in inner.split("/") if part]
    current = root
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink():
            hops -= 1
            if hops < 0:
                return None
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = root
            parts = [item for item in target.split("/") if item and item != "."] + parts
            continue
        current = candidate
    return current


def _check_runnable(path: Path, where: str) -> None:
    mode = path.stat().st_mode
    if not mode & 0o111 or not os.access(path, os.X_OK):
        raise UsageError(f"{where}: {path.name} is not executable; run chmod a+x {path}, "
                         f"{INTERPRETER_HINT}")
    try:
        with open(path, "rb") as handle:
            start = handle.read(2)
    except OSError:
        return
    if start != b"#!" and not _is_binary(path):
        raise UsageError(f"{where}: {path.name} has no #! line, so it cannot be run directly "
                         f"(Exec format error); add #!/bin/bash as its first line, "
                         f"{INTERPRETER_HINT}")


def _is_binary(path: Path) -> bool:
    """An executable program (ELF) needs no #! line."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False
