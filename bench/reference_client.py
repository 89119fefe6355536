"""The sequential client a user would write by hand: the yardstick ``bench/throughput.py`` uses.

    python bench/reference_client.py mirror.db      # connection settings from the environment

It reads ``IMS_CLIENT_ID``, ``IMS_CLIENT_SECRET``, ``IMS_ORG_ID``, ``API_ENDPOINT``,
``IMS_TOKEN_URL`` and ``IMS_SCOPES`` (the ``export`` lines of ``accs-sync emulator``, plus the
scopes), gets one IMS token, pages through ``/V1/products`` of the default store view by
``entity_id`` (keyset, 300 per page) and writes each page into a SQLite table with
``executemany`` and one commit per page. Its only robustness is the smallest retry that lets it
finish a fault scenario: a 429 sleeps its ``Retry-After``, a 5xx or a connection error sleeps a
second. It deliberately imports nothing from accs-sync, so it measures plain ``requests`` and
``sqlite3``. Prints ``<products> products in <pages> pages`` on success.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from typing import Any

import requests

PAGE_SIZE = 300
TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
MAX_ATTEMPTS = 30  # per request; a fault scenario needs a few, a dead server gets a clear error

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL,
    name TEXT,
    price REAL,
    updated_at TEXT,
    data TEXT NOT NULL
)
"""
INSERT = "INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?, ?, ?)"


def send(session: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
    """The JSON answer to one request, retried on 429 (its Retry-After), 5xx and network errors."""
    for _ in range(MAX_ATTEMPTS):
        try:
            response = session.request(method, url, timeout=TIMEOUT, **kwargs)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(1.0)
            continue
        if response.status_code == 429:
            try:
                time.sleep(float(response.headers.get("Retry-After", "1")))
            except ValueError:  # an HTTP date: not worth parsing for a reference client
                time.sleep(1.0)
            continue
        if response.status_code >= 500:
            time.sleep(1.0)
            continue
        response.raise_for_status()
        return response.json()
    raise SystemExit(f"reference client: {method} {url} failed {MAX_ATTEMPTS} times")


def page_params(after_id: int) -> dict[str, str | int]:
    """The next keyset page: ids greater than ``after_id``, ascending."""
    return {
        "searchCriteria[filterGroups][0][filters][0][field]": "entity_id",
        "searchCriteria[filterGroups][0][filters][0][value]": after_id,
        "searchCriteria[filterGroups][0][filters][0][condition_type]": "gt",
        "searchCriteria[sortOrders][0][field]": "entity_id",
        "searchCriteria[sortOrders][0][direction]": "ASC",
        "searchCriteria[pageSize]": PAGE_SIZE,
        "searchCriteria[currentPage]": 1,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python bench/reference_client.py DATABASE_FILE", file=sys.stderr)
        return 2
    env = os.environ
    session = requests.Session()
    token = send(
        session,
        "POST",
        env["IMS_TOKEN_URL"],
        data={
            "grant_type": "client_credentials",
            "client_id": env["IMS_CLIENT_ID"],
            "client_secret": env["IMS_CLIENT_SECRET"],
            "scope": env["IMS_SCOPES"],
        },
    )["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "x-api-key": env["IMS_CLIENT_ID"],
        "x-gw-ims-org-id": env["IMS_ORG_ID"],
        "Store": "default",
    }
    url = env["API_ENDPOINT"].rstrip("/") + "/V1/products"
    db = sqlite3.connect(argv[1])
    db.execute(SCHEMA)
    products = pages = last_id = 0
    try:
        while True:
            items = send(session, "GET", url, params=page_params(last_id), headers=headers)["items"]
            pages += 1
            if items:
                db.executemany(
                    INSERT,
                    [
                        (
                            item["id"],
                            item["sku"],
                            item.get("name"),
                            item.get("price"),
                            item.get("updated_at"),
                            json.dumps(item),
                        )
                        for item in items
                    ],
                )
                db.commit()
                products += len(items)
                last_id = items[-1]["id"]
            if len(items) < PAGE_SIZE:
                break
    finally:
        db.close()
        session.close()
    print(f"{products} products in {pages} pages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
