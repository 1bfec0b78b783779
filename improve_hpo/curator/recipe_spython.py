"""Section contents through spython, on a sanitized copy, mapped back to line numbers.

spython's SingularityParser reads %files, %post and %environment the way Singularity does
(stripped lines; environment lines that assign something, with `export` removed). Its flaws are
kept out by what it is fed: one section at a time, without the header (it accepts only
`Bootstrap: docker`), and with the words it mistakes for directives ("bootstrap" anywhere
raises NotImplementedError; a leading `from:` or `stage:` line rewrites the header) masked by an
invisible character. No file is passed, so its sys.exit on a missing file cannot happen.
"""

from __future__ import annotations

import re

from spython.main.parse.parsers import SingularityParser

from improve_hpo.curator.recipe_scan import Line, Section

_MARK = "\ue000"  # a private-use character: never part of a real definition file
_TRAPS = re.compile(r"(?i)(boot)(strap)|(from|stage)(:)")
# Section name -> the Recipe field spython fills with its lines.
FIELDS = {"files": "files", "post": "install", "environment": "environ"}


def section_lines(section: Section) -> list[Line]:
    """The lines of `section` (one of FIELDS) that spython takes as content, in order."""
    masked = [_TRAPS.sub(_mask, line.text) for line in section.body]
    parser = SingularityParser(None, load=False)
    header = f"%{section.name} {section.args}".strip()
    parser.lines = [header, *masked]
    recipe = parser.parse()["spython-base"]
    entries = list(getattr(recipe, FIELDS[section.name]))
    entries += [item for items in recipe.layer_files.values() for item in items]
    return _locate(entries, section.body, masked, section.name == "environment")


def _mask(match: re.Match) -> str:
    first, second = (match.group(1), match.group(2)) if match.group(1) else match.group(3, 4)
    return f"{first}{_MARK}{second}"


def _locate(entries: list[str], body: list[Line], masked: list[str], environ: bool) -> list[Line]:
    """Match each spython entry to the next body line it came from (entries keep file order)."""
    found: list[Line] = []
    position = 0
    for entry in entries:
        for index in range(position, len(body)):
            text = masked[index].strip()
            if environ:
                text = re.sub("^export", "", text).strip()
            if text == entry:
                found.append(body[index])
                position = index + 1
                break
    return found
