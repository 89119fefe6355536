"""The emulator's IMS endpoints: the token endpoint's three grants, the authorize page and
``/ims/revoke``.

A mixin of :class:`~sync.emulator.app.EmulatorApp`, kept apart so the ACCS side stays readable.
Client authentication is HTTP Basic (RFC 6749 2.3.1) or form fields, checked against every
secret currently accepted (several during a rotation).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sync.emulator.console import MANAGEMENT_SCOPES, SecretsConsole
from sync.emulator.faults import Faults, Stats
from sync.emulator.ims import Grants, TokenStore, check_client, check_token_request
from sync.emulator.response import Response
from sync.emulator.response import json_response as _json

__all__ = ["AUTHORIZE_PATH", "REVOKE_PATH", "TOKEN_PATH", "ImsEndpoints"]

TOKEN_PATH = "/ims/token/v3"  # noqa: S105 - a URL path, not a secret
AUTHORIZE_PATH = "/ims/authorize/v2"
REVOKE_PATH = "/ims/revoke"


class ImsEndpoints:
    """``POST /ims/token/v3`` and ``GET /ims/authorize/v2`` (see the module docstring)."""

    client_id: str
    client_secrets: list[str]
    console: SecretsConsole
    scopes: tuple[str, ...]
    faults: Faults
    stats: Stats
    grants: Grants
    tokens: TokenStore

    def issue_token(
        self, grant: str = "client_credentials", scopes: frozenset[str] = frozenset()
    ) -> str:  # pragma: no cover
        raise NotImplementedError

    def _token(
        self,
        method: str,
        headers: Mapping[str, str],
        body: bytes,
        params: tuple[tuple[str, str], ...],
    ) -> Response:
        if method != "POST":
            return _json(405, {"error": "method_not_allowed", "error_description": "use POST"})
        if self.faults.take("ims_rate_limit_next"):
            return _json(
                429,
                {"error": "too_many_requests", "error_description": "Too many requests"},
                (("Retry-After", str(self.faults.retry_after)),),
            )
        if self.faults.take("ims_error_5xx_next"):
            return Response(
                503,
                b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                (("Content-Type", "text/html"),),
            )
        if self.faults.take("ims_html_next"):
            page = (
                b"<!DOCTYPE html><html><body><h1>Proxy authentication required</h1></body></html>"
            )
            return Response(
                self.faults.ims_html_status, page, (("Content-Type", "text/html; charset=utf-8"),)
            )
        if self.faults.take("ims_invalid_client_next"):
            return _json(400, {"error": "invalid_client", "error_description": "invalid client"})
        if self.faults.take("ims_invalid_scope_next"):
            return _json(
                400, {"error": "invalid_scope", "error_description": "invalid scope: commerce.accs"}
            )
        form = dict(params)
        form.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._code_grant(form, headers)
        if grant == "refresh_token":
            return self._refresh_grant(form, headers)
        error = check_token_request(
            form,
            client_id=self.client_id,
            client_secrets=self.client_secrets,
            scopes=self.scopes,
            optional=MANAGEMENT_SCOPES,
        )
        if error is None and not self.console.used(form.get("client_secret")):
            error = 400, {"error": "invalid_client", "error_description": "invalid client_secret"}
        if error is not None:
            return _json(*error)
        asked = form.get("scope", "").replace(" ", ",").split(",")
        return self._token_answer("client_credentials", scopes=frozenset(s for s in asked if s))

    def _token_answer(
        self, grant: str, refresh_token: str | None = None, scopes: frozenset[str] = frozenset()
    ) -> Response:
        answer: dict[str, Any] = {
            "access_token": self.issue_token(grant, scopes),
            "token_type": "bearer",
            "expires_in": self.faults.token_lifetime,
        }
        if refresh_token is not None:
            answer["refresh_token"] = refresh_token
            answer["refresh_token_expires_in"] = self.faults.refresh_token_lifetime
        return _json(200, answer)

    def _client_auth(
        self, form: Mapping[str, str], headers: Mapping[str, str], basic_only: bool
    ) -> tuple[int, dict[str, Any]] | None:
        """Check the client: HTTP Basic (RFC 6749 2.3.1), or form fields unless ``basic_only``."""
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except ValueError:
                return 400, {"error": "invalid_client", "error_description": "bad Basic auth"}
            given_id, _, given_secret = decoded.partition(":")
            return check_client(given_id, given_secret, self.client_id, self.client_secrets)
        if basic_only:
            return 401, {
                "error": "invalid_client",
                "error_description": "client authentication must use HTTP Basic",
            }
        return check_client(
            form.get("client_id"), form.get("client_secret"), self.client_id, self.client_secrets
        )

    def _code_grant(self, form: Mapping[str, str], headers: Mapping[str, str]) -> Response:
        refused = self._client_auth(form, headers, basic_only=True)
        if refused is not None:
            return _json(*refused)
        grant = self.grants.redeem_code(
            form.get("code", ""), self.client_id, form.get("redirect_uri", "")
        )
        if grant is None:
            return _json(
                400,
                {"error": "invalid_grant", "error_description": "invalid or expired code"},
            )
        refresh = self.grants.issue_refresh(
            self.client_id, self.faults.refresh_token_lifetime, grant.scope
        )
        return self._token_answer("authorization_code", refresh)

    def _refresh_grant(self, form: Mapping[str, str], headers: Mapping[str, str]) -> Response:
        refused = self._client_auth(form, headers, basic_only=False)
        if refused is not None:
            return _json(*refused)
        grant = self.grants.use_refresh(form.get("refresh_token", ""), self.client_id)
        if grant is None:
            return _json(
                400,
                {"error": "invalid_grant", "error_description": "invalid or expired refresh_token"},
            )
        # Rotation: every use answers a new refresh token; the old one is spent.
        refresh = self.grants.issue_refresh(
            self.client_id, self.faults.refresh_token_lifetime, grant.scope
        )
        return self._token_answer("refresh_token", refresh)

    def _revoke(self, method: str, headers: Mapping[str, str], body: bytes) -> Response:
        """``POST /ims/revoke``: ``token`` and ``token_type`` (``access_token`` or
        ``refresh_token``), the client authenticated with HTTP Basic (a web app credential).
        An unknown token is still 200 (RFC 7009: nothing is revealed about it)."""
        if method != "POST":
            return _json(405, {"error": "method_not_allowed", "error_description": "use POST"})
        if self.faults.take("ims_revoke_error_next"):
            return _json(503, {"error": "server_error", "error_description": "try again"})
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        refused = self._client_auth(form, headers, basic_only=True)
        if refused is not None:
            return _json(*refused)
        if form.get("client_id", self.client_id) != self.client_id:
            return _json(400, {"error": "invalid_client", "error_description": "client_id"})
        token, kind = form.get("token", ""), form.get("token_type", "")
        if not token or kind not in ("access_token", "refresh_token"):
            return _json(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "token and token_type (access_token or "
                    "refresh_token) are required",
                },
            )
        if kind == "refresh_token":
            self.grants.revoke_refresh(token, self.client_id)
        else:
            self.tokens.revoke(token)
        return Response(200, b"", (("Content-Length", "0"),))

    def _authorize(self, params: Mapping[str, str]) -> Response:
        """Auto-approve (or, with ``faults.authorize_deny``, deny) and redirect back."""
        redirect_uri = params.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if params.get("client_id") != self.client_id:
            return _json(400, {"error": "invalid_client", "error_description": "unknown client"})
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            return _json(
                400, {"error": "invalid_request", "error_description": "redirect_uri not allowed"}
            )
        reply: dict[str, str] = {"state": params.get("state", "")}
        if params.get("response_type") != "code":
            reply["error"] = "unsupported_response_type"
        elif self.faults.authorize_deny:
            reply["error"] = "access_denied"
        else:
            reply["code"] = self.grants.issue_code(
                self.client_id, redirect_uri, params.get("scope", "")
            )
        joiner = "&" if parts.query else "?"
        location = f"{redirect_uri}{joiner}{urlencode(reply)}"
        return Response(302, b"", (("Location", location),))
