"""The Adobe I/O Events Journaling API client: one batch of events after a position.

``GET <IO_EVENTS_JOURNAL_URL>?since=<position>&limit=<n>`` with the same IMS bearer token as
the REST calls (:class:`~sync.api.auth.BearerAuth`, whose 401 hook refreshes it once), the
client id as ``x-api-key`` and the organisation as ``x-ims-org-id``. Positions are opaque
strings; ``since`` is exclusive; no ``since`` starts at the oldest retained event.

What an answer becomes:

* 200 ``{"events": [{"position", "event": {CloudEvents}}], "_page": {"last", "count"}}``: a
  :class:`JournalPage` whose ``position`` is ``_page.last`` (or the last event's). The envelope
  must be that shape, else :class:`~sync.errors.InvalidResponse` and no position at all: a
  hostile page never moves the consumer. An event inside a well-formed page that is not a
  catalog event accs-sync knows, or has no usable id or data, is skipped (counted in
  ``skipped``): its position is passed with the page, or the consumer would be stuck on it.
* 204: no events after the position; ``retry_after`` is the header's seconds, bounded to
  [1, :data:`MAX_IDLE_WAIT`] (10 when absent or unreadable); the position is the ``Link``
  rel="next" ``since`` (the same one, or the end for ``latest=true``).
* 410 (a position older than the retention) or 400 for a given position (the journal refuses
  it): :class:`JournalGap`; the consumer reconciles and resumes at the end.
* 401 after the refreshed token, 403: :class:`~sync.errors.AuthError` /
  :class:`~sync.errors.PermissionDenied` naming the credential's I/O Management API.
* 429 (``Retry-After``), 5xx, 408, resets and timeouts: retried by the one
  :class:`~sync.api.retry.RetryPolicy` (its cap on ``Retry-After`` included).
* a redirect: :class:`~sync.errors.RedirectRefused` naming ``IO_EVENTS_JOURNAL_URL`` (the
  token is never sent elsewhere); a body over the session's cap: a fatal error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from sync import jsontext
from sync.api.classify import parse_retry_after, raise_for_network
from sync.api.retry import RetryPolicy
from sync.api.session import TimeoutSession, build_session
from sync.clock import Clock, SystemClock
from sync.errors import (
    AccsSyncError,
    AuthError,
    FatalApiError,
    InvalidResponse,
    PermissionDenied,
    RateLimited,
    RetriableApiError,
)
from sync.redact import escape_control, redact_url

__all__ = [
    "CATALOG_EVENTS",
    "DEFAULT_IDLE_WAIT",
    "JOURNAL_MAX_BYTES",
    "MAX_IDLE_WAIT",
    "JournalClient",
    "JournalEvent",
    "JournalGap",
    "JournalPage",
    "build_journal_session",
    "parse_time",
]

log = logging.getLogger(__name__)

SETTING = "IO_EVENTS_JOURNAL_URL"
#: The catalog events accs-sync subscribes to and applies (Adobe's names).
CATALOG_EVENTS = (
    "observer.catalog_product_save_commit_after",
    "observer.catalog_product_delete_commit_after",
    "observer.catalog_category_save_after",
    "observer.catalog_category_delete_after",
    "observer.cataloginventory_stock_item_save_commit_after",
)
_TYPE_PREFIX = "com.adobe.commerce."
#: The journal answers at most 1.5 MB; a little room for headers of the body's encoding.
JOURNAL_MAX_BYTES = 2 * 1024 * 1024
#: A 204's wait without a usable ``retry-after`` (Adobe sends 10), and the most it may ask.
DEFAULT_IDLE_WAIT = 10.0
MAX_IDLE_WAIT = 60.0
_MAX_ID = 200  # an event id longer than this is not a uuid: skipped
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.I)


class JournalGap(AccsSyncError):
    """The journal no longer has (410) or refuses (400) the position asked for: events were
    lost to retention; the consumer reconciles and resumes at the end."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class JournalEvent:
    """One catalog event: ``name`` without Adobe's ``com.adobe.commerce.`` prefix, ``value``
    the subscribed fields that exist (values are often strings: parse them defensively)."""

    position: str
    id: str
    name: str
    time: datetime | None
    value: dict[str, Any]
    store_id: str | None = None


@dataclass(frozen=True)
class JournalPage:
    """A batch: its events, the position after it (None: the journal has not given one yet),
    and for an empty journal how long to wait."""

    events: list[JournalEvent] = field(default_factory=list)
    position: str | None = None
    retry_after: float | None = None
    skipped: int = 0


def build_journal_session(
    *,
    client_id: str,
    org_id: str,
    connect_timeout: float,
    read_timeout: float,
    max_response_bytes: int = JOURNAL_MAX_BYTES,
) -> TimeoutSession:
    """The journal's own session (the caller attaches :class:`BearerAuth` for its origin):
    Adobe I/O's headers, the body cap, no redirects (an error naming the setting)."""
    return build_session(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        headers={"x-api-key": client_id, "x-ims-org-id": org_id},
        pool_size=2,
        setting=SETTING,
        max_response_bytes=max_response_bytes,
    )


