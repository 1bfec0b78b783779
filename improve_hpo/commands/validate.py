"""`improve-hpo validate FILE...`: check hyperparameter files and show what they define.

Every file is checked and every problem is reported (exit 2, nothing else runs); when all files
are valid, a table of each file's parameters and the size of its space is printed (exit 0), or
with --json the normalized space. Warnings (e.g. a fixed parameter) go to stderr.
"""

from __future__ import annotations

import json
import sys

from improve_hpo.errors import SpaceError
from improve_hpo.space import Space, load_space
from improve_hpo.space.space import count_text

DOMAIN_WIDTH = 48


def register(subparsers):
    parser = subparsers.add_parser(
        "validate",
        help="check hyperparameter files and show their parameters",
        description="Check hyperparameter files (JSON) against the format in "
        "schemas/hyperparameters.schema.json. All files are checked and all problems are "
        "listed; exit code 0 when every file is valid, 2 otherwise.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="hyperparameter file(s) to check")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the normalized space as JSON instead of a table (with several files, an "
        "object that maps each file to its space)",
    )


def run(args) -> int:
    spaces: list[tuple[str, Space]] = []
    errors: list[str] = []
    for path in args.files:
        try:
            space = load_space(path)
        except SpaceError as error:
            errors.extend(error.messages)
            continue
        for warning in space.warnings:
            print(f"improve-hpo validate: warning: {warning}", file=sys.stderr, flush=True)
        spaces.append((path, space))
    if args.json:
        if not errors:
            if len(args.files) == 1:
                document = spaces[0][1].to_json()
            else:
                document = {path: space.to_json() for path, space in spaces}
            print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        for number, (path, space) in enumerate(spaces):
            if number:
                print()
            print(format_space(space))
    if errors:
        raise SpaceError(*errors)
    return 0


def describe_size(space: Space) -> str:
    size = space.size()
    if size is None:
        floats = [p.name for p in space.parameters if p.type == "float" and not p.fixed]
        return f"continuous (float: {', '.join(floats)})"
    return count_text(size, "point")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_space(space: Space) -> str:
    """The table `validate` prints for one valid space."""
    show_stage = any(p.stage != "train" for p in space.parameters)
    header = ["#", "name", "type", "domain", "scale", "sigma"] + (["stage"] if show_stage else [])
    rows = []
    for number, p in enumerate(space.parameters, start=1):
        kind = p.type
        if kind in ("categorical", "ordered"):
            kind += f" ({p.element_type})"
        row = [str(number), p.name, kind, _clip(p.domain(), DOMAIN_WIDTH), p.scale(), p.sigma_text()]
        if show_stage:
            row.append(p.stage)
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    count = len(space.parameters)
    lines = [f"{space.source}: valid, {count} parameter{'s' if count != 1 else ''}; "
             f"size: {describe_size(space)}"]
    lines.append(line(header))
    lines.extend(line(r) for r in rows)
    return "\n".join(lines)
