"""Readers of one field of an ACCS item: each returns the field as the mirror stores it, or raises
:class:`ItemRejected` saying, in words a user can act on, why the item cannot be mirrored.

:func:`sync.models.parse_item` builds a product from them; :mod:`sync.parsers` the other
resources' rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sync import jsontext
from sync.accs_time import parse_accs_time

__all__ = [
    "ItemRejected",
    "attributes",
    "category_links",
    "decimal_field",
    "int_field",
    "short_field",
    "stock",
    "str_field",
    "time_field",
]


class ItemRejected(ValueError):
    """One item failed validation; ``reason`` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# price and weight are DECIMAL(20,6) in the mirror, as in Magento: at most 14 integer digits.
_DECIMAL_LIMIT = Decimal(10) ** 14


def int_field(item: dict[str, Any], key: str) -> int | None:
    value = item.get(key)
    if type(value) is int and (-(2**31) <= value < 2**31 or key == "id"):
        return value  # what ACCS sends: the checks below in one
    if value is None:
        return None
    if isinstance(value, bool):
        raise ItemRejected(f"{key!r} must be an integer, got a boolean")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int):
        raise ItemRejected(f"{key!r} must be an integer, got {type(value).__name__} {value!r:.40}")
    if not -(2**31) <= value < 2**31 and key != "id":
        raise ItemRejected(f"{key!r} is out of range for a 32-bit integer: {value}")
    return value


def decimal_field(item: dict[str, Any], key: str) -> Decimal | None:
    value = item.get(key)
    if value is None:
        return None
    if type(value) is int:  # str() first gives the same Decimal, at twice the cost
        result = Decimal(value)
        if abs(result) >= _DECIMAL_LIMIT:
            raise ItemRejected(
                f"{key!r} is out of range (at most 14 integer digits): {value!r:.40}"
            )
        return result
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ItemRejected(f"{key!r} must be a number, got {type(value).__name__}")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ItemRejected(f"{key!r} must be a number, got {value!r:.40}") from None
    if not result.is_finite():
        raise ItemRejected(f"{key!r} must be a finite number, got {value!r:.40}")
    if abs(result) >= _DECIMAL_LIMIT:
        raise ItemRejected(f"{key!r} is out of range (at most 14 integer digits): {value!r:.40}")
    return result


def str_field(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ItemRejected(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def short_field(item: dict[str, Any], key: str, limit: int) -> str | None:
    value = str_field(item, key)
    if value is not None and len(value) > limit:
        raise ItemRejected(f"{key!r} is longer than {limit} characters: {value[:40]!r}")
    return value


def time_field(item: dict[str, Any], key: str) -> datetime | None:
    value = str_field(item, key)
    if value is None or value == "":
        return None
    try:
        return parse_accs_time(value)
    except ValueError:
        raise ItemRejected(
            f"{key!r} is not an ACCS timestamp (YYYY-MM-DD HH:MM:SS): {value!r:.40}"
        ) from None


def stock(item: dict[str, Any]) -> tuple[Decimal | None, bool | None]:
    ext = item.get("extension_attributes")
    if ext is None:
        return None, None
    if not isinstance(ext, dict):
        raise ItemRejected("'extension_attributes' must be an object")
    stock = ext.get("stock_item")
    if stock is None:
        return None, None
    if not isinstance(stock, dict):
        raise ItemRejected("'extension_attributes.stock_item' must be an object")
    try:
        qty = decimal_field(stock, "qty")
    except ItemRejected as exc:
        raise ItemRejected(f"stock_item {exc.reason}") from None
    flag = stock.get("is_in_stock")
    if flag is None:
        return qty, None
    if isinstance(flag, bool):
        return qty, flag
    if flag in (0, 1, "0", "1"):
        return qty, str(flag) == "1"
    raise ItemRejected(f"stock_item 'is_in_stock' must be a boolean, got {flag!r:.40}")


def category_links(item: dict[str, Any]) -> tuple[tuple[int, int | None], ...]:
    """``extension_attributes.category_links`` as (category id, position) pairs. Magento sends
    ids as text; a link it could not mean (no usable id) is left out, not the product."""
    ext = item.get("extension_attributes")
    links = ext.get("category_links") if isinstance(ext, dict) else None
    if not isinstance(links, list):
        return ()
    out: dict[int, int | None] = {}
    for link in links:
        if not isinstance(link, dict):
            continue
        category, position = link.get("category_id"), link.get("position")
        try:
            cid = int(str(category))
        except ValueError:
            continue
        if isinstance(category, bool) or not 0 < cid < 2**63 or cid in out:
            continue
        try:
            pos = None if position is None or isinstance(position, bool) else int(str(position))
        except ValueError:
            pos = None
        out[cid] = pos if pos is None or -(2**31) <= pos < 2**31 else None
    return tuple(out.items())


def attributes(item: dict[str, Any], plain: bool = False) -> tuple[tuple[str, str | None], ...]:
    """``custom_attributes`` as (code, value as text). ``plain``: the item is plain JSON, so
    every value in it is too and encodes without checking again."""
    raw = item.get("custom_attributes")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ItemRejected("'custom_attributes' must be a list")
    as_text = jsontext.plain_canonical_text if plain else jsontext.canonical
    found: dict[str, str | None] = {}
    for entry in raw:
        code = entry.get("attribute_code") if isinstance(entry, dict) else None
        if type(code) is not str or not code or code[0].isspace():  # rare: the full check
            if not isinstance(code, str) or not code.strip():
                raise ItemRejected("a custom_attributes entry has no attribute_code")
        if len(code) > 255:
            raise ItemRejected(f"attribute_code is longer than 255 characters: {code[:40]!r}")
        value = entry.get("value")
        if value is not None and not isinstance(value, str):
            value = as_text(value)  # numbers, booleans, lists, objects as JSON text
        found[code] = value  # a repeated code: the last wins
    return tuple(found.items())
