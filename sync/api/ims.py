"""Talking to the IMS token endpoint: client secrets, and what IMS's answers mean.

Shared by the token providers (:mod:`sync.api.auth`) and ``accs-sync login``
(:mod:`sync.api.login`), so every grant explains IMS's errors the same way:

- ``invalid_client`` -> :class:`~sync.errors.CredentialsRejected` (exit 2): id or secret wrong.
- ``invalid_scope`` -> :class:`~sync.errors.ScopeRejected`: which scope the credential lacks.
- ``invalid_grant`` on a refresh -> :class:`~sync.errors.LoginRequired`: run ``accs-sync login``.
- 429 -> :class:`~sync.errors.RateLimited` with IMS's ``Retry-After``; 5xx -> retriable.
- An HTML page (a proxy, a captive portal) -> said so, with the status.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from pydantic import SecretStr

from sync.api.classify import parse_retry_after
from sync.errors import (
    ApiError,
    AuthError,
    ConfigError,
    CredentialsRejected,
    FatalApiError,
    InvalidResponse,
    LoginRequired,
    RateLimited,
    RetriableApiError,
    ScopeRejected,
)
from sync.redact import escape_control

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "ClientSecret",
    "TokenAnswer",
    "check_revoke_answer",
    "normalise_expires_in",
    "parse_token_answer",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientSecret:
    """One client secret and where it comes from; a file is re-read at every mint, so a
    rotated Docker/Kubernetes secret is picked up without a restart. ``name`` is what logs
    and errors show (a setting name or a file path), never the value."""

    name: str
    value: SecretStr | None = None
    path: Path | None = None

    def __repr__(self) -> str:
        return f"ClientSecret({self.name!r})"

    def read(self) -> SecretStr:
        if self.path is None:
            if self.value is None:  # pragma: no cover - construction guarantees one
                raise ConfigError(f"{self.name} is empty", setting=self.name)
            return self.value
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{self.name}: cannot read the secret file {str(self.path)!r} "
                f"({type(exc).__name__}); check the path and its permissions",
                setting=self.name,
            ) from None
        if not text:
            raise ConfigError(
                f"{self.name}: the secret file {str(self.path)!r} is empty", setting=self.name
            )
        return SecretStr(text)


#: The longest lifetime a token is used for, whatever IMS says: a day, IMS's own lifetime.
MAX_TOKEN_LIFETIME = 86400.0


def normalise_expires_in(value: Any) -> float:
    """``expires_in`` in seconds. Older IMS endpoints answered milliseconds (86399000).

    Not a positive, finite number (absent, text, ``NaN``, ``Infinity``, zero, negative):
    :class:`~sync.errors.InvalidResponse`, as an answer without a token is; a lifetime cached
    as ``NaN`` would never be fresh, and every request would mint. An absurdly long one is
    capped at :data:`MAX_TOKEN_LIFETIME`.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        else:
            raise InvalidResponse("IMS token answer has no numeric expires_in")
    try:
        seconds = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return MAX_TOKEN_LIFETIME
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidResponse(
            f"IMS token answer has expires_in={value!r}, not a positive number of seconds"
        )
    if seconds > 10 * 86400:  # a lifetime over 10 days only makes sense as milliseconds
        seconds /= 1000.0
    return min(seconds, MAX_TOKEN_LIFETIME)


@dataclass(frozen=True)
class TokenAnswer:
    """A successful IMS token answer. The repr hides both tokens."""

    access_token: str
    expires_in: float
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return f"TokenAnswer(access_token=***, expires_in={self.expires_in:.0f})"


_SCOPE_WORD = re.compile(r"[A-Za-z0-9_.:/-]+")


def _scope_advice(description: str, requested: list[str]) -> str:
    words = set(_SCOPE_WORD.findall(description))
    named = [s for s in requested if s in words] or [
        w for w in words if "." in w or w in ("openid", "AdobeID", "email", "profile")
    ]
    which = ", ".join(sorted(named)) if named else "one of IMS_SCOPES"
    return (
        f"IMS refused the scope {which} (invalid_scope): the credential in the Adobe Developer "
        "Console lacks it; add the API or product profile that grants it, or remove it from "
        "IMS_SCOPES"
    )


