"""The emulator's controls that change its catalog's products, categories, stock and product
attributes, for a test or a user driving an emulator in another process
(``accs-sync emulator``)::

    POST   /_emulator/products                      {"sku", "id"?, "name"?, "price"?, ...}
    PATCH  /_emulator/products/{sku}                {"price"?, ..., "updated_at"?, "store"?}
                                                    (PUT and POST do the same)
    DELETE /_emulator/products/{sku}                the product and its source items
    POST   /_emulator/source-items                  {"sku", "source_code", "quantity", "status"?}
    DELETE /_emulator/source-items/{source}/{sku}   unassign the sku from the source
    POST   /_emulator/categories                    {"name", "parent_id"?, "position"?, ...}
    POST   /_emulator/categories/{id}               {"name"?, "store"?, "is_active"?, ...}
    POST   /_emulator/categories/{id}/move          {"parent_id", "after_id"?}
    DELETE /_emulator/categories/{id}               the category and its subtree
    POST   /_emulator/attributes/{code}/options/{id} {"label", "store"?}: relabel an option
    DELETE /_emulator/attributes/{code}/options/{id} remove an option
    DELETE /_emulator/attributes/{code}             the attribute, and its values from products
    POST   /_emulator/stores                        {"code", "name"?, "is_active"?}: a store view
    DELETE /_emulator/stores/{code}                 the store view (no longer listed nor answered)

Each answers what changed, as the ACCS endpoints would show it; an unknown category, SKU or
attribute is a 404 (an unknown option a 400), a bad body a 400 (and nothing changes). They do
what the Python methods of :class:`.catalog.Catalog` do (``create``, ``update``, ``delete``,
``set_source_item``, ``remove_attribute_option``, ...), with the same effects on
``updated_at``: a product change is a save in Magento and moves it to now unless the body gives
one; a stock move or an attribute change does not move it (see :mod:`.catalog_resources`).
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
_PRODUCTS = re.compile(r"^/products(?:/(?P<sku>[^/]+))?$")
_ATTRIBUTES = re.compile(r"^/attributes/(?P<code>[^/]+)(?:/options/(?P<option>\d+))?$")
_STORES = re.compile(r"^/stores(?:/(?P<code>[^/]+))?$")
_STAMPS = ("created_at", "updated_at")


def is_catalog_route(route: str) -> bool:
    """Whether ``route`` (the path after ``/_emulator``) is one of this module's."""
    return any(
        p.match(route) for p in (_SOURCE_ITEMS, _CATEGORIES, _PRODUCTS, _ATTRIBUTES, _STORES)
    )


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
    except (ValueError, TypeError, AttributeError) as exc:
        return json_response(400, {"message": str(exc)})


class _WrongMethod(Exception):
    """The route exists, the method does not; the message is the allowed methods."""


def _apply(method: str, route: str, values: dict[str, Any], catalog: Catalog) -> Any:
    products = _PRODUCTS.match(route)
    if products is not None:
        return _product(method, products.group("sku"), values, catalog)
    stores = _STORES.match(route)
    if stores is not None:
        if stores.group("code") is None:
            _allow(method, "POST")
            return catalog.add_store_view(**values)
        _allow(method, "DELETE")
        code = unquote(stores.group("code"))
        catalog.remove_store_view(code)
        return {"code": code, "removed": True}
    items = _SOURCE_ITEMS.match(route)
    if items is not None:
        if items.group("sku") is None:
            _allow(method, "POST")
            return render_source_item(catalog.set_source_item(**values))
        _allow(method, "DELETE")
        sku, source = unquote(items.group("sku")), unquote(items.group("source"))
        catalog.remove_source_item(sku, source)
        return {"sku": sku, "source_code": source, "removed": True}
    attribute = _ATTRIBUTES.match(route)
    if attribute is not None:
        return _attribute(
            method, attribute.group("code"), attribute.group("option"), values, catalog
        )
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


def _product(method: str, quoted: str | None, values: dict[str, Any], catalog: Catalog) -> Any:
    """Create (no sku in the path), change or delete one product."""
    _allow(method, "POST" if quoted is None else "PATCH, PUT, POST, DELETE")
    for name in _STAMPS:  # the Python calls also take a datetime; JSON can only carry text
        if values.get(name) is not None and not isinstance(values[name], str):
            raise TypeError(f'{name} must be text such as "2026-03-01 12:00:00" (UTC)')
    if quoted is None:
        sku, wanted = values.pop("sku", None), values.pop("id", None)
        if not isinstance(sku, str) or not sku.strip():
            raise ValueError('a new product needs a "sku" (text)')
        if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool)):
            raise TypeError(f'"id" must be a whole number, not {wanted!r}')
        if "store" in values:
            raise ValueError(
                "a product is created in the default store view; set another "
                "store view's values with PATCH /_emulator/products/{sku}"
            )
        return catalog.create(sku, id=wanted, **values)
    sku = unquote(quoted)
    if method == "DELETE":
        catalog.delete(sku)
        return {"sku": sku, "deleted": True}
    store = values.pop("store", None)
    if store is not None and not isinstance(store, str):
        raise TypeError(f'"store" must be a store view code, not {store!r}')
    return catalog.update(sku, store=store, **values)


def _attribute(
    method: str, quoted: str, option: str | None, values: dict[str, Any], catalog: Catalog
) -> Any:
    """Relabel or remove one option of an attribute, or delete the attribute."""
    code = unquote(quoted)
    if option is None:
        _allow(method, "DELETE")
        catalog.delete_attribute(code)
        return {"attribute_code": code, "deleted": True}
    _allow(method, "POST, DELETE")
    if method == "DELETE":
        catalog.remove_attribute_option(code, int(option))
        return {"attribute_code": code, "option": option, "removed": True}
    label, store = values.get("label"), values.get("store")
    if not isinstance(label, str) or not (store is None or isinstance(store, str)):
        raise ValueError('relabelling an option needs a "label" (text), and "store" is text')
    catalog.relabel_attribute_option(code, int(option), label, store=store)
    return {"attribute_code": code, "option": option, "label": label, "store": store}


def _allow(method: str, allowed: str) -> None:
    if method not in allowed.split(", "):
        raise _WrongMethod(allowed)
