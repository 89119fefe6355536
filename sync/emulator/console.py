"""The emulator's Adobe I/O Management API: one credential's client secrets.

``GET /console/organizations/{orgId}/credentials/{credentialId}/secrets`` lists them (uuid,
creation time, ``secret_usages[].last_used_at``, never a value), ``POST`` on the same path
creates one and answers its value once, ``DELETE .../secrets/{uuid}`` deletes one. As in the
Developer Console, a credential holds at most two secrets and cannot lose its last one. The
token must be valid and carry ``read_client_secret`` (to list) or ``manage_client_secrets`` (to
create or delete), with ``x-api-key`` the client id. A secret's ``last_used_at`` moves each time
the token endpoint accepts it (:meth:`SecretsConsole.used`).

The values live in the app's ``client_secrets`` list (what the token endpoint accepts), so a
test that sets that list directly still sees its secrets listed here.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.emulator.faults import Faults
from sync.emulator.response import Response
from sync.emulator.response import json_response as _json

__all__ = ["CONSOLE_PATH", "MANAGEMENT_SCOPES", "MAX_SECRETS", "SecretsConsole"]

MANAGEMENT_SCOPES: tuple[str, ...] = ("read_client_secret", "manage_client_secrets")
MAX_SECRETS = 2
CONSOLE_PATH = re.compile(
    r"^/console/organizations/(?P<org>[^/]+)/credentials/(?P<credential>[^/]+)/secrets"
    r"(?:/(?P<uuid>[^/]+))?/?$"
)


@dataclass
class _Secret:
    uuid: str
    created: datetime
    last_used: datetime | None = None
    #: Token requests with this secret IMS still refuses (a secret that has not propagated).
    refused: int = 0


def _iso(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z"


class SecretsConsole:
    """The secrets of one credential (see the module docstring). ``values`` is the app's list
    of accepted secrets, changed in place; ``clock`` returns naive UTC now."""

    def __init__(
        self,
        values: list[str],
        clock: Callable[[], datetime],
        *,
        org_id: str,
        credential_id: str,
        client_id: str,
        faults: Faults,
        token_scopes: Callable[[str], frozenset[str] | None],
    ) -> None:
        self._values = values
        self._clock = clock
        self._org_id = org_id
        self.credential_id = credential_id
        self._client_id = client_id
        self._faults = faults
        self._token_scopes = token_scopes
        self._lock = threading.Lock()
        self._meta: dict[str, _Secret] = {}

    def _entry(self, value: str) -> _Secret:
        found = self._meta.get(value)
        if found is None:  # a secret the test set directly: it exists from now on
            found = self._meta[value] = _Secret(str(uuid.uuid4()), self._clock())
        return found

    def used(self, value: str | None) -> bool:
        """The token endpoint accepted ``value``: move its ``last_used_at``. False when IMS must
        still refuse it (``console_new_secret_rejected``)."""
        with self._lock:
            if value is None or value not in self._values:
                return True
            entry = self._entry(value)
            if entry.refused > 0:
                entry.refused -= 1
                return False
            entry.last_used = self._clock()
            return True

    def backdate(self, value: str, days: float, *, used: bool = False) -> str:
        """Make ``value`` ``days`` old (and, ``used``, last used then; else never used), as a
        secret created long ago; its uuid is returned. For tests of idle secrets."""
        with self._lock:
            entry = self._entry(value)
            entry.created = self._clock() - timedelta(days=days)
            entry.last_used = entry.created if used else None
            return entry.uuid

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._shown(self._entry(value)) for value in self._values]

    @staticmethod
    def _shown(entry: _Secret) -> dict[str, Any]:
        usages = [] if entry.last_used is None else [{"last_used_at": _iso(entry.last_used)}]
        return {"uuid": entry.uuid, "created": _iso(entry.created), "secret_usages": usages}

    # -- HTTP ---------------------------------------------------------------------------------

    def answer(self, method: str, match: re.Match[str], headers: Mapping[str, str]) -> Response:
        """One request to :data:`CONSOLE_PATH` (``headers`` in lower case)."""
        if headers.get("x-api-key") != self._client_id:
            return _json(403, {"error_code": "403003", "message": "Api Key is invalid"})
        scheme, _, token = headers.get("authorization", "").partition(" ")
        scopes = self._token_scopes(token.strip()) if scheme.lower() == "bearer" else None
        if scopes is None:
            return _json(401, {"error_code": "401013", "message": "Oauth token is not valid"})
        needed = "read_client_secret" if method == "GET" else "manage_client_secrets"
        if needed not in scopes:
            return _json(
                403,
                {"error_code": "403027", "message": f"the token lacks the scope {needed}"},
            )
        if match.group("org") != self._org_id:
            return _json(403, {"error_code": "403025", "message": "organization not allowed"})
        if match.group("credential") != self.credential_id:
            return _json(404, {"error_code": "404001", "message": "credential not found"})
        target = match.group("uuid")
        if method == "GET" and target is None:
            return self._list()
        if method == "POST" and target is None:
            return self._create()
        if method == "DELETE" and target is not None:
            return self._delete(target)
        return _json(405, {"message": "method not allowed"})

    def _unavailable(self, step: str) -> Response | None:
        if self._faults.take(f"console_{step}_error_next"):
            return _json(503, {"error_code": "503001", "message": "Service Unavailable"})
        return None

    def _list(self) -> Response:
        failed = self._unavailable("list")
        if failed is not None:
            return failed
        return _json(200, {"client_id": self._client_id, "client_secrets": self.listing()})

    def _create(self) -> Response:
        failed = self._unavailable("create")
        if failed is not None:
            return failed
        with self._lock:
            if len(self._values) >= MAX_SECRETS:
                return _json(
                    409,
                    {
                        "error_code": "409001",
                        "message": "a credential can have at most two client secrets; "
                        "delete one first",
                    },
                )
            value = "p8e-" + secrets.token_urlsafe(24)
            entry = self._entry(value)
            entry.refused = int(self._faults.console_new_secret_rejected)
            self._faults.console_new_secret_rejected = 0
            self._values.append(value)
        return _json(
            200, {"uuid": entry.uuid, "client_secret": value, "created": _iso(entry.created)}
        )

    def _delete(self, target: str) -> Response:
        failed = self._unavailable("delete")
        if failed is not None:
            return failed
        with self._lock:
            found = [v for v in self._values if self._entry(v).uuid == target]
            if not found:
                return _json(404, {"error_code": "404002", "message": "secret not found"})
            if len(self._values) == 1:
                return _json(
                    400, {"error_code": "400004", "message": "cannot delete the last secret"}
                )
            self._values.remove(found[0])
            del self._meta[found[0]]
        return Response(204, b"")
