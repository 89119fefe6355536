"""Adobe's I/O Management API for one OAuth Server-to-Server credential's client secrets.

::

    GET    {IO_MANAGEMENT_API_URL}/console/organizations/{org}/credentials/{id}/secrets
    POST   .../secrets            creates one; its value is in the answer, once
    DELETE .../secrets/{uuid}

The calls carry ``Authorization: Bearer`` and ``x-api-key`` (the client id). Their token comes
from the same client-credentials grant with ``read_client_secret`` and
``manage_client_secrets`` added to the scopes (:func:`management_scopes`): a token of its own,
cached under its own key, never the one ACCS requests use.

Every answer may be hostile: a 2xx of the wrong shape is :class:`~sync.errors.InvalidResponse`
and its body is never quoted (a created secret may be in it); an error answer is summarised
from its ``error_code``/``message`` only, escaped and cut short.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from sync.api.classify import parse_retry_after, raise_for_network
from sync.errors import (
    ApiError,
    AuthError,
    FatalApiError,
    InvalidResponse,
    PermissionDenied,
    RateLimited,
    RetriableApiError,
)
from sync.redact import escape_control, redact_url

__all__ = [
    "MANAGEMENT_SCOPES",
    "CreatedSecret",
    "SecretInfo",
    "SecretsApi",
    "management_scopes",
    "parse_time",
]

log = logging.getLogger(__name__)

MANAGEMENT_SCOPES = ("read_client_secret", "manage_client_secrets")
_UUID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_MAX_SECRETS_LISTED = 16


def management_scopes(scopes: list[str]) -> list[str]:
    """``scopes`` (IMS_SCOPES) with the two the I/O Management API needs added."""
    return [*scopes, *(s for s in MANAGEMENT_SCOPES if s not in scopes)]


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive taken as UTC), or epoch milliseconds, as
    aware UTC; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and 0 < value < 1e14:
        return datetime.fromtimestamp(value / 1000.0, UTC)
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class SecretInfo:
    """One client secret as listed: never its value."""

    uuid: str
    created: datetime
    last_used: datetime | None

    def idle_since(self) -> datetime:
        """When it was last used (its creation if never)."""
        return self.last_used or self.created


@dataclass(frozen=True)
class CreatedSecret:
    """A secret just created: the only time its value is known. The repr hides it."""

    uuid: str
    created: datetime
    value: SecretStr

    def __repr__(self) -> str:
        return f"CreatedSecret(uuid={self.uuid!r}, value=***)"


def _uuid(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise InvalidResponse(f"the I/O Management API answered {what} without a usable uuid")
    return value


def _secret_info(item: Any) -> SecretInfo:
    if not isinstance(item, dict):
        raise InvalidResponse("the I/O Management API listed a secret that is not an object")
    uuid = _uuid(item.get("uuid"), "a secret")
    created = parse_time(item.get("created"))
    if created is None:
        raise InvalidResponse(
            f"the I/O Management API listed secret {uuid} without a creation time"
        )
    usages = item.get("secret_usages") or []
    if not isinstance(usages, list):
        raise InvalidResponse(f"the I/O Management API listed secret {uuid} with bad usages")
    used = [parse_time(u.get("last_used_at")) for u in usages if isinstance(u, dict)]
    known = [u for u in used if u is not None]
    return SecretInfo(uuid, created, max(known) if known else None)


def parse_listing(body: Any) -> list[SecretInfo]:
    """The secrets in a ``GET .../secrets`` answer, oldest first."""
    items = body.get("client_secrets") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise InvalidResponse("the I/O Management API's secret list has no client_secrets list")
    if len(items) > _MAX_SECRETS_LISTED:
        raise InvalidResponse(
            f"the I/O Management API listed {len(items)} secrets; a credential has at most two"
        )
    secrets = [_secret_info(item) for item in items]
    if len({s.uuid for s in secrets}) != len(secrets):
        raise InvalidResponse("the I/O Management API listed the same secret twice")
    return sorted(secrets, key=lambda s: s.created)


def parse_created(body: Any) -> CreatedSecret:
    """The secret in a ``POST .../secrets`` answer."""
    if not isinstance(body, dict):
        raise InvalidResponse("the I/O Management API answered the new secret with no object")
    uuid = _uuid(body.get("uuid"), "the new secret")
    value = body.get("client_secret")
    if not isinstance(value, str) or not value.strip() or len(value) > 4096:
        raise InvalidResponse(
            f"the I/O Management API answered new secret {uuid} without its value"
        )
    if escape_control(value) != value or value != value.strip():
        raise InvalidResponse(
            f"the I/O Management API answered new secret {uuid} with a value that has "
            "control characters or spaces"
        )
    created = parse_time(body.get("created")) or datetime.now(UTC)
    return CreatedSecret(uuid, created, SecretStr(value))


class SecretsApi:
    """The three calls, through ``session`` (its auth attaches the management token; it
    carries ``x-api-key``)."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        org_id: str,
        credential_id: str,
        timeout: float | tuple[float, float] = (10.0, 60.0),
    ) -> None:
        self._session = session
        self._url = (
            f"{base_url.rstrip('/')}/console/organizations/{quote(org_id, safe='@')}"
            f"/credentials/{quote(credential_id, safe='')}/secrets"
        )
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SecretsApi({redact_url(self._url)!r})"

    def list(self) -> list[SecretInfo]:
        return parse_listing(self._call("GET", self._url, "list the client secrets"))

    def create(self) -> CreatedSecret:
        return parse_created(self._call("POST", self._url, "create a client secret"))

    def delete(self, uuid: str) -> None:
        self._call("DELETE", f"{self._url}/{quote(_uuid(uuid, 'a secret'), safe='')}", "delete")

    def _call(self, method: str, url: str, what: str) -> Any:
        shown = redact_url(url)
        try:
            response = self._session.request(method, url, timeout=self._timeout)
        except requests.RequestException as exc:
            raise raise_for_network(exc, url, setting="IO_MANAGEMENT_API_URL") from None
        status = response.status_code
        if 200 <= status < 300:
            if method == "DELETE" or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                # Never quote the body: it may hold the secret just created.
                raise InvalidResponse(
                    f"the I/O Management API answered {status} to {what} with not JSON",
                    status=status,
                    url=shown,
                ) from None
        raise _error(response, status, shown, what)


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get(k)) for k in ("error_code", "message", "error") if body.get(k)]
    text = escape_control(": ".join(parts))
    return f" ({text[:200]})" if text else ""


def _error(response: requests.Response, status: int, url: str, what: str) -> ApiError:
    detail = _detail(response)
    base = f"the I/O Management API refused to {what}: {status}{detail}"
    if status == 429:
        retry = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(f"{base}; try again later", retry_after=retry, url=url)
    if status >= 500:
        return RetriableApiError(f"{base}; try again later", status=status, url=url)
    if status == 401:
        return AuthError(
            f"{base}: the management token was refused; check that the credential's project "
            "includes the I/O Management API",
            status=status,
            url=url,
        )
    if status == 403:
        return PermissionDenied(
            f"{base}: add the I/O Management API to the credential's project in the Adobe "
            "Developer Console (it grants read_client_secret and manage_client_secrets), and "
            "check IMS_ORG_ID",
            status=status,
            url=url,
        )
    if status == 404:
        return FatalApiError(
            f"{base}: check IMS_CREDENTIAL_ID (the credential's id in the Developer Console) "
            "and IO_MANAGEMENT_API_URL",
            status=status,
            url=url,
        )
    return FatalApiError(base, status=status, url=url)
