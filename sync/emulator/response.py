"""What the emulator answers: a status, a body and headers, encoded the way Magento does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "JSON_HEADERS",
    "RawJSON",
    "Response",
    "encode_json",
    "json_response",
    "too_many_requests",
]

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


@dataclass(frozen=True)
class RawJSON:
    """ASCII JSON text served as it is where a value goes (a custom attribute's, say): for tests
    of what a client must survive that ``json.dumps`` cannot write, such as nesting deeper
    than it recurses."""

    text: str


def encode_json(payload: Any) -> bytes:
    """Compact JSON as Magento's PHP ``json_encode`` writes it: "/" escaped, ASCII only."""
    raws: list[str] = []

    def raw(value: Any) -> str:
        if not isinstance(value, RawJSON):
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
        raws.append(value.text)
        return f"\0raw{len(raws) - 1}\0"

    text = json.dumps(payload, separators=(",", ":"), default=raw).replace("/", "\\/")
    for i, value in enumerate(raws):
        text = text.replace(f'"\\u0000raw{i}\\u0000"', value)
    return text.encode("ascii")


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, encode_json(payload), JSON_HEADERS + headers)


def too_many_requests(retry_after: int) -> Response:
    """The gateway's 429 with its ``Retry-After`` (whole seconds)."""
    headers = (("Retry-After", str(retry_after)),)
    return json_response(429, {"message": "Too many requests"}, headers)
