"""Adobe IMS, the part a server-to-server client meets: ``POST /ims/token/v3`` and its tokens.

Tokens are opaque random strings that expire by the emulator's clock, so a test can advance a
fake clock past ``expires_in`` and watch a client refresh. Error bodies are IMS's
``{"error", "error_description"}``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["REQUIRED_SCOPES", "TokenStore", "check_token_request"]

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


class TokenStore:
    """Issued tokens and their fate. ``clock`` returns naive UTC now."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def issue(self, client_id: str, lifetime: int) -> str:
        token = "eyJ" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = _Token(client_id, self._clock() + timedelta(seconds=lifetime))
        return token

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


def check_token_request(
    form: Mapping[str, str],
    *,
    client_id: str,
    client_secret: str,
    scopes: tuple[str, ...] = REQUIRED_SCOPES,
) -> tuple[int, dict[str, Any]] | None:
    """The IMS error for a bad client-credentials request, or ``None`` when it is good."""
    if form.get("grant_type") != "client_credentials":
        return _error("unsupported_grant_type", "unsupported grant_type parameter")
    if form.get("client_id") != client_id:
        return _error("invalid_client", "invalid client_id parameter")
    if not secrets.compare_digest(form.get("client_secret", "").encode(), client_secret.encode()):
        return _error("invalid_client", "invalid client_secret parameter")
    asked = [s for s in form.get("scope", "").replace(" ", ",").split(",") if s]
    unknown = [s for s in asked if s not in scopes]
    if unknown:
        return _error("invalid_scope", f"invalid scope: {','.join(unknown)}")
    missing = [s for s in scopes if s not in asked]
    if missing:
        return _error("invalid_scope", f"missing required scope: {','.join(missing)}")
    return None
