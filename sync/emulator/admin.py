"""The emulator's own control endpoints, for a benchmark or test driving it from another process.

Outside any tenant path, and only on the loopback emulator, so they need no credentials::

    GET  /_emulator/stats          Stats.as_dict()
    POST /_emulator/stats/reset    zero the counters; answers the fresh stats
    GET  /_emulator/faults         every fault that can be set, with its value
    POST /_emulator/faults         {"name": value, ...}: set those faults (all or none)
    POST /_emulator/faults/reset   back to a healthy instance
    /_emulator/products..., /_emulator/categories..., /_emulator/source-items...,
    /_emulator/stores...:
                                   change products, categories, stock and store views
                                   (see :mod:`.admin_catalog`)
    /_emulator/events..., /_emulator/mass-update:
                                   published events, the journal, a mass update without
                                   events (see :mod:`.admin_events`)

They are not requests to IMS or ACCS: no latency, no faults, not counted in the stats.
"""

from __future__ import annotations

import json

from sync.emulator.admin_catalog import catalog_response, is_catalog_route
from sync.emulator.admin_events import events_admin_response, is_events_route
from sync.emulator.catalog import Catalog
from sync.emulator.events import EventHub
from sync.emulator.faults import Faults, Stats
from sync.emulator.response import Response, json_response

__all__ = ["ADMIN_PREFIX", "admin_response", "is_admin_path"]

ADMIN_PREFIX = "/_emulator"


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def admin_response(
    method: str,
    path: str,
    body: bytes,
    faults: Faults,
    stats: Stats,
    catalog: Catalog,
    events: EventHub | None = None,
) -> Response:
    """Answer one request to an :func:`is_admin_path` path."""
    route = path[len(ADMIN_PREFIX) :].rstrip("/")
    if is_catalog_route(route):
        return catalog_response(method, route, body, catalog)
    if events is not None and is_events_route(route):
        return events_admin_response(method, route, body, events, catalog)
    allowed = {
        "/stats": "GET",
        "/stats/reset": "POST",
        "/faults": "GET, POST",
        "/faults/reset": "POST",
    }.get(route)
    if allowed is None:
        return json_response(404, {"message": f"no emulator admin endpoint {path}"})
    if method not in allowed.split(", "):
        return json_response(405, {"message": f"{path} accepts {allowed}"}, (("Allow", allowed),))
    if route == "/stats/reset":
        stats.reset()
    elif route == "/faults/reset":
        faults.reset()
    elif route == "/faults" and method == "POST":
        error = _set_faults(faults, body)
        if error is not None:
            return json_response(400, {"message": error})
    if route.startswith("/stats"):
        return json_response(200, stats.as_dict())
    return json_response(200, faults.settings())


def _set_faults(faults: Faults, body: bytes) -> str | None:
    """Apply a JSON object of fault values; the error message if it cannot be applied."""
    try:
        values = json.loads(body or b"null")
    except ValueError as exc:
        return f"the body is not JSON: {exc}"
    if not isinstance(values, dict):
        return 'the body must be a JSON object of fault names and values, e.g. {"latency": 0.05}'
    try:
        faults.update(values)
    except ValueError as exc:
        return str(exc)
    return None
