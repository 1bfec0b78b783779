"""Find and load schemas/hyperparameters.schema.json, the single source of truth of the format.

A wheel (`pip install .`) carries the schema inside the package as improve_hpo/schemas/ (see the
force-include in pyproject.toml); an editable install or a source checkout reads it from the
top-level schemas/ folder of the repository.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

SCHEMA_NAME = "hyperparameters.schema.json"


def schema_location():
    """The schema file: inside the installed package first, else <repository root>/schemas/."""
    try:
        packaged = resources.files("improve_hpo") / "schemas" / SCHEMA_NAME
        if packaged.is_file():
            return packaged
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):  # pragma: no cover
        pass
    repo = Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME
    if repo.is_file():
        return repo
    raise FileNotFoundError(
        f"{SCHEMA_NAME} is neither in the installed package (improve_hpo/schemas/) nor at {repo}: "
        "the installation of improve-hpo is broken"
    )


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The parsed schema (cached)."""
    return json.loads(schema_location().read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def validator():
    """A Draft202012Validator for the schema (cached)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema())


def name_pattern() -> str:
    """The regular expression a parameter name must match (it becomes the flag --name)."""
    return load_schema()["$defs"]["parameter"]["properties"]["name"]["pattern"]
