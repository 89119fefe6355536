"""``accs-sync events setup``: subscribe ACCS's catalog events, ids only; and what is left to
create in the Adobe Developer Console.

1. ``GET /V1/eventing/supportedList``: which of the catalog events the tenant allows (those it
   does not are named; the others are still subscribed).
2. ``GET /V1/eventing/getEventSubscriptions``: the ones already subscribed are left as they are
   (run twice, subscribe once); one subscribed without the id fields the consumer needs is
   named.
3. ``POST /V1/eventing/eventSubscribe`` for each missing one, with only the id fields (an event
   over 64 KB is never created; the consumer refetches the rest) and ``priority`` (delivered
   within about a second instead of up to a minute) unless SYNC_EVENTS_PRIORITY is false. An
   answer "already exists" (another setup ran meanwhile) is taken as done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sync.errors import FatalApiError, InvalidResponse
from sync.events.journal import CATALOG_EVENTS
from sync.redact import escape_control

__all__ = ["CONSOLE_STEPS", "FIELDS", "SetupReport", "setup_events"]

log = logging.getLogger(__name__)

SUPPORTED = "/V1/eventing/supportedList"
SUBSCRIPTIONS = "/V1/eventing/getEventSubscriptions"
SUBSCRIBE = "/V1/eventing/eventSubscribe"

#: The fields each event is subscribed with: ids only (the consumer refetches the rest).
FIELDS: dict[str, tuple[str, ...]] = {
    "observer.catalog_product_save_commit_after": ("entity_id", "sku"),
    "observer.catalog_product_delete_commit_after": ("entity_id", "sku"),
    "observer.catalog_category_save_after": ("entity_id",),
    "observer.catalog_category_delete_after": ("entity_id",),
    "observer.cataloginventory_stock_item_save_commit_after": ("product_id", "sku"),
}
assert tuple(FIELDS) == CATALOG_EVENTS

#: What to create in the Adobe Developer Console when IO_EVENTS_JOURNAL_URL is not set.
CONSOLE_STEPS = """\
IO_EVENTS_JOURNAL_URL is not set: the subscriptions exist in ACCS, but nothing reads them yet.
In the Adobe Developer Console (https://developer.adobe.com/console), in the project of the
OAuth Server-to-Server credential accs-sync uses (IMS_CLIENT_ID):
  1. Add API > "I/O Management API" to the credential (it reads the journal).
  2. Add event > "Commerce Events" > the event provider of this ACCS instance > select the
     events subscribed above > the same OAuth Server-to-Server credential.
  3. As the registration's delivery, keep "Journaling" (no webhook is needed) and save.
  4. Open the registration: copy its "Journaling API" URL (https://events-va6.adobe.io/events/
     organizations/.../integrations/.../...) into IO_EVENTS_JOURNAL_URL.
  5. If the token then lacks a scope for the journal (a 401/403 naming the journal), add the
     credential's I/O Management scopes (e.g. adobeio_api) to IO_EVENTS_SCOPES.
Then `accs-sync events status` shows the position and lag, and `accs-sync daemon` consumes
the events beside its scheduled polling (see docs/events.md)."""


@dataclass
class SetupReport:
    """What setup found and did, for the CLI's text or --json."""

    subscribed: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    #: Existing subscriptions that lack an id field the consumer needs: name -> missing.
    lacking: dict[str, list[str]] = field(default_factory=dict)
    priority: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "subscribed": self.subscribed,
            "already_subscribed": self.existing,
            "unsupported": self.unsupported,
            "lacking_fields": self.lacking,
            "priority": self.priority,
        }


def setup_events(
    get: Callable[[str], Any], post: Callable[[str, Any], Any], *, priority: bool
) -> SetupReport:
    """Subscribe the catalog events (``get``/``post``: the ACCS client's)."""
    report = SetupReport(priority=priority)
    supported = _names(get(SUPPORTED), "supportedList")
    existing = {s["name"]: s for s in _subscriptions(get(SUBSCRIPTIONS))}
    for name in CATALOG_EVENTS:
        if name in existing:
            report.existing.append(name)
            have = {
                f.get("name") for f in existing[name].get("fields") or [] if isinstance(f, dict)
            }
            missing = [f for f in FIELDS[name] if f not in have and "*" not in have]
            if missing:
                report.lacking[name] = missing
            continue
        if name not in supported:
            report.unsupported.append(name)
            continue
        if _subscribe(post, name, priority):
            report.subscribed.append(name)
        else:
            report.existing.append(name)
    return report


def _subscribe(post: Callable[[str, Any], Any], name: str, priority: bool) -> bool:
    """Subscribe ``name``; False when ACCS says it already exists."""
    body = {
        "event": {
            "name": name,
            "fields": [{"name": f} for f in FIELDS[name]],
            "priority": priority,
        }
    }
    try:
        answer = post(SUBSCRIBE, body)
    except FatalApiError as exc:
        if exc.status == 400 and "already exists" in exc.message:
            return False
        raise
    if answer is not True:
        raise InvalidResponse(
            f"ACCS answered eventSubscribe for {name} with {escape_control(repr(answer)[:80])} "
            "instead of true"
        )
    log.info("subscribed %s (fields %s, priority %s)", name, ", ".join(FIELDS[name]), priority)
    return True


def _names(answer: Any, what: str) -> set[str]:
    if not isinstance(answer, list) or not all(isinstance(n, str) for n in answer):
        raise InvalidResponse(f"ACCS answered {what} with something other than a list of names")
    return set(answer)


def _subscriptions(answer: Any) -> list[dict[str, Any]]:
    if not isinstance(answer, list):
        raise InvalidResponse(
            "ACCS answered getEventSubscriptions with something other than a list"
        )
    return [s for s in answer if isinstance(s, dict) and isinstance(s.get("name"), str)]
