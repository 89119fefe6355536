"""One worker pool for every pass: N fetcher threads, the calling thread the only writer.

A pass hands the pool its units of work (id ranges, one walk per source, or a single walk), a
page generator per unit (:func:`walk_pages`, or its own) and a commit callback. Fetcher threads
(named ``accs-sync-<name>-<n>``, each in a copy of the caller's context variables, so log lines
keep the run's context) take a unit and pull its pages; the calling thread commits every page,
so a database connection is only ever used by one thread and the order of a unit's pages is the
order of its commits.

**Memory and read-ahead.** A worker hands its page to the writer and waits for its commit
before it asks for the next one, so at most ``workers`` pages are fetched and not committed
(one per worker; a kill loses at most one page per unit). With ``read_ahead`` (a single walk,
paged by one worker) it fetches the next page as soon as the writer has *started* writing the
last one, and hands it over once that one is committed: the next request is on the wire while
a page is written, and at most one more page per worker is held. ``workers=0`` pages on the
calling thread, without threads.

**Resume positions.** The commit callback receives a :class:`Fetched`: the unit, the page and
the unit's position *after* that page (None when the page ends the unit), so a caller can write
its checkpoint in the page's own transaction. A unit's pages are committed in order, never one
whose predecessor failed.

**Failures.** The first error (a fetch, or a commit) stops the other workers after their
current request; pages already fetched are still committed after a fetch error (not after a
commit error), then the first error is raised on the calling thread. The writer waits at most
:data:`STOP_GRACE` seconds for the others (one may be deep in a request's retries): a failed
pass ends promptly, and a worker that finishes later finds the pool closed and leaves. A set
``stop_event`` stops every worker before its next request and raises
:class:`~sync.errors.Interrupted` once the pages fetched are committed.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sync.errors import Interrupted

__all__ = ["STOP_GRACE", "Fetched", "FixedUnits", "Units", "run_pool", "walk_pages"]

log = logging.getLogger(__name__)

#: Seconds the writer waits for the other workers once one has failed (a worker may be deep in
#: a request's retries). One constant for every pass; tests patch it.
STOP_GRACE = 30.0
#: Seconds between the writer's and a waiting worker's looks at the pool's state.
POLL_SECONDS = 0.5

U = TypeVar("U")
P = TypeVar("P")


@dataclass(frozen=True)
class Fetched(Generic[U, P]):
    """A page of ``unit`` and the unit's position after it (None: the unit is complete)."""

    unit: U
    page: P
    position: Any


class Units(Protocol[U]):
    """The units of work of one pass, shared by the workers (thread-safe). ``take`` may wait
    (a unit may be split off a running one) and returns None once every unit is handed out or
    the pool aborted; ``release`` gives back a unit a worker stopped walking before its end."""

    def take(self) -> U | None: ...

    def release(self, unit: U) -> None: ...

    def abort(self) -> None: ...


class FixedUnits(Generic[U]):
    """A fixed list of units, each handed out once."""

    def __init__(self, units: Iterable[U]) -> None:
        self._todo = list(units)
        self._lock = threading.Lock()
        self._aborted = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._todo)

    def take(self) -> U | None:
        with self._lock:
            if self._aborted or not self._todo:
                return None
            return self._todo.pop(0)

    def release(self, unit: U) -> None:
        """A unit left unfinished is not walked again by this pass (the pool is stopping)."""

    def abort(self) -> None:
        with self._lock:
            self._aborted = True


class Walk(Protocol):
    """A keyset walk: the position after a page (None after the last)."""

    def advance(self, position: Any, page: Any) -> Any: ...


W = TypeVar("W", bound=Walk)


def walk_pages(
    unit: U, walk: W, start: Any, fetch: Callable[[W, Any], P]
) -> Iterator[Fetched[U, P]]:
    """The pages of ``walk`` from ``start``, each with the position after it; the next page is
    fetched only when the consumer asks for it."""
    position = start
    while position is not None:
        page = fetch(walk, position)
        position = walk.advance(position, page)
        yield Fetched(unit, page, position)


@dataclass
class _Job(Generic[U, P]):
    """A fetched page on its way to the writer."""

    #: Dropped once handled, so a written page is not kept alive while its worker waits for
    #: the next one (memory: see the module docstring).
    fetched: Fetched[U, P] | None
    taken: threading.Event = field(default_factory=threading.Event)  # the writer started it
    done: threading.Event = field(default_factory=threading.Event)  # ... and finished it
    committed: bool = False


@dataclass
class _Exit:
    """A worker has stopped (``error``: why, if it failed)."""

    error: BaseException | None = None


class _WriterFailed(Exception):
    """The writer's own failure (a database error): no further page is written."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _stopped() -> Interrupted:
    return Interrupted("stop requested; every page fetched so far is committed")


def run_pool(
    name: str,
    units: Units[U],
    walk: Callable[[U], Iterable[Fetched[U, P]]],
    commit: Callable[[Fetched[U, P]], None],
    *,
    workers: int,
    read_ahead: bool = False,
    stop_event: threading.Event | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Walk every unit of ``units`` with ``workers`` threads (0: on this thread), committing
    each page on this thread; raise the first failure once fetched pages are committed."""
    stop = stop_event or threading.Event()
    if workers <= 0:
        _run_inline(units, walk, commit, stop)
    else:
        _Pool(name, units, walk, commit, workers, read_ahead, stop, monotonic).run()


