"""``accs-sync migrate``, ``status`` (database only) and ``check`` (the read-only doctor)."""

from __future__ import annotations

import argparse
import logging

from sync.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    database,
    log_format,
    overrides,
    print_json,
    setup_command_logging,
)
from sync.redact import SecretFilter

__all__ = ["cmd_check", "cmd_migrate", "cmd_status"]


def cmd_migrate(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.db.engine import redacted_url
    from sync.db.migrate import current_revision, ensure_schema

    with database(args, secrets, None) as (url, engine):
        ensure_schema(engine)
        if logging.getLogger().isEnabledFor(logging.INFO):  # SYNC_LOG_LEVEL=WARNING: silent
            print(f"{redacted_url(url)} is at revision {current_revision(engine)}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.status import read_status, status_json, status_text

    with database(args, secrets, "WARNING", read_only=True) as (url, engine):
        report = read_status(engine, url, runs=args.runs)
    # Non-zero when the last run failed, so `status` doubles as a health check.
    code = EXIT_OK if report.healthy else EXIT_FAILED
    if args.json:
        print_json({**status_json(report), "exit_code": code}, secrets)
    else:
        print(secrets.scrub(status_text(report)))
    return code


def cmd_check(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.doctor import render_json, render_text, run_check, verdict

    # WARNING: the findings are the report; INFO lines about the mint would repeat them.
    setup_command_logging(args, secrets, "WARNING", log_format(args))
    findings = run_check(args.config, overrides(args), secrets)
    if args.json:
        print_json(render_json(findings), secrets)
    else:
        print(render_text(findings))
    return verdict(findings)
