"""The sessions accs-sync talks to IMS and ACCS with: pooling, identifying headers, and three
rules every request obeys, kept here so that no caller can forget them.

- **No redirect is followed.** A redirect would carry what the request carries (the client
  secret in a token request's form, a bearer token, the ``x-api-key``, ``x-gw-ims-org-id`` and
  ``Store`` headers) to whatever host the answer names, ``http://`` included. A 3xx answer is a
  :class:`~sync.errors.RedirectRefused` naming the setting the URL came from and where it
  pointed; it is never retried.
- **A deadline for the whole request.** ``SYNC_HTTP_TIMEOUT`` bounds the exchange from sending to
  the last byte of the body. Socket timeouts apply to each read, so alone they let a server that
  trickles a byte a second hold a request open for ever; a watchdog shuts the socket down at the
  deadline, and the request fails as a (retriable) :class:`requests.exceptions.ReadTimeout`.
- **A cap on the body.** A body over ``SYNC_MAX_RESPONSE_BYTES`` (after decompression) is a
  :class:`~sync.errors.FatalApiError`, read no further, instead of filling the memory.
"""

from __future__ import annotations

import heapq
import itertools
import math
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from sync import __version__
from sync.api.classify import redirect_refused
from sync.errors import FatalApiError
from sync.redact import redact_url

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "GuardedAdapter",
    "TimeoutSession",
    "build_session",
]

USER_AGENT = f"accs-sync/{__version__} (+https://github.com/accs-sync/accs-sync)"
#: A page of 300 products is about 600 KB; 64 MiB leaves room for very rich catalogs.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024


class _Watchdog:
    """One thread for every request deadline of the process (not a timer thread per request):
    a heap of armed deadlines, each shutting its socket down when it passes. It lives as long
    as the process; its name is not a run's worker name (``accs-sync-*``), which must be gone
    when a run ends."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline, socket.socket]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, at: float, deadline: _Deadline, sock: socket.socket) -> None:
        with self._cond:
            heapq.heappush(self._heap, (at, next(self._seq), deadline, sock))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="http-deadline-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and not self._heap[0][2].armed(self._heap[0][3]):
                    heapq.heappop(self._heap)  # answered in time (or re-armed): forget it
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, deadline, sock = heapq.heappop(self._heap)
            deadline.expire(sock)


_WATCHDOG = _Watchdog()


class _Deadline:
    """When one request must be over; its socket is shut down if it is not."""

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds if math.isfinite(seconds) else math.inf
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.expired = False

    def passed(self) -> bool:
        return time.monotonic() >= self._at

    def watch(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down at the deadline, so a read blocked on it returns."""
        if sock is None or math.isinf(self._at):
            return
        with self._lock:
            self._sock = sock
        _WATCHDOG.arm(self._at, self, sock)

    def armed(self, sock: socket.socket) -> bool:
        with self._lock:
            return self._sock is sock

    def expire(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is not sock:  # cancelled meanwhile: the socket may serve another
                return
            self.expired = True
            try:
                # The plain socket's shutdown, also for TLS: it only wakes the reader up.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:  # already closed: nothing is waiting on it
                pass

    def cancel(self) -> None:
        with self._lock:
            self._sock = None


_active = threading.local()


class _WatchedConnection(HTTPConnection):
    """Arms the current request's deadline while waiting for the answer (status line and
    headers, then the body read by :class:`GuardedAdapter`)."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline: _Deadline | None = getattr(_active, "deadline", None)
        if deadline is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: Mapping[str, type[HTTPConnectionPool]] = {
    "http": _WatchedPool,
    "https": _WatchedHTTPSPool,
}


class GuardedAdapter(HTTPAdapter):
    """Sends with a total ``deadline`` and reads the body here, up to ``max_response_bytes``.

    Every response leaves with its body read (``stream=True`` is used underneath), so callers,
    the 401 re-send of :class:`~sync.api.auth.BearerAuth` included, never read from the wire
    themselves.
    """

    def __init__(self, deadline: float, max_response_bytes: int, **kwargs: Any) -> None:
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are urllib3's own
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        deadline = _Deadline(self.deadline)
        outer = getattr(_active, "deadline", None)
        _active.deadline = deadline
        response: requests.Response | None = None
        try:
            response = super().send(
                request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
            self._read_body(response, deadline)
            return response
        except Exception:
            if response is not None:
                response.close()
            if deadline.expired or deadline.passed():
                raise requests.exceptions.ReadTimeout(
                    f"no complete answer within {self.deadline:g}s (SYNC_HTTP_TIMEOUT)",
                    request=request,
                ) from None
            raise
        finally:
            deadline.cancel()
            _active.deadline = outer

    def _read_body(self, response: requests.Response, deadline: _Deadline) -> None:
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(response, f"{int(declared)} bytes announced")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise self._too_large(response, f"more than {limit} bytes")
            if deadline.passed():  # also where no watchdog could be armed (SOCKS proxies)
                raise requests.exceptions.ReadTimeout("deadline passed", request=response.request)
            chunks.append(chunk)
        response._content = b"".join(chunks)

    def _too_large(self, response: requests.Response, what: str) -> FatalApiError:
        url = redact_url(response.url or "")
        return FatalApiError(
            f"the answer from {url} is too large ({what}; SYNC_MAX_RESPONSE_BYTES is "
            f"{self.max_response_bytes}): lower SYNC_PAGE_SIZE, or raise "
            "SYNC_MAX_RESPONSE_BYTES if the catalog's items are that large",
            status=response.status_code,
            url=url,
        )


class TimeoutSession(requests.Session):
    """A Session that never waits for ever (every request gets ``default_timeout`` unless the
    caller passes its own) and never follows a redirect (see the module docstring).

    ``setting`` names where its URLs come from (``API_ENDPOINT``, ``IMS_TOKEN_URL``), for the
    error a redirect becomes.
    """

    def __init__(
        self, default_timeout: float | tuple[float, float], setting: str = "API_ENDPOINT"
    ) -> None:
        super().__init__()
        self.default_timeout = default_timeout
        self.setting = setting

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # Forced here, not defaulted: Session.request, Session.send and any later caller alike.
        kwargs["allow_redirects"] = False
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        response = super().send(request, **kwargs)
        if 300 <= response.status_code < 400:
            response.close()
            raise redirect_refused(response, self.setting)
        return response

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Nothing to follow, ever. (requests asks for the would-be next request even when
        not following; there is none, and no credential is copied onto one.)"""
        yield from ()

    def rebuild_auth(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("accs-sync follows no redirect, so it never re-targets credentials")


def build_session(
    *,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    pool_size: int = 8,
    headers: dict[str, str] | None = None,
    setting: str = "API_ENDPOINT",
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> TimeoutSession:
    """A pooled session whose requests end within ``read_timeout`` seconds, the whole
    exchange (SYNC_HTTP_TIMEOUT). Retries are ours (tenacity), so urllib3's own are off."""
    session = TimeoutSession((connect_timeout, read_timeout), setting=setting)
    adapter = GuardedAdapter(
        deadline=read_timeout,
        max_response_bytes=max_response_bytes,
        pool_connections=pool_size,
        pool_maxsize=pool_size,
        max_retries=0,
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    if headers:
        session.headers.update(headers)
    return session
