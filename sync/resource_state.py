"""What ``sync_state`` holds for one pass over a declared resource and store view, read and
judged for the pass planner (:func:`sync.planner.plan`): the full pass's checkpoint, the
interrupted incremental walk's checkpoint and the watermark; and the live rows an incremental
pass counts.

Every value is read back as hostile (:mod:`sync.resume`): a checkpoint that cannot be resumed
comes back as a one-line problem, which the planner reports and discards. An incremental
checkpoint is judged against the stored watermark too: its lower bound is the watermark less
the lookback, so one after the watermark would skip changes the watermark has not covered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from sync.db.state import get_raw_state
from sync.passtools import PassTools
from sync.planner import Kind, Stored
from sync.resources import Resource
from sync.resume import CheckpointError, load, load_progress

__all__ = ["live_rows", "read_stored"]

T = TypeVar("T")


def read_stored(resource: Resource, context: PassTools, store_code: str, kind: Kind) -> Stored:
    """The judged state of ``resource`` in ``store_code`` (``*`` for a global resource) for a
    pass of ``kind``; the watermark is read only when an incremental pass could use it."""
    what = f"{resource.name} {store_code}"

    def raw(key: str | None) -> Any:
        if key is None:
            return None
        return context.db.read(lambda conn: get_raw_state(conn, store_code, key))

    resume, problem = _judged(raw(resource.state.checkpoint), load, resource)
    progress, progress_problem = _judged(
        raw(resource.state.incremental_checkpoint), load_progress, resource
    )
    watermark, unusable = None, False
    if kind == "sync" and resource.incremental is not None and resume is None:
        stored = raw(resource.state.watermark)
        watermark = context.stamps.stored(what, stored)
        unusable = stored is not None and watermark is None
        if progress is not None and watermark is not None:
            if progress.since > str(watermark["updated_at"]):
                progress, progress_problem = None, "has a since after the stored watermark"
    return Stored(
        watermark=watermark,
        watermark_unusable=unusable,
        checkpoint=resume,
        checkpoint_window=None if resume is None else resume.window,
        checkpoint_problem=problem,
        progress=progress,
        progress_problem=progress_problem,
    )


def _judged(
    value: Any, reader: Callable[[Any, Any], T], resource: Resource
) -> tuple[T | None, str | None]:
    """``value`` read back by ``reader`` (None when nothing is stored), or what is wrong with it."""
    if value is None:
        return None, None
    try:
        return reader(value, resource.keys), None
    except CheckpointError as exc:
        return None, str(exc)


def live_rows(resource: Resource, context: PassTools, store_code: str) -> int:
    """How many rows of ``resource`` the mirror holds live in ``store_code`` (an incremental
    pass compares it with ACCS's ``total_count`` to find deletions)."""
    table = resource.table
    query = sa.select(sa.func.count()).select_from(table).where(table.c.deleted_at.is_(None))
    if resource.per_store:
        query = query.where(table.c.store_code == store_code)
    return int(context.db.read(lambda conn: conn.execute(query).scalar_one()))
