"""What accs-sync mirrors, each resource declared in one :class:`Resource`, products included.

A :class:`Resource` says everything a pass needs to mirror one ``searchCriteria`` list endpoint
of ACCS into one table: the endpoint and the ACL it needs, the table, the key (which doubles as
the unique keyset sort: paging never relies on Magento's offsets), the ``updated_at``-like field
for incremental runs (or none: every run is a full pass that writes only changed rows), whether
it differs per store view, the parser from an item to the table's columns, how a full pass is
cut into partitions walked at the same time, how deletions are found, whether an interrupted
pass resumes from a checkpoint, its child tables, its change logs, its ``sync_state`` keys and
which pass implementation runs it. A child table (:class:`ChildTable`) holds rows that belong to
one row, such as an attribute's options or a product's attribute values. The run
(:mod:`sync.run`) and the passes below it read the declaration; no code asks "is this
products?".

Adding a resource: declare it here, add its table to :mod:`sync.db.schema` and an Alembic
migration, and name it in :data:`RESOURCES` (``docs/engine.md`` walks through an example).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from sync import jsontext
from sync.db.schema import (
    catalog_changes,
    categories,
    inventory_source_items,
    product_attribute_metadata,
    product_attribute_options,
    product_attributes,
    product_categories,
    product_changes,
    products,
)
from sync.db.state import BACKFILL_CHECKPOINT, WATERMARK
from sync.errors import PermissionDenied
from sync.models import parse_item
from sync.names import PRODUCTS_NAME, PRODUCTS_PATH
from sync.parsers import (
    attribute_options,
    parse_attribute,
    parse_category,
    parse_source_item,
    product_attribute_rows,
    product_category_rows,
)

__all__ = [
    "ATTRIBUTES",
    "CATEGORIES",
    "GLOBAL_STORE",
    "PRODUCTS",
    "PRODUCTS_ACL",
    "RESOURCES",
    "SOURCE_ITEMS",
    "ChildTable",
    "Deletions",
    "KeyField",
    "Partitions",
    "PassKind",
    "Resource",
    "StateKeys",
    "attribute_options",
    "parse_attribute",
    "product_attribute_rows",
    "product_category_rows",
    "refused_line",
    "resource_names",
]

#: ``store_code`` in the change log and state of a resource that is the same in every store
#: view (``*`` is never a Magento store code).
GLOBAL_STORE = "*"

#: How a full pass is cut into partitions walked at the same time (``SYNC_CONCURRENCY`` > 1):
#: ``id_ranges``, ranges of a numeric key that split when a worker goes idle; ``first_key``,
#: one walk per value of the first of two key fields (source items: one per source); ``none``.
Partitions = Literal["id_ranges", "first_key", "none"]
#: How deletions are found: ``interval``, each page of a keyset walk over a numeric key
#: tombstones the live rows of the key interval it covers that it did not carry; ``sweep``,
#: a complete pass tombstones the live rows whose key it did not see (text keys: the mirror
#: cannot compare them in ACCS's collation, so no interval can be trusted).
Deletions = Literal["interval", "sweep"]
#: Which pass implementation runs a resource: ``products``, the products' passes
#: (:mod:`sync.product_pass`: id listing, windows, checkpoints, the product page writer);
#: ``resource``, the resource engine (:class:`sync.engine.ResourcePass`).
PassKind = Literal["products", "resource"]


@dataclass(frozen=True)
class KeyField:
    """One part of a resource's key: its ``searchCriteria`` field, its name in an item and in
    the table, and whether it is a number or text."""

    filter: str
    item: str
    column: str
    numeric: bool = False

    def read(self, item: Mapping[str, Any]) -> int | str | None:
        """The field's value in ``item``; None when it is missing or unusable."""
        value = item.get(self.item)
        if self.numeric:
            if isinstance(value, bool):
                return None
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            return value if isinstance(value, int) and 0 < value < 2**63 else None
        if isinstance(value, str):
            value = value.replace("\x00", "")  # as in the stored item (PostgreSQL refuses NUL)
            if value.strip() and len(value) <= 255 and jsontext.is_utf8(value):
                return value
        return None


@dataclass(frozen=True)
class ChildTable:
    """Rows of another table that belong to one row of a resource (an attribute's options).

    The child table has the parent's key columns (and ``store_code`` for a per-store resource)
    under the same names. Whenever the engine writes a parent row it deletes that row's child
    rows and inserts the ones ``rows`` reads from the item, in the page's transaction; an item
    whose ``rows`` raises :class:`ItemRejected` is rejected whole. Unchanged rows (same content
    hash) leave their children alone.
    """

    table: sa.Table
    #: The child rows of one item: each a dict of the child table's other columns.
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]]
    #: True: a tombstoned parent's child rows are deleted with it. False: kept, as products
    #: keep their attributes.
    cleared_on_delete: bool = True


