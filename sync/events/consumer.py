"""The event consumer: journal batches -> refetched keys, committed with the position.

One step (:meth:`Consumer.step`):

1. read up to ``SYNC_EVENTS_BATCH`` events after the stored position (:mod:`.journal`);
2. coalesce them (:mod:`.coalesce`): one key per (resource, store view, key), duplicates by
   event id dropped (also against the ids applied recently in this process);
3. refetch the current state of those keys from ACCS (``apply``: a ``refetch`` run over
   :class:`~sync.keys.EventKeys`), and commit its rows, change logs, tombstones (a key ACCS
   answered without) and the new position in ONE transaction (``commit``). A crash or an
   error anywhere before that commit leaves the old position with the old rows: the batch is
   read again (delivery is at least once anyway, and a refetch of an unchanged key writes
   nothing). The position never passes rows that were not written.

A 204 waits its ``retry-after`` (bounded). A gap (410, or a position the journal refuses): a
warning with the span of time whose events were lost, the end of the journal asked for, a full
``reconcile`` of the affected resources, then the position set to that end (a failed reconcile
leaves the old position: the gap is met, and handled, again). :meth:`Consumer.run` loops until
stopped; an error (a journal outage, a database fault) is recorded in ``last_error``, waited
out with a growing pause and never ends the loop, nor touches the scheduled polling.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sync.clock import Clock
from sync.db.faults import describe
from sync.db.retry import Transactions, after_commit
from sync.errors import AccsSyncError, Interrupted
from sync.events.coalesce import Work, coalesce
from sync.events.journal import DEFAULT_IDLE_WAIT, JournalClient, JournalGap, JournalPage
from sync.events.metrics import EventMetrics
from sync.events.state import JournalState, iso, load_state, save_state
from sync.keys import EventKeys
from sync.redact import escape_control
from sync.stats import RunStats

__all__ = ["Consumer", "EventsFailed", "Step"]

log = logging.getLogger(__name__)

#: Event ids remembered to drop redeliveries that come in a later batch.
RECENT_IDS = 20_000
#: Pauses after a failed step: first, and the most (seconds).
FIRST_PAUSE, MAX_PAUSE = 5.0, 300.0
_APPLIED = ("success", "partial")

Apply = Callable[[EventKeys, Callable[[Connection], None]], RunStats]


class EventsFailed(AccsSyncError):
    """A batch (or a gap's reconcile) was not committed; the position did not move."""


@dataclass(frozen=True)
class Step:
    """What one step did: events applied, and how long to wait before the next (None: read
    on at once, the journal has more)."""

    applied: int = 0
    duplicates: int = 0
    wait: float | None = None
    gap: bool = False


class Consumer:
    """Applies the journal to the mirror; see the module docstring."""

    def __init__(
        self,
        *,
        journal: JournalClient,
        engine: Engine,
        apply: Apply,
        reconcile: Callable[[], RunStats],
        clock: Clock,
        batch: int,
        metrics: EventMetrics | None = None,
        stale_seconds: float = 300.0,
        idle_seconds: float | None = None,
        window_seconds: float = 0.0,
        scrub: Callable[[str], str] = str,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.journal = journal
        self.engine = engine
        self.apply = apply
        self.reconcile = reconcile
        self.clock = clock
        self.batch = batch
        self.metrics = metrics
        self.stale_seconds = stale_seconds
        #: SYNC_EVENTS_IDLE_SECONDS: the most an empty journal's retry-after is waited (None:
        #: all of it). Adobe asks for 10 s; an event published meanwhile waits that long.
        self.idle_seconds = idle_seconds
        #: SYNC_EVENTS_WINDOW_SECONDS: once caught up, the least time from one journal read to
        #: the next, so a window's changes are refetched together (a few requests for many
        #: keys) at the cost of that much freshness; 0: read again at once.
        self.window_seconds = window_seconds
        self.scrub = scrub
        self.stop_event = stop_event or threading.Event()
        self.db = Transactions(engine, clock, self.stop_event, scrub=scrub)
        self._state: JournalState | None = None
        self._recent: OrderedDict[str, None] = OrderedDict()
        #: Readiness: when the consumer last advanced (or found the journal empty), and
        #: whether the last answer had events still to apply.
        self._progress_at = clock.monotonic()
        self._behind = False
        self.last_error: str | None = None

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> JournalState:
        if self._state is None:
            self._state = self.db.read(load_state)
        return self._state

    def _save(self, state: JournalState) -> None:
        self.db.write(lambda conn: save_state(conn, state, self.clock.now()))
        self._state = state

    # -- one step ----------------------------------------------------------------------------

    def step(self) -> Step:
        """Read one batch and apply it; raises what failed (nothing then moved)."""
        state = self.state
        started = self.clock.monotonic()
        try:
            page = self.journal.read(state.position, self.batch)
        except JournalGap as gap:
            return self._gap(state, gap)
        empty = not page.events and not page.skipped
        if self.metrics is not None:
            self.metrics.read.inc(len(page.events))
            self.metrics.skipped.inc(page.skipped)
            self.metrics.caught_up(empty)
        if empty:
            self._behind = False
            self._progress_at = self.clock.monotonic()
            if page.position is not None and page.position != state.position:
                self._save(dataclasses.replace(state, position=page.position))
            wait = page.retry_after or DEFAULT_IDLE_WAIT
            if self.idle_seconds is not None:
                wait = min(wait, self.idle_seconds)
            return Step(wait=max(wait, self._window_left(started)))
        self._behind = True
        work = coalesce(page.events, self._recent)
        self._apply(state, page, work)
        caught_up = len(page.events) + page.skipped < self.batch
        wait = self._window_left(started) if caught_up else 0.0
        return Step(applied=work.applied, duplicates=work.duplicates, wait=wait or None)

    def _window_left(self, started: float) -> float:
        """What is left of the batch window begun by the read at ``started``."""
        return max(0.0, self.window_seconds - (self.clock.monotonic() - started))

    def _apply(self, state: JournalState, page: JournalPage, work: Work) -> None:
        now = self.clock.now()
        newest = max((t for t in (state.newest, work.newest) if t is not None), default=None)
        after = dataclasses.replace(
            state,
            position=page.position,
            newest_event_time=iso(newest) if newest is not None else None,
            applied_at=iso(now),
            last_error=None,
        )
        committed: list[bool] = []

        def commit(conn: Connection) -> None:
            save_state(conn, after, now)
            after_commit(lambda: committed.append(True))

        keys = EventKeys(products=work.products, stock=work.stock, categories=work.categories)
        if keys:
            stats = self.apply(keys, commit)
            if not committed:
                raise EventsFailed(
                    f"a batch of {work.applied} events was not applied (the refetch ended "
                    f"{stats.status}: {stats.error or 'no error said'}); the journal position "
                    "stays where it was and the batch is read again"
                )
            refused = "; ".join(stats.denied)
        else:  # duplicates and events without a usable key only: just move past them
            self.db.write(commit)
            refused = ""
        self._state = after
        self._committed(page, work, keys, newest, refused)

    def _committed(
        self,
        page: JournalPage,
        work: Work,
        keys: EventKeys,
        newest: datetime | None,
        refused: str,
    ) -> None:
        for event_id in work.event_ids:
            self._recent[event_id] = None
        while len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        self._progress_at = self.clock.monotonic()
        self.last_error = None
        applied = set(work.event_ids)
        # One time per applied event (a redelivery in the same page is not observed twice).
        stamps = {e.id: e.time for e in page.events if e.id in applied and e.time is not None}
        times = list(stamps.values())
        if self.metrics is not None:
            self.metrics.duplicates.inc(work.duplicates)
            self.metrics.skipped.inc(work.ignored)
            for resource, count in _counts(keys):
                self.metrics.refetched.labels(resource).inc(count)
            self.metrics.applied(times, newest)
        # Event times are ACCS's clock: never a negative lag when this one is behind it.
        lag = max(0.0, (self.clock.now() - newest).total_seconds()) if newest else None
        log.info(
            "events: applied %d (%d duplicates, %d without a usable key) -> refetched %s; "
            "newest event %s%s%s",
            work.applied,
            work.duplicates,
            work.ignored,
            ", ".join(f"{n} {r}" for r, n in _counts(keys) if n) or "nothing",
            iso(newest) if newest is not None else "-",
            f" ({lag:.1f}s ago)" if lag is not None else "",
            f"; refused: {refused}" if refused else "",
        )

    # -- gaps --------------------------------------------------------------------------------

    def _gap(self, state: JournalState, gap: JournalGap) -> Step:
        lost_since = state.newest_event_time or state.applied_at or "the first event"
        now = self.clock.now()
        log.warning(
            "event journal gap: %s; the events from %s to %s are lost. Reconciling the "
            "mirrored resources in full, then resuming at the journal's end",
            gap.message,
            lost_since,
            iso(now),
        )
        end = self.journal.latest()  # before the reconcile: what follows it is read after
        stats = self.reconcile()
        if stats.status not in _APPLIED:
            raise EventsFailed(
                f"the reconcile after a journal gap ended {stats.status} "
                f"({stats.error or 'no error said'}); the gap is handled again at the next step"
            )
        after = dataclasses.replace(
            state,
            position=end.position,
            applied_at=iso(now),
            last_error=None,
            gap={
                "status": gap.status,
                "detected_at": iso(now),
                "lost_since": state.newest_event_time or state.applied_at,
                "resumed_at": end.position,
                "reconcile_run": stats.run_id,
            },
        )
        self._save(after)
        if self.metrics is not None:
            self.metrics.gaps.inc()
        self._progress_at = self.clock.monotonic()
        log.info("events: resumed at the journal's end after reconcile run %d", stats.run_id)
        return Step(gap=True)

    # -- loops -------------------------------------------------------------------------------

    def consume_once(self, max_batches: int = 10_000) -> list[Step]:
        """Steps until the journal has nothing more (a 204) or ``max_batches``; raises the
        first failure (``accs-sync events consume --once``)."""
        steps: list[Step] = []
        while len(steps) < max_batches and not self.stop_event.is_set():
            step = self.step()
            steps.append(step)
            if step.wait is not None:
                break
        return steps

    def run(self) -> None:
        """Until the stop event: steps, waiting after a 204 and after a failure (growing
        pauses); a failure is logged and recorded in ``last_error``, never raised."""
        pause = FIRST_PAUSE
        log.info("event consumer started (%s)", self.journal)
        while not self.stop_event.is_set():
            try:
                step = self.step()
            except Interrupted:
                break  # a stop was asked for: nothing of the batch was committed
            except Exception as exc:  # noqa: BLE001 - every failure waits and tries again
                self._failed(exc, pause)
                self.stop_event.wait(pause)
                pause = min(MAX_PAUSE, pause * 2)
                continue
            pause = FIRST_PAUSE
            if step.wait is not None:
                self.stop_event.wait(step.wait)
        log.info("event consumer stopped")

    def _failed(self, exc: Exception, pause: float) -> None:
        if isinstance(exc, AccsSyncError):
            message = exc.message
        elif isinstance(exc, SQLAlchemyError):
            message = f"database error ({describe(exc, self.scrub)})"
        else:
            log.exception("event consumer: unexpected failure")
            message = f"{type(exc).__name__}: {exc}"
        message = self.scrub(escape_control(message))[:1000]
        self.last_error = message
        log.error("event consumer: %s; trying again in %.0fs", message, pause)
        try:
            self.db.write(lambda conn: _note_error(conn, message, self.clock.now()))
        except (SQLAlchemyError, AccsSyncError) as again:
            log.debug("cannot record the consumer's error: %s", again)

    # -- readiness ---------------------------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        """Not ready when the journal had events and the consumer has not advanced for
        ``stale_seconds`` (``SYNC_EVENTS_STALE_SECONDS``)."""
        idle = self.clock.monotonic() - self._progress_at
        if self._behind and idle > self.stale_seconds:
            why = f" (last error: {self.last_error})" if self.last_error else ""
            return False, (
                f"the event consumer has not advanced for {idle:.0f}s while the journal has "
                f"events (SYNC_EVENTS_STALE_SECONDS={self.stale_seconds:g}){why}"
            )
        return True, "event consumer advancing"


def _note_error(conn: Connection, message: str, now: datetime) -> None:
    """``last_error`` in the stored state, its position as stored (never moved here)."""
    current = load_state(conn)
    save_state(conn, dataclasses.replace(current, last_error=message), now)


def _counts(keys: EventKeys) -> Sequence[tuple[str, int]]:
    return (
        ("products", len(keys.products)),
        ("source_items", len(keys.stock)),
        ("categories", len(keys.categories)),
    )
