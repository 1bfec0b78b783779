"""Typed parameters: one class per `type` of the hyperparameter file.

Each parameter samples, mutates, checks and parses values of its own domain. Every random draw
comes from the `numpy.random.Generator` passed in; values are plain Python objects (`int`,
`float`, `bool`, `str`), never numpy scalars, so that they JSON-serialize and print cleanly.

These classes trust their arguments: the loader (`improve_hpo.space.loader`) validates a file
before it builds them. The exact semantics are documented in docs/space.md.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

STAGES = ("preprocess", "train", "infer")
DEFAULT_STAGE = "train"
ELEMENT_TYPES = ("int", "float", "string", "logical")

_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_value(value) -> str:
    """A value as the user wrote it in JSON: true/false, numbers via repr, strings bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not true or false")


def parse_int(text: str) -> int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(number)


def parse_float(text: str) -> float:
    try:
        number = float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    return number + 0.0  # -0.0 -> 0.0


class Parameter:
    """One hyperparameter. Subclasses set `type` and implement the domain operations."""

    __slots__ = ("name", "stage")
    type = ""

    def __init__(self, name: str, stage: str = DEFAULT_STAGE):
        self.name = name
        self.stage = stage

    # -- the domain -------------------------------------------------------------------------
    def sample(self, rng) -> Any:
        raise NotImplementedError

    def mutate(self, value, rng, scale: float = 1.0, weights=None) -> Any:
        """A new value near `value`; it differs from `value` whenever the domain allows it.

        `scale` multiplies the mutation step (sigma) of int, float and ordered parameters;
        `weights` (one per value) make a categorical mutation prefer some values. The GA's
        adaptive operators (improve_hpo/ga/adaptive.py) set them; with the defaults the draws
        are those of the classic operators.
        """
        raise NotImplementedError

    def contains(self, value) -> bool:
        raise NotImplementedError

    def normalize(self, value) -> Any:
        """`value` in its canonical Python type (e.g. 3 -> 3.0 for a float parameter).

        Raises ValueError when the value is not in the domain.
        """
        if not self.contains(value):
            raise ValueError(f"{format_value(value)} is not in the domain {self.domain()}")
        return value

    def parse(self, text: str) -> Any:
        """A string (a CSV cell) -> a typed value in the domain; ValueError in plain words."""
        raise NotImplementedError

    def size(self) -> int | None:
        """The number of values, None when continuous."""
        raise NotImplementedError

    def levels(self, points: int) -> list:
        """The values a grid search visits."""
        raise NotImplementedError

    # -- description -------------------------------------------------------------------------
    @property
    def fixed(self) -> bool:
        return self.size() == 1

    def domain(self) -> str:
        raise NotImplementedError

    def scale(self) -> str:
        return ""

    def sigma_text(self) -> str:
        return ""

    def to_json(self) -> dict:
        raise NotImplementedError

    def _head(self) -> dict:
        return {"name": self.name, "type": self.type, "stage": self.stage}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))


class Constant(Parameter):
    """Always `value` (a string, number or boolean, kept in its JSON type)."""

    __slots__ = ("value",)
    type = "constant"

    def __init__(self, name, value, stage=DEFAULT_STAGE):
        super().__init__(name, stage)
        self.value = value

    def sample(self, rng):
        return self.value

    def mutate(self, value, rng, scale=1.0, weights=None):
        return self.value

    def contains(self, value) -> bool:
        return (
            isinstance(value, bool) == isinstance(self.value, bool)
            and isinstance(value, str) == isinstance(self.value, str)
            and value == self.value
        )

    def normalize(self, value):
        if not self.contains(value):
            raise ValueError(f"{format_value(value)} is not the constant {format_value(self.value)}")
        return self.value

    def parse(self, text: str):
        target = self.value
        if isinstance(target, str):
            value = text
        elif isinstance(target, bool):
            value = parse_bool(text)
        elif isinstance(target, int):
            value = parse_int(text)
        else:
            value = parse_float(text)
        if value != target:
            raise ValueError(f"{text!r} is not the constant {format_value(target)}")
        return target

    def size(self):
        return 1

    def levels(self, points):
        return [self.value]

    def domain(self):
        text = format_value(self.value)
        return f'"{text}"' if isinstance(self.value, str) else text

    def to_json(self):
        return {**self._head(), "value": self.value}


