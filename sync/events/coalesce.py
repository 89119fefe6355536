"""A batch of journal events -> the keys to refetch, each once: a pure function.

Events say *that* something changed, never what it is now (accs-sync subscribes to ids only),
and arrive at least once, in any order. So a batch collapses to one entry per (resource, store
view, key), whatever the events' kind, count and order: the consumer then reads the current
state of each key from ACCS, which answers for every store view at once. Delete then re-create
of a sku names the old id and the new one; ACCS says which is live.

Duplicates are dropped by event id, within the batch and against ``seen`` (the ids applied
recently). A field that cannot be a key (Commerce sends ``"42"``; ``-3``, ``true``, an empty
or over-long sku cannot be) makes the event ignored, counted, never an error.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.events.journal import JournalEvent
from sync.keys import Keys, parse_id, parse_sku

__all__ = ["Work", "coalesce"]

_PRODUCT = (
    "observer.catalog_product_save_commit_after",
    "observer.catalog_product_delete_commit_after",
)
_CATEGORY = ("observer.catalog_category_save_after", "observer.catalog_category_delete_after")
_STOCK = "observer.cataloginventory_stock_item_save_commit_after"


@dataclass(frozen=True)
class Work:
    """What a batch asks for: products to refetch (by id, or by sku when the event had no
    id), the source items of products (stock events), categories by id; and counts."""

    products: Keys = field(default_factory=Keys)
    stock: Keys = field(default_factory=Keys)
    categories: tuple[int, ...] = ()
    #: Distinct events that named a key (their ids, in batch order).
    event_ids: tuple[str, ...] = ()
    duplicates: int = 0
    ignored: int = 0
    #: The event times of the applied events (None when none had a readable time).
    newest: datetime | None = None
    oldest: datetime | None = None

    @property
    def applied(self) -> int:
        return len(self.event_ids)

    def __bool__(self) -> bool:
        return bool(self.products or self.stock or self.categories)


def _id(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return parse_id(str(value))
    except ValueError:
        return None


def _sku(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_sku(value)
    except ValueError:
        return None


def coalesce(events: Sequence[JournalEvent], seen: Container[str]) -> Work:
    """The keys ``events`` name, once each; ``seen``: event ids already applied."""
    keys: dict[tuple[str, str, tuple[str, Any]], None] = {}
    ids: dict[str, None] = {}
    duplicates = ignored = 0
    times: list[datetime] = []
    for event in events:
        if event.id in ids or event.id in seen:
            duplicates += 1
            continue
        named = _keys(event)
        if not named:
            ignored += 1
            continue
        ids[event.id] = None
        for resource, key in named:
            # The store view is part of the key (as events are published per store view), but
            # a refetch reads every configured store view: one request answers them all.
            keys[(resource, event.store_id or "*", key)] = None
        if event.time is not None:
            times.append(event.time)
    unique = list(dict.fromkeys((resource, key) for resource, _, key in keys))
    return Work(
        products=_as_keys(k for r, k in unique if r == "products"),
        stock=_as_keys(k for r, k in unique if r == "stock"),
        categories=tuple(k[1] for r, k in unique if r == "categories" and isinstance(k[1], int)),
        event_ids=tuple(ids),
        duplicates=duplicates,
        ignored=ignored,
        newest=max(times, default=None),
        oldest=min(times, default=None),
    )


def _keys(event: JournalEvent) -> list[tuple[str, tuple[str, Any]]]:
    """The (resource, key) pairs one event names: an id when usable, else a sku."""
    value = event.value
    if event.name in _PRODUCT:
        pid, sku = _id(value.get("entity_id")), _sku(value.get("sku"))
        if pid is not None:
            return [("products", ("id", pid))]
        return [("products", ("sku", sku))] if sku is not None else []
    if event.name == _STOCK:
        # Source items are keyed by sku: ask by sku when the event has it.
        pid, sku = _id(value.get("product_id")), _sku(value.get("sku"))
        if sku is not None:
            return [("stock", ("sku", sku))]
        return [("stock", ("id", pid))] if pid is not None else []
    if event.name in _CATEGORY:
        cid = _id(value.get("entity_id"))
        return [("categories", ("id", cid))] if cid is not None else []
    return []


def _as_keys(found: Any) -> Keys:
    pairs = list(found)
    return Keys(
        ids=tuple(v for kind, v in pairs if kind == "id"),
        skus=tuple(v for kind, v in pairs if kind == "sku"),
    )
