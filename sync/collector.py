"""How often the garbage collector runs while a sync runs.

CPython starts a collector pass after 700 more container allocations (dicts, lists, objects)
than deallocations, and every tenth-of-a-tenth pass walks every object the process holds, the
imported modules' included. A decoded page of 300 products holds about 7,500 dicts and lists
at once, all freed by reference counting when the page is written: under that default a
20,000-product backfill ran some 1,400 passes, a dozen of them full ones, about 0.6 CPU-s of
its 4 for garbage that never needed the collector. Within :func:`fewer_collections` a pass
starts after 50,000 (a few pages' worth of objects kept alive), so cyclic garbage is still
collected, a little later.

In the ``accs-sync`` process (:func:`process_entry`), the set-up of a one-off run (``sync``,
``backfill``, ``reconcile``: imports, settings, the engine, the app; :func:`setting_up`) starts
no collection at all, and what is alive when it ends is frozen: excluded from every later
collection. The set-up creates some 600,000 objects that live as long as the process; the
collector's passes over them cost 25 ms of a 0.45 s start, and each later full pass would walk
them again. Cyclic garbage made during the set-up is frozen with them and never collected:
import-time cycles and what the token and probe threads dropped meanwhile, a few KB. A set-up
that migrated the schema (Alembic's tables, reflection: megabytes of cycles) collects once
before freezing. The daemon and in-process callers (the tests) get none of this.

When the ``accs-sync`` process's command has ended, :func:`leave_to_exit` freezes what is
alive: the interpreter's collections at exit would otherwise walk every object of the run (the
libraries, the engine, the pools), about 0.15 CPU-s after a backfill, to free memory the ending
process gives back anyway. Nothing relies on them: files, connections and logs are closed by
the command itself and the ``atexit`` handlers (Python never promises a collection at exit).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RUN_THRESHOLD", "fewer_collections", "leave_to_exit", "process_entry", "setting_up"]

#: Net container allocations between collector passes during a run (CPython's default: 700).
RUN_THRESHOLD = 50_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with the collector's first threshold at :data:`RUN_THRESHOLD`; the
    previous thresholds come back when it ends (tests run commands in one process)."""
    before = gc.get_threshold()
    gc.set_threshold(max(RUN_THRESHOLD, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


_process = False


def process_entry() -> None:
    """Say that this interpreter is the ``accs-sync`` process (its entry calls this first)."""
    global _process
    _process = True


@contextmanager
def setting_up() -> Iterator[None]:
    """A command's set-up: in the ``accs-sync`` process, the collector is off inside, and what
    is alive at the end is frozen (see the module doc); elsewhere, nothing changes."""
    if not _process or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if "alembic" in sys.modules:  # a migration ran: Alembic's objects are garbage now
            gc.collect()
        gc.freeze()
        gc.enable()


def leave_to_exit() -> None:
    """Exclude every object alive now from all later collections: for the process entry only,
    once its command ended (tests call :func:`sync.cli.main` in-process and must not). The
    process's command is over: a later :func:`setting_up` in this interpreter (a test calling
    the entry in-process, then other code) changes nothing."""
    global _process
    _process = False
    gc.freeze()
