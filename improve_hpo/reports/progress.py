"""The progress line: one whole, flushed line on stderr per generation, readable in a Slurm log.

    improve-hpo: generation 3/10: 10 evaluations (2 reused, 1 failed), best 0.1234, mean 0.2345,
    elapsed 0:01:23, left ~0:05:00
(on one line). The time left extrapolates this session's pace per generation.
"""

from __future__ import annotations

import sys
from datetime import timedelta


def clock(seconds: float) -> str:
    return str(timedelta(seconds=round(max(seconds, 0.0))))


def progress_line(row: dict, total_generations: int | None, session_generations: int,
                  session_seconds: float) -> str:
    number = row["generation"]
    of = f"/{total_generations - 1}" if total_generations else ""
    parts = [f"improve-hpo: generation {number}{of}: {row['evaluations']} evaluations "
             f"({row['reused']} reused, {row['failures']} failed)",
             f"best {_number(row.get('best_so_far'))}", f"mean {_number(row.get('mean'))}",
             f"elapsed {clock(row['elapsed_s'])}"]
    if total_generations and session_generations:
        left = total_generations - number - 1
        parts.append(f"left ~{clock(session_seconds / session_generations * left)}")
    return ", ".join(parts)


def _number(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def print_progress(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