class _Range(Parameter):
    """Shared by int and float: bounds, a Gaussian mutation width and a linear or log10 scale."""

    __slots__ = ("lower", "upper", "sigma", "use_log_scale", "_lo", "_hi")

    def scale(self):
        return "log" if self.use_log_scale else "linear"

    def sigma_text(self):
        return f"{self.sigma:.6g}" + (" decades" if self.use_log_scale else "")

    def parse(self, text):
        value = self._parse_number(text)
        if not self.lower <= value <= self.upper:
            bounds = f"[{format_value(self.lower)}, {format_value(self.upper)}]"
            raise ValueError(f"{format_value(value)} is outside {bounds}")
        return value

    def _noise(self, rng, scale):
        """A mutation's move on the parameter's scale: N(0, sigma x scale), 0 for a zero step."""
        sigma = self.sigma * scale
        return float(rng.normal(0.0, sigma)) if sigma > 0 else 0.0

    def _spaced_levels(self, points, to_value):
        """`points` evenly spaced levels (log-spaced on a log scale), both bounds included."""
        if points == 1:
            return [self.lower]
        step = (self._hi - self._lo) / (points - 1)
        raw = [self._lo + i * step for i in range(points)]
        if self.use_log_scale:
            raw = [10.0**y for y in raw]
        values = [min(self.upper, max(self.lower, to_value(x))) for x in raw]
        values[0], values[-1] = self.lower, self.upper
        return sorted(set(values))

    def to_json(self):
        return {
            **self._head(),
            "lower": self.lower,
            "upper": self.upper,
            "sigma": self.sigma,
            "use_log_scale": self.use_log_scale,
        }


class Int(_Range):
    """Integers in [lower, upper].

    Linear scale: every integer equally likely; mutation adds N(0, sigma) noise, rounds away from
    zero to at least one step and clips. Log scale: a log-uniform draw on [lower, upper + 1)
    rounded down, so integer k has weight log10((k + 1) / k); mutation adds the noise to
    log10(value) (sigma in decades), rounds, and again moves at least one step.
    If clipping leaves the value unchanged (it sat on a bound), the step goes the other way.
    """

    __slots__ = ("_span",)
    type = "int"

    def __init__(self, name, lower, upper, sigma=None, use_log_scale=False, stage=DEFAULT_STAGE):
        super().__init__(name, stage)
        self.lower, self.upper = int(lower), int(upper)
        self.use_log_scale = bool(use_log_scale)
        self._span = self.upper - self.lower
        if self.use_log_scale:
            self._lo, self._hi = math.log10(self.lower), math.log10(self.upper)
            default = (self._hi - self._lo) / 10
        else:
            self._lo, self._hi = float(self.lower), float(self.upper)
            default = self._span / 10
        self.sigma = float(sigma) if sigma is not None else (default or 1.0)

    def sample(self, rng):
        lo, hi = self.lower, self.upper
        if lo == hi:
            return lo
        if not self.use_log_scale:
            return int(rng.integers(lo, hi + 1))
        x = 10.0 ** float(rng.uniform(math.log10(lo), math.log10(hi + 1)))
        return min(hi, max(lo, int(math.floor(x))))

    def mutate(self, value, rng, scale=1.0, weights=None):
        lo, hi = self.lower, self.upper
        if lo == hi:
            return lo
        noise = self._noise(rng, scale)
        if self.use_log_scale:
            y = min(self._hi, max(self._lo, math.log10(value) + noise))
            step = int(round(10.0**y)) - value
        else:
            span = self._span
            step = int(round(min(span, max(-span, noise))))
        if step == 0:
            step = -1 if noise < 0 else 1
        new = min(hi, max(lo, value + step))
        if new == value:
            new = min(hi, max(lo, value - step))
        return new

    def contains(self, value):
        return _is_int(value) and self.lower <= value <= self.upper

    def normalize(self, value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super().normalize(value)

    _parse_number = staticmethod(parse_int)

    def size(self):
        return self._span + 1

    def levels(self, points):
        if self._span + 1 <= points:
            return list(range(self.lower, self.upper + 1))
        return self._spaced_levels(points, lambda x: int(round(x)))

    def domain(self):
        return f"{self.lower} .. {self.upper}"


class Float(_Range):
    """Floats in [lower, upper]: uniform (or log-uniform); mutation adds N(0, sigma) and clips."""

    __slots__ = ()
    type = "float"

    def __init__(self, name, lower, upper, sigma=None, use_log_scale=False, stage=DEFAULT_STAGE):
        super().__init__(name, stage)
        self.lower, self.upper = float(lower) + 0.0, float(upper) + 0.0
        self.use_log_scale = bool(use_log_scale)
        if self.use_log_scale:
            self._lo, self._hi = math.log10(self.lower), math.log10(self.upper)
        else:
            self._lo, self._hi = self.lower, self.upper
        self.sigma = float(sigma) if sigma is not None else ((self._hi - self._lo) / 10 or 1.0)

    def sample(self, rng):
        lo, hi = self.lower, self.upper
        if lo == hi:
            return lo
        x = float(rng.uniform(self._lo, self._hi))
        if self.use_log_scale:
            x = 10.0**x
        return min(hi, max(lo, x)) + 0.0

    def mutate(self, value, rng, scale=1.0, weights=None):
        lo, hi = self.lower, self.upper
        if lo == hi:
            return lo
        noise = self._noise(rng, scale)
        if self.use_log_scale:
            x = 10.0 ** min(self._hi, max(self._lo, math.log10(value) + noise))
        else:
            x = value + noise
        return min(hi, max(lo, x)) + 0.0

    def contains(self, value):
        return _is_number(value) and self.lower <= value <= self.upper

    def normalize(self, value):
        value = super().normalize(value)
        return float(value) + 0.0

    _parse_number = staticmethod(parse_float)

    def size(self):
        return 1 if self.lower == self.upper else None

    def levels(self, points):
        if self.lower == self.upper:
            return [self.lower]
        return self._spaced_levels(points, lambda x: x + 0.0)

    def domain(self):
        return f"[{self.lower!r}, {self.upper!r}]"


class Logical(Parameter):
    """True or False: a fair coin; mutation flips."""

    __slots__ = ()
    type = "logical"

    def sample(self, rng):
        return bool(rng.random() < 0.5)

    def mutate(self, value, rng, scale=1.0, weights=None):
        return not value

    def contains(self, value):
        return isinstance(value, bool)

    def parse(self, text):
        return parse_bool(text)

    def size(self):
        return 2

    def levels(self, points):
        return [False, True]

    def domain(self):
        return "true | false"

    def to_json(self):
        return self._head()


def _element_ok(element_type: str, value) -> bool:
    if element_type == "string":
        return isinstance(value, str)
    if element_type == "logical":
        return isinstance(value, bool)
    if element_type == "int":
        return _is_int(value)
    return _is_number(value)


class Categorical(Parameter):
    """One of `values`: uniform choice; mutation picks a different value uniformly (or in
    proportion to the weights the GA's adaptive operators learned)."""

    __slots__ = ("element_type", "values", "_index")
    type = "categorical"

    _separator = " | "  # between values in `domain()`; ordered shows its order with " < "

    def __init__(self, name, element_type, values, stage=DEFAULT_STAGE):
        super().__init__(name, stage)
        self.element_type = element_type
        self.values = tuple(values)
        # Lookup by value; the element type is checked first, so True never matches 1.
        self._index = {v: i for i, v in enumerate(self.values)}

    def index(self, value) -> int:
        """The position of `value` in `values`; ValueError when absent."""
        if _element_ok(self.element_type, value):
            i = self._index.get(value)
            if i is not None:
                return i
        raise ValueError(f"{format_value(value)} is not one of {self.domain()}")

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]

    def mutate(self, value, rng, scale=1.0, weights=None):
        if len(self.values) == 1:
            return self.values[0]
        try:
            i = self.index(value)
        except ValueError:
            return self.sample(rng)
        return self.values[self._moved_index(i, rng, scale, weights)]

    def _moved_index(self, i, rng, scale=1.0, weights=None) -> int:
        """Any other index: each equally likely, or in proportion to `weights`."""
        if weights is not None:
            others = [w if j != i else 0.0 for j, w in enumerate(weights)]
            total = sum(others)
            if total > 0:
                cumulative = itertools.accumulate(w / total for w in others)
                draw = float(rng.random())
                last = max(j for j, w in enumerate(others) if w > 0)
                return next((j for j, c in enumerate(cumulative) if draw < c and others[j] > 0),
                            last)
        j = int(rng.integers(len(self.values) - 1))
        return j + 1 if j >= i else j

    def contains(self, value):
        return _element_ok(self.element_type, value) and value in self._index

    def normalize(self, value):
        return self.values[self.index(value)]

    def parse(self, text):
        et = self.element_type
        if et == "string":
            value = text
        elif et == "logical":
            value = parse_bool(text)
        elif et == "int":
            value = parse_int(text)
        else:
            value = parse_float(text)
        return self.values[self.index(value)]

    def size(self):
        return len(self.values)

    def levels(self, points):
        return list(self.values)

    def domain(self):
        show = (lambda v: f'"{v}"') if self.element_type == "string" else format_value
        return self._separator.join(show(v) for v in self.values)

    def to_json(self):
        return {**self._head(), "element_type": self.element_type, "values": list(self.values)}


