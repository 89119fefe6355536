"""A full pass over one store view: id ranges fetched concurrently, written by one writer.

Workers (threads, ``SYNC_CONCURRENCY`` of them) each walk one id range by keyset over the one
shared session; the rate gate in :mod:`sync.api.limiter` decides when each request may go. The
calling thread is the only writer: it commits each page together with the checkpoint (every
range's committed position), so a killed pass resumes every range where its data stops. A
worker fetches its range's next page while its previous one is being committed, and hands it
over once that one is handled, so at most two pages per range are ever lost to a kill.

**Deletions inside the pass.** A keyset page covers the id interval from its range's cursor to
its last id (to the range's end for the range's last page). Mirrored rows in that interval that
the page did not carry are gone upstream, and are tombstoned in the page's own transaction; a
rejected item counts as present. So a full pass needs no separate id listing. A windowed pass
(``backfill --since/--until``) sees only part of each interval and never tombstones.

A worker that fails (after the retry policy gave up) or sees a stop request makes the others
stop after their current request; pages already fetched are still committed, then the first
error is raised. The writer waits at most :attr:`FullPass.stop_grace` seconds for the others
(a worker may be deep in a request's retries): a failed pass ends promptly, and a worker that
finishes later finds the pass closed and leaves without waiting for a writer. The pass is
resumable from its checkpoint either way.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from sync.api.criteria import Filter, SearchCriteria
from sync.api.paging import IdPosition, IdWalk, Page
from sync.ranges import IdRange, RangeSet, Step
from sync.stats import StoreStats

if TYPE_CHECKING:
    from sync.seams import ProductPasses

__all__ = ["FullPass"]

log = logging.getLogger(__name__)


@dataclass
class _Job:
    """A fetched page on its way to the writer; ``done`` is set once it is handled."""

    rng: IdRange
    step: Step
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Exit:
    """A worker has stopped (``error``: why, if it failed)."""

    error: BaseException | None = None


class FullPass:
    """Walk ``ranges`` with ``workers`` threads; write every page on the calling thread."""

    #: Seconds the writer waits for the other workers once one has failed.
    stop_grace = 30.0

    def __init__(
        self,
        pipeline: ProductPasses,
        store: StoreStats,
        run_id: int,
        ranges: RangeSet,
        *,
        workers: int,
        filters: tuple[tuple[Filter, ...], ...] = (),
        tombstones: bool = True,
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.run_id = run_id
        self.ranges = ranges
        self.workers = max(1, workers)
        self.filters = filters
        self.tombstones = tombstones
        #: The checkpoint's other fields (high water, window), saved with every page.
        self.checkpoint_extra = checkpoint or {}
        #: Set when the writer has stopped reading pages (workers must not wait for it).
        self._closed = threading.Event()
        #: A slot per page fetched and not yet handled by the writer: one per worker plus one
        #: read-ahead, so however slow the writer, at most that many decoded pages are held.
        self._slots = threading.BoundedSemaphore(self.workers + 1)

    def run(self) -> None:
        """Until every range is walked, or raise the first failure (committed work is kept)."""
        jobs: queue.Queue[_Job | _Exit] = queue.Queue()
        threads = [
            # Each worker in a copy of this thread's log context (run, kind, store): threads
            # do not inherit context variables.
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._worker, jobs),
                name=f"accs-sync-{self.store.store_code}-{n}",
                daemon=True,
            )
            for n in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        error: BaseException | None = None
        running = len(threads)
        deadline: float | None = None  # once a worker failed: when to stop waiting for the rest
        try:
            while running:
                if deadline is not None and time.monotonic() > deadline:
                    log.warning(
                        "store %s: %d workers still busy %.0fs after the pass failed; "
                        "not waiting for them",
                        self.store.store_code,
                        running,
                        self.stop_grace,
                    )
                    break
                try:
                    message = jobs.get(timeout=0.5)
                except queue.Empty:
                    continue
                if isinstance(message, _Exit):
                    running -= 1
                    if message.error is not None and error is None:
                        error = message.error
                        deadline = time.monotonic() + self.stop_grace
                        self.ranges.abort()
                    continue
                try:
                    if not isinstance(error, _WriterFailed):
                        self._commit(message)
                except Exception as exc:  # noqa: BLE001 - raised below, after the workers stop
                    error = _WriterFailed(exc)
                    deadline = time.monotonic() + self.stop_grace
                    self.ranges.abort()
                finally:
                    self._handed(message)
                del message  # the page is written: not kept while the next one is awaited
        finally:
            self.ranges.abort()  # a writer interrupted by anything must not leave workers waiting
            self._closed.set()
            while not jobs.empty():  # pages nobody will write: their workers may leave
                left = jobs.get_nowait()
                if isinstance(left, _Job):
                    self._handed(left)
            end = time.monotonic() + (1.0 if deadline is not None else self.stop_grace)
            for thread in threads:
                thread.join(timeout=max(0.0, end - time.monotonic()))
        if isinstance(error, _WriterFailed):
            raise error.cause
        if error is not None:
            raise error

    # -- the writer (calling thread) --------------------------------------------------------------

    def _handed(self, job: _Job) -> None:
        """``job`` is handled (written, or dropped after a failure): its worker may go on."""
        job.done.set()
        self._slots.release()

    def _commit(self, job: _Job) -> None:
        pipeline, code = self.pipeline, self.store.store_code
        interval = job.step.interval if self.tombstones else None

        def write(conn: Connection) -> None:  # retried whole, the same page, after a fault
            pipeline.write_page(conn, self.store, self.run_id, job.step.page, interval=interval)
            value = {"ranges": self.ranges.checkpoint(after=(job.rng, job.step))}
            pipeline.save_checkpoint(conn, code, {**value, **self.checkpoint_extra})

        pipeline.db.write(write)
        self.ranges.committed(job.rng, job.step)

    # -- the workers --------------------------------------------------------------------------

    def _worker(self, jobs: queue.Queue[_Job | _Exit]) -> None:
        error: BaseException | None = None
        try:
            while (rng := self.ranges.take()) is not None:
                if not self._walk(rng, jobs):
                    break
        except Exception as exc:  # noqa: BLE001 - handed to the writer, which raises it
            error = exc
        finally:
            jobs.put(_Exit(error))

    def _walk(self, rng: IdRange, jobs: queue.Queue[_Job | _Exit]) -> bool:
        """Walk ``rng`` to its end; False when the pass was aborted meanwhile.

        The next page is fetched while the writer commits the previous one (a worker that
        waited for each commit would leave its request slot idle for the write's duration),
        and handed over only once that one is handled: at most two pages of a range are ever
        uncommitted, and at most ``workers + 1`` of the whole pass (``_slots``), so memory
        stays bounded however slow the writer is, and a kill loses at most those.
        """
        previous: threading.Event | None = None  # set once the writer handled the last page
        slot = False  # a page slot taken and not handed over with a job
        try:
            while not self.ranges.aborted:
                slot = self._slot()
                if not slot:
                    return False
                page = self._fetch(rng)
                if previous is not None and not self._handled(previous):
                    return False
                if self.ranges.aborted:
                    return False
                job = _Job(rng, self.ranges.received(rng, page))
                last, previous = job.step.following is None, job.done
                jobs.put(job)  # the slot and the page go with the job: the writer frees both
                slot = False
                # Keep no reference: a page written meanwhile must not stay in memory for as
                # long as the next one takes to arrive.
                del page, job
                if last:
                    return self._handled(previous)
            return False
        finally:
            if slot:
                self._slots.release()
            if not rng.done:
                self.ranges.release(rng)

    def _slot(self) -> bool:
        """Wait for a page slot (see ``_slots``); False when the writer stopped reading."""
        while not self._slots.acquire(timeout=0.5):
            if self._closed.is_set():
                return False
        return True

    def _handled(self, done: threading.Event) -> bool:
        """Wait until the writer has handled a job (its ``done``); False when it stopped
        reading pages."""
        while not done.wait(0.5):
            if self._closed.is_set():
                return False
        return True

    def _fetch(self, rng: IdRange) -> Page:
        extra = self.filters

        def criteria(at: tuple[IdWalk, IdPosition], size: int) -> SearchCriteria:
            walk, position = at
            base = walk.criteria(position, size)
            return replace(base, groups=base.groups + extra)

        position = self.ranges.criteria_position(rng)
        return self.pipeline.fetch(criteria, position, self.store.store_code)


class _WriterFailed(Exception):
    """The writer's own failure (a database error): no further page is written."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
