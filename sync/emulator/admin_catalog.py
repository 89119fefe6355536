"""The emulator's controls that change its catalog's categories and stock, for a test or a user
driving an emulator in another process (``accs-sync emulator``)::

    POST   /_emulator/source-items                  {"sku", "source_code", "quantity", "status"?}
    DELETE /_emulator/source-items/{source}/{sku}   unassign the sku from the source
    POST   /_emulator/categories                    {"name", "parent_id"?, "position"?, ...}
    POST   /_emulator/categories/{id}               {"name"?, "store"?, "is_active"?, ...}
    POST   /_emulator/categories/{id}/move          {"parent_id", "after_id"?}
    DELETE /_emulator/categories/{id}               the category and its subtree

Each answers what changed, as the ACCS endpoints would show it; an unknown category or SKU is a
404, a bad body a 400. They do what the Python methods of :class:`.catalog.Catalog` do, with
the same effects on ``updated_at`` (see :mod:`.catalog_resources`).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from sync.emulator.catalog import Catalog
from sync.emulator.inventory import render_source_item
from sync.emulator.response import Response, json_response

__all__ = ["catalog_response", "is_catalog_route"]

_SOURCE_ITEMS = re.compile(r"^/source-items(?:/(?P<source>[^/]+)/(?P<sku>[^/]+))?$")
_CATEGORIES = re.compile(r"^/categories(?:/(?P<id>\d+)(?P<move>/move)?)?$")


def is_catalog_route(route: str) -> bool:
    """Whether ``route`` (the path after ``/_emulator``) is one of this module's."""
    return bool(_SOURCE_ITEMS.match(route) or _CATEGORIES.match(route))


def catalog_response(method: str, route: str, body: bytes, catalog: Catalog) -> Response:
    """Apply one change; the answer says what it did, or why it did not."""
    try:
        values = json.loads(body) if body.strip() else {}
        if not isinstance(values, dict):
            raise ValueError("the body must be a JSON object")
        return json_response(200, _apply(method, route, values, catalog))
    except KeyError as exc:
        return json_response(404, {"message": str(exc.args[0] if exc.args else exc)})
    except _WrongMethod as exc:
        allowed = str(exc)
        return json_response(405, {"message": f"accepts {allowed}"}, (("Allow", allowed),))
    except (ValueError, TypeError) as exc:
        return json_response(400, {"message": str(exc)})


class _WrongMethod(Exception):
    """The route exists, the method does not; the message is the allowed methods."""


def _apply(method: str, route: str, values: dict[str, Any], catalog: Catalog) -> Any:
    items = _SOURCE_ITEMS.match(route)
    if items is not None:
        if items.group("sku") is None:
            _allow(method, "POST")
            return render_source_item(catalog.set_source_item(**values))
        _allow(method, "DELETE")
        sku, source = unquote(items.group("sku")), unquote(items.group("source"))
        catalog.remove_source_item(sku, source)
        return {"sku": sku, "source_code": source, "removed": True}
    found = _CATEGORIES.match(route)
    assert found is not None  # is_catalog_route() was true
    if found.group("id") is None:
        _allow(method, "POST")
        return catalog.create_category(**values)
    cid = int(found.group("id"))
    if found.group("move"):
        _allow(method, "POST")
        return catalog.move_category(cid, **values)
    _allow(method, "POST, DELETE")
    if method == "DELETE":
        return {"deleted": catalog.delete_category(cid)}
    return catalog.update_category(cid, **values)


def _allow(method: str, allowed: str) -> None:
    if method not in allowed.split(", "):
        raise _WrongMethod(allowed)
