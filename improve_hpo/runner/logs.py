"""Reading the end of a stage's log. Logs can be huge (a model printing every batch), and what
the engine needs from them (the result lines, the last error, what check-model shows) is at the
end, so only the last bytes are read."""

from __future__ import annotations

from pathlib import Path

TAIL_BYTES = 64 * 1024


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str | None:
    """The last `limit` bytes of `path` as text (undecodable bytes replaced); None when it
    cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - limit))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
