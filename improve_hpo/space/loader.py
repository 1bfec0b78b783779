"""Read and validate a hyperparameter file; build a Space or raise SpaceError listing every problem.

Validation happens in three steps:

1. the file is read and parsed as JSON (a syntax error names its line and column);
2. jsonschema checks the structure against schemas/hyperparameters.schema.json, and each of its
   errors is translated into a plain sentence;
3. Python checks what a schema cannot express: lower <= upper, positive bounds on a log scale,
   finite numbers, distinct values, distinct names.

Every message names the file and the parameter, as `hp.json: parameter 3 "batch_size": ...`.
Parameters are numbered from 1 in file order (parameter 3 is the third entry of the list).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from improve_hpo.errors import SpaceError
from improve_hpo.space import schema as _schema
from improve_hpo.space import structure
from improve_hpo.space.parameters import (
    DEFAULT_STAGE,
    ELEMENT_TYPES,
    STAGES,
    TYPES,
    Categorical,
    Constant,
    Float,
    Int,
    Logical,
    Ordered,
    format_value,
)
from improve_hpo.space.space import Space

# The keys this format knows; any other key (e.g. "comment") is kept in the file and ignored.
KNOWN_KEYS = ("name", "type", "stage", "value", "lower", "upper", "sigma", "use_log_scale",
              "element_type", "values", "fidelity")
USED_KEYS = {
    "constant": {"value", "fidelity"},
    "int": {"lower", "upper", "sigma", "use_log_scale", "fidelity"},
    "float": {"lower", "upper", "sigma", "use_log_scale"},
    "logical": set(),
    "categorical": {"element_type", "values"},
    "ordered": {"element_type", "values", "sigma"},
}
# The longest string value a model can receive: Linux refuses an argument of more than
# MAX_ARG_STRLEN = 131,072 bytes (NUL included), and "--<name>=" comes before the value.
MAX_VALUE_BYTES = 131_072 - 1 - 2 - 256 - 1
# Int bounds must be exactly representable as floats, so that Gaussian noise can be added to them.
INT_LIMIT = 2**53

_TYPE_WORDS = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a JSON object",
    "null": "null",
}


class _Object(dict):
    """A JSON object that remembers the keys it saw more than once."""

    __slots__ = ("duplicates",)


def _object_pairs(pairs):
    obj = _Object()
    duplicates = []
    for key, value in pairs:
        if key in obj and key not in duplicates:
            duplicates.append(key)
        obj[key] = value
    obj.duplicates = duplicates
    return obj


# -- reading ---------------------------------------------------------------------------------------
def read_json(path, source: str | None = None):
    """Parse the JSON file at `path`; SpaceError (with line and column) when it cannot be read."""
    path = Path(path)
    source = str(path) if source is None else source
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpaceError(f"{source}: file not found; check the path to the hyperparameter file") from None
    except IsADirectoryError:
        raise SpaceError(f"{source}: is a folder, not a hyperparameter file") from None
    except OSError as error:
        raise SpaceError(f"{source}: cannot be read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpaceError(f"{source}: not UTF-8 text (byte {error.start + 1}): not a JSON file") from None
    return parse_json_text(text, source)


def parse_json_text(text: str, source: str):
    """Parse JSON text; SpaceError naming the line and column of a syntax error."""
    if not text.strip():
        raise SpaceError(f"{source}: the file is empty: expected a JSON list of parameters")
    try:
        return json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as error:
        raise SpaceError(
            f"{source}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            + _json_hint(error)
        ) from None
    except RecursionError:
        raise SpaceError(f"{source}: not valid JSON: nested too deeply") from None


def _json_hint(error: json.JSONDecodeError) -> str:
    """A hint for the commonest slip: a comma before a closing bracket (JSON has no trailing commas)."""
    doc, pos = error.doc, error.pos
    if pos < len(doc) and doc[pos] in "]}" and doc[:pos].rstrip().endswith(","):
        return f" (a comma before '{doc[pos]}': JSON does not allow a trailing comma)"
    return ""


def load_space(path) -> Space:
    """Read, validate and build the space in `path`; SpaceError lists every problem."""
    source = str(path)
    return load_space_data(read_json(path, source), source)


# -- describing values in messages ----------------------------------------------------------------------
def _found(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"
        return text
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return "the string " + json.dumps(shown, ensure_ascii=False)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - not a JSON value


def _quote(text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return json.dumps(shown, ensure_ascii=False)


def _expected(types) -> str:
    if isinstance(types, str):
        types = [types]
    types = list(types)
    if types == ["number", "string"]:  # sigma: a string is only tolerated for old files
        return "a number"
    words = [_TYPE_WORDS.get(t, t) for t in types]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _label(source: str, index: int, param) -> str:
    label = f"{source}: parameter {index}"
    if isinstance(param, dict) and isinstance(param.get("name"), str):
        label += " " + _quote(param["name"])
    return label


# -- structural checks: jsonschema, translated ---------------------------------------------------------
def _translate(error, data) -> tuple[int | None, list[str]]:
    """(parameter index from 1 or None for the whole file, plain-word messages) for one error."""
    path = list(error.absolute_path)
    kind = error.validator
    if not path:
        if kind == "type":
            return None, [
                "the file must hold a JSON list of parameters, [{\"name\": ..., \"type\": ...}, ...], "
                f"found {_found(data)}"
            ]
        if kind == "minItems":
            return None, ["the file holds an empty list: define at least one parameter"]
        return None, [error.message]  # pragma: no cover - the schema has no other top-level rule

    index = path[0] + 1
    param = data[path[0]]
    rest = path[1:]
    if not rest:
        if kind == "type":
            return index, [
                f'must be a JSON object such as {{"name": "epochs", "type": "int", ...}}, '
                f"found {_found(param)}"
            ]
        if kind == "required":
            missing = [k for k in error.validator_value if k not in param]
            type_name = param.get("type") if isinstance(param.get("type"), str) else None
            messages = []
            for key in missing:
                if key in ("name", "type"):
                    messages.append(f'missing required key "{key}"')
                else:
                    article = "an" if str(type_name)[:1] in ("a", "e", "i", "o", "u") else "a"
                    messages.append(f'missing required key "{key}" ({article} {type_name} parameter needs it)')
            return index, messages
        return index, [error.message]  # pragma: no cover

    key = rest[0]
    element_type = param.get("element_type") if isinstance(param, dict) else None
    if len(rest) == 1:
        what = f'"{key}"'
    elif key == "values" and len(rest) == 2:
        what = f'value {rest[1] + 1} of "values"'
    else:  # pragma: no cover - the schema does not look deeper
        what = f'"{key}" at ' + "/".join(str(p) for p in rest[1:])
    value = error.instance

    if kind == "type":
        message = f"{what} must be {_expected(error.validator_value)}"
        if key in ("lower", "upper") and error.validator_value == "integer":
            message += " (an int parameter's bounds are integers)"
        if key == "values" and len(rest) == 2:
            message += f" (element_type is {element_type})"
        return index, [f"{message}, found {_found(value)}"]
    if kind == "enum":
        choices = ", ".join(error.validator_value)
        if isinstance(value, str):
            return index, [f'unknown {key} {_quote(value)}: use one of {choices}']
        return index, [f"{what} must be one of {choices}, found {_found(value)}"]
    if kind == "pattern" and key == "name":
        return index, [_bad_name(value)]
    if kind == "minItems" and key == "values":
        return index, ['"values" must not be empty: list at least one value']
    if kind == "exclusiveMinimum":
        return index, [f"{what} must be greater than {error.validator_value}, found {_found(value)}"]
    return index, [f"{what}: {error.message}"]  # pragma: no cover - a rule without a translation


def _bad_name(name: str) -> str:
    return (
        f"the name {_quote(name)} cannot be a command-line flag (--name): use letters, digits, "
        '"_", "-" and "." only, starting with a letter or "_"'
    )


# -- semantic checks: Python ----------------------------------------------------------------------------
class _Checker:
    """Collects the errors and warnings of one parameter and builds it when it is valid."""

    def __init__(self, label: str, param: dict):
        self.label = label
        self.param = param
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, text: str):
        self.errors.append(f"{self.label}: {text}")

    def warn(self, text: str):
        self.warnings.append(f"{self.label}: {text}")

    def finite(self, key: str, value, what: str | None = None):
        """`value` as a finite float, or None after an error."""
        what = what or f'"{key}"'
        try:
            number = float(value)
        except OverflowError:
            self.error(f"{what} is too large: {_found(value)}")
            return None
        if not math.isfinite(number):
            self.error(f"{what} must be a finite number, found {_found(value)}")
            return None
        return number

    def passable(self, what: str, value) -> bool:
        """False (after an error) for a string no command line can carry: one with a NUL byte,
        or longer than Linux lets one argument be (MAX_ARG_STRLEN, 128 KiB with the flag)."""
        if not isinstance(value, str):
            return True
        if "\0" in value:
            self.error(f"{what} holds a NUL byte (\\u0000), which cannot be passed to the model "
                       "as a command-line argument; remove it")
            return False
        if value == "--":
            self.error(f'{what} is "--", which Python\'s argparse (the parser of IMPROVE and '
                       "CANDLE models) never reads as a value (before Python 3.12 it drops it "
                       "even from --name=--); use another word")
            return False
        size = len(value.encode("utf-8", errors="surrogatepass"))
        if size > MAX_VALUE_BYTES:
            self.error(f"{what} is {size:,} bytes long; a command-line argument can hold at "
                       f"most {MAX_VALUE_BYTES:,}: pass a path to a file instead")
            return False
        return True

    def sigma(self):
        """The sigma as given (a number), None when absent or after an error."""
        if "sigma" not in self.param:
            return None
        value = self.param["sigma"]
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                self.error(f'"sigma" must be a number, found {_found(value)}')
                return None
            if not math.isfinite(number) or number <= 0:
                self.error(f'"sigma" must be a finite number greater than 0, found {_found(value)}')
                return None
            self.warn(f'"sigma" is {_found(value)}; read as the number {number!r} (write it without quotes)')
            return number
        number = self.finite("sigma", value)
        if number is None:
            return None
        if number <= 0:
            self.error(f'"sigma" must be greater than 0, found {_found(value)}')
            return None
        return value

    def build(self, index: int):
        p = self.param
        kind = p["type"]
        name = p["name"]
        stage = p.get("stage", DEFAULT_STAGE)
        for key in KNOWN_KEYS:
            if key in p and key not in ("name", "type", "stage", "fidelity") \
                    and key not in USED_KEYS[kind]:
                self.warn(f'"{key}" is not used by a {kind} parameter; ignored')
        if p.get("fidelity") and not self._fidelity_ok(kind):
            return None
        if kind == "constant":
            value = p["value"]
            if isinstance(value, float) and self.finite("value", value) is None:
                return None
            if not self.passable('"value"', value):
                return None
            return Constant(name, value, stage=stage)
        if kind == "logical":
            return Logical(name, stage=stage)
        if kind in ("int", "float"):
            return self._range(kind, name, stage)
        return self._choices(kind, name, stage)

    def _fidelity_ok(self, kind) -> bool:
        """"fidelity": true marks the training budget (usually epochs) that successive halving
        and early stopping act on (docs/fidelity.md): a whole number of at least 1 that train.sh
        receives."""
        p = self.param
        value = p.get("value")
        if kind == "int" and isinstance(p.get("lower"), (int, float)) and p["lower"] >= 1 \
                and p.get("stage", DEFAULT_STAGE) == "train":
            return True
        if kind == "constant" and isinstance(value, int) and not isinstance(value, bool) \
                and value >= 1 and p.get("stage", DEFAULT_STAGE) == "train":
            return True
        self.error('"fidelity": only a train-stage int parameter with lower >= 1 (or an integer '
                   "constant >= 1), such as epochs, can be the fidelity; remove the key or "
                   "mark the epochs parameter")
        return False

    def _range(self, kind, name, stage):
        p = self.param
        log = p.get("use_log_scale", False)
        bounds = []
        for key in ("lower", "upper"):
            value = p[key]
            if kind == "int":
                if isinstance(value, float):
                    value = int(value)  # the schema let through only integral floats such as 200.0
                if abs(value) > INT_LIMIT:
                    self.error(f'"{key}" is too large: int bounds must lie within +/-{INT_LIMIT}, '
                               f"found {_found(value)}")
                    value = None
            else:
                value = self.finite(key, value)
            bounds.append(value)
        sigma = self.sigma()
        lower, upper = bounds
        if lower is None or upper is None:
            return None
        ok = True
        if lower > upper:
            self.error(f"lower ({_found(p['lower'])}) is greater than upper ({_found(p['upper'])})")
            ok = False
        if log and lower <= 0:
            self.error(f"use_log_scale needs lower > 0 (the logarithm of {format_value(lower)} "
                       "is undefined)")
            ok = False
        if kind == "float" and ok and not math.isfinite(upper - lower):
            self.error(f"the range from lower to upper is too large ({format_value(lower)} to "
                       f"{format_value(upper)})")
            ok = False
        if not ok or sigma is None and "sigma" in p:
            return None
        if lower == upper:
            self.warn(f"lower equals upper ({_found(p['lower'])}): the parameter is fixed at that value")
        cls = Int if kind == "int" else Float
        return cls(name, lower, upper, sigma=sigma, use_log_scale=log, stage=stage)

    def _choices(self, kind, name, stage):
        p = self.param
        element_type = p["element_type"]
        values = []
        first_seen: dict = {}
        for position, value in enumerate(p["values"], start=1):
            what = f'value {position} of "values"'
            if element_type == "int":
                value = int(value)
            elif element_type == "float":
                value = self.finite("values", value, what)
                if value is None:
                    continue
                value += 0.0
            if not self.passable(what, value):
                continue
            key = (type(value).__name__, value)
            if key in first_seen:
                self.error(f'"values" lists {_found(value)} more than once '
                           f"(values {first_seen[key]} and {position}): values must be distinct")
                continue
            first_seen[key] = position
            values.append(value)
        ok = len(values) == len(p["values"])
        sigma = self.sigma() if kind == "ordered" else None
        if not ok or sigma is None and kind == "ordered" and "sigma" in p:
            return None
        if len(values) == 1:
            self.warn(f'"values" has a single value ({format_value(values[0])}): the parameter is fixed')
        if kind == "ordered":
            return Ordered(name, element_type, values, sigma=sigma, stage=stage)
        return Categorical(name, element_type, values, stage=stage)


def _argparse_dest(name: str) -> str:
    return name.replace("-", "_")


def load_space_data(data, source: str = "<space>") -> Space:
    """Validate an already-parsed JSON value and build its Space; SpaceError lists every problem."""
    source = str(source)
    by_index: dict[int | None, list[str]] = {}
    for error in structure.iter_errors(data):
        index, messages = _translate(error, data)
        bucket = by_index.setdefault(index, [])
        for message in messages:
            if message not in bucket:
                bucket.append(message)
    if None in by_index:  # the file is not a non-empty list: nothing more to say
        raise SpaceError(*(f"{source}: {m}" for m in by_index[None]))

    name_re = re.compile(_schema.name_pattern())
    errors: list[str] = []
    warnings: list[str] = []
    parameters = []
    seen_names: dict[str, tuple[int, str]] = {}
    seen_dests: dict[str, tuple[int, str]] = {}
    fidelity: list[tuple[int, str]] = []  # the parameters marked "fidelity": true
    for position, param in enumerate(data):
        index = position + 1
        label = _label(source, index, param)
        checker = _Checker(label, param)
        if isinstance(param, _Object) and param.duplicates:
            keys = ", ".join(f'"{k}"' for k in param.duplicates)
            checker.error(f"key {keys} appears more than once; write each key once")
        for message in by_index.get(index, []):
            checker.error(message)
        name = param.get("name") if isinstance(param, dict) else None
        if isinstance(name, str) and name_re.search(name) and not name_re.fullmatch(name):
            checker.error(_bad_name(name))  # a trailing newline slips past the schema's "$"
        if isinstance(name, str):
            if name in seen_names:
                other, _ = seen_names[name]
                checker.error(f"the name {_quote(name)} is already used by parameter {other}; "
                              "names must be distinct")
            else:
                seen_names[name] = (index, name)
                dest = _argparse_dest(name)
                if dest in seen_dests:
                    other, other_name = seen_dests[dest]
                    checker.error(
                        f"the name {_quote(name)} clashes with parameter {other} {_quote(other_name)}: "
                        f"the model's argument parser reads both as {dest}"
                    )
                else:
                    seen_dests[dest] = (index, name)
        parameter = None
        if index not in by_index:  # the structure is right: check the meaning
            parameter = checker.build(index)
            if param.get("fidelity") is True:
                if fidelity:
                    checker.error(f'"fidelity": parameter {fidelity[0][0]} '
                                  f"{_quote(fidelity[0][1])} is the fidelity already; mark "
                                  "one parameter only")
                fidelity.append((index, name))
        errors.extend(checker.errors)
        warnings.extend(checker.warnings)
        if parameter is not None:
            parameters.append(parameter)
    if errors:
        raise SpaceError(*errors)
    return Space(parameters, warnings=warnings, source=source,
                 fidelity=fidelity[0][1] if fidelity else None)


__all__ = ["load_space", "load_space_data", "read_json", "parse_json_text", "KNOWN_KEYS",
           "STAGES", "ELEMENT_TYPES", "TYPES"]
