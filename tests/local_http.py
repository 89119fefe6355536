"""Loopback HTTP servers for tests that need a real socket (redirects, trickling answers).

Each :class:`LocalServer` listens on its own port of 127.0.0.1, so two of them are two hosts
as far as a client's origin rules go. It records every request that arrives and answers with
the function it was given.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

__all__ = ["LocalServer", "Reply", "Seen", "json_reply", "no_settings_env", "redirect", "trickle"]


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: header names in lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: The client's source port: the same one again means a reused connection.
    client_port: int = 0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


#: An answer is a :class:`Reply`, or raw bytes pieces written one after another (flushed).
Answer = Callable[[Seen], "Reply | Iterator[bytes]"]


def no_settings_env(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    """No accs-sync setting from this process's environment, and no stray .env (in ``cwd``)."""
    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(cwd)


def json_reply(status: int, document: Any, **headers: str) -> Reply:
    return Reply(
        status, {"Content-Type": "application/json", **headers}, json.dumps(document).encode()
    )


def redirect(status: int, location: str) -> Answer:
    return lambda seen: Reply(status, {"Location": location})


def trickle(data: bytes, every: float, stop: threading.Event) -> Iterator[bytes]:
    """``data`` one byte at a time, ``every`` seconds apart (until the server stops)."""
    for i in range(len(data)):
        if stop.wait(every if i else 0):
            return
        yield data[i : i + 1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        seen = Seen(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length) if length else b"",
            int(self.client_address[1]),
        )
        self.server.seen.append(seen)
        answer = self.server.answer(seen)
        try:
            if isinstance(answer, Reply):
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                return
            self.close_connection = True
            for piece in answer:
                self.wfile.write(piece)
                self.wfile.flush()
        except OSError:  # the client gave up (the point of the trickling tests)
            self.close_connection = True

    do_GET = do_POST = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up mid-answer is expected here


class LocalServer:
    """``with LocalServer(answer) as server:`` ... ``server.url``, ``server.requests``."""

    def __init__(self, answer: Answer) -> None:
        self._server = _Server(answer)
        self.stop = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Seen]:
        return list(self._server.seen)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
