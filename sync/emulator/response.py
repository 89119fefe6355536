"""What the emulator answers: a status, a body and headers, encoded the way Magento does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["JSON_HEADERS", "Response", "encode_json", "json_response"]

JSON_HEADERS = (("Content-Type", "application/json; charset=utf-8"),)


@dataclass(frozen=True)
class Response:
    """What to send. ``disconnect``: close the connection without answering at all."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = JSON_HEADERS
    disconnect: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


def encode_json(payload: Any) -> bytes:
    """Compact JSON as Magento's PHP ``json_encode`` writes it: "/" escaped, ASCII only."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, encode_json(payload), JSON_HEADERS + headers)
