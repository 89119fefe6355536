"""``accs-sync events setup | status | consume``: the command side (parsing is in
:mod:`sync.cli`, which imports this module only when the command runs)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from sync.app import build_app
from sync.cli_common import overrides, setup_command_logging
from sync.events.setup import CONSOLE_STEPS, SUBSCRIPTIONS, SetupReport, setup_events
from sync.events.wiring import build_consumer, events_status, status_text
from sync.redact import SecretFilter
from sync.scheduler import install_stop_signals
from sync.settings import Settings, load_settings

__all__ = ["cmd_events", "run_events"]

log = logging.getLogger("sync")

EXIT_OK, EXIT_FAILED = 0, 1


def cmd_events(args: argparse.Namespace, secrets: SecretFilter) -> int:
    """``accs-sync events ...``: settings, logging (WARNING unless consuming), the verb."""
    settings = load_settings(args.config, **overrides(args))
    quiet = args.events_command != "consume" or args.quiet
    level = "WARNING" if quiet else settings.sync_log_level
    setup_command_logging(args, secrets, level, settings.sync_log_format)
    return run_events(args, settings, secrets)


def run_events(args: argparse.Namespace, settings: Settings, secrets: SecretFilter) -> int:
    """One ``events`` subcommand; its exit code."""
    command: Callable[[argparse.Namespace, Settings, SecretFilter], int] = {
        "setup": _setup,
        "status": _status,
        "consume": _consume,
    }[args.events_command]
    return command(args, settings, secrets)


def _print_json(document: dict[str, Any], secrets: SecretFilter) -> None:
    print(secrets.scrub(json.dumps(document, indent=2, default=str)))


def _setup(args: argparse.Namespace, settings: Settings, secrets: SecretFilter) -> int:
    priority = settings.sync_events_priority and not args.standard
    with build_app(settings, secrets=secrets, migrate=False) as app:
        report = setup_events(app.client.get, app.client.post, priority=priority)
    configured = bool(settings.io_events_journal_url)
    if args.json:
        document = report.as_json()
        document["journal_url_set"] = configured
        if not configured:
            document["next_steps"] = CONSOLE_STEPS.splitlines()
        _print_json(document, secrets)
    else:
        print(_setup_text(report))
        if not configured:
            print()
            print(CONSOLE_STEPS)
    return EXIT_FAILED if not (report.subscribed or report.existing) else EXIT_OK


def _setup_text(report: SetupReport) -> str:
    kind = "priority" if report.priority else "standard (delivered within about a minute)"
    lines = [f"subscribed now ({kind}): {', '.join(report.subscribed) or 'none'}"]
    lines.append(f"already subscribed (left as they are): {', '.join(report.existing) or 'none'}")
    if report.unsupported:
        lines.append(
            "not allowed by this tenant (supportedList), not subscribed: "
            + ", ".join(report.unsupported)
        )
    for name, missing in report.lacking.items():
        lines.append(
            f"warning: {name} is subscribed without {', '.join(missing)}: its events cannot "
            "name what to refetch; delete that subscription in the Admin and run setup again"
        )
    return "\n".join(lines)


def _status(args: argparse.Namespace, settings: Settings, secrets: SecretFilter) -> int:
    with build_app(settings, secrets=secrets, migrate=False) as app:
        report = events_status(
            app.engine,
            settings.io_events_journal_url,
            app.clock.now(),
            subscriptions=lambda: app.client.get(SUBSCRIPTIONS),
        )
    code = EXIT_FAILED if report["last_error"] else EXIT_OK
    if args.json:
        _print_json({**report, "exit_code": code}, secrets)
    else:
        print(secrets.scrub(status_text(report)))
    return code


def _consume(args: argparse.Namespace, settings: Settings, secrets: SecretFilter) -> int:
    stop_event = threading.Event()
    install_stop_signals(stop_event)
    with build_app(settings, stop_event=stop_event, secrets=secrets) as app:
        consumer = build_consumer(app)
        if not args.once:
            consumer.run()
            return EXIT_OK
        steps = consumer.consume_once()
        if settings.sync_metrics_file is not None:
            from sync.textfile import write_metrics_file

            write_metrics_file(settings.sync_metrics_file, app.metrics.registry)
    applied = sum(s.applied for s in steps)
    duplicates = sum(s.duplicates for s in steps)
    gaps = sum(1 for s in steps if s.gap)
    line = f"events: {applied} applied, {duplicates} duplicates, {len(steps)} journal reads" + (
        f", {gaps} gap reconciled" if gaps else ""
    )
    if args.json:
        _print_json(
            {"applied": applied, "duplicates": duplicates, "reads": len(steps), "gaps": gaps},
            secrets,
        )
    else:
        print(line, file=sys.stderr if args.quiet else sys.stdout)
    return EXIT_OK
