"""The model's own default config file, which best_config.ini is merged into.

A model's train.sh given a config file reads that file instead of its default one, so a config
of the searched values alone lacks the data settings and the model fails. The default config is
the one the curator names (--default-config), else the one found beside the model's scripts:
in --model-dir, or in the image's model folder ($IMPROVE_MODEL_DIR, else the folder of the
train.sh on the image's PATH), read with one `RUNTIME exec IMAGE python3 -c ...` (no shell).

A candidate is a top-level .cfg, .ini or .txt file that parses as INI and has a [Preprocess],
[Train] or [Infer] section; among several, those whose name says "default" win, and where that
leaves more than one the curator must name it.
"""

from __future__ import annotations

import configparser
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from improve_hpo.errors import UsageError

FLAG = "--default-config"
SUFFIXES = (".cfg", ".ini", ".txt")
STAGE_SECTIONS = ("Preprocess", "Train", "Infer")
MAX_BYTES = 1_000_000
IMAGE_TIMEOUT_SECONDS = 120
# Run inside the image with its python3 (the standard library only): the model folder's
# candidate files as JSON.
_LIST_IN_IMAGE = """
import json, os, shutil
folder = os.environ.get("IMPROVE_MODEL_DIR") or ""
if not os.path.isdir(folder):
    script = shutil.which("train.sh")
    folder = os.path.dirname(os.path.realpath(script)) if script else ""
files = {}
if folder:
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith((".cfg", ".ini", ".txt")) and os.path.isfile(path) \\
                and os.path.getsize(path) < 1000000:
            with open(path, errors="replace") as handle:
                files[name] = handle.read()
print(json.dumps({"folder": folder, "files": files}))
"""


@dataclass(frozen=True)
class DefaultConfig:
    """The default config's text, where it came from (for messages and the header), or None
    and why none was found."""

    text: str | None
    origin: str


def read_given(path: str) -> DefaultConfig:
    """--default-config FILE, checked: UsageError when it is not a readable INI file."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{FLAG} {path}: cannot read it ({error}); give the model's default "
                         "config file (INI)") from None
    if not _is_stage_config(text):
        raise UsageError(f"{FLAG} {path}: not an IMPROVE config file (an INI file with a "
                         f"{', '.join(f'[{s}]' for s in STAGE_SECTIONS)} section)")
    return DefaultConfig(text, str(file.absolute()))


def default_config_for(runner, given: str | None) -> DefaultConfig:
    """--default-config FILE when given, else the one found beside the model's scripts."""
    return read_given(given) if given else find_default_config(runner)


def find_default_config(runner) -> DefaultConfig:
    """The default config beside the model's scripts, or DefaultConfig(None, why)."""
    if runner.launcher == "native":
        folder = Path(runner.model_dir)
        files = {path.name: path.read_text(encoding="utf-8", errors="replace")
                 for path in sorted(folder.iterdir())
                 if path.suffix in SUFFIXES and path.is_file()
                 and path.stat().st_size < MAX_BYTES}
        return _choose(files, str(folder))
    if runner.launcher == "container":
        return _find_in_image(runner)
    return DefaultConfig(None, "the model has no scripts (an in-process objective)")


def _find_in_image(runner) -> DefaultConfig:
    argv = [runner.runtime, "exec", runner.image, "python3", "-c", _LIST_IN_IMAGE]
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=IMAGE_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
        listing = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return DefaultConfig(None, f"could not list the model folder in {runner.image} with its "
                             "python3")
    if not listing.get("folder"):
        return DefaultConfig(None, f"{runner.image} has no $IMPROVE_MODEL_DIR and no train.sh "
                             "on its PATH")
    return _choose(listing["files"], f"{runner.image}:{listing['folder']}")


def _choose(files: dict[str, str], where: str) -> DefaultConfig:
    candidates = sorted(name for name, text in files.items() if _is_stage_config(text))
    named_default = [name for name in candidates if "default" in name.lower()]
    chosen = named_default or candidates
    if len(chosen) == 1:
        return DefaultConfig(files[chosen[0]], f"{where}/{chosen[0]}")
    if not chosen:
        return DefaultConfig(None, f"no config file with a [Train] section in {where}")
    return DefaultConfig(None, f"several config files in {where} ({', '.join(chosen)}); name "
                         f"the default one with {FLAG}")


def _is_stage_config(text: str) -> bool:
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return False
    return any(parser.has_section(section) for section in STAGE_SECTIONS)
