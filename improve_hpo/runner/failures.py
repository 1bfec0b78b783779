"""Why a stage failed, in a few plain words for trials.csv, and the runtime's notices kept apart
from the model's output.

A container stage's stderr mixes two writers: the runtime (Singularity 3.x: `INFO:    Convert
SIF file to sandbox...`, `WARNING: skipping mount of ...`, `FATAL: ...`, usage text, with ANSI
colour codes) and the model. The runtime writes before the model starts and after it ends, so
`separate_runtime_notices` moves the leading and trailing notice lines into <stage>.runtime.log
(colour codes removed) and leaves the model's own lines in <stage>.stderr.log.

`failure_reason` then tells a runtime failure from the model's: the runtime refused its
arguments, the image is missing, the script is not in the image (exit 127) or not executable
(126), a bind failed, or the model exited with a code, with the last meaningful line it wrote
to stderr (`RuntimeError: CUDA out of memory ...`).
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from improve_hpo.runner.logs import TAIL_BYTES, read_tail
from improve_hpo.runner.process import Outcome

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# `FATAL:   msg`, `WARNING: msg`, `INFO:    msg` (a space after the colon: Python's logging
# `WARNING:root:msg` is the model's).
_NOTICE = re.compile(r"^(?P<level>FATAL|ERROR|WARNING|INFO|VERBOSE|DEBUG|DEPRECATED)\s*:\s+"
                     r"(?P<text>.*)$")
# The runtime's own usage errors: 3.x `Error for command "exec": unknown flag: --env`, then the
# usage text (exit 1); Apptainer and CE `Error: unknown flag: --env` (exit 255).
_USAGE = re.compile(r'^Error( for command "[\w-]+")?: (?P<text>.*)$')
_NOT_FOUND = re.compile(r"exec: (?P<command>\S+): not found$")  # 3.x's exec action, exit 127
_NOT_EXECUTABLE = re.compile(r"exec: (?P<command>\S+): Permission denied$")  # exit 126
# 3.x binds what it can and warns about the rest: a missing source, a bad option.
_SKIPPED_BIND = re.compile(r"(skipping mount of (?P<path>\S+): (?P<why>.*)"
                           r"|Not mounting requested (?P<point>\S+) bind point, (?P<bad>.*))$")
# Lines that end a Python crash report but say nothing about the cause.
_NOISE = re.compile(r"^(Current thread 0x[0-9a-f]+ \(most recent call first\):|<no Python frame>"
                    r"|Traceback \(most recent call last\):|File \".*\", line \d+.*)$")
HEAD_BYTES = 64 * 1024
REASON_LINE_CHARS = 200


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def separate_runtime_notices(stderr_log: Path, runtime_log: Path) -> list[str]:
    """Move the runtime's notice lines (leading and trailing) from `stderr_log` into
    `runtime_log`; returns them without colour codes. A usage error is all the runtime's."""
    try:
        data = stderr_log.read_bytes() if stderr_log.stat().st_size <= HEAD_BYTES + TAIL_BYTES \
            else None
    except OSError:
        return []
    if data is None:
        return _separate_large(stderr_log, runtime_log)
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    clean = [strip_ansi(line).rstrip("\n") for line in lines]
    if clean and _USAGE.match(clean[0]):
        start, end = len(lines), len(lines)
    else:
        start = 0
        while start < len(lines) and _NOTICE.match(clean[start]):
            start += 1
        end = len(lines)
        while end > start and _NOTICE.match(clean[end - 1]):
            end -= 1
    notices = clean[:start] + clean[end:]
    if not notices:
        return []
    runtime_log.write_text("".join(line + "\n" for line in notices), encoding="utf-8")
    stderr_log.write_text("".join(lines[start:end]), encoding="utf-8")
    return notices


