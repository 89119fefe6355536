"""The daemon's HTTP endpoints: ``/metrics``, ``/livez`` and ``/readyz`` on ``SYNC_HTTP_PORT``.

* ``/metrics``: the Prometheus text format (:mod:`sync.metrics`).
* ``/livez``: 200 while the scheduler is alive. It checks no dependency on purpose: a database
  outage must not make Kubernetes restart a daemon that would recover by itself.
* ``/readyz``: 200 when the database answers and the last finished run did not fail, else 503
  with the reason in one line. A database that does not answer within ``timeout`` is not ready.

Plain :mod:`http.server`: three read-only endpoints do not earn a web framework. It binds
``SYNC_HTTP_HOST`` (127.0.0.1 unless set: metrics say things about a catalog that not everyone
on the network needs to read).

Its cost does not grow with its connections. One thread reads every request head without
blocking; a connection that has not sent a whole head within ``idle_timeout`` seconds is closed
(a port scanner, a slow or forgetful client), and past ``max_waiting`` open connections the
oldest is closed. Only a complete request gets one of ``workers`` threads (past ``max_queued``
waiting for one, it is answered 503 at once); the worker answers and closes the connection
(``Connection: close``: a scrape every few seconds gains nothing from keep-alive). A client
that leaves before its answer is one log line, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine

from sync.db.schema import sync_runs
from sync.errors import ConfigError

__all__ = ["Check", "HealthServer", "ReadinessCheck"]

log = logging.getLogger(__name__)

#: A check answers whether all is well, and a one-line reason.
Check = Callable[[], tuple[bool, str]]


class ReadinessCheck:
    """Does the database answer, and did the last finished run not fail?

    The query runs on a thread of its own: a database that hangs (a dropped network, a full
    connection pool) makes the check answer "not ready" after ``timeout`` instead of hanging
    the probe. Probes that arrive while a check is under way wait for that one.
    """

    def __init__(self, engine: Engine, timeout: float = 5.0) -> None:
        self.engine = engine
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pending: threading.Thread | None = None
        self._result: tuple[bool, str] = (False, "not checked yet")

    def _query(self) -> None:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(sync_runs.c.id, sync_runs.c.status)
                    .where(sync_runs.c.status != "running")
                    .order_by(sync_runs.c.id.desc())
                    .limit(1)
                ).first()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said in words
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__
            self._result = (False, f"database does not answer ({reason})")
            return
        if row is not None and row.status in ("failed", "partial"):
            what = "failed" if row.status == "failed" else "was partial (a resource was refused)"
            self._result = (False, f"the last run (#{row.id}) {what}; see accs-sync status")
        elif row is None:
            self._result = (True, "database answers; no run has finished yet")
        else:
            self._result = (True, f"database answers; last run #{row.id} {row.status}")

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            if self._pending is None or not self._pending.is_alive():
                self._pending = threading.Thread(
                    target=self._query, name="accs-sync-readyz", daemon=True
                )
                self._pending.start()
            pending = self._pending
        pending.join(self.timeout)
        if pending.is_alive():
            return False, f"database did not answer within {self.timeout:g}s"
        return self._result


class HealthServer:
    """Serves the three endpoints on ``host:port`` from a daemon thread until :meth:`close`.

    ``idle_timeout``: seconds a connection may take to send its request (and each write of
    the answer may take); ``workers``: requests answered at once; ``max_waiting``: open
    connections that have not sent a request yet; ``max_queued``: complete requests waiting
    for a worker, past which a request is answered 503 at once (see the module docstring).
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        live: Check,
        ready: Check,
        *,
        idle_timeout: float = 5.0,
        workers: int = 4,
        max_waiting: int = 256,
        max_queued: int = 64,
    ) -> None:
        handler = _handler(registry, live, ready)
        try:
            self._server = _Server(
                (host, port),
                handler,
                idle_timeout=idle_timeout,
                workers=workers,
                max_waiting=max_waiting,
                max_queued=max_queued,
            )
        except OSError as exc:
            raise ConfigError(
                f"SYNC_HTTP_PORT: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "choose a free port or unset SYNC_HTTP_PORT",
                setting="SYNC_HTTP_PORT",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve, name="accs-sync-http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()
        host, port = self.address
        log.info("serving /metrics, /livez and /readyz on http://%s:%d", host, port)

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.stop()
            self._thread.join(timeout=5)
        self._server.server_close()


#: A probe's or a scrape's request head is a few hundred bytes; a larger one is not for us.
_MAX_HEAD = 16 * 1024
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 21\r\nConnection: close\r\n\r\nfail: server is busy\n"
)


