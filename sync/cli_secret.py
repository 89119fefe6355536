"""``accs-sync secret rotate``: the client secret rotation (:mod:`sync.rotate`)."""

from __future__ import annotations

import argparse
import json
import sys

from sync.cli_common import overrides, setup_command_logging
from sync.redact import SecretFilter

__all__ = ["cmd_secret_rotate"]


def cmd_secret_rotate(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.api.audit import AuthAudit
    from sync.clock import SystemClock
    from sync.rotate import RotateOptions
    from sync.rotate_app import record_rotation, rotate_secret
    from sync.settings import load_settings

    settings = load_settings(args.config, **overrides(args))
    setup_command_logging(args, secrets, settings.sync_log_level, settings.sync_log_format)
    options = RotateOptions(
        dry_run=args.dry_run,
        idle_days=args.idle_days,
        delete_idle=args.delete_idle,
        delete_old=args.delete_old,
        print_secret=args.print,
    )
    clock, audit = SystemClock(), AuthAudit()
    report = rotate_secret(
        settings,
        options,
        clock=clock,
        secrets=secrets,
        emit=lambda v: print(v, flush=True),
        audit=audit,
    )
    if not options.dry_run:
        record_rotation(settings, report, secrets, clock, audit)
    out = sys.stderr if args.print else sys.stdout  # with --print, stdout is the secret alone
    if args.json:
        document = {**report.to_json(), "exit_code": report.exit_code}
        print(secrets.scrub(json.dumps(document, indent=2)), file=out)
    else:
        print(secrets.scrub("\n".join(report.lines())), file=out)
    return report.exit_code
