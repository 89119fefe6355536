"""The ``events`` command's arguments (:mod:`sync.cli` adds them; the command itself is
:mod:`sync.events.commands`, imported only when it runs)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["add_events_parser"]


def add_events_parser(
    sub: Any,
    common: argparse.ArgumentParser,
    parser_class: type[argparse.ArgumentParser],
    command: Callable[[str, str], Any],
) -> None:
    """``events setup | status | consume`` (issue 16; :mod:`sync.events.commands`). The group
    itself takes no options: argparse's sub-parser defaults would erase one given before the
    verb."""
    events = sub.add_parser(
        "events",
        help="Adobe I/O Events: subscribe (setup), see the consumer's lag (status), consume",
        description="Changes in the mirror within seconds: ACCS publishes catalog events, the "
        "consumer reads them from the I/O Events journal (IO_EVENTS_JOURNAL_URL) and refetches "
        "what they name; scheduled polling stays the backstop. See docs/events.md.",
    )
    events.set_defaults(func=command("sync.events.commands", "cmd_events"))
    verbs = events.add_subparsers(dest="events_command", required=True, parser_class=parser_class)
    setup = verbs.add_parser(
        "setup",
        parents=[common],
        help="subscribe the catalog events with id-only fields (idempotent); says what to "
        "create in the Developer Console when IO_EVENTS_JOURNAL_URL is not set",
    )
    setup.add_argument(
        "--standard",
        action="store_true",
        help="subscribe as standard events (delivered within about a minute) instead of "
        "priority (about a second); also SYNC_EVENTS_PRIORITY=false",
    )
    status = verbs.add_parser(
        "status",
        parents=[common],
        help="subscriptions, journal position, newest event applied, lag, last error "
        "(exit 1 when the consumer's last step failed)",
    )
    consume = verbs.add_parser(
        "consume",
        parents=[common],
        help="apply the journal's events: --once until it is empty (for cron), else until "
        "SIGTERM (the daemon does this beside its schedule)",
    )
    consume.add_argument("--once", action="store_true", help="stop when the journal is empty")
    consume.add_argument("--quiet", action="store_true", help="logs at WARNING")
    for verb in (setup, status, consume):
        verb.add_argument("--json", action="store_true", help="print one JSON document")