class _Server(HTTPServer):
    """The listening socket, the waiting room of unfinished request heads, and the workers.

    :meth:`serve` runs on one thread: it accepts connections and reads their heads without
    blocking, all through one selector, and hands each complete head to a worker.
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[_Handler],
        *,
        idle_timeout: float,
        workers: int,
        max_waiting: int,
        max_queued: int,
    ) -> None:
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, handler)
        self.socket.setblocking(False)
        self._handler = handler
        self._idle_timeout = idle_timeout
        self._max_waiting = max_waiting
        self._max_in_flight = workers + max_queued
        self._in_flight = 0  # requests handed to the workers and not answered yet
        self._in_flight_lock = threading.Lock()
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="accs-sync-http")
        self._stopping = threading.Event()

    #: Connections the kernel completes before :meth:`serve` accepts them (socketserver's 5
    #: makes a burst of clients wait out SYN retransmissions).
    request_queue_size = 128

    def serve(self) -> None:
        # connection -> (deadline, client address, head so far); insertion order is deadline
        # order, every connection getting the same idle_timeout.
        waiting: dict[socket.socket, tuple[float, Any, bytearray]] = {}
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                first = next(iter(waiting.values()), None)
                wait = self._idle_timeout if first is None else first[0] - time.monotonic()
                for key, _ in selector.select(max(0.0, wait)):
                    if key.fileobj is self.socket:
                        self._accept(selector, waiting)
                    elif key.fileobj is not self._wake_reader:
                        self._read(selector, waiting, key.fileobj)  # type: ignore[arg-type]
                now = time.monotonic()
                while waiting and next(iter(waiting.values()))[0] <= now:
                    self._drop(selector, waiting, next(iter(waiting)))
            for conn in list(waiting):
                self._drop(selector, waiting, conn)
        self._workers.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        self._stopping.set()
        self._wake_writer.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _accept(self, selector: selectors.BaseSelector, waiting: dict[socket.socket, Any]) -> None:
        try:
            conn, address = self.socket.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # Out of file descriptors, say: free one, and do not spin while the backlog waits.
            log.warning("http: cannot accept a connection (%s)", exc.strerror or exc)
            if waiting:
                self._drop(selector, waiting, next(iter(waiting)))
            self._stopping.wait(0.1)
            return
        if len(waiting) >= self._max_waiting:
            self._drop(selector, waiting, next(iter(waiting)))
        conn.setblocking(False)
        waiting[conn] = (time.monotonic() + self._idle_timeout, address, bytearray())
        selector.register(conn, selectors.EVENT_READ)

    def _read(
        self,
        selector: selectors.BaseSelector,
        waiting: dict[socket.socket, tuple[float, Any, bytearray]],
        conn: socket.socket,
    ) -> None:
        if conn not in waiting:  # closed earlier in this round, to make room
            return
        _, address, head = waiting[conn]
        try:
            data = conn.recv(_MAX_HEAD)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        head += data
        if not data or len(head) > _MAX_HEAD:  # gone, or not a probe's request
            self._drop(selector, waiting, conn)
        elif b"\r\n\r\n" in head or b"\n\n" in head:
            with self._in_flight_lock:
                busy = self._in_flight >= self._max_in_flight
                self._in_flight += 0 if busy else 1
            if busy:  # a flood of requests: answer at once rather than queue without end
                with contextlib.suppress(OSError):
                    conn.send(_BUSY)
                self._drop(selector, waiting, conn)
                return
            selector.unregister(conn)
            del waiting[conn]
            self._workers.submit(self._answer, conn, address, bytes(head))

    def _drop(
        self,
        selector: selectors.BaseSelector,
        waiting: dict[socket.socket, Any],
        conn: socket.socket,
    ) -> None:
        selector.unregister(conn)
        del waiting[conn]
        self.shutdown_request(conn)

    def _answer(self, conn: socket.socket, address: Any, head: bytes) -> None:
        try:
            conn.settimeout(self._idle_timeout)
            self._handler(conn, address, self, head)
        except OSError as exc:
            # A probe that timed out, a scraper that went away: the answer has nobody to read it.
            log.info(
                "http: client %s left before its answer (%s)",
                address[0] if address else "?",
                exc.strerror or type(exc).__name__,
            )
        except Exception:
            log.exception("http: answering %s failed", address[0] if address else "?")
        finally:
            self.shutdown_request(conn)
            with self._in_flight_lock:
                self._in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    """Answers one request whose head the server has already read (``head``)."""

    def __init__(self, request: Any, client_address: Any, server: Any, head: bytes) -> None:
        self._head = head
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        super().setup()
        self.rfile = io.BytesIO(self._head)

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()


def _handler(registry: CollectorRegistry, live: Check, ready: Check) -> type[_Handler]:
    class Handler(_Handler):
        server_version = "accs-sync"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in ("/livez", "/readyz"):
                ok, reason = (live if path == "/livez" else ready)()
                self._send(200 if ok else 503, f"{'ok' if ok else 'fail'}: {reason}\n".encode())
            else:
                self._send(404, b"not found: try /metrics, /livez or /readyz\n")

        def do_HEAD(self) -> None:
            self.do_GET()

        def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http %s", format % args)

    return Handler
