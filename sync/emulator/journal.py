"""The HTTP side of eventing: Commerce's ``/V1/eventing/...`` endpoints and the Adobe I/O Events
Journaling API of the emulator's one event registration (the store behind both is
:class:`.events.EventHub`).

Commerce (same gateway and token as ``/V1/products``)::

    GET  /<tenant>/V1/eventing/supportedList          ["observer.catalog_product_save_...", ...]
    POST /<tenant>/V1/eventing/eventSubscribe         {"event": {"name", "fields", "priority"?},
                                                       "force"?} -> true; a 400 "... already
                                                      exists." when it is (unless force)
    GET  /<tenant>/V1/eventing/getEventSubscriptions  [{"name", "parent", "fields", "rules", ...}]

Journal (:data:`JOURNAL_PATH`; ``Authorization: Bearer``, ``x-api-key``, ``x-ims-org-id``)::

    GET <journal>[?since=<position>][&limit=n][&latest=true][&seek=-PT2H]
        200 {"events": [{"position", "event"}], "_page": {"last", "count"}}, Link rel="next"
        204 with retry-after: 10 and the same Link when nothing follows the position
        400 a malformed position, limit or seek; 410 a position before the oldest retained event

A body stays under :data:`MAX_BODY_BYTES` (1.5 MB) whatever ``limit`` asks for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from sync.emulator.criteria import MagentoError
from sync.emulator.events import EventHub, SubscriptionError
from sync.emulator.response import (
    JSON_HEADERS,
    Response,
    encode_json,
    json_response,
    too_many_requests,
)

if TYPE_CHECKING:
    from sync.emulator.app import EmulatorApp

__all__ = ["JOURNAL_PATH", "MAX_BODY_BYTES", "RETRY_AFTER", "event_kind", "events_response"]

CONSUMER_ORG_ID = "1000001"
INTEGRATION_ID = "2000002"
REGISTRATION_ID = "3f1e5c2a-9d4b-4e6f-8a7c-0e2d4b6a8c10"
#: Where the emulator's one registration's journal is (the Developer Console shows this URL).
JOURNAL_PATH = (
    f"/events/organizations/{CONSUMER_ORG_ID}/integrations/{INTEGRATION_ID}/{REGISTRATION_ID}"
)
MAX_BODY_BYTES = 1_500_000
RETRY_AFTER = 10  # seconds, what the journal's 204 says

_EVENTING = re.compile(
    r"^/(?P<tenant>[^/]+)/V1/eventing/(?P<op>supportedList|eventSubscribe|getEventSubscriptions)/?$"
)
_OP_METHOD = {"supportedList": "GET", "eventSubscribe": "POST", "getEventSubscriptions": "GET"}
_POSITION = re.compile(r"^(?P<instance>[0-9a-f]{8})\.(?P<seq>[0-9]{1,18})$")
_DURATION = re.compile(
    r"^-P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_NO_ROUTE = {"message": "Request does not match any route."}
_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")


def event_kind(path: str, tenant: str) -> str | None:
    """``"eventing"``, ``"journal"`` or ``None`` for a path of neither."""
    if path.rstrip("/") == JOURNAL_PATH:
        return "journal"
    found = _EVENTING.match(path)
    if found is not None and found.group("tenant") == tenant:
        return "eventing"
    return None


def events_response(
    app: EmulatorApp,
    kind: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    params: tuple[tuple[str, str], ...],
    body: bytes,
    seq: int,
) -> Response:
    """Answer one request that :func:`event_kind` named (``headers`` lower-cased)."""
    if kind == "journal":
        refused = _journal_gate(app, headers, seq)
    else:
        refused = app.gateway(headers, seq, "eventing")
    if refused is not None:
        return refused
    if app.faults.take("disconnect_next"):
        return Response(0, disconnect=True)
    if kind == "journal":
        if method != "GET":
            return json_response(405, {"message": "Method not allowed"}, (("Allow", "GET"),))
        answer = _journal(app.events, path, headers, dict(params))
    else:
        answer = _eventing(app.events, method, path, body)
    if answer.status == 200 and app.faults.take("invalid_json_next"):
        return Response(200, answer.body[: len(answer.body) // 2], answer.headers)
    return answer


def _journal_gate(app: EmulatorApp, headers: Mapping[str, str], seq: int) -> Response | None:
    """Adobe I/O's gateway: the API key, the org, the rate limit, the token, then 5xx."""
    if headers.get("x-api-key") != app.client_id:
        return json_response(403, {"error_code": "403003", "message": "Api Key is invalid"})
    if headers.get("x-ims-org-id") != app.org_id:
        message = "The x-ims-org-id header is missing or not the organization of this registration"
        return json_response(403, {"error_code": "403010", "message": message})
    if app.faults.take("rate_limit_next") or app.faults.every("rate_limit_every", seq):
        return too_many_requests(app.faults.retry_after)
    limited = app.rate_limited()
    if limited is not None:
        return limited
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or app.tokens.check(token.strip()) != "valid":
        return json_response(401, {"error_code": "401013", "message": "Oauth token is not valid"})
    if app.faults.take("error_5xx_next") or app.faults.every("error_5xx_every", seq):
        return app.server_error(app.faults.error_5xx_status)
    return None


