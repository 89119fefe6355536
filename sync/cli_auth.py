"""``accs-sync logout`` and ``accs-sync token key|forget``: ending a login, and the token cache.

* ``logout`` revokes the stored user login (refresh and access token) at IMS
  (``IMS_REVOKE_URL``), then deletes it from the token cache; a failed revocation deletes
  nothing, so it can be run again.
* ``token key`` prints a new token cache key (SYNC_TOKEN_CACHE_KEY), or with ``--keyring``
  keeps one in the OS keyring.
* ``token forget`` deletes the cached server-to-server token. Adobe documents no revocation
  for OAuth Server-to-Server tokens: after a leak, rotating the client secret is the remedy.

Each is a row of the auth audit (``sync_auth_events``), written to DATABASE_URL when it can be
(a database that cannot be reached is a warning: the command's own work is done). Heavy modules
are imported inside the commands; :mod:`sync.cli` parses and imports this module only when one
of them runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from sync.cli_common import EXIT_OK, overrides, setup_command_logging
from sync.errors import AccsSyncError, ConfigError
from sync.redact import SecretFilter

if TYPE_CHECKING:
    from sync.api.audit import AuthAudit
    from sync.settings import Settings

__all__ = ["cmd_logout", "cmd_token_forget", "cmd_token_key", "record_audit"]

log = logging.getLogger("sync")

_FORGET_ADVICE = (
    "Adobe documents no revocation for OAuth Server-to-Server tokens: if this token leaked, "
    "rotate the client secret (a new secret in the Developer Console, then delete the old "
    "one); the token itself stays valid until it expires (at most 24 hours)."
)


def record_audit(settings: Settings, secrets: SecretFilter, audit: AuthAudit) -> None:
    """Write ``audit``'s events to the auth audit in DATABASE_URL (migrating it if needed,
    as a sync would); a database that cannot take them is a warning, never an error."""
    events = audit.drain()
    if not events:
        return
    from sqlalchemy.exc import SQLAlchemyError

    from sync.db.auth_events import record_auth_events
    from sync.db.engine import make_engine, url_password
    from sync.db.faults import describe
    from sync.db.migrate import ensure_schema

    secrets.add(url_password(settings.database_url))
    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        record_auth_events(engine, events)
    except SQLAlchemyError as exc:
        log.warning(
            "the auth audit could not record %s: %s",
            ", ".join(e.event for e in events),
            describe(exc, secrets.scrub),
        )
    except AccsSyncError as exc:
        log.warning(
            "the auth audit could not record %s: %s",
            ", ".join(e.event for e in events),
            secrets.scrub(exc.message),
        )
    finally:
        engine.dispose()


def _settings(args: argparse.Namespace, secrets: SecretFilter, flow: str) -> Settings:
    from sync.settings import load_settings

    settings = load_settings(args.config, **overrides(args))
    setup_command_logging(args, secrets, settings.sync_log_level, settings.sync_log_format)
    return settings.model_copy(update={"ims_auth_flow": flow})


def cmd_logout(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.api.audit import AuthAudit
    from sync.api.retry import RetryPolicy
    from sync.api.user_tokens import ImsRefreshTokens
    from sync.app import build_ims_session, build_token_provider, warn_insecure_http
    from sync.clock import SystemClock

    settings = _settings(args, secrets, "authorization_code")
    warn_insecure_http(settings)
    clock, audit = SystemClock(), AuthAudit()
    with build_ims_session(settings) as session:
        provider = build_token_provider(settings, session, clock, secrets, audit)
        assert isinstance(provider, ImsRefreshTokens)
        retry = RetryPolicy(
            max_attempts=settings.sync_max_attempts,
            max_total_wait=settings.sync_max_retry_seconds,
            max_retry_after=settings.sync_max_retry_after,
            clock=clock,
        )
        try:
            revoked = provider.logout(settings.revoke_url, retry)
        except AccsSyncError:
            print(
                "accs-sync: logout stopped before deleting anything: the login is still "
                "stored; run `accs-sync logout` again once IMS answers",
                file=sys.stderr,
            )
            raise
        finally:
            record_audit(settings, secrets, audit)
    where = getattr(provider.store, "path", "the token cache")
    if not revoked:
        print(f"There is no stored login for this client in {where}: nothing to revoke.")
        return EXIT_OK
    print(
        f"Logged out: IMS revoked the {' and '.join(k.replace('_', ' ') for k in revoked)}, "
        f"and they are deleted from {where}. Runs with IMS_AUTH_FLOW=authorization_code now "
        "need `accs-sync login` again."
    )
    return EXIT_OK


def cmd_token_forget(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.api.audit import AuthAudit
    from sync.api.token_store import cache_key
    from sync.app import build_token_store
    from sync.clock import SystemClock

    settings = _settings(args, secrets, "client_credentials")
    store = build_token_store(settings, secrets)
    key = cache_key(
        settings.ims_token_url, settings.ims_client_id, settings.scopes, "client_credentials"
    )
    where = getattr(store, "path", None)
    if where is None:
        print("SYNC_TOKEN_CACHE=none: no token is cached between runs, nothing to forget.")
        return EXIT_OK
    gone = store.forget(key)
    if gone is None or not gone.access_token:
        print(f"No server-to-server token of this credential is cached in {where}.")
        return EXIT_OK
    audit = AuthAudit()
    audit.event(
        "token_forget",
        "client_credentials access token deleted from the cache",
        SystemClock().now(),
    )
    record_audit(settings, secrets, audit)
    print(f"Deleted the cached server-to-server access token from {where}; the next run mints.")
    print(_FORGET_ADVICE)
    return EXIT_OK


def cmd_token_key(args: argparse.Namespace, secrets: SecretFilter) -> int:
    from sync.api.cache_crypto import KEYRING_SERVICE, KEYRING_USER, new_key

    key = new_key()
    if not args.keyring:
        print(key)
        return EXIT_OK
    try:
        import keyring  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ConfigError(
            "--keyring needs the keyring extra: pip install 'accs-sync[keyring]' (or set "
            "SYNC_TOKEN_CACHE_KEY to the key `accs-sync token key` prints)"
        ) from None
    if keyring.get_password(KEYRING_SERVICE, KEYRING_USER) and not args.replace:
        raise ConfigError(
            f"the OS keyring already holds a token cache key ({KEYRING_SERVICE}/{KEYRING_USER}); "
            "--replace makes a new one (the cache written with the old one is then replaced, "
            "and a stored login is lost)"
        )
    keyring.set_password(KEYRING_SERVICE, KEYRING_USER, key)
    print(f"Stored a new token cache key in the OS keyring ({KEYRING_SERVICE}/{KEYRING_USER}).")
    return EXIT_OK
