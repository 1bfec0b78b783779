"""Append-only CSV files: header first, one flushed row per write (or several, flushed together),
real CSV (csv module).

A report grows by appending a row when something finishes; nothing is rewritten per row, so
writing costs the same for the 10,000th trial as for the first. On resume a report is rebuilt
once from the ledger (`CsvAppender(..., fresh=True)` truncates it).
"""

from __future__ import annotations

import csv
import functools
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

# The csv module refuses a field longer than 131,072 characters by default; a categorical value
# may be longer (a path list, a JSON blob): anything a report holds must read back.
FIELD_LIMIT = 2**31 - 1


def cell(value) -> str:
    """How a value appears in a report: JSON-style booleans, floats that read back exactly,
    empty for None."""
    kind = type(value)  # the common types first: rank 0 formats a row of cells per trial
    if kind is str:
        return value
    if kind is float:
        return repr(value)
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


_AS_IS = frozenset((str, int, float, type(None)))  # written by the csv module as cell() would


def iso_time(epoch: float | None) -> str:
    """Local wall-clock time with its UTC offset, to the second; empty for None. The text of
    `datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")`, built from
    time.localtime: a third of the cost (rank 0 writes two a trial into trials.csv)."""
    if epoch is None:
        return ""
    if epoch < 0:  # before 1970: never a trial's time
        return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
    seconds = int(epoch)
    if round((epoch - seconds) * 1e6) >= 1_000_000:  # datetime rounds to the microsecond
        seconds += 1
    local = time.localtime(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + _utc_offset(local.tm_gmtoff)


@functools.lru_cache(maxsize=8)
def _utc_offset(seconds: int) -> str:
    """isoformat's UTC offset: +HH:MM (+HH:MM:SS when not whole minutes)."""
    return datetime(2000, 1, 1, tzinfo=timezone(timedelta(seconds=seconds))).isoformat()[19:]


class CsvAppender:
    """An open CSV file with fixed columns. Rows are dicts; missing cells are empty."""

    def __init__(self, path: Path, columns: list[str], fresh: bool = False):
        self.path = Path(path)
        self.columns = list(columns)
        new = fresh or not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "w" if new else "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(self.columns)
            self._file.flush()

    def write(self, row: dict) -> None:
        self.write_cells([row.get(name) for name in self.columns])

    def write_cells(self, values: list, flush: bool = True) -> None:
        """A row given as its values in column order; with flush=False it stays in the file's
        buffer until `flush` (a writer that adds several rows at a time). A str, int, float or
        None goes to the csv writer as it is: it writes them as cell() would (str(), which is
        repr() for a float; None empty), without a call per cell."""
        self._writer.writerow([value if type(value) in _AS_IS else cell(value)
                               for value in values])
        if flush:
            self._file.flush()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def write_table(path: Path, columns: list[str], rows: list[dict]) -> None:
    """A whole small CSV file at once (e.g. one population), replaced atomically."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    writer = CsvAppender(partial, columns, fresh=True)
    for row in rows:
        writer.write(row)
    writer.close()
    partial.replace(path)


def read_rows(handle) -> list[list[str]]:
    """Every row of an open CSV file, whatever the length of its fields."""
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    return list(csv.reader(handle))