# -- Commerce: /V1/eventing --------------------------------------------------------------------


def _eventing(hub: EventHub, method: str, path: str, body: bytes) -> Response:
    found = _EVENTING.match(path)
    assert found is not None  # event_kind() said so
    op = found.group("op")
    if method != _OP_METHOD[op]:
        return json_response(404, _NO_ROUTE)
    if op == "supportedList":
        return json_response(200, list(hub.supported))
    if op == "getEventSubscriptions":
        return json_response(200, [s.render() for s in hub.subscriptions()])
    try:
        name, fields, priority, force = _subscribe_request(body)
        hub.subscribe(name, fields, priority=priority, force=force)
    except SubscriptionError as exc:
        return json_response(400, exc.body)
    except MagentoError as exc:
        return json_response(exc.status, exc.body)
    return json_response(200, True)


def _required(name: str) -> MagentoError:
    return MagentoError(
        400,
        {
            "message": '"%fieldName" is required. Enter and try again.',
            "parameters": {"fieldName": name},
        },
    )


def _subscribe_request(body: bytes) -> tuple[str, list[str], bool, bool]:
    """(name, field names, priority, force) of an ``eventSubscribe`` body, or a 400."""
    try:
        payload = json.loads(body or b"null")
    except ValueError as exc:
        raise MagentoError(400, {"message": f"Decoding error: {exc}"}) from exc
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict):
        raise _required("event")
    name, fields = event.get("name"), event.get("fields")
    if not isinstance(name, str) or not name:
        raise _required("name")
    if not isinstance(fields, list) or not fields:
        raise _required("fields")
    names = [f.get("name") if isinstance(f, dict) else None for f in fields]
    if not all(isinstance(n, str) and n for n in names):
        raise MagentoError(400, {"message": 'Each of "fields" needs a "name" (text).'})
    priority, force = event.get("priority", False), payload.get("force", False)
    if not isinstance(priority, bool) or not isinstance(force, bool):
        raise MagentoError(400, {"message": '"priority" and "force" are true or false.'})
    return name, [str(n) for n in names], priority, force


# -- the journal -------------------------------------------------------------------------------


def position(hub: EventHub, seq: int) -> str:
    """The opaque position of sequence number ``seq`` in ``hub``'s journal."""
    return f"{hub.instance}.{seq}"


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _start(hub: EventHub, query: Mapping[str, str]) -> int:
    """The sequence number to read after, from ``since``, ``latest`` or ``seek``."""
    first, last = hub.window()
    if query.get("latest", "").lower() == "true":
        return last
    if "seek" in query:
        found = _DURATION.fullmatch(query["seek"])
        if found is None or not any(found.groupdict().values()):
            raise _Refused(400, "seek must be an ISO-8601 duration back from now, such as -PT2H")
        parts = {k: float(v) if v else 0.0 for k, v in found.groupdict().items()}
        back = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
        return hub.since_time(hub.now() - back)
    since = query.get("since")
    if since is None:
        return first
    found = _POSITION.fullmatch(since)
    if found is None:
        raise _Refused(400, f"since={since!r} is not a position of this journal")
    seq = int(found.group("seq"))
    if found.group("instance") != hub.instance or seq < first:
        raise _Refused(410, "the position is older than the oldest event this journal retains")
    if seq > last:
        raise _Refused(400, f"since={since!r} is past the end of this journal")
    return seq


def _journal(
    hub: EventHub, path: str, headers: Mapping[str, str], query: Mapping[str, str]
) -> Response:
    limit: int | None = None
    try:
        if "limit" in query:
            text = query["limit"]
            if not text.isdigit() or int(text) < 1:
                raise _Refused(400, f"limit must be a whole number of at least 1, not {text!r}")
            limit = int(text)
        after = _start(hub, query)
    except _Refused as exc:
        error = "position_expired" if exc.status == 410 else "bad_request"
        return json_response(exc.status, {"error_code": error, "message": str(exc)})
    entries = hub.read(after, limit)
    host = headers.get("host", "")
    # The Link names the host the client asked for; one that is no host name stays out of it.
    base = f"http://{host}{path}" if _HOST.fullmatch(host) else path

    def link(seq: int) -> tuple[str, str]:
        tail = "" if limit is None else f"&limit={limit}"
        return ("Link", f'<{base}?since={position(hub, seq)}{tail}>; rel="next"')

    if not entries:
        headers_out = (("retry-after", str(RETRY_AFTER)), link(after))
        return Response(204, b"", headers_out)
    items: list[bytes] = []
    size = 100  # the envelope around the events
    for entry in entries:
        item = encode_json({"position": position(hub, entry.seq), "event": entry.event})
        if items and size + len(item) + 1 > MAX_BODY_BYTES:
            break
        items.append(item)
        size += len(item) + 1
    last = entries[len(items) - 1].seq
    page = encode_json({"last": position(hub, last), "count": len(items)})
    body = b'{"events":[' + b",".join(items) + b'],"_page":' + page + b"}"
    return Response(200, body, (*JSON_HEADERS, link(last)))
