"""The daemon's HTTP endpoints: ``/metrics``, ``/livez`` and ``/readyz`` on ``SYNC_HTTP_PORT``.

* ``/metrics``: the Prometheus text format (:mod:`sync.metrics`).
* ``/livez``: 200 while the scheduler is alive. It checks no dependency on purpose: a database
  outage must not make Kubernetes restart a daemon that would recover by itself.
* ``/readyz``: 200 when the database answers and the last finished run did not fail, else 503
  with the reason in one line. A database that does not answer within ``timeout`` is not ready.

Plain :mod:`http.server` on its own thread: three read-only endpoints do not earn a web
framework. It binds ``SYNC_HTTP_HOST`` (127.0.0.1 unless set: metrics say things about a
catalog that not everyone on the network needs to read).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    """Serves the three endpoints on ``host:port`` from a daemon thread until :meth:`close`."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        live: Check,
        ready: Check,
    ) -> None:
        handler = _handler(registry, live, ready)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(
                f"SYNC_HTTP_PORT: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "choose a free port or unset SYNC_HTTP_PORT",
                setting="SYNC_HTTP_PORT",
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="accs-sync-http", daemon=True
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
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


def _handler(
    registry: CollectorRegistry, live: Check, ready: Check
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http %s", format % args)

    return Handler
