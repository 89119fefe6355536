"""``accs-sync login``: the OAuth authorization-code flow, for calls attributed to a user.

1. Listen on a loopback redirect URI (``http://127.0.0.1:<IMS_REDIRECT_PORT>/callback``).
2. Print IMS's ``/ims/authorize/v2`` URL with a random ``state``; the user opens it and signs in.
3. IMS redirects the browser to the listener with ``code`` and ``state``; a callback whose
   ``state`` does not match is refused (it did not come from this login) and waiting goes on.
4. Exchange the code at the token endpoint (``grant_type=authorization_code``, HTTP Basic
   client authentication) and keep the refresh token in the token store, from where
   :class:`~sync.api.user_tokens.ImsRefreshTokens` renews access tokens for every later run.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from sync.api.classify import raise_for_network
from sync.api.ims import TokenAnswer, parse_token_answer
from sync.api.retry import RetryPolicy
from sync.api.token_store import FileTokenStore
from sync.api.user_tokens import ImsRefreshTokens
from sync.errors import ConfigError, LoginRequired
from sync.redact import redact_url

__all__ = ["Callback", "LoginListener", "authorize_url", "exchange_code"]

log = logging.getLogger(__name__)

_DONE_PAGE = (
    b"<!DOCTYPE html><html><body><h1>accs-sync is signed in</h1>"
    b"<p>You can close this window.</p></body></html>"
)
_DENIED_PAGE = (
    b"<!DOCTYPE html><html><body><h1>accs-sync was not authorized</h1>"
    b"<p>See the terminal running accs-sync login.</p></body></html>"
)


@dataclass(frozen=True)
class Callback:
    """What IMS sent back to the redirect URI (state already verified)."""

    code: str | None
    error: str | None

    def __repr__(self) -> str:
        return f"Callback(code={'***' if self.code else None}, error={self.error!r})"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self._reply(404, b"not found")
            return
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        given = params.get("state", "")
        if not secrets.compare_digest(given.encode(), self.server.state.encode()):
            log.warning("refused a login callback with the wrong state (not from this login)")
            self._reply(400, b"state mismatch: this answer does not belong to this login")
            return
        answer = Callback(params.get("code") or None, params.get("error") or None)
        page = _DONE_PAGE if answer.code and not answer.error else _DENIED_PAGE
        self._reply(200, page, "text/html; charset=utf-8")
        self.server.answers.put(answer)

    def _reply(self, status: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request line holds the code: never log it


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state: str) -> None:
        self.state = state
        self.answers: queue.Queue[Callback] = queue.Queue()
        super().__init__(("127.0.0.1", port), _Handler)


class LoginListener:
    """The loopback redirect URI, listening while the user signs in."""

    def __init__(self, port: int) -> None:
        self.state = secrets.token_urlsafe(24)
        try:
            self._server = _Server(port, self.state)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on 127.0.0.1:{port} for the login redirect ({exc.strerror}); "
                "set IMS_REDIRECT_PORT to a free port registered as redirect URI pattern",
                setting="IMS_REDIRECT_PORT",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

    def __enter__(self) -> LoginListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> str:
        """The authorization code, once the browser comes back; raises on denial or timeout."""
        try:
            answer = self._server.answers.get(timeout=timeout)
        except queue.Empty:
            raise LoginRequired(
                f"no sign-in arrived within {timeout:.0f}s (IMS_LOGIN_TIMEOUT): run "
                "`accs-sync login` again and open the printed URL"
            ) from None
        if answer.error or not answer.code:
            raise LoginRequired(
                f"IMS did not authorize accs-sync ({answer.error or 'no code'}): run "
                "`accs-sync login` again and approve the request"
            )
        return answer.code


def authorize_url(
    base: str, client_id: str, redirect_uri: str, scopes: list[str], state: str
) -> str:
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": ",".join(scopes),
            "response_type": "code",
            "state": state,
        }
    )
    return f"{base}?{query}"


def exchange_code(
    session: requests.Session,
    token_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    scopes: list[str],
    retry: RetryPolicy,
    timeout: float | tuple[float, float],
) -> TokenAnswer:
    """Trade the authorization code for tokens (HTTP Basic client authentication)."""

    def post() -> TokenAnswer:
        try:
            response = session.post(
                token_url,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                },
                auth=(client_id, client_secret),
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise raise_for_network(exc, token_url, setting="IMS_TOKEN_URL") from None
        return parse_token_answer(response, redact_url(token_url), "authorization_code", scopes)

    return retry.call(post)


def run_login(
    provider: ImsRefreshTokens,
    *,
    authorize_base: str,
    client_id: str,
    token_url: str,
    scopes: list[str],
    port: int,
    timeout: float,
    retry: RetryPolicy,
    http_timeout: float | tuple[float, float],
    session: requests.Session,
    print_fn: Callable[[str], None],
) -> None:
    """The whole flow; the refresh token ends up in ``provider``'s token store."""
    if not isinstance(provider.store, FileTokenStore):
        raise ConfigError(
            "accs-sync login keeps the refresh token in the token cache, which "
            "SYNC_TOKEN_CACHE=none disables: set SYNC_TOKEN_CACHE to a file path",
            setting="SYNC_TOKEN_CACHE",
        )
    # Before anything is asked of the user: where the refresh token will go must be encrypted.
    provider.store.require_key("the login's refresh token")
    with LoginListener(port) as listener:
        url = authorize_url(
            authorize_base, client_id, listener.redirect_uri, scopes, listener.state
        )
        print_fn("Open this URL in a browser and sign in with the Adobe account accs-sync")
        print_fn(f"should act as (waiting up to {timeout:.0f}s for {listener.redirect_uri}):")
        print_fn(url)
        code = listener.wait(timeout)
        redirect_uri = listener.redirect_uri
    answer = provider.with_secret(
        lambda secret: exchange_code(
            session, token_url, client_id, secret, code, redirect_uri, scopes, retry, http_timeout
        )
    )
    provider.store_login(answer)
    log.info("login complete: refresh token stored in %s", provider.store)
    print_fn(
        f"Signed in. The refresh token is stored in {provider.store.path} (readable only by "
        "you); runs with IMS_AUTH_FLOW=authorization_code now use it."
    )
