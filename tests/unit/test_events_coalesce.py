"""Coalescing a journal batch into the keys to refetch: one per (resource, store, key),
duplicates by event id dropped, ids parsed defensively, order irrelevant."""

from __future__ import annotations

from datetime import UTC, datetime

from sync.events.coalesce import coalesce
from sync.events.journal import JournalEvent
from sync.keys import Keys

SAVE = "observer.catalog_product_save_commit_after"
DELETE = "observer.catalog_product_delete_commit_after"
STOCK = "observer.cataloginventory_stock_item_save_commit_after"
CATEGORY = "observer.catalog_category_save_after"
CATEGORY_DELETE = "observer.catalog_category_delete_after"


def ev(eid: str, name: str, value: dict[str, object], minute: int = 0) -> JournalEvent:
    when = datetime(2026, 12, 5, 10, minute, tzinfo=UTC)
    return JournalEvent(f"p-{eid}", eid, name, when, value, "1")


def test_every_key_once_and_duplicates_by_event_id_dropped() -> None:
    batch = [
        ev("a", SAVE, {"entity_id": "42", "sku": "MJ01"}),
        ev("a", SAVE, {"entity_id": "42", "sku": "MJ01"}),  # redelivered
        ev("b", SAVE, {"entity_id": 42}),  # another change to the same product
        ev("c", DELETE, {"entity_id": "7", "sku": "GONE"}),
        ev("d", STOCK, {"product_id": "42", "sku": "MJ01"}),
        ev("e", STOCK, {"product_id": "9"}),
        ev("f", CATEGORY, {"entity_id": "3"}),
        ev("g", CATEGORY_DELETE, {"entity_id": "3"}),
        ev("h", SAVE, {"sku": "ONLY-SKU"}),
    ]
    work = coalesce(batch, seen=set())
    assert work.products == Keys(ids=(42, 7), skus=("ONLY-SKU",))
    assert work.stock == Keys(ids=(9,), skus=("MJ01",))
    assert work.categories == (3,)
    assert work.duplicates == 1
    assert work.applied == 8
    assert work.event_ids == ("a", "b", "c", "d", "e", "f", "g", "h")


def test_events_applied_before_are_duplicates() -> None:
    work = coalesce([ev("a", SAVE, {"entity_id": "1"}), ev("b", SAVE, {"entity_id": "2"})], {"a"})
    assert work.products == Keys(ids=(2,)) and work.duplicates == 1


def test_reordered_batches_ask_the_same_keys() -> None:
    batch = [
        ev("a", SAVE, {"entity_id": "5"}, minute=3),
        ev("b", DELETE, {"entity_id": "5", "sku": "X"}, minute=1),
        ev("c", SAVE, {"entity_id": "6", "sku": "X"}, minute=2),
    ]
    one, two = coalesce(batch, set()), coalesce(list(reversed(batch)), set())
    assert set(one.products.ids) == set(two.products.ids) == {5, 6}
    assert one.newest == two.newest == datetime(2026, 12, 5, 10, 3, tzinfo=UTC)
    assert one.oldest == two.oldest == datetime(2026, 12, 5, 10, 1, tzinfo=UTC)


def test_unusable_fields_are_ignored_not_fatal() -> None:
    batch = [
        ev("a", SAVE, {"entity_id": "-3", "sku": ""}),
        ev("b", SAVE, {"entity_id": True}),
        ev("c", CATEGORY, {"name": "no id"}),
        ev("d", STOCK, {"product_id": "1e3", "sku": "x" * 65}),
        ev("e", SAVE, {"entity_id": "0012"}),
    ]
    work = coalesce(batch, set())
    assert work.products == Keys(ids=(12,))
    assert work.ignored == 4 and work.applied == 1
    assert not work.stock and work.categories == ()
