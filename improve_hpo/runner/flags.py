"""Stage values -> the model's command-line arguments.

Each value becomes exactly one argv element, never text for a shell: a categorical value such
as `"; rm -rf /"` reaches the model as that one harmless string.

A value that a parser could take for something else than a value (it starts with `-`, as
`--output_dir=/elsewhere`, `--` or `-o/x` do, or with `@`, a file of arguments) is passed
glued to its flag, `--name=value`: argparse (improvelib's and candle's parsers, their
parse_known_args pre-scans included) reads the whole element as that flag's value. Other
values keep the two-element form `--name value` that shell-script models parse by hand.
"""

from __future__ import annotations

from collections.abc import Container, Mapping


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
    """`{"learning_rate": 0.001}` -> `["--learning_rate", "0.001"]`, in the mapping's order;
    `{"x": -1.5}` -> `["--x=-1.5"]` (see the module's doc)."""
    argv: list[str] = []
    for name, value in values.items():
        text = format_value(value)
        argv += [f"--{name}={text}"] if text.startswith(_NOT_A_VALUE) else [f"--{name}", text]
    return argv


# First characters that argparse reads as an option (-) or a file of arguments (@).
_NOT_A_VALUE = ("-", "@")


def directory_argv(pairs: list[tuple[str, str]], given: Container[str] = ()) -> list[str]:
    """[(flag names, folder)] -> ["--flag", folder, ...]. Flag names may be several separated
    by commas (each gets the folder); an empty one is left out (the user turned that flag off),
    and so is a flag the stage's values already give (a constant of the space names the folder,
    as Supervisor-era spaces do: the space wins, and the model never sees the flag twice)."""
    argv: list[str] = []
    for flags, folder in pairs:
        for flag in filter(None, flags.split(",")):
            if flag not in given:
                argv += [f"--{flag}", folder]
    return argv
