"""Adobe IMS OAuth server-to-server tokens, and the ``requests`` auth that attaches them.

:class:`ImsClientCredentials` mints tokens with ``grant_type=client_credentials`` and caches one
until shortly before it expires; a lock makes concurrent callers share one mint. Adobe throttles
integrations that mint too many tokens, so minting is the exception, not the rule.

:class:`BearerAuth` only attaches the current token and, on a 401, asks the provider for a fresh
one and re-sends the request once (the pattern of ``requests.auth.HTTPDigestAuth.handle_401``).
A second 401 is left for :mod:`sync.api.classify` to turn into an :class:`~sync.errors.AuthError`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from sync.api.audit import AuthAudit
from sync.api.classify import raise_for_network
from sync.api.ims import ClientSecret, TokenAnswer, parse_token_answer
from sync.api.token_store import MemoryTokenStore, StoredToken, TokenStore, cache_key
from sync.clock import Clock
from sync.errors import AuthError, ConfigError, CredentialsRejected
from sync.redact import redact_url

__all__ = [
    "AccessToken",
    "AuthAudit",
    "BearerAuth",
    "ImsClientCredentials",
    "TokenProvider",
    "refresh_margin",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


class TokenProvider(Protocol):
    """Hands out a valid access token; told when ACCS rejected one."""

    def get_token(self) -> str:
        """A token that is valid now (minting one if needed)."""

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (ACCS answered 401 to it) so the next call mints a new one."""


@dataclass(frozen=True)
class AccessToken:
    """A token and when (wall-clock epoch seconds, comparable across processes) to stop using
    it. The repr hides the value."""

    value: str
    refresh_at: float
    expires_in: float

    def __repr__(self) -> str:
        return f"AccessToken(value=***, expires_in={self.expires_in:.0f})"


def refresh_margin(lifetime: float) -> float:
    """How long before expiry to renew: 5 minutes or 10% of the lifetime, whichever is larger,
    but never more than half the lifetime (short-lived test tokens still get used)."""
    return min(max(300.0, lifetime * 0.1), lifetime / 2)


