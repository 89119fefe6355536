"""`events setup` against a scripted ACCS: supportedList checked, only missing events
subscribed (id-only fields, priority as told), "already exists" taken as done, hostile answers
refused; and the consumer's sync_state row read as hostile."""

from __future__ import annotations

from typing import Any

import pytest

from sync.errors import FatalApiError, InvalidResponse
from sync.events.journal import CATALOG_EVENTS
from sync.events.setup import FIELDS, setup_events
from sync.events.state import JournalState

PRODUCT_SAVE = "observer.catalog_product_save_commit_after"
STOCK = "observer.cataloginventory_stock_item_save_commit_after"


class Accs:
    def __init__(self, supported: Any = CATALOG_EVENTS, existing: Any = ()) -> None:
        self.supported = list(supported) if isinstance(supported, tuple) else supported
        self.existing = list(existing)
        self.posted: list[dict[str, Any]] = []
        self.exists_on_post: set[str] = set()

    def get(self, path: str) -> Any:
        return self.supported if path.endswith("supportedList") else self.existing

    def post(self, path: str, body: dict[str, Any]) -> Any:
        self.posted.append(body)
        if body["event"]["name"] in self.exists_on_post:
            raise FatalApiError(
                f'ACCS answered 400: An event subscription with the same name "{body}" '
                "already exists.",
                status=400,
            )
        return True


def test_only_the_missing_supported_events_are_subscribed_with_ids_only() -> None:
    accs = Accs(
        supported=tuple(n for n in CATALOG_EVENTS if n != STOCK),
        existing=[{"name": PRODUCT_SAVE, "fields": [{"name": "entity_id"}]}],
    )
    accs.exists_on_post = {"observer.catalog_category_delete_after"}
    report = setup_events(accs.get, accs.post, priority=False)
    assert report.unsupported == [STOCK]
    assert report.lacking == {PRODUCT_SAVE: ["sku"]}
    assert set(report.existing) == {PRODUCT_SAVE, "observer.catalog_category_delete_after"}
    assert len(report.subscribed) == 2
    for body in accs.posted:
        event = body["event"]
        assert event["priority"] is False
        assert [f["name"] for f in event["fields"]] == list(FIELDS[event["name"]])


@pytest.mark.parametrize("supported", [{"not": "a list"}, [1, 2], "x"])
def test_a_hostile_supported_list_is_refused_before_anything_is_subscribed(
    supported: Any,
) -> None:
    accs = Accs(supported=supported)
    with pytest.raises(InvalidResponse, match="supportedList"):
        setup_events(accs.get, accs.post, priority=True)
    assert accs.posted == []


def test_an_answer_other_than_true_is_an_error() -> None:
    accs = Accs()
    accs.post = lambda path, body: {"message": "odd"}  # type: ignore[method-assign]
    with pytest.raises(InvalidResponse, match="instead of true"):
        setup_events(accs.get, accs.post, priority=True)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (None, JournalState()),
        ([1, 2], JournalState()),
        ({"position": 5, "last_error": "x" * 5000}, JournalState()),
        (
            {"position": "p1", "newest_event_time": "yesterday", "gap": "no"},
            JournalState(position="p1"),
        ),
        (
            {"position": "p1", "newest_event_time": "2026-12-05T10:00:00.000Z"},
            JournalState(position="p1", newest_event_time="2026-12-05T10:00:00.000Z"),
        ),
    ],
)
def test_a_stored_state_is_read_as_hostile(stored: Any, expected: JournalState) -> None:
    assert JournalState.from_json(stored) == expected
