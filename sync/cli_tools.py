"""``accs-sync login`` (a user's sign-in), ``emulator`` (serve the bundled emulator) and
``demo`` (an emulator mirrored into SQLite)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sync.cli_common import EXIT_OK, log, log_format, overrides, setup_command_logging
from sync.emulator.cli_args import run as run_emulator
from sync.errors import ConfigError
from sync.redact import SecretFilter

__all__ = ["cmd_demo", "cmd_emulator", "cmd_login"]


def cmd_login(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.api.audit import AuthAudit
    from sync.api.login import run_login
    from sync.api.retry import RetryPolicy
    from sync.api.user_tokens import ImsRefreshTokens
    from sync.app import build_ims_session, build_token_provider, warn_insecure_http
    from sync.cli_auth import record_audit
    from sync.clock import SystemClock
    from sync.settings import load_settings

    settings = load_settings(args.config, **overrides(args))
    setup_command_logging(args, secrets, settings.sync_log_level, settings.sync_log_format)
    warn_insecure_http(settings)
    if settings.ims_auth_flow != "authorization_code":
        log.warning(
            "IMS_AUTH_FLOW is %s: set IMS_AUTH_FLOW=authorization_code so runs use this login",
            settings.ims_auth_flow,
        )
    clock = SystemClock()
    session = build_ims_session(settings)
    with session:
        audit = AuthAudit()
        provider = build_token_provider(
            settings.model_copy(update={"ims_auth_flow": "authorization_code"}),
            session,
            clock,
            secrets,
            audit,
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
    record_audit(settings, secrets, audit)
    return EXIT_OK


def cmd_emulator(args: argparse.Namespace, secrets: SecretFilter) -> int:
    setup_command_logging(args, secrets, "INFO", log_format(args))
    run_emulator(args, print_fn=lambda line: print(line, flush=True))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.demo import run_demo

    setup_command_logging(args, secrets, "WARNING", log_format(args))
    database = Path(args.database).expanduser()
    folder = database.absolute().parent
    if not folder.is_dir():  # said before an emulator starts; the file itself is created
        raise ConfigError(
            f"--database {args.database!r}: the folder {str(folder)!r} does not exist",
            setting="--database",
        )
    return run_demo(products=args.products, database=database, secrets=secrets)
