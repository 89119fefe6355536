"""Commerce eventing in the emulator: subscriptions, publishing, and the journal's store.

ACCS publishes an event for a subscribed Commerce event name only, carrying only the subscribed
fields that the event has (see :mod:`.changes` for what each mutation fires). Adobe I/O Events
then appends it to the registration's journal: a priority event within about a second, a
standard one when Commerce's cron sends it (up to about a minute; here
``Faults.events_standard_delay``, 5 s by default). An event enters the journal, and gets its
position, only when it is delivered, so positions only grow and ``since`` never skips one.

Faults (:class:`.faults.Faults`, switchable at run time): ``events_delay`` (a delivery delay for
every event published while set), ``events_duplicate_every`` (every Nth delivered event is
journaled twice, with the same ``id``), ``events_reorder`` (events delivered together are
journaled newest first) and ``events_retention`` (seconds an event is kept, 7 days by default;
a position before one that expired answers 410). :meth:`EventHub.expire` drops every event
journaled so far, as a consumer down for more than 7 days would find.
"""

from __future__ import annotations

import bisect
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.emulator.changes import CATALOG_EVENTS, Change
from sync.emulator.faults import Faults

__all__ = ["EVENT_TYPE_PREFIX", "Entry", "EventHub", "Subscription", "SubscriptionError"]

EVENT_TYPE_PREFIX = "com.adobe.commerce."
EVENTS_CLIENT_VERSION = "1.12.1"
COMMERCE_EDITION = "Adobe Commerce as a Cloud Service"
_ALREADY = 'An event subscription with the same name "%1" already exists.'
_UNSUPPORTED = 'The event "%1" is not supported; see GET /V1/eventing/supportedList.'


class SubscriptionError(ValueError):
    """An ``eventSubscribe`` Commerce refuses: a 400 with Magento's ``message``/``parameters``."""

    def __init__(self, message: str, parameters: Sequence[str] = ()) -> None:
        super().__init__(message.replace("%1", parameters[0]) if parameters else message)
        self.body: dict[str, Any] = {"message": message}
        if parameters:
            self.body["parameters"] = list(parameters)


@dataclass(frozen=True)
class Subscription:
    """One subscribed event. ``fields`` holds ``"*"`` for every field the event has."""

    name: str
    fields: tuple[str, ...]
    priority: bool = False

    def render(self) -> dict[str, Any]:
        """As ``GET /V1/eventing/getEventSubscriptions`` lists it."""
        return {
            "name": self.name,
            "parent": self.name,
            "fields": [{"name": f} for f in self.fields],
            "rules": [],
            "priority": self.priority,
            "destination": "default",
            "hipaa_audit_required": False,
            "provider_id": "default",
        }

    def carried(self, values: Mapping[str, str]) -> dict[str, str]:
        """The subscribed fields the event has (a subscribed field it lacks is left out)."""
        if "*" in self.fields:
            return dict(values)
        return {f: values[f] for f in self.fields if f in values}


@dataclass(frozen=True)
class Entry:
    """One event in the journal: its sequence number (what its position encodes), the
    CloudEvent, and when it was journaled (naive UTC)."""

    seq: int
    event: Mapping[str, Any]
    journaled: datetime


@dataclass(frozen=True)
class _Pending:
    due: datetime
    order: int
    event: Mapping[str, Any]


