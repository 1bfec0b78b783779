"""A trial's small records are written by runner/small_files.py (one open, one write, the C JSON
encoder): the files must hold exactly what json.dumps(indent=2) and a text write would."""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from improve_hpo.runner.small_files import indented_json, write_text

names = st.text(max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(names, scalars, max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, st.one_of(st.dictionaries(names, values, max_size=6), values),
                       max_size=4))
def test_params_json_is_the_text_json_dumps_writes(document):
    assert indented_json(document) == json.dumps(document, indent=2) + "\n"


def test_write_text_replaces_appends_and_keeps_its_descriptor_from_scripts(tmp_path,
                                                                          monkeypatch):
    path = tmp_path / "command.txt"
    write_text(path, "a longer first text\n")
    write_text(path, "größe ✓\n")
    assert path.read_text(encoding="utf-8") == "größe ✓\n"
    write_text(path, "more\n", append=True)
    assert path.read_text(encoding="utf-8") == "größe ✓\nmore\n"
    # a script started while a record is written never inherits its descriptor (O_CLOEXEC)
    inheritable, real_open = [], os.open

    def watched_open(*args, **kwargs):
        fd = real_open(*args, **kwargs)
        inheritable.append(os.get_inheritable(fd))
        return fd

    monkeypatch.setattr(os, "open", watched_open)
    write_text(path, "x")
    assert inheritable == [False]
