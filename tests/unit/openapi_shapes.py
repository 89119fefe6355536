"""Check emulator answers against Adobe's ACCS OpenAPI (Swagger 2.0) schema, when it is at hand.

The schema is reference data shared with the project, not part of it: tests that need it skip
with a reason when it is absent. Checked: required properties, JSON types, and that an answer
has no property the schema does not define (an object defined without properties is open).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

SCHEMA = Path("/work/shared/data/magento-rest-schema/accs-schema.yaml")

_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


@functools.cache
def _load() -> dict[str, Any]:
    import yaml

    with SCHEMA.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


def schema() -> dict[str, Any]:
    if not SCHEMA.is_file():
        pytest.skip(f"Adobe's ACCS OpenAPI schema is not at {SCHEMA}")
    return _load()


def response_ref(path: str, status: str = "200") -> str:
    """The definition name a GET of ``path`` answers with at ``status``."""
    responses = schema()["paths"][path]["get"]["responses"]
    ref: str = responses.get(status, responses.get("default"))["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def problems(value: Any, definition: str) -> list[str]:
    """Everything in ``value`` that breaks ``definition`` (empty: it conforms)."""
    out: list[str] = []
    _check(value, {"$ref": f"#/definitions/{definition}"}, "$", out)
    return out


def _check(value: Any, node: dict[str, Any], where: str, out: list[str]) -> None:
    if "$ref" in node:
        node = schema()["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    kind = node.get("type")
    if kind is not None:
        wanted = _TYPES[kind]
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
            out.append(f"{where}: {type(value).__name__} where the schema says {kind}")
            return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, node.get("items", {}), f"{where}[{i}]", out)
    elif isinstance(value, dict):
        for name in node.get("required", ()):
            if name not in value:
                out.append(f"{where}: required {name!r} missing")
        properties = node.get("properties")
        if properties is None:
            return
        for name, item in value.items():
            if name not in properties:
                out.append(f"{where}: {name!r} is not in the schema")
            else:
                _check(item, properties[name], f"{where}.{name}", out)
