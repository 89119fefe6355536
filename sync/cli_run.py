"""``accs-sync sync``, ``backfill``, ``reconcile`` (one run) and ``daemon`` (runs on schedules)."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    chatty,
    log,
    overrides,
    print_json,
    setup_command_logging,
)
from sync.collector import fewer_collections, setting_up
from sync.errors import ConfigError
from sync.names import PRODUCTS_NAME
from sync.redact import SecretFilter

if TYPE_CHECKING:
    from sync.app import App
    from sync.pipeline import RunKind
    from sync.settings import Settings
    from sync.stats import RunStats

__all__ = ["cmd_daemon", "cmd_run"]


def cmd_run(args: argparse.Namespace, secrets: SecretFilter) -> int:
    with fewer_collections():  # a decoded page is thousands of objects (sync/collector.py)
        return _run(args, secrets)


def _run(args: argparse.Namespace, secrets: SecretFilter) -> int:
    with setting_up():  # imports and objects that live as long as the process (collector.py)
        from sync.window import Window  # light: the token is asked for before the heavy ones

        keys = getattr(args, "keys", None)
        kind: RunKind = "refetch" if keys else args.command
        window = Window(getattr(args, "since", None), getattr(args, "until", None))
        settings, level, app = _set_up(args, secrets)
        from sync.progress import make_progress
        from sync.summary import summary_json, summary_lines
    with app:
        progress = make_progress(
            quiet=args.quiet or not chatty(level),
            interval=settings.sync_progress_seconds,
            terminal=sys.stderr.isatty(),
        )
        if progress is not None:
            app.observers.add(progress)
        try:
            stats = app.run(kind, window, resources=args.resource or None, keys=keys)
        finally:
            if progress is not None:
                progress.close()
        if settings.sync_metrics_file is not None:
            _write_metrics(settings.sync_metrics_file, app)
    if not (args.json or args.quiet) and chatty(level):  # WARNING: nothing on success
        print("\n".join(summary_lines(stats)))
    code = _run_outcome(stats)
    if args.json:
        print_json(summary_json(stats, code), secrets)
    return code


def _set_up(args: argparse.Namespace, secrets: SecretFilter) -> tuple[Settings, str, App]:
    """The run's settings, its log level and its app, built."""
    from sync.clock import SystemClock
    from sync.settings import load_settings
    from sync.tokens import start_tokens

    settings = load_settings(args.config, **overrides(args))
    level = setup_command_logging(args, secrets, settings.sync_log_level, settings.sync_log_format)
    stop_event = threading.Event()
    clock = SystemClock(stop_event)
    # The IMS token is asked for now, while the engine is imported and the schema checked.
    tokens = start_tokens(settings, clock, secrets)
    try:
        from sync.accs_side import start_accs

        # A backfill's probes go now too, on the token's heels (see sync.accs_side).
        probe_store = probe_ahead_store(args, settings)
        accs = start_accs(settings, tokens, clock, stop_event, probe_store=probe_store)
        from sync.app import build_app
        from sync.scheduler import install_stop_signals

        install_stop_signals(stop_event)
        app = build_app(
            settings,
            stop_event=stop_event,
            clock=clock,
            secrets=secrets,
            tokens=tokens,
            accs=accs,
        )
    except BaseException:
        tokens.close()
        raise
    return settings, level, app


def _run_outcome(stats: RunStats) -> int:
    """The run's exit code, its errors said on standard error."""
    if stats.status == "failed":
        print(f"accs-sync: error: {stats.error}", file=sys.stderr)
        return stats.exception.exit_code if stats.exception else EXIT_FAILED
    if stats.status == "partial":  # the other resources (and store views) were mirrored
        for line in stats.denied:
            print(f"accs-sync: error: {line}", file=sys.stderr)
        # An unknown store view code is configuration (exit 2); a refused ACL is not.
        return stats.exception.exit_code if stats.exception else EXIT_FAILED
    return EXIT_OK


def _write_metrics(path: Path, app: Any) -> None:
    """Add this run's metrics to SYNC_METRICS_FILE; a file that cannot be written is a
    warning, never the run's failure."""
    from sync.textfile import write_metrics_file

    try:
        write_metrics_file(path, app.metrics.registry)
    except (OSError, ConfigError) as exc:  # ConfigError: its lock file is a symbolic link
        log.warning("cannot write SYNC_METRICS_FILE %s: %s", path, exc)


def probe_ahead_store(args: argparse.Namespace, settings: Settings) -> str | None:
    """The store view whose products' probes a run may send before its app is built: a
    concurrent backfill's (always a full pass, which asks the id bounds even when it resumes)
    of products, over store views named in the settings (the first one); None for anything
    else, a sequential backfill included: resumed, it asks ACCS nothing before its next page
    (see :mod:`sync.accs_side`)."""
    if args.command != "backfill" or getattr(args, "keys", None) or settings.discover_stores:
        return None
    if settings.sync_concurrency <= 1:
        return None
    resources = args.resource or settings.sync_resources
    if PRODUCTS_NAME not in resources or not settings.sync_store_codes:
        return None
    return settings.sync_store_codes[0]


def cmd_daemon(args: argparse.Namespace, secrets: SecretFilter) -> int:
    with fewer_collections():
        return _daemon(args, secrets)


def _daemon(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from prometheus_client import ProcessCollector

    from sync.app import build_app, make_daemon
    from sync.health import HealthServer, ReadinessCheck
    from sync.progress import LogProgress
    from sync.scheduler import install_stop_signals
    from sync.settings import load_settings

    settings = load_settings(args.config, **overrides(args))
    setup_command_logging(args, secrets, settings.sync_log_level, settings.sync_log_format)
    stop_event = threading.Event()
    with build_app(settings, stop_event=stop_event, secrets=secrets) as app:
        daemon = make_daemon(app)
        consumer = None
        if settings.io_events_journal_url:
            from sync.events.wiring import build_consumer

            consumer = build_consumer(app)
        if settings.sync_progress_seconds > 0:
            app.observers.add(LogProgress(settings.sync_progress_seconds))
        server: HealthServer | None = None
        if settings.sync_http_port is not None:
            app.metrics.load_state(app.engine)
            ProcessCollector(registry=app.metrics.registry)
            server = HealthServer(
                settings.sync_http_host,
                settings.sync_http_port,
                app.metrics.registry,
                live=daemon.alive,
                ready=all_ready(ReadinessCheck(app.engine), consumer),
            )
            server.start()
        install_stop_signals(stop_event)
        # The event consumer beside the scheduled jobs: a journal outage only pauses it.
        events = (
            threading.Thread(target=consumer.run, name="accs-sync-events", daemon=True)
            if consumer is not None
            else None
        )
        try:
            if events is not None:
                events.start()
            daemon.run()
        finally:
            stop_event.set()
            if events is not None:
                events.join(timeout=60)
            if server is not None:
                server.close()
    return EXIT_OK


def all_ready(database: Callable[[], tuple[bool, str]], consumer: Any) -> Any:
    """/readyz: the database check, then the event consumer's (when it runs)."""
    if consumer is None:
        return database

    def check() -> tuple[bool, str]:
        ok, reason = database()
        return (ok, reason) if not ok else consumer.ready()

    return check