def _separate_large(stderr_log: Path, runtime_log: Path) -> list[str]:
    """A big log: only its leading notices are moved (the file is rewritten from there on)."""
    with open(stderr_log, "rb") as log:
        head = log.read(HEAD_BYTES).decode("utf-8", errors="replace")
    lines = head.splitlines(keepends=True)
    notices, offset = [], 0
    for line in lines[:-1]:  # the last may be cut
        clean = strip_ansi(line).rstrip("\n")
        if not _NOTICE.match(clean):
            break
        notices.append(clean)
        offset += len(line.encode("utf-8"))
    if not notices:
        return []
    runtime_log.write_text("".join(line + "\n" for line in notices), encoding="utf-8")
    kept = stderr_log.with_name(stderr_log.name + ".tmp")
    with open(stderr_log, "rb") as source, open(kept, "wb") as target:
        source.seek(offset)
        while chunk := source.read(1 << 20):
            target.write(chunk)
    os.replace(kept, stderr_log)
    return notices


def last_meaningful_line(log: Path) -> str | None:
    """The last line of `log` that says something (not blank, not only punctuation, not the
    frame lines of a Python crash dump), without colour codes, cut to REASON_LINE_CHARS."""
    text = read_tail(log)
    if text is None:
        return None
    for line in reversed(text.splitlines()):
        line = strip_ansi(line).strip()
        if any(ch.isalnum() for ch in line) and not _NOISE.match(line):
            return line if len(line) <= REASON_LINE_CHARS else line[:REASON_LINE_CHARS] + "..."
    return None


def failure_reason(script: str, outcome: Outcome, container: bool, notices: list[str],
                   stderr_log: Path, timeout: float | None) -> str | None:
    """The reason for trials.csv, or None when the stage succeeded. (An interrupted stage is
    the caller's: its status differs.)"""
    if outcome.start_error is not None:
        return f"{script} could not start: {outcome.start_error}"
    if outcome.timed_out:
        return f"{script} ran past --trial-timeout {timeout:g} s; killed"
    code = outcome.returncode
    if code < 0:
        return f"{script} was killed by {_signal_name(-code)}"
    said = last_meaningful_line(stderr_log) if code else None
    exited = f"{script} exited with code {code}" + (f": {said}" if said else "")
    if container:
        runtime = _runtime_failure(script, code, notices, said, exited)
        if runtime is not None:
            return runtime
    return exited if code else None


def _runtime_failure(script: str, code: int, notices: list[str], said: str | None,
                     exited: str) -> str | None:
    """The reason when the runtime, not the model, failed the stage; else None. (3.4 warns
    `Not mounting requested ... bind point` for a bad option and mounts it all the same: a
    skipped bind is named only when the script failed.)"""
    usage = [m["text"] for m in map(_USAGE.match, notices) if m]
    if usage:
        return f"container runtime usage error (exit {code}): {usage[0]}"
    fatal = [m["text"].strip() for m in map(_NOTICE.match, notices)
             if m and m["level"] in ("FATAL", "ERROR")]
    skipped = [m for m in map(_SKIPPED_BIND.search, notices) if m]
    if fatal:
        message = fatal[0]
        if "could not open image" in message or "image format not recognized" in message:
            return f"container image missing or unreadable (exit {code}): {message}"
        if "executable file not found" in message or "no such file or directory" in message \
                and script in message:
            return f"{script} not found in the image (exit {code}): {message}"
        if "mount" in message or "bind" in message:
            return f"container bind failed (exit {code}): {message}"
        return f"container runtime failed (exit {code}): {message}"
    if skipped and code:
        bind = skipped[0]
        why = (f"{bind['path']} not mounted ({bind['why']})" if bind["path"]
               else f"{bind['point']} not mounted ({bind['bad']})")
        return f"container bind skipped by the runtime: {why}; {exited}"
    if code == 0:
        return None
    if code == 127 and said and (match := _NOT_FOUND.search(said)) \
            and match["command"] == script:
        return (f"{script} not found in the image (exit 127): put it on the image's PATH, "
                "e.g. /usr/local/bin")
    if code == 126 and said and (match := _NOT_EXECUTABLE.search(said)) \
            and match["command"] == script:
        return (f"{script} in the image is not executable (exit 126): chmod +x it when "
                "building the image")
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
