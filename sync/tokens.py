"""The IMS side of an app, which a run can build and start first.

A run's first request waits for an IMS token, and at a high latency that is a round trip on
its own. :func:`start_tokens` needs only the settings: ``sync``, ``backfill`` and ``reconcile``
call it as soon as the settings are loaded, so the token is asked for on a thread of its own
(``accs-sync-token``, :meth:`~sync.api.auth.ImsClientCredentials.warm_up`) while the rest of
the app is imported and wired and the database schema is checked; :func:`sync.app.build_app`
then takes the started :class:`Tokens`. This module imports the HTTP client and the token
provider only, not the engine (``tests/unit/test_cli_imports.py`` holds it to that).

Nothing here is lost for the run that follows: a mint counts in that run's ``sync_runs`` row
(:attr:`Tokens.audit_start`) and reaches the metrics once they listen (:class:`Pending`); a
failed warm-up is the first request's error, raised without asking IMS again.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sync.api.auth import AuthAudit, ImsClientCredentials
from sync.api.cache_crypto import resolve_key
from sync.api.session import TimeoutSession, build_session
from sync.api.token_store import FileTokenStore, MemoryTokenStore, TokenStore
from sync.api.user_tokens import ImsRefreshTokens
from sync.clock import Clock
from sync.memory import bound_malloc
from sync.redact import SecretFilter, query_values

if TYPE_CHECKING:
    from sync.settings import Settings

__all__ = [
    "CLOSE_WAIT",
    "Pending",
    "Tokens",
    "build_ims_session",
    "build_token_provider",
    "build_token_store",
    "register_ims_secrets",
    "register_secrets",
    "start_tokens",
    "warn_insecure_http",
]

log = logging.getLogger(__name__)

#: Seconds :meth:`Tokens.close` waits for a token request still on its way (a mint takes well
#: under one; the request's own timeouts end it later, on a daemon thread).
CLOSE_WAIT = 5.0


class Pending:
    """An :class:`~sync.api.auth.AuthAudit` listener that keeps what it hears until a target
    is attached (the metrics, built later), then hands it over and forwards the rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[str] = []
        self._target: Callable[[str], None] | None = None

    def __call__(self, name: str) -> None:
        with self._lock:
            target = self._target
            if target is None:
                self._held.append(name)
                return
        target(name)

    def attach(self, target: Callable[[str], None]) -> None:
        with self._lock:
            held, self._held, self._target = self._held, [], target
        for name in held:
            target(name)


@dataclass
class Tokens:
    """The IMS session, the token provider and its audit, and the warm-up thread (if any)."""

    ims_session: TimeoutSession
    provider: ImsClientCredentials
    audit: AuthAudit
    #: What authentication had done before the warm-up: the first run counts from here.
    audit_start: dict[str, int]
    listener: Pending = field(default_factory=Pending)
    warming: threading.Thread | None = None

    def close(self) -> None:
        """Wait for the warm-up (at most :data:`CLOSE_WAIT` seconds: a hanging IMS must not
        hold up an exit, Ctrl-C at start-up included), then close the session."""
        if self.warming is not None:
            self.warming.join(CLOSE_WAIT)
        self.ims_session.close()


def start_tokens(
    settings: Settings, clock: Clock, secrets: SecretFilter, *, warm_up: bool = True
) -> Tokens:
    """The IMS side of an app; with ``warm_up`` its token is asked for now, on a thread named
    ``accs-sync-token`` (in the caller's log context) that never raises."""
    bound_malloc()  # before the first thread starts: see sync.memory
    warn_insecure_http(settings)
    register_ims_secrets(settings, secrets)
    ims_session = build_ims_session(settings)
    listener = Pending()
    audit = AuthAudit(on_count=listener)
    provider = build_token_provider(settings, ims_session, clock, secrets, audit)
    tokens = Tokens(ims_session, provider, audit, audit.snapshot(), listener)
    if warm_up:
        tokens.warming = threading.Thread(
            target=contextvars.copy_context().run,
            args=(provider.warm_up,),
            name="accs-sync-token",
            daemon=True,
        )
        tokens.warming.start()
    return tokens