class Ordered(Categorical):
    """One of `values`, in order: uniform choice; mutation moves the index by n steps.

    n is drawn uniformly from 1..max(1, floor(sigma * scale)), the direction is a fair coin, and the index
    is clipped at the ends; when clipping leaves the value unchanged (it sat on the end it was
    pushed towards), the step goes the other way.
    """

    __slots__ = ("sigma", "_steps")
    type = "ordered"
    _separator = " < "

    def __init__(self, name, element_type, values, sigma=None, stage=DEFAULT_STAGE):
        super().__init__(name, element_type, values, stage)
        self.sigma = 1 if sigma is None else sigma
        self._steps = max(1, int(self.sigma))

    def _moved_index(self, i, rng, scale=1.0, weights=None) -> int:
        last = len(self.values) - 1
        most = self._steps if scale == 1.0 else max(1, int(self.sigma * scale))
        steps = int(rng.integers(1, most + 1)) if most > 1 else 1
        if rng.random() < 0.5:
            steps = -steps
        j = min(last, max(0, i + steps))
        if j == i:
            j = min(last, max(0, i - steps))
        return j

    def sigma_text(self):
        return f"{self._steps} step" + ("s" if self._steps > 1 else "")

    def to_json(self):
        return {**super().to_json(), "sigma": self.sigma}


TYPES = {
    "constant": Constant,
    "int": Int,
    "float": Float,
    "logical": Logical,
    "categorical": Categorical,
    "ordered": Ordered,
}
