"""The ``accs-sync`` command: parse, validate settings once, call the app, map to exit codes.

Exit codes: 0 success (or a graceful stop), 1 the sync failed, 2 bad configuration or usage
(``check``: 1 a service failed, 2 the configuration needs fixing).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync import __version__
from sync.emulator.cli_args import add_arguments as add_emulator_arguments
from sync.emulator.cli_args import emulator_faults as emulator_faults  # re-exported
from sync.emulator.cli_args import run as run_emulator
from sync.errors import AccsSyncError, ConfigError
from sync.logs import LogFormat, remove_logging, setup_logging
from sync.redact import SecretFilter

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sync.keys import Keys
    from sync.pipeline import RunKind
    from sync.stats import RunStats

# Only what parsing the command line needs is imported here; each command imports its own
# modules (requests, SQLAlchemy, Alembic, pydantic, prometheus_client, APScheduler) inside its
# function, so `accs-sync --help` answers in a fraction of the time (bench/startup.py;
# tests/unit/test_cli_imports.py fails when a heavy import comes back up here).

__all__ = ["RESOURCE_NAMES", "main"]

log = logging.getLogger("sync")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: ``--resource``'s choices: :func:`sync.resources.resource_names`, written out because that
#: module's tables import SQLAlchemy (a test keeps the two equal).
RESOURCE_NAMES = ("products", "categories", "source_items", "attributes")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 too; keep its one-line style
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"accs-sync: error: {message}\n")


def _setup_logging(
    args: argparse.Namespace, secrets: SecretFilter, level: str, fmt: LogFormat
) -> str:
    """Logging as the flags say, else as the settings (or the command's default) say;
    ``--quiet`` raises the settings' level to WARNING (an explicit ``--log-level`` wins).
    Returns the level in force, which the command's own lines respect too."""
    if args.log_level:
        level = args.log_level
    elif getattr(args, "quiet", False) and _chatty(level):
        level = "WARNING"
    setup_logging(level, args.log_format or fmt, secrets)
    from sync.settings import environment_typos

    for warning in environment_typos():
        log.warning("%s", warning)
    return level


def _chatty(level: str) -> bool:
    """Whether ``level`` lets INFO lines (progress, the run summary) through."""
    number: int = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    return number <= logging.INFO


def _log_format(args: argparse.Namespace) -> LogFormat:
    """SYNC_LOG_FORMAT for commands that load no settings of their own (emulator, demo)."""
    if args.log_format:
        fmt: LogFormat = args.log_format
        return fmt
    from sync.settings import load_database_settings

    return load_database_settings(args.config).sync_log_format


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        out["database_url"] = args.database_url
    return out


def _window_time(text: str) -> Any:
    from sync.models import parse_window_time  # late: hashing and JSON, which help needs not

    try:
        return parse_window_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- commands ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.app import build_app
    from sync.pipeline import Window
    from sync.progress import make_progress
    from sync.scheduler import install_stop_signals
    from sync.settings import load_settings
    from sync.summary import summary_json, summary_lines

    settings = load_settings(args.config, **_overrides(args))
    level = _setup_logging(args, secrets, settings.sync_log_level, settings.sync_log_format)
    keys = getattr(args, "keys", None)
    kind: RunKind = "refetch" if keys else args.command
    window = Window(getattr(args, "since", None), getattr(args, "until", None))
    stop_event = threading.Event()
    install_stop_signals(stop_event)
    with build_app(settings, stop_event=stop_event, secrets=secrets) as app:
        progress = make_progress(
            quiet=args.quiet or not _chatty(level),
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
    if not (args.json or args.quiet) and _chatty(level):  # WARNING: nothing on success
        print("\n".join(summary_lines(stats)))
    code = _run_outcome(stats)
    if args.json:
        _print_json(summary_json(stats, code), secrets)
    return code


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


def cmd_daemon(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from prometheus_client import ProcessCollector

    from sync.app import build_app, make_daemon
    from sync.health import HealthServer, ReadinessCheck
    from sync.progress import LogProgress
    from sync.scheduler import install_stop_signals
    from sync.settings import load_settings

    settings = load_settings(args.config, **_overrides(args))
    _setup_logging(args, secrets, settings.sync_log_level, settings.sync_log_format)
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
                ready=_all_ready(ReadinessCheck(app.engine), consumer),
            )
            server.start()
        install_stop_signals(stop_event)
        # The consumer beside the scheduled jobs: a journal outage only pauses it.
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


def _all_ready(database: Callable[[], tuple[bool, str]], consumer: Any) -> Any:
    """/readyz: the database check, then the event consumer's (when it runs)."""
    if consumer is None:
        return database

    def check() -> tuple[bool, str]:
        ok, reason = database()
        return (ok, reason) if not ok else consumer.ready()

    return check


def cmd_login(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.api.auth import ImsRefreshTokens
    from sync.api.login import run_login
    from sync.api.retry import RetryPolicy
    from sync.app import build_ims_session, build_token_provider, warn_insecure_http
    from sync.clock import SystemClock
    from sync.settings import load_settings

    settings = load_settings(args.config, **_overrides(args))
    _setup_logging(args, secrets, settings.sync_log_level, settings.sync_log_format)
    warn_insecure_http(settings)
    if settings.ims_auth_flow != "authorization_code":
        log.warning(
            "IMS_AUTH_FLOW is %s: set IMS_AUTH_FLOW=authorization_code so runs use this login",
            settings.ims_auth_flow,
        )
    clock = SystemClock()
    session = build_ims_session(settings)
    with session:
        provider = build_token_provider(
            settings.model_copy(update={"ims_auth_flow": "authorization_code"}),
            session,
            clock,
            secrets,
        )
        assert isinstance(provider, ImsRefreshTokens)
        run_login(
            provider,
            authorize_base=settings.authorize_url,
            client_id=settings.ims_client_id,
            token_url=settings.ims_token_url,
            scopes=settings.scopes,
            port=settings.ims_redirect_port if args.port is None else args.port,
            timeout=settings.ims_login_timeout if args.timeout is None else args.timeout,
            retry=RetryPolicy(
                max_attempts=settings.sync_max_attempts,
                max_total_wait=settings.sync_max_retry_seconds,
                max_retry_after=settings.sync_max_retry_after,
                clock=clock,
            ),
            http_timeout=(settings.sync_connect_timeout, settings.sync_http_timeout),
            session=session,
            print_fn=lambda line: print(line, flush=True),
        )
    return EXIT_OK


@contextmanager
def _database(
    args: argparse.Namespace, secrets: SecretFilter, level: str | None, *, read_only: bool = False
) -> Iterator[tuple[str, Engine]]:
    """For commands that only need the database: its URL and an engine, disposed after.
    ``level``: the command's log level (None: SYNC_LOG_LEVEL's). ``read_only``: for commands
    that only read (a SQLite file opened read-only, never created)."""
    from sync.db.engine import make_engine, url_password
    from sync.settings import load_database_settings

    settings = load_database_settings(args.config, **_overrides(args))
    secrets.add(url_password(settings.database_url))
    _setup_logging(args, secrets, level or settings.sync_log_level, settings.sync_log_format)
    engine = make_engine(settings.database_url, read_only=read_only)
    try:
        yield settings.database_url, engine
    finally:
        engine.dispose()


def cmd_migrate(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.db.engine import redacted_url
    from sync.db.migrate import current_revision, ensure_schema

    with _database(args, secrets, None) as (url, engine):
        ensure_schema(engine)
        if logging.getLogger().isEnabledFor(logging.INFO):  # SYNC_LOG_LEVEL=WARNING: silent
            print(f"{redacted_url(url)} is at revision {current_revision(engine)}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.status import read_status, status_json, status_text

    with _database(args, secrets, "WARNING", read_only=True) as (url, engine):
        report = read_status(engine, url, runs=args.runs)
    # Non-zero when the last run failed, so `status` doubles as a health check.
    code = EXIT_OK if report.healthy else EXIT_FAILED
    if args.json:
        _print_json({**status_json(report), "exit_code": code}, secrets)
    else:
        print(secrets.scrub(status_text(report)))
    return code


def _print_json(document: dict[str, Any], secrets: SecretFilter) -> None:
    """One JSON document on stdout, with every known secret masked."""
    print(secrets.scrub(json.dumps(document, indent=2, default=str)))


def cmd_check(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.doctor import render_json, render_text, run_check, verdict

    # WARNING: the findings are the report; INFO lines about the mint would repeat them.
    _setup_logging(args, secrets, "WARNING", _log_format(args))
    findings = run_check(args.config, _overrides(args), secrets)
    if args.json:
        _print_json(render_json(findings), secrets)
    else:
        print(render_text(findings))
    return verdict(findings)


def cmd_events(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.events.commands import run_events
    from sync.settings import load_settings

    settings = load_settings(args.config, **_overrides(args))
    quiet = args.events_command != "consume" or args.quiet
    level = "WARNING" if quiet and not args.log_level else settings.sync_log_level
    _setup_logging(args, secrets, level, settings.sync_log_format)
    return run_events(args, settings, secrets)


def cmd_emulator(args: argparse.Namespace, secrets: SecretFilter) -> int:
    _setup_logging(args, secrets, "INFO", _log_format(args))
    run_emulator(args, print_fn=lambda line: print(line, flush=True))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.demo import run_demo

    _setup_logging(args, secrets, "WARNING", _log_format(args))
    database = Path(args.database).expanduser()
    folder = database.absolute().parent
    if not folder.is_dir():  # said before an emulator starts; the file itself is created
        raise ConfigError(
            f"--database {args.database!r}: the folder {str(folder)!r} does not exist",
            setting="--database",
        )
    return run_demo(products=args.products, database=database, secrets=secrets)


# -- parser ------------------------------------------------------------------------------------


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` as an argparse type: its ValueError becomes argparse's one-line error."""

    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return checked


def _add_key_arguments(parser: argparse.ArgumentParser) -> None:
    """``sync --sku / --id / --keys-from``: a pass over given keys (:mod:`sync.keyspass`)."""
    from sync.keys import parse_id, parse_sku

    keys = parser.add_argument_group(
        "a pass over given keys (refetch these products and their source items now; "
        "tombstone the ones ACCS no longer has; no watermark moves)"
    )
    keys.add_argument(
        "--sku", action="append", type=_argument(parse_sku), metavar="SKU", help="repeatable"
    )
    keys.add_argument(
        "--id",
        action="append",
        type=_argument(parse_id),
        metavar="ID",
        help="a product's entity id; repeatable",
    )
    keys.add_argument(
        "--keys-from",
        metavar="FILE",
        help="one key a line: 'sku:24-MB01' or 'id:12' (a bare line is a sku); blank lines "
        "and '#' comments are skipped; '-' reads standard input",
    )


def keys_of(args: argparse.Namespace) -> Keys | None:
    """The keys ``--sku``, ``--id`` and ``--keys-from`` name (None: an ordinary run). Raises
    ValueError with a line that says what is wrong (the CLI exits 2)."""
    from sync.keys import Keys, read_keys

    given = Keys(
        ids=tuple(getattr(args, "id", None) or ()), skus=tuple(getattr(args, "sku", None) or ())
    )
    source = getattr(args, "keys_from", None)
    if source is not None:
        if source == "-":
            given = given + read_keys(sys.stdin, "standard input")
        else:
            try:
                with open(source, encoding="utf-8-sig") as lines:  # Windows editors add a BOM
                    given = given + read_keys(lines, source)
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
                raise ValueError(f"--keys-from {source}: cannot read it ({reason})") from None
        if not given:
            raise ValueError(f"--keys-from {source}: no keys in it")
    return given or None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="accs-sync",
        description="Mirror an Adobe Commerce as a Cloud Service product catalog into SQL.",
    )
    parser.add_argument("--version", action="version", version=f"accs-sync {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML settings file (or ACCS_SYNC_CONFIG)")
    common.add_argument("--database-url", metavar="URL", help="overrides DATABASE_URL")
    common.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="overrides SYNC_LOG_LEVEL",
    )
    common.add_argument("--log-format", choices=["text", "json"], help="overrides SYNC_LOG_FORMAT")
    running = _Parser(add_help=False)
    running.add_argument(
        "--quiet",
        action="store_true",
        help="print only warnings and errors: no progress, no summary, logs at WARNING "
        "(unless --log-level says otherwise)",
    )
    running.add_argument(
        "--json",
        action="store_true",
        help="print one JSON run summary on standard output (logs stay on standard error)",
    )
    running.add_argument(
        "--resource",
        action="append",
        choices=RESOURCE_NAMES,
        metavar="NAME",
        help=f"mirror only this resource ({', '.join(RESOURCE_NAMES)}); repeat for more "
        "(default: SYNC_RESOURCES)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sync = sub.add_parser(
        "sync",
        parents=[common, running],
        help="one run: incremental if a watermark exists, else full",
    )
    _add_key_arguments(sync)
    sync.set_defaults(func=cmd_run)
    backfill = sub.add_parser(
        "backfill",
        parents=[common, running],
        help="a full pass regardless of the watermark (resumable)",
    )
    for flag, meaning in (("--since", "at or after"), ("--until", "before")):
        backfill.add_argument(
            flag,
            type=_window_time,
            metavar="TIME",
            help=f"only products and categories updated {meaning} TIME (UTC 'YYYY-MM-DD[ "
            "HH:MM:SS]' or ISO 8601); a windowed backfill never marks deletions nor moves the "
            "watermark, and skips source items (they have no updated_at)",
        )
    backfill.set_defaults(func=cmd_run)
    sub.add_parser(
        "reconcile",
        parents=[common, running],
        help="a full content pass: re-read everything, write what changed, tombstone what is gone",
        description="A full pass over each resource in SYNC_RESOURCES (or --resource): the "
        "products of each store view (resuming an unfinished pass), then categories and source "
        "items. Every item is read again and compared by content hash, so changes that leave "
        "updated_at alone (stock, images) are written; each product page tombstones the "
        "mirrored rows of its id interval that ACCS no longer has (categories and source items: "
        "once their pass completed). Like a backfill without a window.",
    ).set_defaults(func=cmd_run)
    sub.add_parser(
        "daemon",
        parents=[common],
        help="run sync on SYNC_SCHEDULE, reconcile on SYNC_RECONCILE_SCHEDULE and source items "
        "on SYNC_SOURCE_ITEMS_SCHEDULE until SIGTERM",
        description="Until SIGTERM: sync at start and on SYNC_SCHEDULE, reconcile on "
        "SYNC_RECONCILE_SCHEDULE, and source items on SYNC_SOURCE_ITEMS_SCHEDULE (a job of "
        "their own, left out of the sync, unless that schedule is off). A schedule is an "
        "interval (15m, 1h) or a crontab in UTC; the last two can be off.",
    ).set_defaults(func=cmd_daemon)
    sub.add_parser(
        "migrate", parents=[common], help="bring the database schema to the current version"
    ).set_defaults(func=cmd_migrate)
    login = sub.add_parser(
        "login",
        parents=[common],
        help="sign in as a user (OAuth authorization code) for IMS_AUTH_FLOW=authorization_code",
    )
    login.add_argument(
        "--port", type=int, default=None, help="loopback redirect port (IMS_REDIRECT_PORT)"
    )
    login.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait (IMS_LOGIN_TIMEOUT)"
    )
    login.set_defaults(func=cmd_login)
    status = sub.add_parser(
        "status",
        parents=[common],
        help="recent runs, rows per resource, watermarks and checkpoints, rejects",
        description="Read-only: the schema revision; live and deleted rows of products, "
        "categories and source items per store view; the sync state (watermarks and "
        "checkpoints, with a warning for an unusable one); the recent runs (pages, rows "
        "written, unchanged, revived, deleted, rejected, authentication counts, errors) and "
        "the rejects of the last run. Exit 1 when the last run failed (else 0), so it doubles "
        "as a health check.",
    )
    status.add_argument("--runs", type=int, default=5, help="how many recent runs to show")
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.set_defaults(func=cmd_status)
    check = sub.add_parser(
        "check",
        parents=[common],
        help="read-only doctor: credentials, ACCS per store view, database, token cache; "
        "exit 0 all good, 1 a service failed, 2 the configuration needs fixing",
    )
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.set_defaults(func=cmd_check)
    _add_events_parser(sub, common)
    emulator = sub.add_parser(
        "emulator", parents=[common], help="serve the bundled IMS + ACCS emulator"
    )
    add_emulator_arguments(emulator)
    emulator.set_defaults(func=cmd_emulator)
    demo = sub.add_parser(
        "demo", parents=[common], help="start the emulator and mirror it into SQLite"
    )
    demo.add_argument("--products", type=int, default=2046)
    demo.add_argument("--database", default="accs-sync-demo.db", help="SQLite file (replaced)")
    demo.set_defaults(func=cmd_demo)
    return parser


def _add_events_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    events = sub.add_parser(
        "events",
        help="Adobe I/O Events: subscribe (setup), see the consumer's lag (status), consume",
        description="Changes in the mirror within seconds: ACCS publishes catalog events, the "
        "consumer reads them from the I/O Events journal (IO_EVENTS_JOURNAL_URL) and refetches "
        "what they name; scheduled polling stays the backstop. See docs/events.md.",
    )
    events.set_defaults(func=cmd_events)
    verbs = events.add_subparsers(dest="events_command", required=True, parser_class=_Parser)
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
    setup.add_argument("--json", action="store_true", help="print one JSON document")
    status = verbs.add_parser(
        "status",
        parents=[common],
        help="subscriptions, journal position, newest event applied, lag, last error "
        "(exit 1 when the consumer's last step failed)",
    )
    status.add_argument("--json", action="store_true", help="print one JSON document")
    consume = verbs.add_parser(
        "consume",
        parents=[common],
        help="apply the journal's events: --once until it is empty (for cron), else until "
        "SIGTERM (the daemon does this beside its schedule)",
    )
    consume.add_argument("--once", action="store_true", help="stop when the journal is empty")
    consume.add_argument("--json", action="store_true", help="print one JSON summary")
    consume.add_argument("--quiet", action="store_true", help="logs at WARNING")


def _is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLAlchemy's, without importing SQLAlchemy for commands that never
    did (then it cannot be)."""
    if "sqlalchemy.exc" not in sys.modules:
        return False
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is not None and until is not None and since >= until:
        parser.error(
            f"--since ({since:%Y-%m-%d %H:%M:%S}) must be before "
            f"--until ({until:%Y-%m-%d %H:%M:%S})"
        )
    try:
        args.keys = keys_of(args)
    except ValueError as exc:
        parser.error(str(exc))
    secrets = SecretFilter()
    try:
        code: int = args.func(args, secrets)
        return code
    except BrokenPipeError:  # `accs-sync status | head`
        return EXIT_OK
    except ConfigError as exc:
        print(f"accs-sync: error: {secrets.scrub(exc.message)}", file=sys.stderr)
        return EXIT_USAGE
    except AccsSyncError as exc:
        print(f"accs-sync: error: {secrets.scrub(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        # Server down, wrong password, missing database: one line, no traceback, no SQL.
        from sync.db.faults import describe

        print(
            f"accs-sync: error: database error ({describe(exc, secrets.scrub)}); "
            "check DATABASE_URL and that the database server is reachable",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        remove_logging()
