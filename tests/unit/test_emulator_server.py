"""The emulator over real loopback HTTP, as a client sees it."""

from __future__ import annotations

import threading
from urllib.parse import quote

import pytest
import requests

from sync.emulator import REQUIRED_SCOPES, Catalog, EmulatorServer, serve_forever


def test_a_client_mints_a_token_and_pages_over_keep_alive_http() -> None:
    catalog = Catalog.generate(120, seed=9, stores=["default", "fr"])
    with EmulatorServer(catalog) as emu, requests.Session() as session:
        env = emu.credentials
        assert set(env) == {
            "IMS_CLIENT_ID",
            "IMS_CLIENT_SECRET",
            "IMS_ORG_ID",
            "API_ENDPOINT",
            "IMS_TOKEN_URL",
        }
        assert env["API_ENDPOINT"].startswith("http://127.0.0.1:")
        minted = session.post(
            env["IMS_TOKEN_URL"],
            timeout=5,
            data={
                "grant_type": "client_credentials",
                "client_id": env["IMS_CLIENT_ID"],
                "client_secret": env["IMS_CLIENT_SECRET"],
                "scope": ",".join(REQUIRED_SCOPES),
            },
        )
        assert minted.status_code == 200
        session.headers.update(
            {
                "Authorization": f"Bearer {minted.json()['access_token']}",
                "x-api-key": env["IMS_CLIENT_ID"],
                "x-gw-ims-org-id": env["IMS_ORG_ID"],
            }
        )
        seen: list[int] = []
        last = 0
        while True:
            response = session.get(
                f"{env['API_ENDPOINT']}/V1/products",
                timeout=5,
                params={
                    "searchCriteria[filterGroups][0][filters][0][field]": "entity_id",
                    "searchCriteria[filterGroups][0][filters][0][value]": str(last),
                    "searchCriteria[filterGroups][0][filters][0][conditionType]": "gt",
                    "searchCriteria[sortOrders][0][field]": "entity_id",
                    "searchCriteria[sortOrders][0][direction]": "ASC",
                    "searchCriteria[pageSize]": "50",
                },
            )
            assert response.status_code == 200
            assert response.headers["Content-Length"] == str(len(response.content))
            items = response.json()["items"]
            if not items:
                break
            seen += [item["id"] for item in items]
            last = items[-1]["id"]
        assert seen == catalog.ids()

        sku = catalog.skus()[0]
        one = session.get(
            f"{emu.api_endpoint}/V1/products/{quote(sku, safe='')}",
            timeout=5,
            headers={"Store": "fr"},
        )
        assert one.status_code == 200 and one.json()["sku"] == sku

        emu.faults.rate_limit_next = 1
        limited = session.get(
            f"{emu.api_endpoint}/V1/products", timeout=5, params={"searchCriteria[pageSize]": "1"}
        )
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"

        emu.faults.disconnect_next = 1
        with pytest.raises(requests.ConnectionError):
            session.get(
                f"{emu.api_endpoint}/V1/products",
                timeout=5,
                params={"searchCriteria[pageSize]": "1"},
            )

        stats = emu.stats
        assert stats.tokens_issued == 1
        assert stats.list_requests()[0].params()["searchCriteria[pageSize]"] == "50"
        assert stats.rate_limited == 1
    with pytest.raises(RuntimeError):
        _ = emu.base_url  # stopped


def test_serve_forever_prints_exports_and_stops_on_request() -> None:
    lines: list[str] = []
    stop = threading.Event()
    ready = threading.Event()
    urls: list[str] = []

    def on_ready(server: EmulatorServer) -> None:
        urls.append(server.token_url)
        ready.set()

    thread = threading.Thread(
        target=serve_forever,
        kwargs={
            "port": 0,
            "products": 30,
            "catalog_file": None,
            "print_fn": lines.append,
            "stop_event": stop,
            "on_ready": on_ready,
        },
    )
    thread.start()
    try:
        assert ready.wait(10)
        assert requests.post(urls[0], data={}, timeout=5).status_code == 400
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    exports = [line for line in lines if line.startswith("export ")]
    assert [line.split("=", 1)[0] for line in exports] == [
        "export IMS_CLIENT_ID",
        "export IMS_CLIENT_SECRET",
        "export IMS_ORG_ID",
        "export API_ENDPOINT",
        "export IMS_TOKEN_URL",
    ]
    assert "30 generated products" in lines[0]
