"""What the %post script does to the file system, as far as check-def needs to know.

%post is a shell script; this reads its simple commands (split at `&&`, `||`, `;`, `|`, with
`\\` continuations joined and comments dropped) and records, with line numbers:
placements (cp, mv, ln, install, git clone: which names land in which folder), chmod calls and
created folders (mkdir, install -d). `cd` is followed so that relative paths resolve; a path
that holds a variable stays as written and only its last component is compared. Anything this
cannot read (unbalanced quotes, heredoc bodies) is skipped, never guessed.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field, replace

from improve_hpo.curator.recipe_scan import Line

_OPERATORS = {"&&", "||", ";", "|", "&", ";;", "(", ")"}
# Words before the command that do not change what it does to the file system.
_PREFIXES = {"sudo", "do", "then", "else", "{", "!", "time"}
_CLONE_VALUE_OPTIONS = {"-b", "--branch", "--depth", "-o", "--origin", "-c", "--config",
                        "--reference", "--reference-if-able", "-j", "--jobs", "--filter",
                        "--separate-git-dir", "--template", "--shallow-since",
                        "--shallow-exclude", "-u", "--upload-pack", "--server-option"}
_INSTALL_VALUE_OPTIONS = {"-m", "--mode", "-o", "--owner", "-g", "--group", "-t",
                          "--target-directory", "-S", "--suffix"}
_SYMBOLIC_MODE = re.compile(r"([ugoa]*)([-+=])([rwxXst]*)")


@dataclass(frozen=True)
class Placement:
    """Files whose names match `sources` (shell patterns, compared by last component) land in
    folder `folder`, or at `target` when one file is copied to a file name."""

    sources: tuple[str, ...]
    folder: str | None
    target: str | None
    how: str
    line: int
    executable: bool = False  # `install` gives mode 0755 (or its -m mode)


@dataclass(frozen=True)
class Chmod:
    """A chmod of `paths`; `for_everyone` when the mode gives execute to other users."""

    mode: str
    paths: tuple[str, ...]
    recursive: bool
    for_everyone: bool
    line: int


@dataclass(frozen=True)
class Clone:
    """A `git clone URL [FOLDER]` (with the branch or tag of -b, or of a later `git checkout`
    run inside FOLDER): its files and their modes are the repository's, unknown here."""

    url: str
    folder: str
    ref: str | None
    line: int


@dataclass
class PostFacts:
    placements: list[Placement]
    chmods: list[Chmod]
    created: list[tuple[str, int]]  # (folder, line) from mkdir / install -d
    clones: list[Clone] = field(default_factory=list)

    def clone_holding(self, path: str | None) -> Clone | None:
        """The clone whose folder holds `path` (or is it), else None."""
        for clone in self.clones:
            if not path:
                continue
            if path == clone.folder or path.startswith(clone.folder + "/"):
                return clone
            relative = not clone.folder.startswith("/")  # cloned where `cd` lost track
            if relative and (f"/{clone.folder}/" in path or path.endswith(f"/{clone.folder}")):
                return clone
        return None


def commands(lines: list[Line]) -> list[tuple[list[str], int]]:
    """Simple commands (argument lists) with the line each starts on."""
    found: list[tuple[list[str], int]] = []
    pending, start = "", 0
    for line in lines:
        if not pending:
            start = line.number
        text = line.text.rstrip()
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        words = _split(pending + text)
        pending = ""
        command: list[str] = []
        for word in words + [";"]:
            if word in _OPERATORS:
                if command:
                    found.append((command, start))
                command = []
            else:
                command.append(word)
    return found


