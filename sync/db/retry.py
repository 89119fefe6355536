"""Retry a page's transaction through a lost connection, a failover, a deadlock.

A page is written in one transaction (its rows, the change log, the run's counters and the
state that says how far the run got), all idempotent upserts: when that transaction fails with
a retriable fault (:func:`sync.db.faults.classify`) it is rolled back whole, and running it
again on a fresh connection writes the same page again, nothing skipped and nothing doubled.
:class:`Transactions` does that, with jittered exponential backoff through the run's
:class:`~sync.clock.Clock`, for at most ``SYNC_DB_RETRY_SECONDS`` from the first failure; the
engine pre-pings every connection it hands out, so a pool emptied by a restart refills itself.
Past the bound it raises :class:`~sync.db.faults.DatabaseUnavailable`, and a stop request
(SIGTERM) during the wait raises :class:`~sync.errors.Interrupted`.

What a page does to the run's memory (its counters, the metrics) must happen once, after the
commit: :func:`after_commit` defers a callable until the transaction it is called in has
committed (and drops it when the transaction fails, to be registered again by the retry).

A COMMIT whose answer is lost with the connection may have committed: the retry then finds the
page's rows unchanged (same content hashes) and writes nothing twice, but the run's page and
unchanged counters in ``sync_runs`` count that page twice.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from sync.clock import Clock
from sync.db.faults import DatabaseUnavailable, Fault, classify, describe
from sync.errors import Interrupted

__all__ = ["Held", "Transactions", "after_commit"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SETTING = "SYNC_DB_RETRY_SECONDS"

_pending: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "accs_sync_after_commit", default=None
)


def after_commit(effect: Callable[[], None]) -> None:
    """Run ``effect`` once the transaction of :meth:`Transactions.write` this is called in has
    committed; at once outside one."""
    pending = _pending.get()
    if pending is None:
        effect()
    else:
        pending.append(effect)


class Transactions:
    """Runs units of database work, retrying retriable faults on a fresh connection."""

    #: First pause, and the most any pause is (seconds) before jitter.
    first_pause = 0.25
    max_pause = 5.0

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        stop_event: threading.Event | None = None,
        retry_seconds: float = 60.0,
        scrub: Callable[[str], str] = str,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.stop_event = stop_event or threading.Event()
        #: SYNC_DB_RETRY_SECONDS: how long a failing unit of work is retried.
        self.retry_seconds = retry_seconds
        self.scrub = scrub
        self.jitter = jitter
        #: Called before a unit of work runs again after a fault: the run lock lives in a
        #: server connection's session, which the fault may have ended (see
        #: :meth:`sync.db.lock.RunLock.ensure`). Its own database errors are retried alike.
        self.guard: Callable[[], None] | None = None

    def write(self, work: Callable[[Connection], T], *, within: float | None = None) -> T:
        """``work(conn)`` in one transaction, committed; retried whole after a retriable fault
        (``within``: the bound, default ``retry_seconds``)."""
        return self._retrying(functools.partial(self._once, self.engine.begin, work), within)

    def read(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` on a connection of its own (reads), retried after a retriable fault."""
        return self._retrying(functools.partial(self._once, self.engine.connect, work), None)

    @staticmethod
    def _once(
        connection: Callable[[], AbstractContextManager[Connection]],
        work: Callable[[Connection], T],
    ) -> T:
        """One attempt; what it deferred with :func:`after_commit` runs once it succeeded."""
        effects: list[Callable[[], None]] = []
        token = _pending.set(effects)
        try:
            with connection() as conn:
                result = work(conn)
        finally:
            _pending.reset(token)
        for effect in effects:
            effect()
        return result

    def _retrying(self, attempt: Callable[[], T], within: float | None) -> T:
        bound = self.retry_seconds if within is None else within
        first: float | None = None
        since = None
        fault: Fault | None = None
        tries = 0
        while True:
            try:
                if tries and self.guard is not None:
                    self.guard()
                result = attempt()
            except Exception as exc:
                fault = classify(exc)
                if fault is None:
                    raise
                now = self.clock.monotonic()
                if first is None:
                    first, since = now, self.clock.now().astimezone(UTC)
                    log.warning(
                        "database %s (%s); retrying on a fresh connection for up to %gs (%s)",
                        fault.what,
                        describe(exc, self.scrub),
                        bound,
                        SETTING,
                    )
                left = first + bound - now
                if left <= 0:
                    assert since is not None
                    raise DatabaseUnavailable(
                        _gave_up(fault, since, bound, describe(exc, self.scrub)), fault, since
                    ) from None
                tries += 1
                pause = min(self.max_pause, self.first_pause * 2 ** (tries - 1))
                self.clock.sleep(min(left, pause * (0.5 + self.jitter() / 2)))
                if self.stop_event.is_set():
                    raise Interrupted(
                        "stop requested while the database did not answer; every page "
                        "committed before is kept"
                    ) from None
                continue
            if first is not None and fault is not None:
                log.info(
                    "the database answers again after %.1fs (%s); the work was done again",
                    self.clock.monotonic() - first,
                    fault.what,
                )
            return result

    @contextmanager
    def held(self) -> Iterator[Held]:
        """Units of work on one connection in ONE transaction, committed only by
        :meth:`Held.commit` (rolled back otherwise, on any error): what a batch of events
        writes and the journal position after it commit together or not at all. Nothing is
        retried inside (the caller does the batch again); :func:`after_commit` effects wait
        for the commit. Reads see the transaction's own writes."""
        effects: list[Callable[[], None]] = []
        token = _pending.set(effects)
        try:
            with self.engine.connect() as conn:
                transaction = conn.begin()
                held = Held(self, conn, transaction)
                try:
                    yield held
                finally:
                    if transaction.is_active:
                        transaction.rollback()
        finally:
            _pending.reset(token)
        if held.committed:
            for effect in effects:
                effect()


class Held(Transactions):
    """:meth:`Transactions.held`: ``write`` and ``read`` run on the held connection."""

    def __init__(self, base: Transactions, conn: Connection, transaction: Any) -> None:
        super().__init__(
            base.engine, base.clock, base.stop_event, base.retry_seconds, base.scrub, base.jitter
        )
        self.conn = conn
        self._transaction = transaction
        self.committed = False

    def write(self, work: Callable[[Connection], T], *, within: float | None = None) -> T:
        return work(self.conn)

    def read(self, work: Callable[[Connection], T]) -> T:
        return work(self.conn)

    def commit(self) -> None:
        self._transaction.commit()
        self.committed = True


def _gave_up(fault: Fault, since: object, bound: float, detail: str) -> str:
    when = f"{since:%H:%M:%S} UTC"
    if fault.connection:
        what = f"the database stopped answering ({fault.what}) at {when}"
    else:
        what = f"the database kept failing the page's transaction ({fault.what}) since {when}"
    return f"{what} and still failed after {bound:g}s ({SETTING}; {detail})"