class JournalClient:
    """Reads the journal at ``url`` through ``session`` (auth and headers attached) and
    ``retry`` (the process's one policy). ``on_request(status)`` hears every answer's status
    (``None``: no answer)."""

    def __init__(
        self,
        session: requests.Session,
        url: str,
        retry: RetryPolicy,
        *,
        clock: Clock | None = None,
        on_request: Callable[[int | None], None] | None = None,
    ) -> None:
        self._session = session
        self.url = url
        self._retry = retry
        self._clock = clock or SystemClock()
        self._on_request = on_request or (lambda status: None)
        self.answered = False

    def __repr__(self) -> str:
        return f"JournalClient({redact_url(self.url)!r})"

    def read(self, since: str | None, limit: int) -> JournalPage:
        """Up to ``limit`` events after ``since`` (the oldest retained ones without it)."""
        params = [("since", since)] if since is not None else []
        params.append(("limit", str(limit)))
        return self._retry.call(lambda: self._once(params, since))

    def latest(self) -> JournalPage:
        """The journal's end (``latest=true``): the position to resume at after a gap."""
        return self._retry.call(lambda: self._once([("latest", "true")], None))

    def _once(self, params: list[tuple[str, str]], since: str | None) -> JournalPage:
        try:
            response = self._session.get(self.url, params=params)
        except requests.RequestException as exc:
            self._on_request(None)
            raise raise_for_network(
                exc, self.url, setting=SETTING, first_contact=not self.answered
            ) from None
        self.answered = True
        self._on_request(response.status_code)
        with response:
            return self._answer(response, since)

    def _answer(self, response: requests.Response, since: str | None) -> JournalPage:
        status = response.status_code
        where = redact_url(self.url)
        if status == 200:
            try:
                body, _ = jsontext.decode(response.content)
            except ValueError:
                raise InvalidResponse(
                    f"the event journal answered 200 with a body that is not JSON ({where})",
                    status=status,
                    url=where,
                ) from None
            return _page(body, where)
        if status == 204:
            wait = parse_retry_after(response.headers.get("retry-after"))
            wait = DEFAULT_IDLE_WAIT if wait is None else min(max(wait, 1.0), MAX_IDLE_WAIT)
            return JournalPage(position=_next_since(response) or since, retry_after=wait)
        if status == 410 or (status == 400 and since is not None):
            what = "expired (older than the journal keeps)" if status == 410 else "refused"
            raise JournalGap(
                f"the event journal answered {status}: the stored position is {what}", status
            )
        if status == 401:
            raise AuthError(
                f"the event journal refused the access token twice (401, {where}): the "
                "credential's project needs the I/O Management API; check IO_EVENTS_SCOPES "
                "and that IO_EVENTS_JOURNAL_URL is this credential's registration",
                status=status,
                url=where,
            )
        if status == 403:
            raise PermissionDenied(
                f"the event journal denied access (403, {where}): check IMS_ORG_ID and that "
                "the registration belongs to this credential's project",
                status=status,
                url=where,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimited("event journal rate limit (429)", retry_after=retry_after, url=where)
        if status >= 500 or status in (408, 425):
            raise RetriableApiError(f"event journal error {status}", status=status, url=where)
        raise FatalApiError(
            f"the event journal answered {status} ({where}); check {SETTING}",
            status=status,
            url=where,
        )


def _next_since(response: requests.Response) -> str | None:
    """The ``since`` of the ``Link: <...>; rel="next"`` header, if any."""
    match = _LINK_NEXT.search(response.headers.get("Link", ""))
    if not match:
        return None
    found = dict(parse_qsl(urlsplit(match.group(1)).query)).get("since")
    return found or None


def _invalid(what: str, where: str) -> InvalidResponse:
    return InvalidResponse(
        f"the event journal answered a page that is not the documented shape ({what}; "
        f"{where}); the position is kept and the batch read again later",
        status=200,
        url=where,
    )


def _page(body: Any, where: str) -> JournalPage:
    """The page in ``body``, checked whole before any of it is used."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise _invalid("no events list", where)
    entries = body["events"]
    positions: list[str] = []
    for entry in entries:
        position = entry.get("position") if isinstance(entry, dict) else None
        if not isinstance(position, str) or not position or len(position) > 1000:
            raise _invalid("an event without a position", where)
        positions.append(position)
    meta = body.get("_page")
    last = meta.get("last") if isinstance(meta, dict) else None
    if last is not None and (not isinstance(last, str) or not last or len(last) > 1000):
        raise _invalid("_page.last is not a position", where)
    position = last or (positions[-1] if positions else None)
    if entries and position is None:
        raise _invalid("no position after the events", where)
    events: list[JournalEvent] = []
    for entry, at in zip(entries, positions, strict=True):
        parsed = _event(entry.get("event"), at)
        if parsed is not None:
            events.append(parsed)
    skipped = len(entries) - len(events)
    if skipped:
        log.info(
            "event journal: %d events skipped (not catalog events accs-sync applies, "
            "or without an id or data)",
            skipped,
        )
    return JournalPage(events=events, position=position, skipped=skipped)


def _event(raw: Any, position: str) -> JournalEvent | None:
    if not isinstance(raw, dict):
        return None
    kind, eid, data = raw.get("type"), raw.get("id"), raw.get("data")
    if not isinstance(kind, str) or not kind.startswith(_TYPE_PREFIX):
        return None
    name = kind.removeprefix(_TYPE_PREFIX)
    if name not in CATALOG_EVENTS:
        log.debug("event journal: skipping %s", escape_control(name[:100]))
        return None
    if not isinstance(eid, str) or not eid or len(eid) > _MAX_ID or not isinstance(data, dict):
        return None
    value = data.get("value")
    if not isinstance(value, dict):
        return None
    meta = data.get("_metadata")
    store = meta.get("storeId") if isinstance(meta, dict) else None
    return JournalEvent(
        position=position,
        id=eid,
        name=name,
        time=parse_time(raw.get("time")),
        value=value,
        store_id=str(store)
        if isinstance(store, (str, int)) and not isinstance(store, bool)
        else None,
    )


def parse_time(value: Any) -> datetime | None:
    """An event's ISO-8601 ``time`` as aware UTC; None when unreadable (never an error)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
