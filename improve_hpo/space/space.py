"""The Space: an ordered collection of typed parameters and the operations the algorithms use.

A point of the space is a dict {name: value} with keys in file order. All randomness comes from
the `numpy.random.Generator` passed in; nothing here touches global random state.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import Iterable, Iterator

from improve_hpo.errors import UsageError
from improve_hpo.space.parameters import STAGES, Parameter


class Space:
    """A validated hyperparameter space. Build it with load_space / load_space_data."""

    __slots__ = ("parameters", "names", "warnings", "source", "fidelity", "_by_name",
                 "_fingerprint")

    def __init__(
        self,
        parameters: Iterable[Parameter],
        warnings: Iterable[str] = (),
        source: str = "<space>",
        fidelity: str | None = None,
    ):
        self.parameters: tuple[Parameter, ...] = tuple(parameters)
        self.names: tuple[str, ...] = tuple(p.name for p in self.parameters)
        self.warnings: tuple[str, ...] = tuple(warnings)
        self.source: str = source
        # The parameter marked "fidelity": true (docs/fidelity.md), or None; the fingerprint
        # leaves it out (the run's fidelity settings are part of the experiment's identity).
        self.fidelity: str | None = fidelity
        self._by_name = {p.name: p for p in self.parameters}
        if len(self._by_name) != len(self.parameters):
            raise ValueError("parameter names must be unique")
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.parameters)

    def __iter__(self):
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        return self._by_name[name]

    def __repr__(self) -> str:
        return f"Space({self.source!r}, {len(self.parameters)} parameters)"

    # -- the GA's operations -------------------------------------------------------------------
    def sample(self, rng) -> dict:
        """One random point, keys in file order."""
        return {p.name: p.sample(rng) for p in self.parameters}

    def mutate(self, values: dict, indpb: float, rng) -> dict:
        """A copy of `values` in which each gene is mutated with probability `indpb`.

        One uniform draw per parameter (constants included), so the stream of draws depends only
        on the space and the seed.
        """
        out = {}
        for p in self.parameters:
            value = values[p.name]
            if rng.random() < indpb:
                value = p.mutate(value, rng)
            out[p.name] = value
        return out

    def crossover(self, a: dict, b: dict, indpb: float, rng) -> tuple[dict, dict]:
        """Uniform crossover: each gene is swapped between the two children with probability indpb."""
        child_a, child_b = {}, {}
        for name in self.names:
            x, y = a[name], b[name]
            if rng.random() < indpb:
                x, y = y, x
            child_a[name] = x
            child_b[name] = y
        return child_a, child_b

    # -- checking and converting values ------------------------------------------------------------
    def contains(self, values) -> bool:
        """True when `values` has exactly this space's names and every value is in its domain."""
        if not isinstance(values, dict) or len(values) != len(self.parameters):
            return False
        for p in self.parameters:
            if p.name not in values or not p.contains(values[p.name]):
                return False
        return True

    def normalize(self, values: dict) -> dict:
        """`values` in file order with canonical Python types; ValueError when not in the space."""
        unknown = [k for k in values if k not in self._by_name]
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}")
        out = {}
        for p in self.parameters:
            if p.name not in values:
                raise ValueError(f"missing parameter {p.name!r}")
            out[p.name] = p.normalize(values[p.name])
        return out

    def coerce(self, raw: dict, where: str) -> dict:
        """Strings (e.g. a CSV row) -> typed values in file order.

        Raises UsageError naming `where` (e.g. "init.csv row 3") and the column for each problem:
        a value outside its domain, a column the space does not know, or a missing column. A
        missing column of a constant parameter is filled with the constant.
        """
        problems = []
        for column in raw:
            if column not in self._by_name:
                problems.append(
                    f'{where}: column "{column}" is not a parameter of {self.source} '
                    f"(known: {', '.join(self.names)})"
                )
        out = {}
        for p in self.parameters:
            if p.name not in raw or raw[p.name] is None:
                if p.type == "constant":
                    out[p.name] = p.sample(None)
                    continue
                problems.append(f'{where}: column "{p.name}" is missing')
                continue
            text = raw[p.name]
            if not isinstance(text, str):
                try:
                    out[p.name] = p.normalize(text)
                except ValueError as error:
                    problems.append(f'{where}: column "{p.name}": {error}')
                continue
            try:
                out[p.name] = p.parse(text)
            except ValueError as error:
                problems.append(f'{where}: column "{p.name}" ({p.type}): {error}')
        if problems:
            raise UsageError(*problems)
        return out

    def key(self, values: dict) -> str:
        """Canonical JSON of a point (sorted keys, canonical types), so equal points share a key."""
        canon = {}
        for p in self.parameters:
            value = values[p.name]
            try:
                value = p.normalize(value)
            except ValueError:
                if isinstance(value, float):
                    value = value + 0.0
            canon[p.name] = value
        return json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def stage_values(self, values: dict, stage: str) -> dict:
        """The subset of `values` that goes to the `stage` script (preprocess, train or infer)."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
        return {p.name: values[p.name] for p in self.parameters if p.stage == stage}

    # -- the space as a whole ---------------------------------------------------------------
    def to_json(self) -> list[dict]:
        """The normalized space: known keys only, defaults (stage, sigma, use_log_scale) filled in."""
        return [p.to_json() for p in self.parameters]

    def fingerprint(self) -> str:
        """sha256 (hex) of the normalized space; comments and other unknown keys do not count."""
        if self._fingerprint is None:
            text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            self._fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return self._fingerprint

    def size(self) -> int | None:
        """The number of distinct points, or None when a float parameter is not fixed."""
        total = 1
        for p in self.parameters:
            n = p.size()
            if n is None:
                return None
            total *= n
        return total

    def size_text(self) -> str:
        """size() for people: "1,024 points", "about 10^4500 points" or "continuous"; never
        the digits of a number too large to print (Python refuses above 4,300 digits)."""
        size = self.size()
        return "continuous" if size is None else count_text(size, "point")

    def grid(self, points: int) -> Iterator[dict]:
        """Every point of the grid, in lexicographic order of the parameters (file order).

        Floats take `points` levels (linearly or log-spaced, both bounds included; one level, the
        lower bound, when points == 1); ints take every integer when there are at most `points`,
        otherwise `points` levels rounded to integers; the other types take every value.
        """
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise ValueError(f"grid points must be a whole number >= 1, not {points!r}")
        levels = [p.levels(points) for p in self.parameters]
        names = self.names
        for combo in itertools.product(*levels):
            yield dict(zip(names, combo))

    def grid_size(self, points: int) -> int:
        """How many points grid(points) yields."""
        total = 1
        for p in self.parameters:
            total *= len(p.levels(points))
        return total


# Counts up to this many digits are printed in full; larger ones as a power of ten.
_FULL_DIGITS = 15


def count_text(count: int, noun: str) -> str:
    """`count` `noun`s, in words a person reads: "12 points", "1,024 points", "about 10^4500
    points" (exact digits of huge counts say nothing, and cost a huge string)."""
    return f"{number_text(count)} {noun if count == 1 else noun + 's'}"


def number_text(count: int) -> str:
    """1,024, or about 10^4500 for a count of more than 15 digits."""
    if count < 10 ** _FULL_DIGITS:
        return f"{count:,}"
    return f"about 10^{math.floor(math.log10(count))}"
