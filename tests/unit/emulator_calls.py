"""Calling the emulator's ACCS endpoints in-process: ``searchCriteria`` query parameters, an
app with a valid token, and a GET of any list endpoint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sync.emulator import Catalog, EmulatorApp, Faults

TENANT = "t1"
PRODUCTS = f"/{TENANT}/V1/products"
CATEGORIES = f"/{TENANT}/V1/categories/list"
SOURCE_ITEMS = f"/{TENANT}/V1/inventory/source-items"


def sc(
    *filters: tuple[int, int, str, str, str | None],
    sorts: tuple[tuple[str, str | None], ...] = (),
    page_size: int | None = None,
    page: int | None = None,
    snake: bool = False,
) -> list[tuple[str, str]]:
    """Query parameters: filters as (group, index, field, value, condition)."""
    groups, conds, orders = (
        ("filter_groups", "condition_type", "sort_orders")
        if snake
        else ("filterGroups", "conditionType", "sortOrders")
    )
    params: list[tuple[str, str]] = []
    for g, i, field, value, cond in filters:
        prefix = f"searchCriteria[{groups}][{g}][filters][{i}]"
        params += [(f"{prefix}[field]", field), (f"{prefix}[value]", value)]
        if cond is not None:
            params.append((f"{prefix}[{conds}]", cond))
    for n, (field, direction) in enumerate(sorts):
        params.append((f"searchCriteria[{orders}][{n}][field]", field))
        if direction is not None:
            params.append((f"searchCriteria[{orders}][{n}][direction]", direction))
    if page_size is not None:
        params.append(
            (
                "searchCriteria[pageSize]" if not snake else "searchCriteria[page_size]",
                str(page_size),
            )
        )
    if page is not None:
        params.append(("searchCriteria[currentPage]", str(page)))
    if not params:
        params.append(("searchCriteria", ""))
    return params


def make_app(
    catalog: Catalog | None = None,
    clock: Callable[[], datetime] | None = None,
    **faults: Any,
) -> tuple[EmulatorApp, dict[str, str]]:
    """An app over ``catalog`` (default: a 20-product generated one) and headers that pass."""
    app = EmulatorApp(
        catalog if catalog is not None else Catalog.generate(20, seed=1),
        tenant=TENANT,
        client_id="cid",
        client_secret="secret",
        org_id="ORG@AdobeOrg",
        faults=Faults(**faults),
        clock=clock,
    )
    headers = {
        "Authorization": f"Bearer {app.issue_token()}",
        "x-api-key": "cid",
        "x-gw-ims-org-id": "ORG@AdobeOrg",
    }
    return app, headers


def call(
    app: EmulatorApp,
    headers: dict[str, str],
    path: str,
    params: list[tuple[str, str]],
    store: str | None = None,
) -> tuple[int, Any]:
    """GET ``path`` with ``params``; the status and the decoded body."""
    sent = dict(headers, store=store) if store is not None else headers
    response = app.handle("GET", path, sent, urlencode(params))
    return response.status, response.json()


def keyset_walk(
    app: EmulatorApp,
    headers: dict[str, str],
    path: str,
    key: tuple[str, str],
    start: Any,
    *,
    where: tuple[str, str] | None = None,
    page_size: int,
    between_pages: Callable[[], object] | None = None,
) -> list[Any]:
    """Page through ``path`` the keyset way: ``key`` (filter/sort field, item field) greater
    than the last one seen, ascending, plus an ``eq`` filter ``where``. The keys, in order."""
    seen: list[Any] = []
    last = start
    while True:
        filters = [(0, 0, where[0], where[1], "eq")] if where else []
        filters.append((len(filters), 0, key[0], str(last), "gt"))
        params = sc(*filters, sorts=((key[0], "ASC"),), page_size=page_size)
        status, body = call(app, headers, path, params)
        assert status == 200, body
        page = [item[key[1]] for item in body["items"]]
        if not page:
            return seen
        seen += page
        last = page[-1]
        if between_pages is not None:
            between_pages()
