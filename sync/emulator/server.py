"""The emulator over real HTTP: a standard-library threading server, on loopback by default.

HTTP/1.1 keep-alive with a ``Content-Length`` on every answer, like the real gateway, so a
client's connection pool is exercised. ``stop()`` also closes idle keep-alive connections, so
a test never waits on a client that forgot to close its session.
"""

from __future__ import annotations

import email.utils
import errno
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from sync.emulator.app import AUTHORIZE_PATH, TOKEN_PATH, EmulatorApp, Response
from sync.emulator.catalog import Catalog
from sync.emulator.events import EventHub
from sync.emulator.faults import Faults, Stats
from sync.emulator.journal import JOURNAL_PATH
from sync.emulator.pages import DEFAULT_CACHE_BYTES

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_ORG_ID",
    "DEFAULT_TENANT",
    "CannotListen",
    "EmulatorServer",
    "advertised_url",
]

log = logging.getLogger(__name__)

DEFAULT_TENANT = "demo-tenant"
DEFAULT_CLIENT_ID = "accs-sync-demo"
DEFAULT_CLIENT_SECRET = "p8e-DEMO-not-a-real-secret"  # noqa: S105 - a published demo value
DEFAULT_ORG_ID = "DEMO0000000000000000@AdobeOrg"
#: A client cannot connect to a wildcard address; this machine's loopback reaches the server.
_CONNECTABLE = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def advertised_url(host: str, port: int, public_url: str | None = None) -> str:
    """The base URL a client uses for a server listening on ``host:port``."""
    if public_url:
        return public_url.rstrip("/")
    host = _CONNECTABLE.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class CannotListen(OSError):
    """The emulator cannot listen on its address: the port is taken (:attr:`busy`), needs
    privileges, or the host is not this machine's. The message says which, in one line."""

    def __init__(self, message: str, *, busy: bool) -> None:
        super().__init__(message)
        self.busy = busy


