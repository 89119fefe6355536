"""What the ``accs-sync`` commands share: exit codes, logging set up from the flags and the
settings, settings overrides from the flags, the database of database-only commands, and JSON
output with secrets masked. Imports nothing heavy at the top (see :mod:`sync.cli`)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sync.logs import LogFormat, setup_logging
from sync.redact import SecretFilter

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "chatty",
    "database",
    "log_format",
    "overrides",
    "print_json",
    "setup_command_logging",
]

log = logging.getLogger("sync")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def setup_command_logging(
    args: argparse.Namespace, secrets: SecretFilter, level: str, fmt: LogFormat
) -> str:
    """Logging as the flags say, else as the settings (or the command's default) say;
    ``--quiet`` raises the settings' level to WARNING (an explicit ``--log-level`` wins).
    Returns the level in force, which the command's own lines respect too."""
    if args.log_level:
        level = args.log_level
    elif getattr(args, "quiet", False) and chatty(level):
        level = "WARNING"
    setup_logging(level, args.log_format or fmt, secrets)
    from sync.settings import environment_typos

    for warning in environment_typos():
        log.warning("%s", warning)
    return level


def chatty(level: str) -> bool:
    """Whether ``level`` lets INFO lines (progress, the run summary) through."""
    number: int = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    return number <= logging.INFO


def log_format(args: argparse.Namespace) -> LogFormat:
    """SYNC_LOG_FORMAT for commands that load no settings of their own (emulator, demo)."""
    if args.log_format:
        fmt: LogFormat = args.log_format
        return fmt
    from sync.settings import load_database_settings

    return load_database_settings(args.config).sync_log_format


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        out["database_url"] = args.database_url
    return out


@contextmanager
def database(
    args: argparse.Namespace, secrets: SecretFilter, level: str | None, *, read_only: bool = False
) -> Iterator[tuple[str, Engine]]:
    """For commands that only need the database: its URL and an engine, disposed after.
    ``level``: the command's log level (None: SYNC_LOG_LEVEL's). ``read_only``: for commands
    that only read (a SQLite file opened read-only, never created)."""
    from sync.db.engine import make_engine, url_password
    from sync.settings import load_database_settings

    settings = load_database_settings(args.config, **overrides(args))
    secrets.add(url_password(settings.database_url))
    setup_command_logging(args, secrets, level or settings.sync_log_level, settings.sync_log_format)
    engine = make_engine(settings.database_url, read_only=read_only)
    try:
        yield settings.database_url, engine
    finally:
        engine.dispose()


def print_json(document: dict[str, Any], secrets: SecretFilter) -> None:
    """One JSON document on stdout, with every known secret masked."""
    print(secrets.scrub(json.dumps(document, indent=2, default=str)))
