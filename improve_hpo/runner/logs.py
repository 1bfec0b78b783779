"""Reading the end of a stage's log. Logs can be huge (a model printing every batch), and what
the engine needs from them (the result lines, the last error, what check-model shows) is at the
end, so only the last bytes are read."""

from __future__ import annotations

import os
from pathlib import Path

TAIL_BYTES = 64 * 1024


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str | None:
    """The last `limit` bytes of `path` as text (undecodable bytes replaced); None when it
    cannot be read. (Raw reads, no file object: a trial's metric is read from its log's end on
    every trial.)"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, limit)  # a log shorter than the limit: whole, without fstat and lseek
        if len(data) == limit:
            size = os.fstat(fd).st_size
            os.lseek(fd, max(0, size - limit), os.SEEK_SET)
            data = os.read(fd, min(size, limit))
        while more := os.read(fd, 1 << 20):  # it grew meanwhile: read to its end, as before
            data += more
        return data.decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)
