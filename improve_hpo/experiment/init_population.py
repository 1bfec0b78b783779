"""--init-population CSV: known good settings to start from, one row per point.

The header names parameters; each cell is parsed by Space.coerce (a constant's column may be
left out). Errors name the file, the row (counting the header as row 1, as a spreadsheet shows
it) and the column.
"""

from __future__ import annotations

import csv
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.reports.csv_files import read_rows

FLAG = "--init-population"


def read_init_population(path: str, space) -> list[dict]:
    file = Path(path)
    if not file.is_file():
        problem = "is a folder" if file.is_dir() else "no such file"
        raise UsageError(f"{FLAG} {path}: {problem}; give a CSV file whose header names the "
                         "parameters")
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:
            rows = read_rows(handle)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{FLAG} {path}: cannot read it as CSV ({error})") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise UsageError(f"{FLAG} {path}: needs a header row naming the parameters and at least "
                         "one row of values")
    header = [name.strip() for name in rows[0]]
    problems = []
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise UsageError(f'{FLAG} {path}: column "{duplicated[0]}" appears more than once')
    points = []
    for number, row in enumerate(rows[1:], start=2):
        where = f"{FLAG} {path} row {number}"
        if len(row) != len(header):
            problems.append(f"{where}: has {len(row)} cells but the header has {len(header)}")
            continue
        try:
            points.append(space.coerce(dict(zip(header, row)), where))
        except UsageError as error:
            problems.extend(error.messages)
    if problems:
        raise UsageError(*problems)
    return points
