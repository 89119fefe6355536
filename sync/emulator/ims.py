"""Adobe IMS as accs-sync meets it: ``POST /ims/token/v3`` (client_credentials,
authorization_code and refresh_token grants), ``GET /ims/authorize/v2``, ``POST /ims/revoke``,
and the tokens.

Tokens are opaque random strings that expire by the emulator's clock, so a test can advance a
fake clock past ``expires_in`` and watch a client refresh. Error bodies are IMS's
``{"error", "error_description"}``. Several client secrets can be accepted at once, as the
Developer Console allows during a rotation.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["REQUIRED_SCOPES", "Grants", "TokenStore", "check_client", "check_token_request"]

REQUIRED_SCOPES: tuple[str, ...] = (
    "openid",
    "AdobeID",
    "email",
    "profile",
    "additional_info.roles",
    "additional_info.projectedProductContext",
    "commerce.accs",
)


@dataclass
class _Token:
    client_id: str
    expires_at: datetime
    revoked: bool = False
    scopes: frozenset[str] = frozenset()


class TokenStore:
    """Issued tokens and their fate. ``clock`` returns naive UTC now."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def issue(self, client_id: str, lifetime: int, scopes: frozenset[str] = frozenset()) -> str:
        token = "eyJ" + secrets.token_urlsafe(48)
        expires = self._clock() + timedelta(seconds=lifetime)
        with self._lock:
            self._tokens[token] = _Token(client_id, expires, scopes=scopes)
        return token

    def scopes(self, token: str) -> frozenset[str] | None:
        """The scopes ``token`` was issued with, or None when it is not valid now."""
        if self.check(token) != "valid":
            return None
        with self._lock:
            return self._tokens[token].scopes

    def check(self, token: str) -> str:
        """``"valid"``, ``"unknown"``, ``"expired"`` or ``"revoked"``."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            return "unknown"
        if found.revoked:
            return "revoked"
        if self._clock() >= found.expires_at:
            return "expired"
        return "valid"

    def issued(self) -> list[str]:
        """Every token handed out so far (for tests that check tokens never leak)."""
        with self._lock:
            return list(self._tokens)

    def revoke(self, token: str) -> bool:
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                return False
            found.revoked = True
            return True

    def revoke_all(self) -> int:
        with self._lock:
            for found in self._tokens.values():
                found.revoked = True
            return len(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)


def _error(code: str, description: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": code, "error_description": description}


def check_client(
    given_id: str | None, given_secret: str | None, client_id: str, accepted: Sequence[str]
) -> tuple[int, dict[str, Any]] | None:
    """``invalid_client`` unless the id matches and the secret is one of ``accepted``."""
    if given_id != client_id:
        return _error("invalid_client", "invalid client_id parameter")
    given = (given_secret or "").encode()
    # Compare with every accepted secret (no early exit), in constant time each.
    matches = [secrets.compare_digest(given, value.encode()) for value in accepted]
    if not any(matches):
        return _error("invalid_client", "invalid client_secret parameter")
    return None


def check_token_request(
    form: Mapping[str, str],
    *,
    client_id: str,
    client_secrets: Sequence[str],
    scopes: tuple[str, ...] = REQUIRED_SCOPES,
    optional: tuple[str, ...] = (),
) -> tuple[int, dict[str, Any]] | None:
    """The IMS error for a bad client-credentials request, or ``None`` when it is good.
    ``scopes`` must all be asked for; ``optional`` ones may be too."""
    if form.get("grant_type") != "client_credentials":
        return _error("unsupported_grant_type", "unsupported grant_type parameter")
    refused = check_client(
        form.get("client_id"), form.get("client_secret"), client_id, client_secrets
    )
    if refused is not None:
        return refused
    asked = [s for s in form.get("scope", "").replace(" ", ",").split(",") if s]
    unknown = [s for s in asked if s not in scopes and s not in optional]
    if unknown:
        return _error("invalid_scope", f"invalid scope: {','.join(unknown)}")
    missing = [s for s in scopes if s not in asked]
    if missing:
        return _error("invalid_scope", f"missing required scope: {','.join(missing)}")
    return None


@dataclass
class _Grant:
    client_id: str
    expires_at: datetime
    redirect_uri: str = ""
    scope: str = ""
    spent: bool = False


class Grants:
    """Authorization codes (single use, 5 minutes) and refresh tokens (rotated on each use:
    a used refresh token is spent, as with IMS's rotating refresh tokens)."""

    CODE_LIFETIME = 300

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def issue_code(self, client_id: str, redirect_uri: str, scope: str) -> str:
        code = "eyJ" + secrets.token_urlsafe(24)
        expires = self._clock() + timedelta(seconds=self.CODE_LIFETIME)
        with self._lock:
            self._codes[code] = _Grant(client_id, expires, redirect_uri, scope)
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str) -> _Grant | None:
        """The grant behind ``code`` if it is valid for this client and redirect URI (once)."""
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or grant.spent or self._clock() >= grant.expires_at:
                return None
            if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
                return None
            grant.spent = True
            return grant

    def issue_refresh(self, client_id: str, lifetime: int, scope: str = "") -> str:
        token = "eyJ" + secrets.token_urlsafe(40)
        expires = self._clock() + timedelta(seconds=lifetime)
        with self._lock:
            self._refresh[token] = _Grant(client_id, expires, scope=scope)
        return token

    def use_refresh(self, token: str, client_id: str) -> _Grant | None:
        """The grant behind a refresh token if still valid; it is spent (rotation)."""
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or grant.spent or grant.client_id != client_id:
                return None
            if self._clock() >= grant.expires_at:
                return None
            grant.spent = True
            return grant

    def revoke_refresh(self, token: str, client_id: str) -> bool:
        """``/ims/revoke`` of one refresh token of ``client_id`` (spent from now on)."""
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or grant.client_id != client_id:
                return False
            grant.spent = True
            return True

    def revoke_refresh_tokens(self) -> int:
        with self._lock:
            for grant in self._refresh.values():
                grant.spent = True
            return len(self._refresh)

    def refresh_tokens(self) -> list[str]:
        """Every refresh token handed out (for leak tests)."""
        with self._lock:
            return list(self._refresh)