def _split(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: a heredoc body or a multi-line string
        return []


def read_post(lines: list[Line]) -> PostFacts:
    """Follow the %post commands in order (cd changes where later relative paths point)."""
    facts = PostFacts([], [], [])
    cwd: str | None = "/"  # Singularity runs %post in the container's root
    loops: list[tuple[str, list[str]]] = []  # enclosing `for NAME in WORDS` loops
    for words, number in commands(lines):
        while words and (words[0] in _PREFIXES or re.fullmatch(r"\w+=.*", words[0])):
            words = words[1:]
        if words[:1] == ["done"]:
            loops = loops[:-1]
        elif len(words) >= 3 and words[0] == "for" and words[2] == "in":
            loops.append((words[1], words[3:]))
        else:
            for expanded in _expand(words, loops):
                cwd = _command(facts, expanded, cwd, number)
    return facts


def _expand(words: list[str], loops: list[tuple[str, list[str]]]) -> list[list[str]]:
    """`words` once per value of each enclosing loop variable ($NAME or ${NAME} replaced)."""
    variants = [words]
    for name, values in loops:
        pattern = re.compile(r"\$(" + re.escape(name) + r"\b|\{" + re.escape(name) + r"\})")
        if any(pattern.search(word) for word in words):
            variants = [[pattern.sub(lambda _: value, word) for word in variant]
                        for variant in variants for value in values]
    return variants


def _command(facts: PostFacts, words: list[str], cwd: str | None, number: int) -> str | None:
    """Record what one simple command does; returns the working folder after it."""
    if not words:
        return cwd
    name, args = posixpath.basename(words[0]), words[1:]
    if name == "cd":
        return _cd(cwd, args)
    if name in ("cp", "mv", "ln", "install"):
        _copy(facts, name, args, cwd, number)
    elif name == "git" and args[:1] == ["clone"]:
        _clone(facts, args[1:], cwd, number)
    elif name == "git" and args[:1] == ["checkout"] and len(args) > 1:
        _checkout(facts, args[-1], cwd)
    elif name == "chmod":
        _chmod(facts, args, cwd, number)
    elif name == "mkdir":
        facts.created += [(_resolve(cwd, arg), number) for arg in _positionals(args, {"-m"})]
    return cwd


def _resolve(cwd: str | None, path: str) -> str:
    if path.startswith("/") or cwd is None or "$" in path:
        return posixpath.normpath(path) if path.startswith("/") else path
    return posixpath.normpath(posixpath.join(cwd, path))


def _cd(cwd: str | None, args: list[str]) -> str | None:
    target = [arg for arg in args if not arg.startswith("-")]
    if len(target) != 1 or "$" in target[0] or target[0].startswith("~"):
        return None  # somewhere this cannot know
    if not target[0].startswith("/") and cwd is None:
        return None
    return _resolve(cwd, target[0])


def _positionals(args: list[str], value_options: set[str]) -> list[str]:
    """Arguments that are not options (nor the value of an option in `value_options`)."""
    result, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in value_options:
            skip = True
        elif not arg.startswith("-") or arg == "-":
            result.append(arg)
    return result


def _option_value(args: list[str], short: str, long: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == short or arg == long:
            return args[index + 1] if index + 1 < len(args) else None
        if arg.startswith(long + "="):
            return arg.split("=", 1)[1]
        if arg.startswith(short) and len(arg) > 2 and short in ("-m", "-t"):
            return arg[2:]
    return None


def _copy(facts: PostFacts, name: str, args: list[str], cwd: str | None, number: int) -> None:
    mode = _option_value(args, "-m", "--mode") if name == "install" else None
    if name == "install" and ("-d" in args or "--directory" in args):
        facts.created += [(_resolve(cwd, arg), number)
                          for arg in _positionals(args, _INSTALL_VALUE_OPTIONS)]
        return
    folder = _option_value(args, "-t", "--target-directory")
    paths = [_resolve(cwd, arg) for arg in _positionals(args, _INSTALL_VALUE_OPTIONS)]
    if folder is None:
        if len(paths) < 2:
            return
        *sources, destination = paths
    else:
        sources, destination = paths, folder
    target = None
    if folder is None and len(sources) == 1 and not args[-1].endswith("/"):
        target = destination  # a file name, unless it is a folder (the checks decide)
    executable = name == "install" and (mode is None or _gives_everyone_execute(mode))
    facts.placements.append(Placement(tuple(sources), destination, target, name, number,
                                      executable))


def _clone(facts: PostFacts, args: list[str], cwd: str | None, number: int) -> None:
    positionals = _positionals(args, _CLONE_VALUE_OPTIONS)
    if not positionals:
        return
    url = positionals[0].rstrip("/")
    folder = positionals[1] if len(positionals) > 1 else posixpath.basename(url)
    folder = folder[:-4] if len(positionals) == 1 and folder.endswith(".git") else folder
    facts.placements.append(Placement(("*",), _resolve(cwd, folder), None, "git clone", number))
    branch = _option_value(args, "-b", "--branch")
    facts.clones.append(Clone(url, _resolve(cwd, folder), branch, number))


def _checkout(facts: PostFacts, ref: str, cwd: str | None) -> None:
    """`git checkout REF` inside a clone's folder pins that clone to REF."""
    for index, clone in enumerate(facts.clones):
        if cwd is not None and cwd == clone.folder:
            facts.clones[index] = replace(clone, ref=ref)


def _chmod(facts: PostFacts, args: list[str], cwd: str | None, number: int) -> None:
    recursive = any(arg in ("-R", "--recursive") for arg in args)
    rest = [arg for arg in args if not (arg.startswith("-") and not _SYMBOLIC_MODE.fullmatch(arg))]
    if len(rest) < 2:
        return
    mode, paths = rest[0], tuple(_resolve(cwd, path) for path in rest[1:])
    facts.chmods.append(Chmod(mode, paths, recursive, _gives_everyone_execute(mode), number))


def _gives_everyone_execute(mode: str) -> bool:
    """True when `mode` (octal or symbolic) leaves the file executable by other users.

    Images are owned by root; the user who runs a trial is "other", so u+x is not enough.
    """
    if re.fullmatch(r"[0-7]{3,4}", mode):
        return int(mode[-1]) & 1 == 1
    granted = False
    for clause in mode.split(","):
        found = _SYMBOLIC_MODE.fullmatch(clause)
        if not found:
            return False
        who, op, perms = found.groups()
        if who in ("", "a") or "o" in who:
            if op in "+=":
                granted = "x" in perms if op == "=" or "x" in perms else granted
            elif "x" in perms:
                granted = False
    return granted