def _is_loopback_host(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 120  # an idle keep-alive connection is dropped after this many seconds
    # An answer goes out as two writes (headers, then body). With Nagle's algorithm on, the
    # body waits for the client's (delayed, ~40 ms) ACK of the headers on every keep-alive
    # request after the first: the emulator would look 40 ms slow per request.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        headers = {name: str(value) for name, value in self.headers.items()}
        response = self.server.app.handle(self.command, path, headers, query, body)
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.disconnect:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header every answer carries, like ACCS's, from the emulator's clock: the
        # one that stamps updated_at, so a client can judge a timestamp against it.
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = self.server.app.now().replace(tzinfo=UTC)
        return email.utils.format_datetime(now, usegmt=True)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The app already logs one line per request, without the query string (a token
        # request could carry a client secret there); the stdlib's access line would not.
        return

    def log_message(self, format: str, *args: Any) -> None:
        # The app logs one line per request; this only reports protocol-level problems.
        log.debug("http: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], app: EmulatorApp) -> None:
        if ":" in address[0]:  # an IPv6 literal such as "::" or "::1"
            self.address_family = socket.AF_INET6
        self.app = app
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EmulatorServer:
    """Adobe IMS + ACCS for one tenant, served on ``host:port`` (``port=0``: any free port).

    ``clock`` (returns now) drives token expiry; by default it is the catalog's clock, so one
    fake clock moves both ``updated_at`` and token lifetimes. ``render_cache_bytes`` bounds the
    memory kept for encoded products (see :mod:`.pages`; 0: render every answer afresh).
    ``public_url`` is the base URL clients reach it by when that is not ``http://host:port``
    (in docker compose: ``http://emulator:8080`` while it listens on ``0.0.0.0``); it is what
    :attr:`base_url`, :attr:`credentials` and the printed ``export`` lines use.
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant: str = DEFAULT_TENANT,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        org_id: str = DEFAULT_ORG_ID,
        faults: Faults | None = None,
        clock: Callable[[], datetime] | None = None,
        render_cache_bytes: int = DEFAULT_CACHE_BYTES,
        public_url: str | None = None,
    ) -> None:
        self.catalog = catalog if catalog is not None else Catalog.generate(500)
        self.faults = faults if faults is not None else Faults()
        self.stats = Stats()
        self.app = EmulatorApp(
            self.catalog,
            tenant=tenant,
            client_id=client_id,
            client_secret=client_secret,
            org_id=org_id,
            faults=self.faults,
            clock=clock,
            stats=self.stats,
            render_cache_bytes=render_cache_bytes,
        )
        self.tenant = tenant
        self.client_id = client_id
        self._client_secret = client_secret
        self.org_id = org_id
        self._host = host
        self._port = port
        self._public_url = public_url.rstrip("/") if public_url else None
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._httpd else "stopped"
        return f"EmulatorServer({state}, tenant={self.tenant!r}, products={len(self.catalog)})"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        """Bind and serve in a background thread; returns self. An address it cannot listen
        on (a port in use, a privileged port, a host not on this machine) is a
        :class:`CannotListen` saying which, in one line."""
        if self._httpd is not None:
            return self
        try:
            self._httpd = _Server((self._host, self._port), self.app)
        except OSError as exc:
            where = f"{self._host}:{self._port}"
            if exc.errno == errno.EADDRINUSE:
                raise CannotListen(f"port {where} is already in use", busy=True) from exc
            reason = exc.strerror or str(exc)
            raise CannotListen(f"cannot listen on {where}: {reason}", busy=False) from exc
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"accs-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info(
            "ACCS emulator listening on %s, reached as %s (tenant %s)",
            self.bound_address,
            self.base_url,
            self.tenant,
        )
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None
        log.info("ACCS emulator stopped")

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses and credentials ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the emulator is not started")
        return int(self._httpd.server_address[1])

    @property
    def bound_address(self) -> str:
        """Where it listens, as ``host:port`` (``0.0.0.0:8080`` when on every interface)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    @property
    def is_loopback_only(self) -> bool:
        """False when other machines (or containers) can reach it: it has no credentials."""
        return _is_loopback_host(self._host)

    @property
    def reached_over_loopback(self) -> bool:
        """Whether :attr:`base_url` points at this machine (else clients cross a network)."""
        return _is_loopback_host(urlsplit(self.base_url).hostname or "")

    @property
    def base_url(self) -> str:
        """How clients reach it: ``public_url`` when given, else ``http://host:port`` with a
        wildcard address (``0.0.0.0``, ``::``) shown as this machine's loopback address."""
        return advertised_url(self._host, self.port, self._public_url)

    @property
    def api_endpoint(self) -> str:
        """What users put in ``API_ENDPOINT``: the base URL and the tenant id."""
        return f"{self.base_url}/{self.tenant}"

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def journal_url(self) -> str:
        """The I/O Events journal of the emulator's event registration (what users put in
        ``IO_EVENTS_JOURNAL_URL``). Not in :attr:`credentials`: the consumer is opt-in."""
        return self.base_url + JOURNAL_PATH

    @property
    def events(self) -> EventHub:
        """Subscriptions, published events and the journal (see :mod:`.events`)."""
        return self.app.events

    @property
    def credentials(self) -> dict[str, str]:
        """The environment a client needs to talk to this emulator."""
        return {
            "IMS_CLIENT_ID": self.client_id,
            "IMS_CLIENT_SECRET": self._client_secret,
            "IMS_ORG_ID": self.org_id,
            "API_ENDPOINT": self.api_endpoint,
            "IMS_TOKEN_URL": self.token_url,
        }

    @property
    def credential_id(self) -> str:
        """What users put in ``IMS_CREDENTIAL_ID`` (the I/O Management API's secrets are at
        :attr:`base_url`, which ``IO_MANAGEMENT_API_URL`` names)."""
        return self.app.console.credential_id

    @property
    def headers(self) -> dict[str, str]:
        """The gateway headers ACCS requires besides ``Authorization``."""
        return {"x-api-key": self.client_id, "x-gw-ims-org-id": self.org_id}

    # -- tokens -------------------------------------------------------------------------------

    def issue_token(self) -> str:
        """A valid access token without a round trip to the token endpoint."""
        return self.app.issue_token()

    def revoke(self, token: str) -> bool:
        return self.app.tokens.revoke(token)

    def revoke_all_tokens(self) -> int:
        """Revoke every token issued so far (clients must mint again); returns how many."""
        return self.app.tokens.revoke_all()

    def accept_secrets(self, *values: str) -> None:
        """The client secrets IMS accepts from now on (a rotation in the Developer Console)."""
        self.app.client_secrets[:] = list(values)

    @property
    def authorize_url(self) -> str:
        return self.base_url + AUTHORIZE_PATH
