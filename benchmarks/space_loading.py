"""Space loading time against the number of parameters (issue 11: linear, 10,000 parameters
fast). Generates spaces of float, int, categorical and ordered parameters in turn and times
`load_space` on each, in one process (compare the ratio, the machine is shared):

    nice -n 10 .venv/bin/python benchmarks/space_loading.py 1000 10000
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from improve_hpo.space import load_space

SHAPES = (
    {"type": "float", "lower": 0, "upper": 1},
    {"type": "int", "lower": 0, "upper": 100},
    {"type": "categorical", "element_type": "string", "values": ["a", "b", "c"]},
    {"type": "ordered", "element_type": "int", "values": [1, 2, 4, 8]},
)


def space_file(folder: Path, count: int) -> Path:
    path = folder / f"hp-{count}.json"
    path.write_text(json.dumps([{"name": f"p{i}", **SHAPES[i % len(SHAPES)]}
                                for i in range(count)]))
    return path


def main(counts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        load_space(space_file(Path(folder), 10))  # imports and schema out of the timing
        for count in counts:
            path = space_file(Path(folder), count)
            start = time.perf_counter()
            load_space(path)
            print(f"{count} parameters: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 10000])
