"""Keep the sync process's memory near what it holds: glibc malloc settings for a threaded
process that decodes large JSON answers.

Each 300-product answer is about 600 KB, and orjson builds a buffer of several megabytes while
it reads one. glibc gives every thread that allocates an arena of its own (up to eight per
core), and after the first large block is freed it raises its mmap threshold to that block's
size, so later buffers come from the arenas, which seldom shrink. A 20,000-product backfill
then peaked about 10 MB above what it used. Two arenas and a fixed 256 KiB threshold (larger
blocks are mapped, and returned to the system when freed) keep the peak near the live data;
the extra mapping costs no measurable CPU. Anywhere but glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["ARENAS", "MMAP_THRESHOLD", "bound_malloc"]

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Arenas: the writer and the fetchers share two (allocation is under the GIL anyway).
ARENAS = 2
#: Blocks this large or larger are mapped, and unmapped when freed.
MMAP_THRESHOLD = 256 * 1024


def bound_malloc() -> bool:
    """Apply :data:`ARENAS` and :data:`MMAP_THRESHOLD` to this process's malloc; True when the
    C library took them (glibc), False where there is no ``mallopt``. Call it early, before
    threads start (arenas already made are kept). Idempotent."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_ARENA_MAX, ARENAS)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    )
    if not applied:
        log.debug("malloc refused the arena and mmap settings; memory is not bounded by them")
    return applied
