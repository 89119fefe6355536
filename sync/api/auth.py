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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from pydantic import SecretStr

from sync.api.classify import parse_retry_after, raise_for_network
from sync.clock import Clock
from sync.errors import ApiError, AuthError, InvalidResponse, RateLimited, RetriableApiError
from sync.redact import redact_url

__all__ = ["AccessToken", "BearerAuth", "ImsClientCredentials", "TokenProvider", "refresh_margin"]

log = logging.getLogger(__name__)


class TokenProvider(Protocol):
    """Hands out a valid access token; told when ACCS rejected one."""

    def get_token(self) -> str:
        """A token that is valid now (minting one if needed)."""

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (ACCS answered 401 to it) so the next call mints a new one."""


@dataclass(frozen=True)
class AccessToken:
    """A token and when (monotonic seconds) to stop using it. The repr hides the value."""

    value: str
    refresh_at: float
    expires_in: float

    def __repr__(self) -> str:
        return f"AccessToken(value=***, expires_in={self.expires_in:.0f})"


def refresh_margin(lifetime: float) -> float:
    """How long before expiry to renew: 5 minutes or 10% of the lifetime, whichever is larger,
    but never more than half the lifetime (short-lived test tokens still get used)."""
    return min(max(300.0, lifetime * 0.1), lifetime / 2)


def _normalise_expires_in(value: Any) -> float:
    """``expires_in`` in seconds. Older IMS endpoints answered milliseconds (86399000)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        else:
            raise InvalidResponse("IMS token answer has no numeric expires_in")
    seconds = float(value)
    if seconds > 10 * 86400:  # a lifetime over 10 days only makes sense as milliseconds
        seconds /= 1000.0
    if seconds <= 0:
        raise InvalidResponse("IMS token answer has a non-positive expires_in")
    return seconds


_IMS_ADVICE = {
    "invalid_client": "IMS rejected the client id or secret (invalid_client): check IMS_CLIENT_ID "
    "and IMS_CLIENT_SECRET in the Adobe Developer Console credential",
    "invalid_scope": "IMS refused a scope (invalid_scope): check IMS_SCOPES against the scopes "
    "of the credential in the Adobe Developer Console",
    "unauthorized_client": "IMS says this client may not use the client_credentials grant "
    "(unauthorized_client): use an OAuth Server-to-Server credential",
}


class ImsClientCredentials:
    """A shared, locked, clock-driven cache of one IMS client-credentials token."""

    def __init__(
        self,
        session: requests.Session,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | Callable[[], SecretStr],
        scopes: list[str],
        clock: Clock,
        timeout: float | tuple[float, float] = (10.0, 30.0),
        on_mint: Callable[[str], None] | None = None,
    ) -> None:
        self._session = session
        self._token_url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._scopes = scopes
        self._clock = clock
        self._timeout = timeout
        self._on_mint = on_mint
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.mints = 0

    def __repr__(self) -> str:
        return f"ImsClientCredentials(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def get_token(self) -> str:
        with self._lock:
            token = self._token
            if token is None or self._clock.monotonic() >= token.refresh_at:
                # No retry here: a failed mint surfaces as the request's own (retriable) error,
                # so the one retry policy around the request bounds attempts and total time.
                token = self._token = self._mint()
            return token.value

    def invalidate(self, token: str) -> None:
        with self._lock:
            # Only drop the token that was rejected: a thread that already minted a new one
            # must not have it thrown away by a late 401 on the old one.
            if self._token is not None and self._token.value == token:
                self._token = None

    def _secret_value(self) -> str:
        secret = self._secret() if callable(self._secret) else self._secret
        return secret.get_secret_value()

    def _mint(self) -> AccessToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._secret_value(),
            "scope": ",".join(self._scopes),
        }
        url = redact_url(self._token_url)
        try:
            response = self._session.post(self._token_url, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise raise_for_network(exc, self._token_url) from None
        token = self._parse(response, url)
        self.mints += 1
        if self._on_mint is not None:
            self._on_mint(token.value)
        log.info("minted an IMS access token (valid %.0fs) from %s", token.expires_in, url)
        return token

    def _parse(self, response: requests.Response, url: str) -> AccessToken:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status == 429:
            raise RateLimited(
                "IMS rate limit on the token endpoint (429)",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                url=url,
            )
        if status >= 500:
            raise RetriableApiError(f"IMS token endpoint error {status}", status=status, url=url)
        if not isinstance(body, dict):
            kind = (
                "an HTML page" if "html" in response.headers.get("Content-Type", "") else "not JSON"
            )
            if status >= 400:
                raise ApiError(f"IMS token endpoint answered {status} with {kind}", status, url)
            raise InvalidResponse(f"IMS token endpoint answered {kind}", status=status, url=url)
        if status >= 400 or "error" in body:
            code = str(body.get("error", "unknown_error"))
            description = str(body.get("error_description", ""))
            advice = _IMS_ADVICE.get(code, f"IMS refused the token request ({code})")
            detail = f" [{description}]" if description else ""
            raise AuthError(f"{advice}{detail}", status=status, url=url)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise InvalidResponse("IMS token answer has no access_token", status=status, url=url)
        lifetime = _normalise_expires_in(body.get("expires_in"))
        refresh_at = self._clock.monotonic() + lifetime - refresh_margin(lifetime)
        return AccessToken(value=value, refresh_at=refresh_at, expires_in=lifetime)


class BearerAuth(requests.auth.AuthBase):
    """Attach ``Authorization: Bearer``; on a 401, refresh the token and re-send once."""

    def __init__(
        self, provider: TokenProvider, on_refresh: Callable[[], None] | None = None
    ) -> None:
        self.provider = provider
        self.on_refresh = on_refresh

    def __repr__(self) -> str:
        return f"BearerAuth({self.provider!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.provider.get_token()}"
        request.register_hook("response", self.handle_401)  # type: ignore[no-untyped-call]
        return request

    def handle_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, "_accs_retried", False):
            return response
        sent = response.request.headers.get("Authorization", "")
        self.provider.invalidate(sent.removeprefix("Bearer "))
        log.info("ACCS answered 401; refreshing the access token and retrying once")
        if self.on_refresh is not None:
            self.on_refresh()
        # Drain and release the connection before re-sending on it.
        _ = response.content
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {self.provider.get_token()}"
        retry._accs_retried = True  # type: ignore[attr-defined]
        connection = response.connection
        if connection is None:  # pragma: no cover - requests always sets it
            raise AuthError("cannot retry after 401: no connection adapter")
        again: requests.Response = connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again