class ImsClientCredentials:
    """A shared, locked, clock-driven cache of one IMS token (``client_credentials`` grant).

    Two levels of cache: this object (threads of one process share it under a lock) and a
    :class:`~sync.api.token_store.TokenStore` (processes share it under a file lock). A mint
    happens only when both hold nothing usable, and with both locks held, so 16 threads or
    three cron runs still mint once.
    """

    flow = "client_credentials"

    def __init__(
        self,
        session: requests.Session,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | Callable[[], SecretStr] | Sequence[ClientSecret],
        scopes: list[str],
        clock: Clock,
        timeout: float | tuple[float, float] = (10.0, 30.0),
        on_mint: Callable[[str], None] | None = None,
        store: TokenStore | None = None,
        audit: AuthAudit | None = None,
    ) -> None:
        self._session = session
        self._token_url = token_url
        self._client_id = client_id
        self._secrets = _as_sources(client_secret)
        self._scopes = scopes
        self._clock = clock
        self._timeout = timeout
        self._on_mint = on_mint
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.audit = audit if audit is not None else AuthAudit()
        self._key = cache_key(token_url, client_id, scopes, self.flow)
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        #: Whether anyone asked for a token yet (a warm-up comes too late after that).
        self._asked = False
        #: A warm-up's failure, raised to the next caller instead of asking IMS again.
        self._warm_failure: Exception | None = None
        self.mints = 0
        #: Whether IMS answered once (see :class:`~sync.errors.Unreachable`).
        self.answered = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self._token_url!r}, client_id={self._client_id!r})"
        )

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def warm_up(self) -> None:
        """Get the token now, so that the first request finds it: a run calls this on a
        thread of its own at start-up, while the database is checked (at a high latency one
        round trip less before paging starts). A failure is kept for the next caller of
        :meth:`get_token`, which raises it instead of asking IMS again, so a warm-up adds no
        attempt to those the request's retry policy makes; after a caller asked, it does
        nothing."""
        with self._lock:
            if self._asked:
                return
            try:
                self._get_token()
            except Exception as exc:  # noqa: BLE001 - the first caller's error, raised there
                self._warm_failure = exc

    def get_token(self) -> str:
        with self._lock:
            failure, self._warm_failure = self._warm_failure, None
            if failure is not None:
                raise failure
            return self._get_token()

    def _get_token(self) -> str:
        """The token, from this cache, the store or a mint (the lock held)."""
        self._asked = True
        token = self._token
        if token is not None and self._now() < token.refresh_at:
            return token.value
        with self.store.locked():
            # Another process may have minted while we waited for the lock: re-read.
            stored = self.store.load(self._key)
            now = self._now()
            if stored is not None and stored.refresh_token and self._on_mint is not None:
                self._on_mint(stored.refresh_token)
            if stored is not None and stored.usable(now) and stored.access_token:
                log.debug("using the cached IMS access token (%s)", self.store)
                token = AccessToken(stored.access_token, stored.refresh_at, stored.expires_at - now)
            else:
                # No retry here: a failed mint surfaces as the request's own (retriable)
                # error, so the one retry policy around the request bounds attempts.
                try:
                    token = self._renew(stored)
                except Exception:
                    self.audit.failed_mint()
                    raise
        if self._on_mint is not None:
            self._on_mint(token.value)
        self._token = token
        return token.value

    def invalidate(self, token: str) -> None:
        with self._lock:
            # Only drop the token that was rejected: a thread that already minted a new one
            # must not have it thrown away by a late 401 on the old one.
            if self._token is not None and self._token.value == token:
                self._token = None
        # The same rule across processes: compare-and-delete in the shared store.
        if self.store.drop_access_token(self._key, token):
            log.info("dropped the rejected access token from the token cache")

    def _renew(self, stored: StoredToken | None) -> AccessToken:
        answer = self._mint_client_credentials()
        token = self._remember(answer, stored)
        self.mints += 1
        self.audit.count("token_mints")
        self.audit.event("mint", "client_credentials", self._clock.now())
        log.info(
            "minted an IMS access token (client_credentials, valid %.0fs) from %s",
            token.expires_in,
            redact_url(self._token_url),
        )
        return token

    def _remember(self, answer: TokenAnswer, stored: StoredToken | None) -> AccessToken:
        """Cache a fresh answer here and in the store (keeping or rotating a refresh token)."""
        now = self._now()
        lifetime = answer.expires_in
        token = AccessToken(
            value=answer.access_token,
            refresh_at=now + lifetime - refresh_margin(lifetime),
            expires_in=lifetime,
        )
        refresh = answer.refresh_token or (stored.refresh_token if stored else None)
        if self._on_mint is not None:
            for value in (answer.access_token, answer.refresh_token):
                if value:
                    self._on_mint(value)  # masked in logs from now on
        self.store.save(
            self._key,
            StoredToken(
                access_token=token.value,
                refresh_at=token.refresh_at,
                expires_at=now + lifetime,
                refresh_token=refresh,
            ),
            now=now,
        )
        return token

    def _post(self, form: dict[str, str], grant: str) -> TokenAnswer:
        url = redact_url(self._token_url)
        try:
            response = self._session.post(self._token_url, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise raise_for_network(
                exc, self._token_url, setting="IMS_TOKEN_URL", first_contact=not self.answered
            ) from None
        self.answered = True
        return parse_token_answer(response, url, grant, self._scopes)

    def _read_secret(self, source: ClientSecret) -> str:
        value = source.read().get_secret_value()
        if self._on_mint is not None:
            self._on_mint(value)  # the log filter learns a rotated secret before any use
        return value

    def _mint_client_credentials(self) -> TokenAnswer:
        return self.with_secret(
            lambda secret: self._post(
                {
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": secret,
                    "scope": ",".join(self._scopes),
                },
                "client_credentials",
            )
        )

    def with_secret(self, call: Callable[[str], T]) -> T:
        """``call`` with the client secret; on ``invalid_client``, again with the next one
        (``IMS_CLIENT_SECRET_NEXT``). Logs and counts a fallback; names, never values."""
        sources = list(self._secrets)
        for index, source in enumerate(sources):
            try:
                answer = call(self._read_secret(source))
            except CredentialsRejected as exc:
                if index + 1 < len(sources):
                    log.warning(
                        "IMS rejected %s (invalid_client); trying %s",
                        source.name,
                        sources[index + 1].name,
                    )
                    continue
                if index:
                    tried = " and ".join(s.name for s in sources)
                    raise CredentialsRejected(
                        f"{exc.message} (tried {tried})", status=exc.status, url=exc.url
                    ) from None
                raise
            if index:
                log.info(
                    "IMS accepted %s after rejecting %s; using it from now on (update the "
                    "primary secret when you can)",
                    source.name,
                    sources[0].name,
                )
                self.audit.count("secret_fallbacks")
                self.audit.event(
                    "secret_fallback",
                    f"{source.name} accepted after IMS rejected {sources[0].name}",
                    self._clock.now(),
                )
                # The one that worked goes first: later mints need no failed request.
                self._secrets = [source, *(s for s in sources if s is not source)]
            return answer
        raise ConfigError("no IMS client secret is configured", setting="IMS_CLIENT_SECRET")


def _as_sources(
    secret: SecretStr | Callable[[], SecretStr] | Sequence[ClientSecret],
) -> list[ClientSecret]:
    if isinstance(secret, SecretStr):
        return [ClientSecret("IMS_CLIENT_SECRET", value=secret)]
    if callable(secret):
        return [_CallableSecret("IMS_CLIENT_SECRET", read_fn=secret)]
    sources = list(secret)
    if not sources:
        raise ConfigError("no IMS client secret is configured", setting="IMS_CLIENT_SECRET")
    return sources


@dataclass(frozen=True, repr=False)
class _CallableSecret(ClientSecret):
    read_fn: Callable[[], SecretStr] | None = None

    def read(self) -> SecretStr:
        assert self.read_fn is not None
        return self.read_fn()


def origin_of(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url`` as requests sends it (an internationalised host in its
    IDNA form), the port spelled out when it is the scheme's default."""
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except requests.RequestException:
        return ("", "", None)  # never equal to a URL requests can send
    parts = urlsplit(prepared.url or "")
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


_DEFAULT_PORTS = {"http": 80, "https": 443}


class BearerAuth(requests.auth.AuthBase):
    """Attach ``Authorization: Bearer``; on a 401, refresh the token and re-send once.

    Only for ``origin`` (``API_ENDPOINT``): a request to any other scheme, host or port gets no
    token, and its 401 is handed back untouched, with no token minted for it.
    """

    def __init__(
        self,
        provider: TokenProvider,
        *,
        origin: str,
        on_refresh: Callable[[], None] | None = None,
        audit: AuthAudit | None = None,
    ) -> None:
        self.provider = provider
        self.origin = origin_of(origin)
        self.on_refresh = on_refresh
        self.audit = audit

    def __repr__(self) -> str:
        return f"BearerAuth({self.provider!r})"

    def _ours(self, request: requests.PreparedRequest) -> bool:
        return origin_of(request.url or "") == self.origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if not self._ours(request):
            log.warning(
                "not sending the access token to %s: only API_ENDPOINT's origin gets it",
                redact_url(request.url or ""),
            )
            return request
        request.headers["Authorization"] = f"Bearer {self.provider.get_token()}"
        request.register_hook("response", self.handle_401)  # type: ignore[no-untyped-call]
        return request

    def handle_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if (
            response.status_code != 401
            or getattr(response.request, "_accs_retried", False)
            or not self._ours(response.request)
        ):
            return response
        sent = response.request.headers.get("Authorization", "")
        self.provider.invalidate(sent.removeprefix("Bearer "))
        log.info("ACCS answered 401; refreshing the access token and retrying once")
        if self.audit is not None:
            self.audit.count("auth_retries")
        if self.on_refresh is not None:
            self.on_refresh()
        # The session's adapter has read the body already: this only releases the connection.
        _ = response.content
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {self.provider.get_token()}"
        retry._accs_retried = True  # type: ignore[attr-defined]
        connection = response.connection
        if connection is None:  # pragma: no cover - requests always sets it
            raise AuthError("cannot retry after 401: no connection adapter")
        # The adapter sends exactly this request: it follows no redirect (requests does that in
        # Session.send, and a 3xx comes back to the session, which refuses it).
        kwargs.pop("allow_redirects", None)
        again: requests.Response = connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again
