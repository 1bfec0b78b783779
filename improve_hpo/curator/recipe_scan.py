"""A line-oriented scan of a Singularity/Apptainer definition file: header, sections, line numbers.

spython parses section contents but gives no line numbers, accepts only `Bootstrap: docker`,
lowercases the From image, takes a `from:` line inside %post for the header and drops the names
of sections it does not know. This scan is the authority for the file's structure; spython is
used for the contents of the sections it understands (see recipe_spython).

Rules follow Apptainer's own parser: the header is the `Keyword: value` lines before the first
`%section`; a `Bootstrap:` line at the start of a line after sections starts a new build stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from improve_hpo.errors import UsageError

_SECTION = re.compile(r"\s*%([A-Za-z]\w*)(.*)")
_HEADER = re.compile(r"\s*([A-Za-z][\w-]*)\s*:\s*(.*)")
_NEW_STAGE = re.compile(r"bootstrap\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Line:
    """One source line: its 1-based number and its text without the newline."""

    number: int
    text: str


@dataclass
class Section:
    """`%name args` at line `number`, with the lines up to the next section or stage."""

    name: str
    args: str
    number: int
    body: list[Line] = field(default_factory=list)


@dataclass
class Stage:
    """One build stage: header keywords (lowercased) and sections, in file order."""

    header: dict[str, Line] = field(default_factory=dict)
    stray: list[Line] = field(default_factory=list)  # header lines that are not `Keyword: value`
    sections: list[Section] = field(default_factory=list)

    def header_value(self, keyword: str) -> str | None:
        """The value after `Keyword:` with any trailing comment removed, or None."""
        line = self.header.get(keyword)
        if line is None:
            return None
        return _HEADER.match(line.text).group(2).split("#", 1)[0].strip()


@dataclass
class Definition:
    """A scanned definition file; the final stage is the image that gets built."""

    path: Path
    lines: list[str]
    stages: list[Stage]

    @property
    def image_stage(self) -> Stage:
        return self.stages[-1]


def read_definition(path: str | Path) -> Definition:
    """Read and scan `path`; UsageError (exit 2) when it cannot be read as UTF-8 text."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file; give the path of a definition (.def) file")
    if not path.is_file():
        raise UsageError(f"{path}: not a file; give the path of a definition (.def) file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not UTF-8 text (byte {error.start}); a definition file is "
                         "a text file, save it as UTF-8") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror}); check its permissions") \
            from None
    lines = text.splitlines()
    return Definition(path=path, lines=lines, stages=scan(lines))


def scan(lines: list[str]) -> list[Stage]:
    """Split `lines` into stages, each with its header keywords and its sections."""
    stages = [Stage()]
    section: Section | None = None
    for number, text in enumerate(lines, start=1):
        line = Line(number, text)
        if section is not None and _NEW_STAGE.match(text):
            stages.append(Stage())
            section = None
        stage = stages[-1]
        found = _SECTION.fullmatch(text)
        if found:
            args = found.group(2).split("#", 1)[0].strip()
            section = Section(found.group(1).lower(), args, number)
            stage.sections.append(section)
        elif section is not None:
            section.body.append(line)
        elif not text.strip() or text.lstrip().startswith("#"):
            continue
        elif (header := _HEADER.match(text)) is not None:
            stage.header.setdefault(header.group(1).lower(), line)
        else:
            stage.stray.append(line)
    return stages