@dataclass(frozen=True)
class StateKeys:
    """A resource's keys in ``sync_state`` (a public contract: a checkpoint or watermark
    written by an earlier release must be found under the same key)."""

    #: The incremental watermark, ``{"updated_at": ...}`` (products also ``"id"``).
    watermark: str
    #: An interrupted full pass's checkpoint; None when the resource keeps none.
    checkpoint: str | None = None
    #: An interrupted incremental walk's checkpoint (:class:`sync.resume.Progress`): a walk in
    #: key order raises the watermark only once complete, so it resumes from here. None: none
    #: (products raise theirs page by page; a resource without an incremental field).
    incremental_checkpoint: str | None = None


@dataclass(frozen=True)
class Resource:
    """One ACCS list endpoint mirrored into one table, declared."""

    #: The name users give in ``SYNC_RESOURCES`` and ``--resource``.
    name: str
    #: The endpoint under ``API_ENDPOINT``.
    path: str
    #: The ACL resource a credential needs (named when ACCS refuses access).
    acl: str
    table: sa.Table
    #: The key, in keyset order: ``searchCriteria`` sorts by it and filters after it.
    keys: tuple[KeyField, ...]
    #: Item field for incremental runs (filtered with ``gteq``); None: every run is a full pass.
    incremental: str | None
    #: True when each store view has its own rows (a ``store_code`` column).
    per_store: bool
    #: The table's columns from an item; raises :class:`ItemRejected` with a reason. The
    #: resource engine calls ``parse(item)`` for a dict of the other columns; products'
    #: is :func:`sync.models.parse_item` (``parse(item, store_code, fingerprint=...)``, a
    #: :class:`~sync.models.ProductRecord` with its attributes and category links).
    parse: Callable[..., Any]
    #: Where its state is kept in ``sync_state``.
    state: StateKeys
    #: How a full pass is cut up for concurrent fetchers (see :data:`Partitions`).
    partitions: Partitions = "none"
    #: How deletions are found (see :data:`Deletions`).
    deletions: Deletions = "sweep"
    #: Whether an interrupted full pass resumes from a checkpoint (``state.checkpoint``).
    checkpoints: bool = False
    #: Tables of rows that belong to each row, written with it (products: attribute values and
    #: category links, written by their page writer; other resources: by the engine).
    children: tuple[ChildTable, ...] = ()
    #: The change logs a write goes to (every resource: ``catalog_changes``).
    change_logs: tuple[sa.Table, ...] = (catalog_changes,)
    #: Which pass implementation runs it (see :data:`PassKind`).
    runs: PassKind = "resource"
    #: True when a 404 for its endpoint means a wrong ``API_ENDPOINT`` (the run fails, exit
    #: 2); False when it means an instance without this resource (skipped, run ``partial``).
    required: bool = False

    def __post_init__(self) -> None:
        """Refuse a declaration the passes cannot honour, at import, naming what is wrong."""
        numeric_key = len(self.keys) == 1 and self.keys[0].numeric
        id_key = numeric_key and (self.keys[0].filter, self.keys[0].item) == ("entity_id", "id")
        problems = [
            "id_ranges partitions need the one key entity_id (item field id): the id walk's"
            if self.partitions == "id_ranges" and not id_key
            else "",
            "first_key partitions need a key of two fields"
            if self.partitions == "first_key" and len(self.keys) != 2
            else "",
            "interval deletions need one numeric key"
            if self.deletions == "interval" and not numeric_key
            else "",
            "checkpoints need a state.checkpoint key, and a state.checkpoint key checkpoints"
            if self.checkpoints != (self.state.checkpoint is not None)
            else "",
            "the resource engine resumes every full pass: declare checkpoints"
            if self.runs == "resource" and not self.checkpoints
            else "",
            "the resource engine resumes every incremental pass: declare "
            "state.incremental_checkpoint"
            if self.runs == "resource"
            and self.incremental
            and not self.state.incremental_checkpoint
            else "",
            "an incremental checkpoint needs an incremental field"
            if self.state.incremental_checkpoint and not self.incremental
            else "",
        ]
        wrong = [p for p in problems if p]
        if wrong:
            raise ValueError(f"resource {self.name}: {'; '.join(wrong)}")

    def key_of(self, item: Any) -> tuple[int | str, ...] | None:
        """The item's key, or None when any part is missing."""
        if not isinstance(item, dict):
            return None
        key = tuple(field.read(item) for field in self.keys)
        return None if any(part is None for part in key) else key  # type: ignore[return-value]

    @staticmethod
    def key_text(key: tuple[int | str, ...]) -> str:
        """The key as the change log and rejects store it: ``"12"``, ``"default/24-MB01"``."""
        return "/".join(str(part) for part in key)

    def describe_key(self) -> str:
        return " + ".join(field.item for field in self.keys)


