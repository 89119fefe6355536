"""What a log line is about: the run's id and kind, the store view and the page being written.

A run logs from several places (the pipeline, the HTTP client's retries and token refreshes,
the database layer) that know nothing of the run they serve; context variables let the
pipeline say it once and every line logged meanwhile carry it. :class:`ContextFilter` copies the
current values onto each record for the formatters in :mod:`sync.logs`.

Threads do not inherit context variables: a thread started for the run (full pass workers, the
incremental read-ahead) must be started with ``contextvars.copy_context().run`` so that its
lines still name the run, kind and store (the page it is fetching is not known yet).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any, Final

__all__ = ["FIELDS", "ContextFilter", "current", "log_context"]

#: The context fields, in the order they are shown.
FIELDS: Final = ("run_id", "kind", "store", "page")

_VARS: Final[dict[str, ContextVar[Any]]] = {
    name: ContextVar(f"accs_sync_{name}", default=None) for name in FIELDS
}


@contextmanager
def log_context(
    *,
    run_id: int | None = None,
    kind: str | None = None,
    store: str | None = None,
    page: int | None = None,
) -> Iterator[None]:
    """Within the block, log lines carry the given fields (the others keep their values);
    on exit each is restored to what it was, even when the block raises."""
    values = {"run_id": run_id, "kind": kind, "store": store, "page": page}
    with ExitStack() as restore:
        for name, value in values.items():
            if value is not None:
                token = _VARS[name].set(value)
                restore.callback(_VARS[name].reset, token)
        yield


def current() -> dict[str, Any]:
    """The fields set in this context, in :data:`FIELDS` order (unset ones left out)."""
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = _VARS[name].get()
        if value is not None:
            out[name] = value
    return out


class ContextFilter(logging.Filter):
    """Copies the current context onto each record as attributes named as in :data:`FIELDS`.

    Runs on the handler, in the thread that logs, so it sees that thread's context. A record
    that already carries one of these attributes (passed with ``extra=``) keeps its own value.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
