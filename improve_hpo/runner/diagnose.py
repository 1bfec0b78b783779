"""Why a model's script failed, in words that name the fix: what its log says about a strict
parser rejecting flags, a script the runtime could not find or start, and which option of
improve-hpo (a --convention, a directory-flag option, --no-preprocess, --script-interpreter)
fixes it. Used in trials' reasons and in check-model's report."""

from __future__ import annotations

import re

from improve_hpo.runner.conventions import CONVENTIONS, conventions_without

# argparse (improvelib, candle): "prog: error: unrecognized arguments: --input_dir /x ..."
_UNRECOGNIZED = re.compile(r"unrecognized arguments?:\s*(.*)")
_DIRECTORY_OPTIONS = {
    "preprocess": ("--preprocess-input-flag", "--preprocess-output-flag"),
    "train": ("--train-input-flag", "--train-output-flag"),
    "infer": ("--infer-data-flag", "--infer-model-flag", "--infer-output-flag"),
}


def rejected_flags(stderr_text: str) -> list[str]:
    """The --flags a strict parser named as unrecognized (last such message), in order."""
    found = _UNRECOGNIZED.findall(stderr_text)
    if not found:
        return []
    return [word for word in found[-1].split() if word.startswith("--")]


def rejects_positionals(stderr_text: str) -> bool:
    """Whether the last "unrecognized arguments" message starts with a word that is not a
    --flag (the GPU id and data folder a flags-only script passed on to its parser)."""
    found = _UNRECOGNIZED.findall(stderr_text)
    words = found[-1].split() if found else []
    return bool(words) and (not words[0].startswith("-") or words[0] == "-1")


def accepted_flags(stderr_text: str) -> set[str]:
    """The flags an argparse usage message printed before its error lists (empty when there
    is none)."""
    start = stderr_text.rfind("usage:")
    end = stderr_text.find("error:", start)
    if start < 0 or end < 0:
        return set()
    return set(re.findall(r"\[--([A-Za-z_][\w.-]*)", stderr_text[start:end]))


def unrecognized_hint(stage: str, rejected: list[str], directory_flags: set[str],
                      convention: str, stderr_text: str = "") -> str:
    """What fixes a parser that rejected `rejected`: a convention or a directory-flag option
    when they are flags the runner adds (the convention whose flags the parser's usage message
    lists, when one does), the space when they are the space's parameters."""
    names = {flag[2:] for flag in rejected}
    ours = names & directory_flags
    theirs = sorted(names - directory_flags)
    parts = []
    accepted = accepted_flags(stderr_text)
    matching = [c.name for c in CONVENTIONS.values() if c.name != convention
                and c.flag_names(stage) and c.flag_names(stage) <= accepted]
    if ours and matching:
        wanted = sorted(CONVENTIONS[matching[0]].flag_names(stage))
        parts.append(f"its usage lists {', '.join('--' + name for name in wanted)}: use "
                     f"--convention {matching[0]}")
    elif ours:
        others = [c.name for c in conventions_without(ours) if c.name != convention]
        options = " / ".join(f"{option} NAME" for option in _DIRECTORY_OPTIONS[stage])
        parts.append(f"{', '.join('--' + n for n in sorted(ours))} "
                     f"{'is' if len(ours) == 1 else 'are'} passed by --convention {convention}; "
                     + (f"use --convention {' or --convention '.join(others)}" if others else "")
                     + (" (a model that takes no directory flags reads its folders from the "
                        "space's constants), or " if others else "give ")
                     + f"the model's own names with {options} ('' passes none)")
    if theirs:
        parts.append(f"{', '.join('--' + n for n in theirs)}: a parameter of the space the "
                     "model does not know; rename or remove it in the hyperparameter file")
    return "; ".join(parts)


def failure_hint(stage: str, reason: str, stderr_text: str) -> str:
    """The improve-hpo option for a stage whose failure `reason` (runner/failures.py) shows a
    script missing from the image, not executable, or without a #! line; else ''."""
    if "not found in the image" in reason:
        if stage == "preprocess":
            return "if the data were prepared in advance, run with --no-preprocess"
        if stage == "infer":
            return "pass --infer none to search without inference"
        return ""
    if "not executable" in reason or "Permission denied" in reason:
        return "or pass --script-interpreter bash to run it without its exec bit"
    if "exec format error" in stderr_text.lower():
        return (f"{stage}.sh has no #! line (Exec format error); add #!/bin/bash as its first "
                "line, or pass --script-interpreter bash")
    return ""


def start_hint(error: str) -> str:
    """A hint for a script the runner could not start at all (native runs)."""
    lowered = error.lower()
    if "exec format" in lowered:
        return "it has no #! line: add #!/bin/bash as its first line, or pass " \
               "--script-interpreter bash"
    if "permission" in lowered:
        return "it is not executable: chmod a+x it, or pass --script-interpreter bash"
    return ""