def register_secrets(settings: Settings, secrets: SecretFilter) -> None:
    """Teach ``secrets`` the client secrets, the token cache key and the database password
    before anything runs, so no log line or printed error can show them."""
    from sync.db.engine import url_password  # late: SQLAlchemy, not needed for a token

    register_ims_secrets(settings, secrets)
    secrets.add(url_password(settings.database_url))


def register_ims_secrets(settings: Settings, secrets: SecretFilter) -> None:
    """The client secrets and the token cache key: what a token request may show (see
    :func:`register_secrets`)."""
    for value in (
        settings.ims_client_secret,
        settings.ims_client_secret_next,
        settings.sync_token_cache_key,
    ):
        secrets.add(value.get_secret_value() if value is not None else None)


def build_ims_session(settings: Settings) -> TimeoutSession:
    """IMS gets its own plain session: no bearer auth, no ACCS headers. A redirect is an error
    naming IMS_TOKEN_URL (the only URL it is used for, ``accs-sync login`` included)."""
    return build_session(
        connect_timeout=settings.sync_connect_timeout,
        read_timeout=settings.sync_http_timeout,
        setting="IMS_TOKEN_URL",
        max_response_bytes=settings.sync_max_response_bytes,
    )


def warn_insecure_http(settings: Settings) -> None:
    """Say at start-up that SYNC_ALLOW_INSECURE_HTTP is on, and what it lets through."""
    if not settings.sync_allow_insecure_http:
        return
    insecure = settings.insecure_urls()
    if insecure:
        log.warning(
            "SYNC_ALLOW_INSECURE_HTTP is on and %s use plain http:// to another host: the "
            "client secret and tokens cross the network unencrypted. Only for a test server "
            "such as the bundled emulator; never for a real tenant",
            ", ".join(insecure),
        )
    else:
        log.warning(
            "SYNC_ALLOW_INSECURE_HTTP is on (every URL is https:// or loopback, so it changes "
            "nothing now); turn it off so a mistyped http:// URL is refused"
        )


def build_token_store(settings: Settings, secrets: SecretFilter | None = None) -> TokenStore:
    """The cross-process token cache from ``SYNC_TOKEN_CACHE`` (in memory when ``none``),
    encrypted with the key of SYNC_TOKEN_CACHE_KEY(_FILE) or the OS keyring, if any."""
    path = settings.token_cache_path()
    if path is None:
        return MemoryTokenStore()
    key = resolve_key(settings.sync_token_cache_key, settings.sync_token_cache_key_file)
    if key is not None and secrets is not None:
        secrets.add(key.reveal())  # masked in logs, wherever it came from
    return FileTokenStore(path, key=key)


def build_token_provider(
    settings: Settings,
    ims_session: TimeoutSession,
    clock: Clock,
    secrets: SecretFilter,
    audit: AuthAudit | None = None,
) -> ImsClientCredentials:
    """The token provider for ``IMS_AUTH_FLOW`` (client credentials, or a user's login).

    ``secrets`` learns every value in ``IMS_TOKEN_URL``'s query first (a gateway key or a
    secret may sit there, and urllib3 logs the request line at DEBUG), then each token and
    secret the provider handles.
    """
    for query_value in query_values(settings.ims_token_url):
        secrets.add(query_value)
    cls = (
        ImsRefreshTokens if settings.ims_auth_flow == "authorization_code" else ImsClientCredentials
    )
    return cls(
        session=ims_session,
        token_url=settings.ims_token_url,
        client_id=settings.ims_client_id,
        client_secret=settings.client_secrets(),
        scopes=settings.scopes,
        clock=clock,
        timeout=(settings.sync_connect_timeout, settings.sync_http_timeout),
        on_mint=secrets.add,  # every token and secret value it handles is masked in logs
        store=build_token_store(settings, secrets),
        audit=audit,
    )
