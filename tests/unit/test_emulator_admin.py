"""The emulator's control endpoints, driven over loopback HTTP as a benchmark would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sync.emulator import Catalog, EmulatorServer


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(Catalog.generate(20, seed=3)) as server:
        yield server


@pytest.fixture
def session(emu: EmulatorServer) -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def accs_statuses(emu: EmulatorServer, session: requests.Session, n: int) -> list[int]:
    headers = {**emu.headers, "Authorization": f"Bearer {emu.issue_token()}"}
    url = f"{emu.api_endpoint}/V1/products"
    params = {"searchCriteria[pageSize]": "2"}
    return [
        session.get(url, headers=headers, params=params, timeout=5).status_code for _ in range(n)
    ]


def test_stats_need_no_credentials_and_admin_calls_are_not_counted(
    emu: EmulatorServer, session: requests.Session
) -> None:
    assert accs_statuses(emu, session, 3) == [200] * 3
    for _ in range(2):
        answer = session.get(f"{emu.base_url}/_emulator/stats", timeout=5)
        assert answer.status_code == 200
        stats = answer.json()
        assert stats["requests"] == {"list": 3}
        assert stats["statuses"] == {"200": 3}
        assert stats["max_in_flight"] == 1 and stats["in_flight"] == 0
        assert stats["rate_limited"] == stats["server_errors"] == 0
    reset = session.post(f"{emu.base_url}/_emulator/stats/reset", timeout=5)
    assert reset.status_code == 200 and reset.json()["requests"] == {}
    assert emu.stats.as_dict()["max_in_flight"] == 0


def test_faults_are_set_by_name_and_take_effect(
    emu: EmulatorServer, session: requests.Session
) -> None:
    answer = session.post(
        f"{emu.base_url}/_emulator/faults",
        json={"error_5xx_every": 2, "rate_limit_rps": 1000.0, "latency": 0, "retry_after": 3},
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.json()["error_5xx_every"] == 2
    assert emu.faults.rate_limit_rps == 1000.0 and emu.faults.retry_after == 3
    assert accs_statuses(emu, session, 4) == [200, 503, 200, 503]
    current = session.get(f"{emu.base_url}/_emulator/faults", timeout=5).json()
    assert current["error_5xx_every"] == 2 and "on_request" not in current
    assert session.post(f"{emu.base_url}/_emulator/faults/reset", timeout=5).ok
    assert emu.faults.error_5xx_every == 0 and emu.faults.rate_limit_rps == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"latency": 0.1, "no_such_fault": 1}', "unknown fault 'no_such_fault'"),
        (b'{"on_request": []}', "'on_request' cannot be set this way"),
        (b'{"latency": "fast"}', "'latency' must be a number"),
        (b'{"error_5xx_every": 2.5}', "'error_5xx_every' must be an integer"),
        (b'{"error_5xx_every": true}', "'error_5xx_every' must be an integer"),
        (b'{"input_limit": 0}', "'input_limit' must be true or false"),
        (b'{"rate_limit_rps": -1}', "'rate_limit_rps' must be at least 0"),
        (b'{"rate_limit_burst": 0}', "'rate_limit_burst' must be at least 1"),
        (b'{"error_5xx_status": 404}', "HTTP status from 500 to 599"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "must be a JSON object"),
        (b"{latency: 1}", "not JSON"),
    ],
)
def test_bad_fault_settings_are_a_400_and_change_nothing(
    emu: EmulatorServer, session: requests.Session, body: bytes, message: str
) -> None:
    answer = session.post(
        f"{emu.base_url}/_emulator/faults",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert message in answer.json()["message"]
    assert emu.faults.latency == 0.0  # the valid part of a bad request was not applied


def test_unknown_admin_paths_and_methods(emu: EmulatorServer, session: requests.Session) -> None:
    assert session.get(f"{emu.base_url}/_emulator/nope", timeout=5).status_code == 404
    wrong = session.get(f"{emu.base_url}/_emulator/stats/reset", timeout=5)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert session.delete(f"{emu.base_url}/_emulator/faults", timeout=5).status_code == 405
    assert emu.stats.as_dict()["requests"] == {}


def test_categories_and_stock_can_be_changed_over_http(
    emu: EmulatorServer, session: requests.Session
) -> None:
    admin = f"{emu.base_url}/_emulator"
    sku = next(p.sku for p in emu.catalog if p.type_id == "simple")
    before = emu.catalog.item(sku)
    moved = session.post(
        f"{admin}/source-items",
        json={"sku": sku, "source_code": "default", "quantity": 4},
        timeout=5,
    )
    assert moved.status_code == 200
    assert moved.json() == {"sku": sku, "source_code": "default", "quantity": 4, "status": 1}
    after = emu.catalog.item(sku)
    assert after is not None and before is not None
    assert after["extension_attributes"]["stock_item"]["qty"] == 4
    assert after["updated_at"] == before["updated_at"]
    gone = session.delete(f"{admin}/source-items/eu_warehouse/{sku}", timeout=5)
    assert gone.status_code == 200
    assert ("eu_warehouse", sku) not in {(i.source_code, i.sku) for i in emu.catalog.source_items()}

    made = session.post(f"{admin}/categories", json={"name": "Sale", "parent_id": 2}, timeout=5)
    assert made.status_code == 200 and made.json()["path"] == "1/2/43"
    renamed = session.post(
        f"{admin}/categories/43", json={"name": "Soldes", "store": "default"}, timeout=5
    )
    assert renamed.json()["name"] == "Soldes"
    moved = session.post(f"{admin}/categories/43/move", json={"parent_id": 11}, timeout=5)
    assert (moved.json()["path"], moved.json()["position"]) == ("1/2/11/43", 1)
    deleted = session.delete(f"{admin}/categories/11", timeout=5)
    assert deleted.json() == {"deleted": [11, 12, 13, 14, 15, 16, 17, 18, 19, 43]}

    assert session.delete(f"{admin}/categories/11", timeout=5).status_code == 404
    assert session.post(f"{admin}/categories/3", json={"nope": 1}, timeout=5).status_code == 400
    assert session.post(f"{admin}/categories/3", data=b"[1]", timeout=5).status_code == 400
    assert session.get(f"{admin}/categories", timeout=5).status_code == 405
    unknown = session.post(
        f"{admin}/source-items",
        json={"sku": "NOPE", "source_code": "default", "quantity": 1},
        timeout=5,
    )
    assert unknown.status_code == 404
    assert emu.stats.as_dict()["requests"] == {}  # controls are not counted
