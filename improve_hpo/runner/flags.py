"""Stage values -> the model's command-line arguments.

Each value becomes exactly one argv element, never text for a shell: a categorical value such
as `"; rm -rf /"` reaches the model as that one harmless string.
"""

from __future__ import annotations

from collections.abc import Mapping


def format_value(value: bool | int | float | str) -> str:
    """bool -> True/False (improvelib's str2bool reads it), float -> repr (reads back to the
    same number), int -> str, str -> verbatim."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"hyperparameter value {value!r} has type {type(value).__name__}; "
                    "expected bool, int, float or str")


def values_to_argv(values: Mapping[str, bool | int | float | str]) -> list[str]:
    """`{"learning_rate": 0.001}` -> `["--learning_rate", "0.001"]`, in the mapping's order."""
    argv: list[str] = []
    for name, value in values.items():
        argv += [f"--{name}", format_value(value)]
    return argv


def directory_argv(pairs: list[tuple[str, str]]) -> list[str]:
    """[(flag name, folder)] -> ["--flag", folder, ...]; a pair whose flag name is empty is left
    out (the user turned that flag off)."""
    argv: list[str] = []
    for flag, folder in pairs:
        if flag:
            argv += [f"--{flag}", folder]
    return argv