def _error_for(
    code: str, description: str, status: int, url: str, grant: str, scopes: list[str]
) -> ApiError:
    detail = f" [{description}]" if description else ""
    if code == "invalid_client":
        return CredentialsRejected(
            "IMS rejected the client id or secret (invalid_client): check IMS_CLIENT_ID and "
            "IMS_CLIENT_SECRET (or IMS_CLIENT_SECRET_FILE) against the credential in the Adobe "
            f"Developer Console{detail}",
            status=status,
            url=url,
        )
    if code == "invalid_scope":
        return ScopeRejected(_scope_advice(description, scopes) + detail, status=status, url=url)
    if code == "invalid_grant" and grant in ("refresh_token", "authorization_code"):
        what = (
            "stored login has expired or was revoked"
            if grant == "refresh_token"
            else ("authorization code was refused (expired or already used)")
        )
        return LoginRequired(
            f"IMS says the {what} (invalid_grant): run `accs-sync login` again{detail}",
            status=status,
            url=url,
        )
    if code == "unauthorized_client":
        return AuthError(
            f"IMS says this client may not use the {grant} grant (unauthorized_client): for "
            "IMS_AUTH_FLOW=client_credentials use an OAuth Server-to-Server credential, for "
            f"authorization_code an OAuth Web App credential{detail}",
            status=status,
            url=url,
        )
    return AuthError(f"IMS refused the token request ({code}){detail}", status=status, url=url)


def parse_token_answer(
    response: requests.Response, url: str, grant: str, scopes: list[str]
) -> TokenAnswer:
    """The token in an IMS answer, or the error it stands for (see the module docstring)."""
    status = response.status_code
    html = "html" in response.headers.get("Content-Type", "").lower() or response.text[
        :200
    ].lstrip().lower().startswith(("<!doctype", "<html"))
    if status == 429:
        raise RateLimited(
            "IMS rate limit on the token endpoint (429)",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            url=url,
        )
    html_note = f"IMS answered with an HTML page (status {status})"
    if status >= 500:
        note = f": {html_note}" if html else ""
        raise RetriableApiError(f"IMS token endpoint error {status}{note}", status=status, url=url)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if html:
            raise FatalApiError(
                f"{html_note}, not a token: a proxy or captive portal may be answering for "
                "IMS_TOKEN_URL; check the URL and the proxy settings",
                status=status,
                url=url,
            )
        if status >= 400:
            raise ApiError(f"IMS token endpoint answered {status} with not JSON", status, url)
        raise InvalidResponse("IMS token endpoint answered not JSON", status=status, url=url)
    if status >= 400 or "error" in body:
        code = escape_control(str(body.get("error", "unknown_error")))
        description = escape_control(str(body.get("error_description", "")))
        raise _error_for(code, description, status, url, grant, scopes)
    value = body.get("access_token")
    if not isinstance(value, str) or not value:
        raise InvalidResponse("IMS token answer has no access_token", status=status, url=url)
    refresh = body.get("refresh_token")
    return TokenAnswer(
        access_token=value,
        expires_in=normalise_expires_in(body.get("expires_in")),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
    )


def check_revoke_answer(response: requests.Response, url: str, kind: str) -> None:
    """Nothing when IMS revoked the ``kind`` token (``/ims/revoke`` answers 200); else the
    error its answer stands for, explained as for the token endpoint (``invalid_client``:
    :class:`~sync.errors.CredentialsRejected`, so the next secret is tried)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429:
        raise RateLimited(
            "IMS rate limit on the revocation endpoint (429)",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            url=url,
        )
    if status >= 500:
        raise RetriableApiError(f"IMS revocation endpoint error {status}", status=status, url=url)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise FatalApiError(
            f"IMS answered {status} to the revocation of the {kind}, not JSON: check "
            "IMS_REVOKE_URL",
            status=status,
            url=url,
        )
    code = escape_control(str(body.get("error", "unknown_error")))
    if code == "invalid_client":
        raise _error_for(code, "", status, url, "revoke", [])
    description = escape_control(str(body.get("error_description", "")))
    detail = f" [{description}]" if description else ""
    raise AuthError(f"IMS refused to revoke the {kind} ({code}){detail}", status=status, url=url)
