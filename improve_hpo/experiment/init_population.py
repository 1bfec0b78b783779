"""--init-population: known good points to start from, from a CSV or an earlier experiment.

Three sources, one reader:
  - a CSV whose header names the parameters, one row per point (a hand-written file, or a CANDLE
    Supervisor init file);
  - an earlier experiment's trials.csv (it has the columns trial, status and metric);
  - an earlier experiment's OUT folder (its trials.csv is read).
From a trials.csv, the best successful trials come first (by the metric, in this run's --mode),
failed and interrupted ones are left out, and a point that ran twice counts once. Rows whose
values no longer fit the space (a warm start with a changed space) are left out with a note.
Only the first N points are kept: N is --init-count, else --population; a file with more rows is
fine (a note says how many were left out). Columns that are not parameters (the report's own
columns, or anything else) are ignored with one note. With a fidelity (`epochs` marked as one)
the file needs no column for it: the scheduler sets it per rung, so a point from a run without a
fidelity, or a hand-written list of the other parameters, starts the same way.

Errors name the file, the row (counting the header as row 1, as a spreadsheet shows it) and the
column.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.reports.columns import TRIAL_COLUMNS, parameter_columns
from improve_hpo.reports.csv_files import read_rows

FLAG = "--init-population"
TRIALS_CSV = "trials.csv"
REPORT_MARKERS = {"trial", "status", "metric"}  # columns that make a CSV an experiment's report


def read_init_population(path: str, space, keep: int, mode: str = "min",
                         set_by_run: dict | None = None) -> tuple[list[dict], list[str]]:
    """(the points to start from, at most `keep` of them; notes for the user). `set_by_run`:
    parameter -> value for a parameter the run sets itself (the fidelity), used where the file
    has no column for it."""
    set_by_run = set_by_run or {}
    file = _csv_of(path)
    rows = _rows(file, path)
    header = [name.strip() for name in rows[0]]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise UsageError(f'{FLAG} {path}: column "{duplicated[0]}" appears more than once')
    report = REPORT_MARKERS <= set(header)
    columns = _parameter_columns(header, space, report)
    missing = [p.name for p in space.parameters if p.name not in columns and p.type != "constant"
               and p.name not in set_by_run]
    if missing:
        raise UsageError(f"{FLAG} {path}: has no column for the parameter(s) "
                         f"{', '.join(missing)} of {space.source}; every parameter but a "
                         "constant needs one")
    notes = []
    ignored = [name for name in header if name not in columns.values()
               and not (report and name in TRIAL_COLUMNS)]
    if ignored:
        notes.append(f"{FLAG} {path}: ignored the column(s) that are not parameters of "
                     f"{space.source}: {', '.join(ignored)}")
    preset = {name: value for name, value in set_by_run.items() if name not in columns}
    if report:
        points = _best_trials(path, header, rows[1:], columns, space, mode, notes, preset)
    else:
        points = _plain_rows(path, header, rows[1:], columns, space, preset)
    if len(points) > keep:
        notes.append(f"{FLAG} {path}: {len(points)} points; using the first {keep}"
                     + (" (the best)" if report else "") + " (--init-count, else --population)")
        points = points[:keep]
    return points, notes


def _csv_of(path: str) -> Path:
    """The CSV to read: the file itself, or OUT/trials.csv for an experiment folder."""
    file = Path(path).expanduser()
    if file.is_dir():
        if not (file / TRIALS_CSV).is_file():
            raise UsageError(f"{FLAG} {path}: is a folder without {TRIALS_CSV}; give a CSV file "
                             "whose header names the parameters, or an earlier experiment's "
                             "output folder")
        return file / TRIALS_CSV
    if not file.is_file():
        raise UsageError(f"{FLAG} {path}: no such file; give a CSV file whose header names the "
                         "parameters, or an earlier experiment's output folder")
    return file


def _rows(file: Path, path: str) -> list[list[str]]:
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:
            rows = read_rows(handle)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{FLAG} {path}: cannot read it as CSV ({error})") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise UsageError(f"{FLAG} {path}: needs a header row naming the parameters and at least "
                         "one row of values")
    return rows


def _parameter_columns(header: list[str], space, report: bool) -> dict[str, str]:
    """Parameter name -> its column in this file. A report names a parameter that collides
    with one of its own columns "hp.<name>" (reports/columns.py)."""
    named = parameter_columns(space.names) if report else {name: name for name in space.names}
    return {name: column for name, column in named.items() if column in header}


def _point(row: dict, columns: dict[str, str], space, where: str, preset: dict) -> dict:
    return space.coerce({**preset, **{name: row[column] for name, column in columns.items()}},
                        where)


def _plain_rows(path, header, rows, columns, space, preset) -> list[dict]:
    points, problems = [], []
    for number, row in enumerate(rows, start=2):
        where = f"{FLAG} {path} row {number}"
        if len(row) != len(header):
            problems.append(f"{where}: has {len(row)} cells but the header has {len(header)}")
            continue
        try:
            points.append(_point(dict(zip(header, row)), columns, space, where, preset))
        except UsageError as error:
            problems.extend(error.messages)
    if problems:
        raise UsageError(*problems)
    return points


def _best_trials(path, header, rows, columns, space, mode: str, notes: list, preset
                 ) -> list[dict]:
    """The successful trials of an experiment's trials.csv, best first, each point once."""
    ranked, misfits = [], []
    for number, row in enumerate(rows, start=2):
        cells = dict(zip(header, row))
        if len(row) != len(header) or cells["status"] != "ok":
            continue
        try:
            metric = float(cells["metric"])
        except ValueError:
            continue
        if math.isnan(metric):
            continue
        where = f"{FLAG} {path} row {number} (trial {cells['trial']})"
        try:
            point = _point(cells, columns, space, where, preset)
        except UsageError as error:
            misfits.append(error.messages[0])
            continue
        ranked.append((metric if mode == "min" else -metric, number, point))
    if misfits:
        notes.append(f"{FLAG} {path}: left out {len(misfits)} trial(s) whose values do not fit "
                     f"{space.source}, e.g. {misfits[0]}")
    if not ranked:
        raise UsageError(f"{FLAG} {path}: holds no successful trial (status ok) whose values fit "
                         f"{space.source}; give another experiment or a CSV of points")
    points, seen = [], set()
    for _, _, point in sorted(ranked, key=lambda item: (item[0], item[1])):
        key = space.key(point)
        if key not in seen:
            seen.add(key)
            points.append(point)
    return points


def initial_points(args, space, search, fidelity=None) -> list[dict]:
    """--init-population and --init-count of `improve-hpo run`: the points, notes printed.
    With a fidelity (scheduling.FidelitySettings) its parameter needs no column: a point
    without one gets the full fidelity, which the scheduler replaces by its rung's anyway."""
    count = getattr(args, "init_count", None)
    if count is not None and not 1 <= count <= search.population:
        raise UsageError(f"--init-count: must be between 1 and --population "
                         f"({search.population}), got {count}")
    set_by_run = {} if fidelity is None else {fidelity.parameter: fidelity.max_fidelity}
    points, notes = read_init_population(args.init_population, space,
                                         search.population if count is None else count,
                                         search.mode, set_by_run)
    for note in notes:
        print(f"improve-hpo: note: {note}", file=sys.stderr, flush=True)
    return points
