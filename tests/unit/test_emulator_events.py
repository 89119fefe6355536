"""Commerce eventing in the emulator: ``/V1/eventing`` subscriptions, and which catalog
mutations publish which event with which fields (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from sync.clock import FakeClock
from sync.emulator import Catalog, EmulatorApp
from tests.unit.emulator_calls import TENANT, make_app

EVENTING = f"/{TENANT}/V1/eventing"
PRODUCT_SAVE = "observer.catalog_product_save_commit_after"
PRODUCT_DELETE = "observer.catalog_product_delete_commit_after"
CATEGORY_SAVE = "observer.catalog_category_save_after"
CATEGORY_DELETE = "observer.catalog_category_delete_after"
STOCK_SAVE = "observer.cataloginventory_stock_item_save_commit_after"
ID_FIELDS = {
    PRODUCT_SAVE: ["entity_id", "sku"],
    PRODUCT_DELETE: ["entity_id", "sku"],
    CATEGORY_SAVE: ["entity_id"],
    CATEGORY_DELETE: ["entity_id"],
    STOCK_SAVE: ["product_id", "sku"],
}


def subscribe(
    app: EmulatorApp,
    headers: Mapping[str, str],
    name: str,
    fields: list[str],
    priority: bool = True,
    **extra: Any,
) -> tuple[int, Any]:
    body = {"event": {"name": name, "fields": [{"name": f} for f in fields], "priority": priority}}
    body.update(extra)
    answer = app.handle(
        "POST", f"{EVENTING}/eventSubscribe", headers, "", json.dumps(body).encode()
    )
    return answer.status, answer.json()


def subscribe_catalog(app: EmulatorApp, headers: Mapping[str, str], priority: bool = True) -> None:
    for name, fields in ID_FIELDS.items():
        assert subscribe(app, headers, name, fields, priority) == (200, True)


def events_of(app: EmulatorApp) -> list[tuple[str, dict[str, str]]]:
    """(type without the prefix, data.value) of every published event, oldest first."""
    out = []
    for event in app.events.published():
        assert event["type"].startswith("com.adobe.commerce.")
        out.append((event["type"].removeprefix("com.adobe.commerce."), event["data"]["value"]))
    return out


def test_supported_list_names_the_catalog_events() -> None:
    app, headers = make_app()
    answer = app.handle("GET", f"{EVENTING}/supportedList", headers)
    assert answer.status == 200
    assert set(answer.json()) >= set(ID_FIELDS)


def test_subscribing_twice_is_refused_and_creates_no_duplicate() -> None:
    app, headers = make_app()
    assert subscribe(app, headers, PRODUCT_SAVE, ["entity_id", "sku"]) == (200, True)
    status, body = subscribe(app, headers, PRODUCT_SAVE, ["entity_id"])
    assert status == 400
    assert body == {
        "message": 'An event subscription with the same name "%1" already exists.',
        "parameters": [PRODUCT_SAVE],
    }
    listed = app.handle("GET", f"{EVENTING}/getEventSubscriptions", headers)
    assert listed.status == 200
    assert listed.json() == [
        {
            "name": PRODUCT_SAVE,
            "parent": PRODUCT_SAVE,
            "fields": [{"name": "entity_id"}, {"name": "sku"}],
            "rules": [],
            "priority": True,
            "destination": "default",
            "hipaa_audit_required": False,
            "provider_id": "default",
        }
    ]
    # "force" replaces the subscription, as Commerce's does
    assert subscribe(app, headers, PRODUCT_SAVE, ["sku"], False, force=True) == (200, True)
    [only] = app.handle("GET", f"{EVENTING}/getEventSubscriptions", headers).json()
    assert (only["fields"], only["priority"]) == ([{"name": "sku"}], False)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", '"%fieldName" is required. Enter and try again.'),
        (b"{not json", None),
        (b'{"event": {"name": "observer.catalog_product_save_commit_after"}}', None),
        (b'{"event": {"name": "observer.x", "fields": [{"name": "id"}]}}', "not supported"),
        (b'{"event": {"name": "observer.catalog_product_save_commit_after",'
         b' "fields": [{"nom": "id"}]}}', None),
    ],
)  # fmt: skip
def test_a_bad_subscription_is_a_400_and_subscribes_nothing(body: bytes, message: str) -> None:
    app, headers = make_app()
    answer = app.handle("POST", f"{EVENTING}/eventSubscribe", headers, "", body)
    assert answer.status == 400
    assert isinstance(answer.json()["message"], str)
    if message is not None:
        assert message in answer.json()["message"]
    assert app.events.subscriptions() == []


def test_eventing_needs_the_same_credentials_as_products() -> None:
    app, headers = make_app()
    bad = dict(headers, Authorization="Bearer nope")
    assert app.handle("GET", f"{EVENTING}/supportedList", bad).status == 401
    assert (
        app.handle("GET", f"{EVENTING}/supportedList", dict(headers, **{"x-api-key": "x"})).status
        == 403
    )
    assert app.handle("GET", f"{EVENTING}/getEventSubscriptions", bad).status == 401
    status = subscribe(app, bad, PRODUCT_SAVE, ["sku"])[0]
    assert status == 401 and app.events.subscriptions() == []
    # the wrong method is no route, as in Magento
    assert app.handle("GET", f"{EVENTING}/eventSubscribe", headers).status == 404


def test_nothing_is_published_without_a_subscription() -> None:
    app, headers = make_app()
    sku = app.catalog.skus()[0]
    app.catalog.update(sku, price=1.5)
    assert app.events.published() == []
    assert subscribe(app, headers, PRODUCT_DELETE, ["entity_id"]) == (200, True)
    app.catalog.update(sku, price=2.5)  # a save: still not subscribed
    assert app.events.published() == []


def test_product_mutations_publish_saves_and_deletes_with_only_subscribed_fields() -> None:
    catalog = Catalog.generate(20, seed=1, stores=["default", "fr"])
    app, headers = make_app(catalog)
    subscribe_catalog(app, headers)
    first = catalog.snapshot().products[0]
    catalog.update(first.sku, price=12.5)
    catalog.update(first.sku, store="fr", name="Veste")
    made = catalog.create("NEW-1", price=3.0)
    catalog.delete("NEW-1")
    key = {"entity_id": str(first.id), "sku": first.sku}
    new = {"entity_id": str(made["id"]), "sku": "NEW-1"}
    assert events_of(app) == [
        (PRODUCT_SAVE, key),
        (PRODUCT_SAVE, key),
        (PRODUCT_SAVE, new),
        (PRODUCT_DELETE, new),
    ]
    metadata = [e["data"]["_metadata"] for e in app.events.published()]
    assert metadata[0]["storeId"] == "1" and metadata[1]["storeId"] == "2"  # fr is store 2
    assert {m["websiteId"] for m in metadata} == {"1"}
    assert {m["commerceEdition"] for m in metadata} == {"Adobe Commerce as a Cloud Service"}


def test_a_subscription_gets_the_fields_it_names() -> None:
    app, headers = make_app()
    assert subscribe(app, headers, PRODUCT_SAVE, ["sku", "price", "no_such_field"]) == (200, True)
    sku = app.catalog.skus()[3]
    app.catalog.update(sku, price=7.25)
    assert events_of(app) == [(PRODUCT_SAVE, {"sku": sku, "price": "7.25"})]


def test_event_envelope_is_a_cloud_event() -> None:
    app, headers = make_app()
    subscribe_catalog(app, headers)
    for sku in app.catalog.skus()[:2]:
        app.catalog.update(sku, price=4.0)
    one, two = app.events.published()
    assert one["specversion"] == "1.0"
    assert one["datacontenttype"] == "application/json"
    assert one["type"] == "com.adobe.commerce." + PRODUCT_SAVE
    assert one["source"].startswith("urn:uuid:")
    assert one["id"] != two["id"]
    assert one["time"].endswith("Z") and "T" in one["time"]


def test_category_rename_create_and_delete_publish_but_a_move_does_not() -> None:
    app, headers = make_app()
    subscribe_catalog(app, headers)
    catalog = app.catalog
    made = catalog.create_category("Sale")
    child = catalog.create_category("Sale kids", parent_id=made["id"])
    catalog.update_category(made["id"], name="Big sale")
    catalog.move_category(child["id"], parent_id=made["id"])
    catalog.delete_category(made["id"])  # the subtree goes with one SQL statement: one event
    assert events_of(app) == [
        (CATEGORY_SAVE, {"entity_id": str(made["id"])}),
        (CATEGORY_SAVE, {"entity_id": str(child["id"])}),
        (CATEGORY_SAVE, {"entity_id": str(made["id"])}),
        (CATEGORY_DELETE, {"entity_id": str(made["id"])}),
    ]


def test_only_a_default_source_stock_move_publishes_a_stock_event() -> None:
    app, headers = make_app()
    subscribe_catalog(app, headers)
    product = next(p for p in app.catalog if p.type_id == "simple")
    app.catalog.set_source_item(product.sku, "eu_warehouse", 3)
    app.catalog.remove_source_item(product.sku, "eu_warehouse")
    assert app.events.published() == []
    app.catalog.set_source_item(product.sku, "default", 9)
    # the stock item is keyed by product id and holds no sku: a subscribed "sku" is left out
    assert events_of(app) == [(STOCK_SAVE, {"product_id": str(product.id)})]


def test_a_mass_update_changes_prices_without_an_event_or_updated_at() -> None:
    clock = FakeClock()
    app, headers = make_app(Catalog.generate(20, seed=1, clock=clock.now))
    subscribe_catalog(app, headers)
    skus = app.catalog.skus()[:3]
    before = {s: app.catalog.item(s)["updated_at"] for s in skus}  # type: ignore[index]
    clock.advance(3600)
    answer = app.handle(
        "POST", "/_emulator/mass-update", {}, "", json.dumps({"skus": skus, "price": 99.5}).encode()
    )
    assert (answer.status, answer.json()) == (200, {"updated": 3})
    for sku in skus:
        item = app.catalog.item(sku)
        assert item is not None
        assert (item["price"], item["updated_at"]) == (99.5, before[sku])
    assert app.events.published() == []
    assert app.catalog.mass_update(skus[:1], price=5.0) == 1
    assert app.events.published() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [(b'{"skus": [], "price": 1}', 400), (b'{"skus": ["NOPE"], "price": 1}', 404), (b"[]", 400)],
)
def test_a_bad_mass_update_changes_nothing(body: bytes, status: int) -> None:
    app, _ = make_app()
    version = app.catalog.version
    assert app.handle("POST", "/_emulator/mass-update", {}, "", body).status == status
    assert app.catalog.version == version


def test_the_admin_endpoint_lists_published_events_and_subscriptions() -> None:
    app, headers = make_app()
    subscribe_catalog(app, headers)
    sku = app.catalog.skus()[0]
    app.catalog.update(sku, price=2.0)
    answer = app.handle("GET", "/_emulator/events", {})
    assert answer.status == 200
    body = answer.json()
    assert [e["data"]["value"]["sku"] for e in body["published"]] == [sku]
    assert {s["name"] for s in body["subscriptions"]} == set(ID_FIELDS)
    assert body["journal"]["path"].startswith("/events/organizations/")
    assert app.handle("POST", "/_emulator/events", {}).status == 405


def test_a_mass_touch_publishes_a_save_per_product() -> None:
    app, headers = make_app()
    subscribe_catalog(app, headers)
    skus = app.catalog.skus()[:2]
    app.catalog.touch_many(skus)
    assert [v["sku"] for _, v in events_of(app)] == skus


@pytest.mark.parametrize(("fault", "status"), [("forbidden", 401), ("missing", 404)])
def test_eventing_can_be_refused_like_other_resources(fault: str, status: int) -> None:
    app, headers = make_app()
    app.faults.update({fault: ["eventing"]})
    answer = app.handle("GET", f"{EVENTING}/supportedList", headers)
    assert answer.status == status
    if status == 401:
        assert answer.json()["parameters"] == {
            "resources": "Magento_AdobeCommerceEventsClient::event_subscribe"
        }
    assert subscribe(app, headers, PRODUCT_SAVE, ["sku"])[0] == status
    assert app.events.subscriptions() == []
