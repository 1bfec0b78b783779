"""Hygiene for the whole suite: the kill -9 tests end MPI jobs with SIGKILL on purpose, and a
process killed so cannot remove the shared-memory segments MPICH made for it
(/dev/shm/mpich_shm_*; a normal or SIGTERM-ended run removes its own). Left there they fill a
machine's RAM-backed /dev/shm run after run (99 segments, 280 MB, after a day of runs here),
so each test removes the segments that appeared while it ran and that no process maps any more.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

SHARED_MEMORY = Path("/dev/shm")
MPICH_SEGMENT = "mpich_shm_"
_MAPPED = re.compile(r"/dev/shm/(mpich_shm_\S+)")
# a segment younger than this may belong to a job (another test session's) still starting
SETTLED_SECONDS = 2.0


def _segments() -> set[str]:
    try:
        return {path.name for path in SHARED_MEMORY.iterdir()
                if path.name.startswith(MPICH_SEGMENT)}
    except OSError:
        return set()


def _mapped_segments() -> set[str]:
    """The MPICH segments some live process has mapped (its /proc/PID/maps)."""
    names = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            names.update(_MAPPED.findall(maps.read_text()))
        except OSError:  # the process ended, or is not ours to read
            continue
    return names


def _remove_orphans(new: set[str]) -> None:
    """Unlink those of `new` that no process maps and that settled (SETTLED_SECONDS)."""
    if not new:
        return
    for name in new - _mapped_segments():
        path = SHARED_MEMORY / name
        try:
            if time.time() - path.stat().st_mtime >= SETTLED_SECONDS:
                path.unlink()
        except OSError:
            pass


@pytest.fixture(autouse=True, scope="session")
def remove_orphaned_mpich_segments_of_the_session():
    """Once more at the end: a process a test killed may have ended after its teardown."""
    before = _segments()
    yield
    _remove_orphans(_segments() - before)


@pytest.fixture(autouse=True)
def remove_orphaned_mpich_segments():
    before = _segments()
    yield
    _remove_orphans(_segments() - before)
