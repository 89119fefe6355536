"""The one ``requests.Session`` a run shares: pooling, default timeouts, identifying headers."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from sync import __version__

__all__ = ["USER_AGENT", "TimeoutSession", "build_session"]

USER_AGENT = f"accs-sync/{__version__} (+https://github.com/accs-sync/accs-sync)"


class TimeoutSession(requests.Session):
    """A Session that never waits forever: every request gets ``default_timeout`` unless the
    caller passes its own."""

    def __init__(self, default_timeout: float | tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = default_timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def build_session(
    *,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    pool_size: int = 8,
    headers: dict[str, str] | None = None,
) -> TimeoutSession:
    """A pooled session. Retries are ours (tenacity), so urllib3's own are switched off."""
    session = TimeoutSession((connect_timeout, read_timeout))
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    if headers:
        session.headers.update(headers)
    return session
