"""Products created, changed and deleted over the emulator's HTTP controls, from another
process as a user's test would, and seen through ACCS's own endpoints afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from sync.emulator import Catalog, EmulatorServer


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[EmulatorServer]:
    catalog = Catalog.generate(12, seed=5, stores=("default", "fr"), clock=clock)
    with EmulatorServer(catalog) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def accs_item(
    emu: EmulatorServer, session: requests.Session, sku: str, store: str = "default"
) -> requests.Response:
    headers = {**emu.headers, "Authorization": f"Bearer {emu.issue_token()}", "Store": store}
    return session.get(f"{emu.api_endpoint}/V1/products/{sku}", headers=headers, timeout=5)


def control(
    session: requests.Session, emu: EmulatorServer, method: str, route: str, body: Any = None
) -> requests.Response:
    url = f"{emu.base_url}/_emulator{route}"
    return session.request(method, url, json=body, timeout=5)


def test_a_product_created_over_http_is_served_by_accs(
    emu: EmulatorServer, session: requests.Session
) -> None:
    made = control(
        session, emu, "POST", "/products", {"sku": "NEW-1", "name": "New one", "price": 12.5}
    )
    assert made.status_code == 200
    assert made.json()["sku"] == "NEW-1" and made.json()["id"] == emu.catalog.max_id
    served = accs_item(emu, session, "NEW-1")
    assert served.status_code == 200
    assert (served.json()["name"], served.json()["price"]) == ("New one", 12.5)
    assert served.json()["updated_at"] == "2026-03-01 12:00:00"
    again = control(session, emu, "POST", "/products", {"sku": "new-1"})
    assert again.status_code == 400 and "already exists" in again.json()["message"]
    assert control(session, emu, "POST", "/products", {"name": "no sku"}).status_code == 400


@pytest.mark.parametrize("method", ["PATCH", "PUT", "POST"])
def test_an_update_over_http_moves_updated_at_like_a_save_in_magento(
    method: str, emu: EmulatorServer, session: requests.Session, clock: Clock
) -> None:
    sku = emu.catalog.skus()[3]
    clock.now += timedelta(hours=2)
    changed = control(session, emu, method, f"/products/{sku}", {"price": 7, "color": "Red"})
    assert changed.status_code == 200
    served = accs_item(emu, session, sku).json()
    assert served["price"] == 7 and served["updated_at"] == "2026-03-01 14:00:00"
    assert {"attribute_code": "color", "value": "Red"} in served["custom_attributes"]


def test_an_update_can_set_updated_at_or_one_store_views_value(
    emu: EmulatorServer, session: requests.Session
) -> None:
    sku = emu.catalog.skus()[0]
    stamped = control(
        session,
        emu,
        "PATCH",
        f"/products/{sku}",
        {"name": "Old", "updated_at": "2020-01-02 03:04:05"},
    )
    assert stamped.json()["updated_at"] == "2020-01-02 03:04:05"
    french = control(session, emu, "PATCH", f"/products/{sku}", {"name": "Vieux", "store": "fr"})
    assert french.status_code == 200 and french.json()["name"] == "Vieux"
    assert accs_item(emu, session, sku, "fr").json()["name"] == "Vieux"
    assert accs_item(emu, session, sku).json()["name"] == "Old"
    unknown = control(session, emu, "PATCH", f"/products/{sku}", {"name": "x", "store": "xx"})
    assert unknown.status_code == 400 and "xx" in unknown.json()["message"]


def test_a_product_deleted_over_http_is_gone_from_accs(
    emu: EmulatorServer, session: requests.Session
) -> None:
    sku = emu.catalog.skus()[1]
    gone = control(session, emu, "DELETE", f"/products/{sku}")
    assert gone.status_code == 200 and gone.json() == {"sku": sku, "deleted": True}
    assert accs_item(emu, session, sku).status_code == 404
    assert control(session, emu, "DELETE", f"/products/{sku}").status_code == 404


@pytest.mark.parametrize(
    ("method", "route", "body", "status"),
    [
        ("PATCH", "/products/NOPE", {"price": 1}, 404),
        ("GET", "/products/NOPE", None, 405),
        ("GET", "/products", None, 405),
        ("DELETE", "/products", None, 405),
        ("PATCH", "/products/{sku}", {"sku": "OTHER"}, 400),
        ("PATCH", "/products/{sku}", {"price": "cheap"}, 400),
        ("PATCH", "/products/{sku}", {"updated_at": 5}, 400),
        ("PATCH", "/products/{sku}", [1, 2], 400),
        ("POST", "/products", {"sku": "X-2", "id": "seven"}, 400),
        ("POST", "/products", {"sku": ""}, 400),
    ],
)
def test_bad_product_changes_are_refused_and_change_nothing(
    method: str,
    route: str,
    body: Any,
    status: int,
    emu: EmulatorServer,
    session: requests.Session,
) -> None:
    sku = emu.catalog.skus()[2]
    before = (emu.catalog.version, emu.catalog.item(sku))
    answer = control(session, emu, method, route.format(sku=sku), body)
    assert answer.status_code == status
    assert answer.json()["message"]
    if status == 405:
        assert answer.headers["Allow"]
    assert (emu.catalog.version, emu.catalog.item(sku)) == before
    assert emu.stats.as_dict()["requests"] == {}  # controls are not counted


def test_stock_moves_over_http_leave_updated_at_alone(
    emu: EmulatorServer, session: requests.Session, clock: Clock
) -> None:
    """The stock control the README documents for products: the default source is the
    product's stock item."""
    sku = next(p.sku for p in emu.catalog if p.type_id == "simple")
    before = accs_item(emu, session, sku).json()
    clock.now += timedelta(hours=1)
    moved = control(
        session,
        emu,
        "POST",
        "/source-items",
        {"sku": sku, "source_code": "default", "quantity": 0},
    )
    assert moved.status_code == 200
    after = accs_item(emu, session, sku).json()
    stock = after["extension_attributes"]["stock_item"]
    assert (stock["qty"], stock["is_in_stock"]) == (0, False)
    assert after["updated_at"] == before["updated_at"]


def test_an_empty_update_is_a_save_that_only_moves_updated_at(
    emu: EmulatorServer, session: requests.Session, clock: Clock
) -> None:
    sku = emu.catalog.skus()[4]
    before = accs_item(emu, session, sku).json()
    clock.now += timedelta(minutes=5)
    assert control(session, emu, "PATCH", f"/products/{sku}", {}).status_code == 200
    after = accs_item(emu, session, sku).json()
    assert after["updated_at"] == "2026-03-01 12:05:00"
    assert {**after, "updated_at": None} == {**before, "updated_at": None}