def _run_inline(
    units: Units[U],
    walk: Callable[[U], Iterable[Fetched[U, P]]],
    commit: Callable[[Fetched[U, P]], None],
    stop: threading.Event,
) -> None:
    try:
        while (unit := units.take()) is not None:
            pages = iter(walk(unit))
            while True:
                if stop.is_set():
                    raise _stopped()
                fetched = next(pages, None)
                if fetched is None:
                    break
                commit(fetched)
    finally:
        units.abort()


class _Pool(Generic[U, P]):
    def __init__(
        self,
        name: str,
        units: Units[U],
        walk: Callable[[U], Iterable[Fetched[U, P]]],
        commit: Callable[[Fetched[U, P]], None],
        workers: int,
        read_ahead: bool,
        stop: threading.Event,
        monotonic: Callable[[], float],
    ) -> None:
        self.name = name
        self.units = units
        self.walk = walk
        self.commit = commit
        self.workers = workers
        self.read_ahead = read_ahead
        self.stop = stop
        self.monotonic = monotonic
        self.jobs: queue.Queue[_Job[U, P] | _Exit] = queue.Queue()
        #: Set on the first failure or stop: workers make no further request.
        self.aborted = threading.Event()
        #: Set when the writer reads no more pages: workers must not wait for it.
        self.closed = threading.Event()

    # -- the writer (calling thread) --------------------------------------------------------------

    def run(self) -> None:
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._worker,),
                name=f"accs-sync-{self.name}-{n}",
                daemon=True,
            )
            for n in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        error: BaseException | None = None
        running = len(threads)
        deadline: float | None = None  # once something failed: when to stop waiting for the rest
        grace = STOP_GRACE
        try:
            while running:
                if deadline is not None and self.monotonic() > deadline:
                    log.warning(
                        "%s: %d workers still busy %.0fs after the pass failed; not waiting "
                        "for them",
                        self.name,
                        running,
                        grace,
                    )
                    break
                try:
                    message = self.jobs.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    continue
                if isinstance(message, _Exit):
                    running -= 1
                    if message.error is not None and error is None:
                        error = message.error
                        deadline = self.monotonic() + grace
                        self._abort()
                    continue
                message.taken.set()
                try:
                    if not isinstance(error, _WriterFailed) and message.fetched is not None:
                        self.commit(message.fetched)
                        message.committed = True
                except Exception as exc:  # noqa: BLE001 - raised below, after the workers stop
                    error = _WriterFailed(exc)
                    deadline = self.monotonic() + grace
                    self._abort()
                finally:
                    message.fetched = None  # the page is written: not kept any longer
                    message.done.set()
                del message
        finally:
            self._abort()  # a writer interrupted by anything must not leave workers waiting
            self.closed.set()
            while not self.jobs.empty():  # pages nobody will write: their workers may leave
                left = self.jobs.get_nowait()
                if isinstance(left, _Job):
                    left.taken.set()
                    left.done.set()
            end = time.monotonic() + (1.0 if deadline is not None else grace)
            for thread in threads:
                thread.join(timeout=max(0.0, end - time.monotonic()))
        if isinstance(error, _WriterFailed):
            raise error.cause
        if error is not None:
            raise error

    def _abort(self) -> None:
        self.aborted.set()
        self.units.abort()

    # -- the workers ------------------------------------------------------------------------------

    def _worker(self) -> None:
        error: BaseException | None = None
        try:
            while not self.aborted.is_set() and (unit := self.units.take()) is not None:
                if not self._walk(unit):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the writer, which raises it
            error = exc
        finally:
            self.jobs.put(_Exit(error))

    def _walk(self, unit: U) -> bool:
        """Hand every page of ``unit`` to the writer; False when the pool stopped meanwhile."""
        finished = False
        pages = iter(self.walk(unit))
        previous: _Job[U, P] | None = None
        try:
            while True:
                if self.stop.is_set():
                    raise _stopped()
                if self.aborted.is_set():
                    return False
                fetched = next(pages, None)  # the request (with read-ahead: while the last
                # page is written)
                if previous is not None and not self._wait(previous.done, previous):
                    return False
                if fetched is None:
                    finished = True
                    return True
                previous = _Job(fetched)
                del fetched  # held by the job alone, which drops it once written
                self.jobs.put(previous)
                if self.read_ahead:
                    if not self._wait(previous.taken):
                        return False
                elif not self._wait(previous.done, previous):
                    return False
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()  # a generator's own clean-up runs now, on this thread
            if not finished:
                self.units.release(unit)

    def _wait(self, event: threading.Event, job: _Job[U, P] | None = None) -> bool:
        """Wait for ``event``; False when the writer closed meanwhile, or ``job`` was not
        committed (its unit must not go on)."""
        while not event.wait(POLL_SECONDS):
            if self.closed.is_set():
                return False
        return job is None or job.committed