# -- the resources -------------------------------------------------------------------------------

#: The ACL ``GET /V1/products`` needs.
PRODUCTS_ACL = "Magento_Catalog::products"

PRODUCTS = Resource(
    name=PRODUCTS_NAME,
    path=PRODUCTS_PATH,
    acl=PRODUCTS_ACL,
    table=products,
    keys=(KeyField("entity_id", "id", "id", numeric=True),),
    incremental="updated_at",
    per_store=True,
    parse=parse_item,  # through sync.models.fingerprint: an unchanged item is not parsed
    state=StateKeys(watermark=WATERMARK, checkpoint=BACKFILL_CHECKPOINT),
    partitions="id_ranges",
    deletions="interval",
    checkpoints=True,
    # Written by the products' page writer from the parsed record; kept when a product is
    # tombstoned (its last known attributes stay readable).
    children=(
        ChildTable(product_attributes, product_attribute_rows, cleared_on_delete=False),
        ChildTable(product_categories, product_category_rows, cleared_on_delete=False),
    ),
    change_logs=(product_changes, catalog_changes),
    runs="products",
    required=True,
)

CATEGORIES = Resource(
    name="categories",
    path="/V1/categories/list",
    acl="Magento_Catalog::categories",
    table=categories,
    keys=(KeyField("entity_id", "id", "id", numeric=True),),
    incremental="updated_at",
    per_store=True,
    parse=parse_category,
    state=StateKeys(
        watermark="categories:watermark",
        checkpoint="categories:checkpoint",
        incremental_checkpoint="categories:incremental",
    ),
    partitions="id_ranges",
    deletions="interval",
    checkpoints=True,
)

SOURCE_ITEMS = Resource(
    name="source_items",
    path="/V1/inventory/source-items",
    acl="Magento_InventoryApi::source",
    table=inventory_source_items,
    keys=(KeyField("source_code", "source_code", "source_code"), KeyField("sku", "sku", "sku")),
    incremental=None,  # no updated_at: a full pass that writes only what changed
    per_store=False,
    parse=parse_source_item,
    # No watermark is ever kept: it has no incremental field.
    state=StateKeys(watermark="source_items:watermark", checkpoint="source_items:checkpoint"),
    partitions="first_key",
    checkpoints=True,
)

ATTRIBUTES = Resource(
    name="attributes",
    path="/V1/products/attributes",
    acl="Magento_Catalog::attributes_attributes",
    table=product_attribute_metadata,
    keys=(KeyField("attribute_id", "attribute_id", "attribute_id", numeric=True),),
    incremental=None,  # no updated_at: a full pass that writes only what changed
    per_store=True,  # option labels come in the Store header's language
    parse=parse_attribute,
    children=(ChildTable(product_attribute_options, attribute_options),),
    # No watermark is ever kept: it has no incremental field.
    state=StateKeys(watermark="attributes:watermark", checkpoint="attributes:checkpoint"),
    deletions="interval",
    checkpoints=True,
)

#: Every resource accs-sync mirrors, by name, in the order a run mirrors them (products first).
RESOURCES: dict[str, Resource] = {
    r.name: r for r in (PRODUCTS, CATEGORIES, SOURCE_ITEMS, ATTRIBUTES)
}


def resource_names() -> tuple[str, ...]:
    """Every name ``SYNC_RESOURCES`` accepts, products first."""
    return tuple(RESOURCES)


def refused_line(resource: Resource, exc: PermissionDenied | None) -> str:
    """One line naming the resource and what to do: grant the ACL it needs (as ACCS named
    it, if it did), or (``exc`` None: a 404) leave out a resource this instance does not
    have."""
    name = resource.name
    if exc is None:
        return (
            f"{name}: ACCS has no {resource.path} on this instance (404); leave {name} out of "
            "SYNC_RESOURCES"
        )
    return (
        f"{name}: ACCS refused access ({exc.status or 403}); the API credential's "
        f"integration needs the ACL resource {exc.acl or resource.acl} (or leave {name} out "
        "of SYNC_RESOURCES)"
    )
