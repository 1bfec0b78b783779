"""A .sif unpacked once per experiment, where the runtime would unpack it on every exec.

Without setuid or squashfuse (an unprivileged install, as on many clusters and in CI), the
runtime cannot mount a SIF: it extracts the whole image into a temporary sandbox on every exec
("INFO: Convert SIF file to sandbox..."), which costs seconds to minutes per stage for a real
model's multi-GB image. `prepare_image` probes that once (one `exec IMAGE true`, timed), and
with --unpack-sif auto (the default) or yes it unpacks the image once into OUT/image-sandbox with
`RUNTIME build --sandbox`; every trial then runs the sandbox. A stamp records which image the
sandbox came from (path, size, mtime), so a resumed experiment reuses it and a rebuilt image is
unpacked again. --unpack-sif no keeps the .sif (and says what it costs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from improve_hpo.runner.failures import strip_ansi
from improve_hpo.runner.settings import RunnerSettings

SANDBOX_NAME = "image-sandbox"
STAMP_NAME = "image-sandbox.json"
CONVERT_NOTICE = "Convert SIF file to sandbox"
PROBE_TIMEOUT = 3600.0


def prepare_image(settings: RunnerSettings, out: Path,
                  say: Callable[[str], None]) -> RunnerSettings:
    """The settings the trials run with: `settings.sandbox` set when the .sif was unpacked."""
    if settings.launcher != "container" or Path(settings.image).is_dir():
        return settings
    out = Path(out)
    reused = _reusable(settings.image, out)
    if reused is not None and settings.unpack_sif != "no":
        say(f"container: trials run {reused}, unpacked from {settings.image} before")
        return dataclasses.replace(settings, sandbox=str(reused))
    if settings.unpack_sif == "yes":
        return _unpack(settings, out, say)
    converts, seconds = probe(settings)
    if not converts:
        return settings
    cost = (f"container: {settings.runtime} unpacks {settings.image} on every exec "
            f"({seconds:.1f} s measured, for each stage of each trial)")
    if settings.unpack_sif == "no":
        say(f"{cost}; --unpack-sif auto would unpack it once per experiment")
        return settings
    say(f"{cost}; unpacking it once into {out / SANDBOX_NAME} (--unpack-sif no keeps the .sif)")
    return _unpack(settings, out, say)


def probe(settings: RunnerSettings) -> tuple[bool, float]:
    """(whether the runtime converted the SIF to a sandbox for one exec, the seconds it took)."""
    start = time.monotonic()
    _, stderr = _run([settings.runtime, "exec", "--cleanenv", settings.image, "true"],
                     PROBE_TIMEOUT)
    return CONVERT_NOTICE in stderr, time.monotonic() - start


def _run(argv: list[str], timeout: float | None) -> tuple[int | None, str]:
    """(exit code, stderr) of argv in its own process group, all of it killed past `timeout`
    (the runtime's helpers, such as unsquashfs, would outlive a plain kill)."""
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
    except OSError as error:
        return None, str(error)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        return None, stderr + f"\ntimed out after {timeout:g} s"
    return process.returncode, stderr


def _stamp_of(image: str) -> dict:
    stat = Path(image).stat()
    return {"image": image, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _reusable(image: str, out: Path) -> Path | None:
    sandbox, stamp = out / SANDBOX_NAME, out / STAMP_NAME
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return sandbox if recorded == _stamp_of(image) and sandbox.is_dir() else None


def _unpack(settings: RunnerSettings, out: Path, say: Callable[[str], None]) -> RunnerSettings:
    sandbox, stamp = out / SANDBOX_NAME, out / STAMP_NAME
    partial = out / (SANDBOX_NAME + ".partial")
    for stale in (sandbox, partial):
        shutil.rmtree(stale, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    code, stderr = _run([settings.runtime, "build", "--sandbox", str(partial), settings.image],
                        None)
    if code != 0:
        shutil.rmtree(partial, ignore_errors=True)
        last = strip_ansi((stderr.strip().splitlines() or ["no message"])[-1])
        say(f"warning: could not unpack {settings.image} into a sandbox ({last}); trials run "
            "the .sif")
        return settings
    partial.rename(sandbox)
    stamp.write_text(json.dumps(_stamp_of(settings.image)) + "\n", encoding="utf-8")
    say(f"container: unpacked {settings.image} into {sandbox} in "
        f"{time.monotonic() - start:.1f} s; trials run the sandbox")
    return dataclasses.replace(settings, sandbox=str(sandbox))