def _utc(value: datetime) -> datetime:
    """Naive UTC, microseconds kept (the catalog's own clock drops them; events need them)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _cloud_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class EventHub:
    """Subscriptions, published events and one registration's journal, thread-safe.

    ``clock`` returns now (naive UTC or aware); :meth:`publish` is the catalog's listener.
    """

    def __init__(self, clock: Callable[[], datetime], faults: Faults | None = None) -> None:
        self._clock = clock
        self.faults = faults or Faults()
        #: What ``supportedList`` answers; only these can be subscribed.
        self.supported: tuple[str, ...] = CATALOG_EVENTS
        #: Changes the journal's positions, so a position from an earlier emulator is foreign.
        self.instance = secrets.token_hex(4)
        self.provider_id = str(uuid.uuid4())
        self._lock = threading.Lock()
        self._subscriptions: dict[str, Subscription] = {}
        self._published: list[Mapping[str, Any]] = []
        self._pending: list[_Pending] = []
        self._journal: list[Entry] = []
        self._seq = 0  # the last position given
        self._expired_through = 0  # the highest position dropped (retention or expire())
        self._delivered = 0  # events delivered so far (for events_duplicate_every)

    def now(self) -> datetime:
        return _utc(self._clock())

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(
        self, name: str, fields: Sequence[str], *, priority: bool = False, force: bool = False
    ) -> Subscription:
        """Subscribe ``name``; an existing subscription raises :class:`SubscriptionError`
        ("already exists") unless ``force`` replaces it, as Commerce does."""
        if name not in self.supported:
            raise SubscriptionError(_UNSUPPORTED, [name])
        if not fields or any(not isinstance(f, str) or not f.strip() for f in fields):
            raise SubscriptionError("An event subscription needs at least one field name.")
        made = Subscription(name, tuple(dict.fromkeys(fields)), bool(priority))
        with self._lock:
            if name in self._subscriptions and not force:
                raise SubscriptionError(_ALREADY, [name])
            self._subscriptions[name] = made
        return made

    def unsubscribe(self, name: str) -> bool:
        with self._lock:
            return self._subscriptions.pop(name, None) is not None

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subscriptions.values())

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, change: Change) -> Mapping[str, Any] | None:
        """Turn a catalog change into an event if its name is subscribed; returns the event."""
        with self._lock:
            subscription = self._subscriptions.get(change.name)
            if subscription is None:
                return None
            now = self.now()
            store, website, group = change.scope
            event = {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": f"urn:uuid:{self.provider_id}",
                "type": EVENT_TYPE_PREFIX + change.name,
                "datacontenttype": "application/json",
                "time": _cloud_time(now),
                "data": {
                    "key": str(uuid.uuid4()),
                    "value": subscription.carried(change.values),
                    "_metadata": {
                        "commerceEdition": COMMERCE_EDITION,
                        "eventsClientVersion": EVENTS_CLIENT_VERSION,
                        "storeId": str(store),
                        "websiteId": str(website),
                        "storeGroupId": str(group),
                    },
                },
            }
            wait = self.faults.events_delay
            if not subscription.priority:
                wait += self.faults.events_standard_delay
            due = now + timedelta(seconds=wait)
            self._pending.append(_Pending(due, len(self._published), event))
            self._published.append(event)
            return event

    def published(self) -> list[Mapping[str, Any]]:
        """Every event published so far, delivered or not, oldest first (for tests)."""
        with self._lock:
            return list(self._published)

    # -- the journal --------------------------------------------------------------------------

    def deliver(self) -> int:
        """Journal every pending event that is due, and drop expired ones; returns how many
        entered the journal. Reads call it, so nothing needs a background thread."""
        with self._lock:
            return self._deliver(self.now())

    def _deliver(self, now: datetime) -> int:
        due = sorted((p for p in self._pending if p.due <= now), key=lambda p: (p.due, p.order))
        if due:
            self._pending = [p for p in self._pending if p.due > now]
        if self.faults.events_reorder:
            due.reverse()
        added = 0
        for pending in due:
            self._delivered += 1
            every = self.faults.events_duplicate_every
            copies = 2 if every > 0 and self._delivered % every == 0 else 1
            # Journaled when it was due (not when first read), never before the entry ahead.
            at = max(pending.due, self._journal[-1].journaled) if self._journal else pending.due
            for _ in range(copies):
                self._seq += 1
                self._journal.append(Entry(self._seq, pending.event, at))
                added += 1
        horizon = now - timedelta(seconds=self.faults.events_retention)
        if self._journal and self._journal[0].journaled < horizon:
            cut = bisect.bisect_left(self._journal, horizon, key=lambda e: e.journaled)
            self._expired_through = max(self._expired_through, self._journal[cut - 1].seq)
            del self._journal[:cut]
        return added

    def expire(self) -> int:
        """Drop every event journaled so far (a position before the current end answers
        410 from now on); returns the new cut-off's sequence number."""
        with self._lock:
            self._deliver(self.now())
            self._expired_through = self._seq
            self._journal = []
            return self._seq

    @property
    def pending(self) -> int:
        """Events published but not yet delivered to the journal."""
        with self._lock:
            return len(self._pending)

    def window(self) -> tuple[int, int]:
        """(the position before the oldest retained event, the last position given)."""
        with self._lock:
            self._deliver(self.now())
            return self._expired_through, self._seq

    def read(self, after: int, limit: int | None) -> list[Entry]:
        """Entries after sequence number ``after`` (at most ``limit``), delivering due events
        first. The caller checks ``after`` against :meth:`window` (410 or 400)."""
        with self._lock:
            self._deliver(self.now())
            start = bisect.bisect_right(self._journal, after, key=lambda e: e.seq)
            end = len(self._journal) if limit is None else start + limit
            return self._journal[start:end]

    def since_time(self, start: datetime) -> int:
        """The sequence number to read after for events journaled at ``start`` or later."""
        with self._lock:
            self._deliver(self.now())
            found = bisect.bisect_left(self._journal, start, key=lambda e: e.journaled)
            return self._journal[found - 1].seq if found else self._expired_through
