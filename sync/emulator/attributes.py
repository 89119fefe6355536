"""Luma's product attributes and their options: what ``GET /V1/products/attributes`` serves.

``data/luma_attributes.csv`` (one row per option; an attribute without options has one row
with empty option columns) is derived from the Luma sample data's three ``attributes.csv``
files, in install order (``CatalogSampleData``, ``DownloadableSampleData``,
``ConfigurableSampleData``): an attribute two modules define (``size``, ``material``) is one
attribute with both lists of options, as installing both makes it, and a label repeated in a
list (case-insensitively) is one option. The label is the first line of the sample's
``frontend_label`` (the admin label). Two core attributes products carry (``name`` 73,
``description`` 75, as a Magento 2.4 install numbers them) are added as plain text.

The sample has no ids (Magento assigns them at install), so they are assigned here,
deterministically: attribute ids ``color`` 93, ``size`` 144, ``style_general`` 138 and
``format`` 152 (the ids the emulator's configurable products always carried), the others
numbered from 134 in install order, skipping those; option ids ``color`` 49-60 (Black ...
Yellow) and ``size`` 166-179 (XS ... 38), as generated products use them, every other option
numbered from 180 in install order. Boolean attributes (``eco_collection``, ``new``, ...) have
Magento's two options, Yes ``1`` and No ``0``.

``data/luma_attribute_labels.csv`` holds the emulator's own translations (Luma ships English
only) of a few attributes' labels and options for store views ``fr``, ``de`` and ``es``: with
that ``Store`` header an option's ``label`` is the translation, and every option lists its
translations in ``store_labels`` (store ids numbered in the catalog's store order, ``default``
1), as Magento does.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

__all__ = [
    "Attribute",
    "Option",
    "luma_attributes",
    "option_value",
    "render_attribute",
    "without_option",
]

#: Inputs whose product values are option ids.
OPTION_INPUTS = frozenset({"select", "multiselect", "boolean"})
_BACKEND = {"select": "int", "boolean": "int", "multiselect": "varchar", "textarea": "text"}


@dataclass(frozen=True, slots=True)
class Option:
    id: int
    label: str
    sort_order: int
    #: Store code -> this option's label in that store view.
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attribute:
    id: int
    code: str
    input: str
    label: str
    options: tuple[Option, ...] = ()
    #: Store code -> the attribute's label in that store view.
    labels: Mapping[str, str] = field(default_factory=dict)


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath(f"data/{name}").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def luma_attributes() -> tuple[Attribute, ...]:
    """The bundled attributes in id order (see the module docstring)."""
    translated: dict[tuple[str, str], dict[str, str]] = {}
    for row in _read("luma_attribute_labels.csv"):
        key = (row.pop("attribute_code"), row.pop("option"))
        translated[key] = {store: label for store, label in row.items() if label}
    found: dict[str, Attribute] = {}
    for row in _read("luma_attributes.csv"):
        code = row["attribute_code"]
        attribute = found.get(code) or Attribute(
            int(row["attribute_id"]),
            code,
            row["frontend_input"],
            row["label"],
            labels=translated.get((code, ""), {}),
        )
        options = attribute.options
        if attribute.input == "boolean" and not options:
            options = (Option(1, "Yes", 0), Option(0, "No", 1))
        elif row["option_id"]:
            label = row["option_label"]
            labels = translated.get((code, label), {})
            options = (*options, Option(int(row["option_id"]), label, len(options), labels))
        found[code] = replace(attribute, options=options)
    return tuple(sorted(found.values(), key=lambda a: a.id))


@functools.cache
def _by_label() -> dict[str, dict[str, str]]:
    return {
        a.code: {o.label.lower(): str(o.id) for o in a.options}
        for a in luma_attributes()
        if a.input in OPTION_INPUTS
    }


def option_value(code: str, text: str) -> str | None:
    """The value a product carries for ``code`` given as labels (``"Cotton|Wool"``, ``"Yes"``)
    as Magento's import stores it: option ids, comma-separated for a multiselect. None when
    ``code`` is not an option attribute of the bundled data; a label it lacks is left out."""
    table = _by_label().get(code)
    if table is None:
        return None
    ids = (table.get(label.strip().lower()) for label in text.split("|"))
    return ",".join(i for i in ids if i is not None)


def without_option(attribute: Attribute, option_id: int) -> Attribute:
    """``attribute`` with option ``option_id`` removed (``ValueError`` when it has none)."""
    kept = tuple(o for o in attribute.options if o.id != option_id)
    if len(kept) == len(attribute.options):
        raise ValueError(f"attribute {attribute.code!r} has no option {option_id}")
    return replace(attribute, options=kept)


def _store_labels(labels: Mapping[str, str], stores: Sequence[str]) -> list[dict[str, Any]]:
    ids = {code: n for n, code in enumerate(stores, start=1)}
    return [{"store_id": ids[s], "label": label} for s, label in labels.items() if s in ids]


def render_attribute(a: Attribute, store: str, stores: Sequence[str]) -> dict[str, Any]:
    """The attribute as ``GET /V1/products/attributes`` shows it with ``Store: store``."""
    options: list[dict[str, Any]] = []
    if a.input == "select":
        options.append({"label": " ", "value": ""})  # Magento's "no choice" entry
    for option in a.options:
        options.append(
            {
                "label": option.labels.get(store, option.label),
                "value": str(option.id),
                "sort_order": option.sort_order,
                "is_default": False,
                "store_labels": _store_labels(option.labels, stores),
            }
        )
    chosen = a.input in OPTION_INPUTS
    return {
        "is_wysiwyg_enabled": False,
        "is_html_allowed_on_front": True,
        "used_for_sort_by": False,
        "is_filterable": chosen,
        "is_filterable_in_search": chosen,
        "is_used_in_grid": True,
        "is_visible_in_grid": False,
        "is_filterable_in_grid": True,
        "position": 0,
        "apply_to": [],
        "is_searchable": "1" if chosen else "0",
        "is_visible_in_advanced_search": "1" if chosen else "0",
        "is_comparable": "1" if chosen else "0",
        "is_used_for_promo_rules": "0",
        "is_visible_on_front": "1" if chosen else "0",
        "used_in_product_listing": "1",
        "is_visible": True,
        "scope": "global",
        "attribute_id": a.id,
        "attribute_code": a.code,
        "frontend_input": a.input,
        "entity_type_id": "4",
        "is_required": False,
        "options": options,
        "is_user_defined": a.id >= 134,
        "default_frontend_label": a.label,
        "frontend_labels": _store_labels(a.labels, stores),
        "backend_type": _BACKEND.get(a.input, "varchar"),
        "is_unique": "0",
        "validation_rules": [],
    }
