"""The hyperparameter space: the file format, its validation, and the typed Space the algorithms use.

    from improve_hpo.space import load_space
    space = load_space("hp.json")          # SpaceError (exit 2) lists every problem
    point = space.sample(rng)              # rng: numpy.random.Generator

See docs/space.md for the format and the semantics of each type.
"""

from improve_hpo.space.loader import load_space, load_space_data, read_json
from improve_hpo.space.parameters import (
    ELEMENT_TYPES,
    STAGES,
    TYPES,
    Categorical,
    Constant,
    Float,
    Int,
    Logical,
    Ordered,
    Parameter,
)
from improve_hpo.space.schema import load_schema, schema_location
from improve_hpo.space.space import Space

__all__ = [
    "load_space",
    "load_space_data",
    "read_json",
    "Space",
    "Parameter",
    "Constant",
    "Int",
    "Float",
    "Logical",
    "Categorical",
    "Ordered",
    "TYPES",
    "STAGES",
    "ELEMENT_TYPES",
    "load_schema",
    "schema_location",
]
