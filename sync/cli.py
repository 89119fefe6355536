"""The ``accs-sync`` command: parse, validate settings once, call the app, map to exit codes.

Each command lives in a module of its group: :mod:`sync.cli_run` (sync, backfill, reconcile,
daemon), :mod:`sync.cli_admin` (migrate, status, check), :mod:`sync.cli_auth` (logout, token),
:mod:`sync.cli_tools` (login, emulator, demo), :mod:`sync.cli_secret` (secret rotate);
:mod:`sync.cli_common` holds what they share.

Exit codes: 0 success (or a graceful stop), 1 the sync failed, 2 bad configuration or usage
(``check``: 1 a service failed, 2 the configuration needs fixing).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sync import __version__, names
from sync.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from sync.collector import leave_to_exit, process_entry
from sync.emulator.cli_args import add_arguments as add_emulator_arguments
from sync.errors import AccsSyncError, ConfigError
from sync.events.parser import add_events_parser
from sync.logs import remove_logging
from sync.redact import SecretFilter

if TYPE_CHECKING:
    from sync.keys import Keys

# Only what parsing the command line needs is imported here; each command's module
# (sync.cli_run, cli_admin, cli_tools) is imported when the command runs, and imports its own
# modules (requests, SQLAlchemy, Alembic, pydantic, prometheus_client, APScheduler) inside its
# function, so `accs-sync --help` answers in a fraction of the time (bench/startup.py;
# tests/unit/test_cli_imports.py fails when a heavy import comes back up here).

__all__ = ["RESOURCE_NAMES", "main"]

#: ``--resource``'s choices (:func:`sync.resources.resource_names`, without importing it).
RESOURCE_NAMES = names.RESOURCE_NAMES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 too; keep its one-line style
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"accs-sync: error: {message}\n")


def _window_time(text: str) -> Any:
    from sync.accs_time import parse_window_time  # late: help needs none of it

    try:
        return parse_window_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- parser ------------------------------------------------------------------------------------


Command = Callable[[argparse.Namespace, SecretFilter], int]


def _command(module: str, name: str) -> Command:
    """The command ``module.name``, imported only when it runs (help needs none of them)."""

    def run(args: argparse.Namespace, secrets: SecretFilter) -> int:
        command: Command = getattr(importlib.import_module(module), name)
        return command(args, secrets)

    return run


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
    sync.set_defaults(func=_command("sync.cli_run", "cmd_run"))
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
    backfill.set_defaults(func=_command("sync.cli_run", "cmd_run"))
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
    ).set_defaults(func=_command("sync.cli_run", "cmd_run"))
    sub.add_parser(
        "daemon",
        parents=[common],
        help="run sync on SYNC_SCHEDULE, reconcile on SYNC_RECONCILE_SCHEDULE and source items "
        "on SYNC_SOURCE_ITEMS_SCHEDULE until SIGTERM",
        description="Until SIGTERM: sync at start and on SYNC_SCHEDULE, reconcile on "
        "SYNC_RECONCILE_SCHEDULE, and source items on SYNC_SOURCE_ITEMS_SCHEDULE (a job of "
        "their own, left out of the sync, unless that schedule is off). A schedule is an "
        "interval (15m, 1h) or a crontab in UTC; the last two can be off.",
    ).set_defaults(func=_command("sync.cli_run", "cmd_daemon"))
    sub.add_parser(
        "migrate", parents=[common], help="bring the database schema to the current version"
    ).set_defaults(func=_command("sync.cli_admin", "cmd_migrate"))
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
    login.set_defaults(func=_command("sync.cli_tools", "cmd_login"))
    sub.add_parser(
        "logout",
        parents=[common],
        help="revoke the stored login at IMS (IMS_REVOKE_URL) and delete it from the token cache",
        description="Revoke the stored user login (refresh token, then access token) at IMS "
        "(IMS_REVOKE_URL, default <IMS_TOKEN_URL origin>/ims/revoke), then delete it from the "
        "token cache; a failed revocation deletes nothing (run it again). Later runs with "
        "IMS_AUTH_FLOW=authorization_code exit 2 until `accs-sync login`. A row of the auth "
        "audit (status).",
    ).set_defaults(func=_command("sync.cli_auth", "cmd_logout"))
    token = sub.add_parser("token", help="the token cache: make a key, or forget a cached token")
    actions = token.add_subparsers(dest="token_command", required=True, parser_class=_Parser)
    key = actions.add_parser(
        "key",
        parents=[common],
        help="print a new SYNC_TOKEN_CACHE_KEY (URL-safe base64 of 32 random bytes)",
    )
    key.add_argument(
        "--keyring", action="store_true", help="keep it in the OS keyring instead (keyring extra)"
    )
    key.add_argument("--replace", action="store_true", help="with --keyring: replace a key there")
    key.set_defaults(func=_command("sync.cli_auth", "cmd_token_key"))
    actions.add_parser(
        "forget",
        parents=[common],
        help="delete the cached server-to-server token (after a leak, rotate the client secret)",
        description="Delete this credential's cached server-to-server access token; the next "
        "run mints a new one. Adobe documents no revocation for OAuth Server-to-Server tokens: "
        "after a leak, rotate the client secret (docs/security.md).",
    ).set_defaults(func=_command("sync.cli_auth", "cmd_token_forget"))
    status = sub.add_parser(
        "status",
        parents=[common],
        help="recent runs, rows per resource, watermarks and checkpoints, rejects",
        description="Read-only: the schema revision; live and deleted rows of products, "
        "categories and source items per store view; the sync state (watermarks and "
        "checkpoints, with a warning for an unusable one); the recent runs (pages, rows "
        "written, unchanged, revived, deleted, rejected, authentication counts, errors), "
        "the rejects of the last run and the auth audit's last events (logins, logouts, "
        "revocations, mints, secret fallbacks). Exit 1 when the last run failed (else 0), so "
        "it doubles as a health check.",
    )
    status.add_argument("--runs", type=int, default=5, help="how many recent runs to show")
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.set_defaults(func=_command("sync.cli_admin", "cmd_status"))
    check = sub.add_parser(
        "check",
        parents=[common],
        help="read-only doctor: credentials, ACCS per store view, database, token cache; "
        "exit 0 all good, 1 a service failed, 2 the configuration needs fixing",
    )
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.set_defaults(func=_command("sync.cli_admin", "cmd_check"))
    _add_secret_parser(sub, common)
    emulator = sub.add_parser(
        "emulator", parents=[common], help="serve the bundled IMS + ACCS emulator"
    )
    add_emulator_arguments(emulator)
    emulator.set_defaults(func=_command("sync.cli_tools", "cmd_emulator"))
    demo = sub.add_parser(
        "demo", parents=[common], help="start the emulator and mirror it into SQLite"
    )
    demo.add_argument("--products", type=int, default=2046)
    demo.add_argument("--database", default="accs-sync-demo.db", help="SQLite file (replaced)")
    demo.set_defaults(func=_command("sync.cli_tools", "cmd_demo"))
    add_events_parser(sub, common, _Parser, _command)
    return parser


def _add_secret_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    secret = sub.add_parser(
        "secret", help="the credential's client secrets (IMS_CREDENTIAL_ID): rotate"
    )
    actions = secret.add_subparsers(dest="secret_command", required=True, parser_class=_Parser)
    rotate = actions.add_parser(
        "rotate",
        parents=[common],
        help="create a client secret, prove it, promote it, delete the old one",
        description="Rotate the client secret of IMS_CREDENTIAL_ID through Adobe's I/O "
        "Management API, so that running processes keep minting: create a secret, write it to "
        "IMS_CLIENT_SECRET_NEXT_FILE (or --print it), mint a token with it, make it the "
        "secret in IMS_CLIENT_SECRET_FILE (processes read it at their next mint), and delete "
        "the old one once nothing uses it. Exit 0 done (see 'left:'), 1 a step failed (the "
        "old secret still works), 2 refused (two secrets exist) or misconfigured. See "
        "docs/security.md.",
    )
    rotate.add_argument("--dry-run", action="store_true", help="list and show the plan only")
    rotate.add_argument(
        "--idle-days",
        type=_argument(_idle_days),
        default=7.0,
        metavar="DAYS",
        help="with two secrets, the older must be unused this long to be deleted (default 7)",
    )
    rotate.add_argument(
        "--delete-idle",
        action="store_true",
        help="with two secrets, delete the older one if idle for --idle-days (else: refuse)",
    )
    rotate.add_argument(
        "--delete-old",
        action="store_true",
        help="delete the old secret once the new one is promoted, even if it was used since",
    )
    rotate.add_argument(
        "--print",
        action="store_true",
        help="print the new secret once on standard output (for a secret manager) instead of "
        "writing IMS_CLIENT_SECRET_NEXT_FILE; the report goes to standard error",
    )
    rotate.add_argument("--json", action="store_true", help="print the report as JSON")
    rotate.set_defaults(func=_command("sync.cli_secret", "cmd_secret_rotate"))


def _idle_days(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3650:
        raise ValueError(f"--idle-days must be from 0 to 3650, not {text}")
    return value


def _is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLAlchemy's, without importing SQLAlchemy for commands that never
    did (then it cannot be)."""
    if "sqlalchemy.exc" not in sys.modules:
        return False
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError)


def entry(argv: Sequence[str] | None = None) -> int:
    """The ``accs-sync`` process (the console script and ``python -m sync``): :func:`main`,
    then what is alive is left to the process's exit (:func:`sync.collector.leave_to_exit`)."""
    process_entry()
    try:
        return main(argv)
    finally:
        leave_to_exit()


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
