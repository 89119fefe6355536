"""One call run on a thread of its own while the caller does something else.

Used to send independent requests together (a full pass's probes, the two id bounds), so a
high-latency API costs one round trip for them instead of one each. The call runs in a copy of
the caller's context (the run's log context: threads do not inherit context variables), on a
thread named ``accs-sync-*`` that is always joined when the ``with`` block ends, even when the
caller raised: nothing outlives its caller.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["in_background"]

T = TypeVar("T")


@contextmanager
def in_background(call: Callable[..., T], *args: Any, name: str) -> Iterator[Future[T]]:
    """``call(*args)`` started on a thread named ``name`` (``accs-sync-...``); yields its future.

    Leaving the block waits for the call to end; a result nobody asked for is dropped, and so is
    its exception when the block itself raised (the block's error is the one that matters).
    """
    if not name.startswith("accs-sync-"):
        raise ValueError(f"thread names start with accs-sync-, not {name!r}")
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        yield executor.submit(contextvars.copy_context().run, call, *args)
    finally:
        executor.shutdown(wait=True)
