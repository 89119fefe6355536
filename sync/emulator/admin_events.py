"""The emulator's controls for events, for a test or benchmark in another process::

    GET  /_emulator/events          subscriptions, every published event, the journal's window
    POST /_emulator/events/expire   every event journaled so far is gone: older positions 410
    POST /_emulator/mass-update     {"skus": [...], "price"?: ..., ...}: the Admin's mass
                                    attribute update: no save event, no updated_at move

Faults of the journal (delay, duplicates, reordering, retention) are set with
``POST /_emulator/faults`` like the others (see :mod:`.events`).
"""

from __future__ import annotations

import json
from typing import Any

from sync.emulator.catalog import Catalog
from sync.emulator.events import EventHub
from sync.emulator.journal import JOURNAL_PATH, position
from sync.emulator.response import Response, json_response

__all__ = ["events_admin_response", "is_events_route"]

_ROUTES = {"/events": "GET", "/events/expire": "POST", "/mass-update": "POST"}


def is_events_route(route: str) -> bool:
    """Whether ``route`` (the path after ``/_emulator``) is one of this module's."""
    return route in _ROUTES


def events_admin_response(
    method: str, route: str, body: bytes, hub: EventHub, catalog: Catalog
) -> Response:
    allowed = _ROUTES[route]
    if method != allowed:
        return json_response(405, {"message": f"accepts {allowed}"}, (("Allow", allowed),))
    if route == "/events/expire":
        return json_response(200, {"expired_through": position(hub, hub.expire())})
    if route == "/mass-update":
        try:
            return json_response(200, {"updated": _mass_update(body, catalog)})
        except KeyError as exc:
            return json_response(404, {"message": str(exc.args[0] if exc.args else exc)})
        except (ValueError, TypeError, AttributeError) as exc:
            return json_response(400, {"message": str(exc)})
    first, last = hub.window()
    return json_response(
        200,
        {
            "subscriptions": [s.render() for s in hub.subscriptions()],
            "published": hub.published(),
            "pending": hub.pending,
            "journal": {
                "path": JOURNAL_PATH,
                "first": position(hub, first),
                "last": position(hub, last),
            },
        },
    )


def _mass_update(body: bytes, catalog: Catalog) -> int:
    values: Any = json.loads(body or b"null")
    if not isinstance(values, dict):
        raise ValueError('the body must be a JSON object: {"skus": [...], "price": 9.5}')
    skus = values.pop("skus", None)
    if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus) or not skus:
        raise ValueError('"skus" must be a non-empty list of SKUs')
    if not values:
        raise ValueError('give at least one attribute to set, e.g. "price"')
    return catalog.mass_update(skus, **values)
