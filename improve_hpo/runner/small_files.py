"""Writing a trial's small records (command.txt, params.json, worker.json) with one open and one
write each.

A trial writes a few small files, and a short trial's cost is mostly its records: Python's
`open()` in text mode builds a buffered reader/writer and a text wrapper, looks up the encoding
and flushes on close, several times the work of the system calls themselves. Here the text is
encoded once and handed to `os.write` on a raw descriptor (close-on-exec, so a script started
meanwhile never inherits it).
"""

from __future__ import annotations

import json
import os
from json.encoder import encode_basestring_ascii

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC


def write_text(path, text: str, append: bool = False) -> None:
    """Write `text` (UTF-8) to `path`, replacing it (or appending to it), with one write;
    raises OSError like open() does."""
    data = text.encode("utf-8")
    fd = os.open(path, _CREATE | (os.O_APPEND if append else os.O_TRUNC), 0o666)
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def _scalar(value) -> str:
    """json.dumps(value) for a str, int, float, bool or None, without json.dumps' own call
    overhead (its defaults: ASCII escapes, NaN and Infinity allowed); other values through it."""
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is float:
        return repr(value) if value == value and value not in _INFINITIES else json.dumps(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    return json.dumps(value)


_INFINITIES = (float("inf"), float("-inf"))


def indented_json(document: dict) -> str:
    """json.dumps(document, indent=2) + newline, the same text, for a dict of flat dicts of
    JSON scalars (params.json: {stage: {name: value}}); other shapes go through json.dumps.
    json.dumps with indent runs its pure-Python encoder; this encodes each key and value with
    the C encoder instead."""
    encode = _scalar
    lines = []
    for key, values in document.items():
        if not isinstance(key, str) or not isinstance(values, dict) or any(
                not isinstance(name, str) or isinstance(value, (dict, list, tuple))
                for name, value in values.items()):
            return json.dumps(document, indent=2) + "\n"
        if not values:
            lines.append(f"  {encode(key)}: {{}}")
            continue
        members = ",\n".join(f"    {encode(name)}: {encode(value)}"
                             for name, value in values.items())
        lines.append(f"  {encode(key)}: {{\n{members}\n  }}")
    if not lines:
        return "{}\n"
    return "{\n" + ",\n".join(lines) + "\n}\n"
