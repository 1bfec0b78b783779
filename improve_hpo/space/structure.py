"""The structural check of a space (jsonschema), in time linear in the number of parameters.

jsonschema costs about a millisecond per parameter (its validator walks every `if`/`then` and
`$ref` of the schema for each one), so a space of 10,000 parameters took a minute. Parameters of
a large space mostly share a few shapes, so each parameter is reduced to its *shape*, what the
schema can tell apart (`shape`), and a shape the schema accepted once is accepted again without
asking it. Every error still comes from jsonschema itself, with the same paths as a validation
of the whole file: a parameter whose shape was not seen valid is validated by it.

The shape keeps: every key; the JSON type of every value; the strings the schema compares with
enums or constants (type, stage, element_type); whether a name matches the name pattern; the
sign of numbers (exclusiveMinimum) and whether they are whole (the "integer" type); for a list,
whether it is empty and the set of its elements' shapes. tests/test_space_structure.py checks
that the shortcut agrees with jsonschema on the real spaces and on fuzzed parameters.
"""

from __future__ import annotations

import re

from improve_hpo.space import schema as _schema

# String values the schema compares with enums or constants: they stay in the shape verbatim.
_ENUM_KEYS = ("type", "stage", "element_type")


def iter_errors(data):
    """jsonschema's errors for `data` (the parsed file); each error's `absolute_path` starts
    with the parameter's index, as jsonschema gives it for the whole file."""
    validator = _schema.validator()
    if not isinstance(data, list) or not data:
        yield from validator.iter_errors(data)
        return
    items = validator.evolve(schema=_schema.load_schema()["items"])
    name = re.compile(_schema.name_pattern())
    valid_shapes = set()
    for index, parameter in enumerate(data):
        key = shape(parameter, name)
        if key in valid_shapes:
            continue
        found = False
        for error in items.iter_errors(parameter):
            error.path.appendleft(index)
            found = True
            yield error
        if not found:
            valid_shapes.add(key)


def shape(value, name_pattern, key: str | None = None):
    """What the schema can tell apart about `value` (see the module's doc); hashable."""
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, shape(v, name_pattern, k)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", bool(value), frozenset(shape(v, name_pattern) for v in value))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        whole = isinstance(value, int) or value.is_integer()
        return ("number", type(value).__name__, whole, (value > 0) - (value < 0))
    if isinstance(value, str):
        if key in _ENUM_KEYS:
            return ("string", value)
        if key == "name":
            return ("string", "name", name_pattern.search(value) is not None)
        return ("string",)
    return ("other", type(value).__name__)
