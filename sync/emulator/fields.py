"""Magento's ``fields`` query parameter: answer only the named parts of the JSON.

``fields=items[id,sku,extension_attributes[stock_item[qty]]],total_count`` keeps those keys;
a name without brackets keeps its whole value. Unknown names are ignored, as in Magento.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FieldTree", "apply_fields_filter", "parse_fields"]

FieldTree = dict[str, "FieldTree | None"]


def parse_fields(text: str) -> FieldTree:
    """Parse the ``fields`` syntax into a tree (``None`` leaf: keep the whole value)."""
    tree, _ = _parse(text.replace(" ", ""), 0)
    return tree


def _parse(text: str, pos: int) -> tuple[FieldTree, int]:
    tree: FieldTree = {}
    name = ""
    while pos < len(text):
        ch = text[pos]
        if ch == "[":
            sub, pos = _parse(text, pos + 1)
            if name:
                tree[name] = sub
            name = ""
        elif ch == "]":
            if name:
                tree[name] = None
            return tree, pos + 1
        elif ch == ",":
            if name:
                tree[name] = None
            name = ""
            pos += 1
        else:
            name += ch
            pos += 1
    if name:
        tree[name] = None
    return tree, pos


def apply_fields_filter(value: Any, tree: FieldTree | None) -> Any:
    """``value`` with only the parts ``tree`` names (lists are filtered element-wise)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [apply_fields_filter(v, tree) for v in value]
    if isinstance(value, dict):
        return {k: apply_fields_filter(v, tree[k]) for k, v in value.items() if k in tree}
    return value
