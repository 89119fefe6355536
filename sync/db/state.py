"""What the pipeline remembers between runs: per-store state, and the log of runs.

State (watermarks, backfill checkpoints) is read and written on the caller's connection, in the
caller's transaction: the page's products and the watermark that covers them commit together,
so a crash can never leave a watermark ahead of the data (the bandersnatch rule: the high-water
mark moves only with what is safely stored).

The run log is the opposite: :func:`start_run` and :func:`finish_run` commit on their own, so a
run is visible as "running" while it works and its outcome is recorded even when the data
transaction failed. :func:`update_run` is the exception; it rides in the page transaction so
the counts always match committed data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.db.dialect import upsert_statement
from sync.db.schema import naive_utc, products, sync_runs, sync_state
from sync.errors import SchemaError

__all__ = [
    "ABANDONED",
    "BACKFILL_CHECKPOINT",
    "ERROR_MAX",
    "RUNNING",
    "WATERMARK",
    "FinishedStatus",
    "ProductCount",
    "RunInfo",
    "StateEntry",
    "all_state",
    "cap_error",
    "delete_state",
    "finish_run",
    "get_raw_state",
    "get_state",
    "mark_stale_runs",
    "product_counts",
    "recent_runs",
    "record_auth_audit",
    "record_outcome",
    "set_state",
    "start_run",
    "update_run",
]

logger = logging.getLogger(__name__)

#: State keys used by the pipeline.
WATERMARK = "watermark"  # {"updated_at": "YYYY-MM-DD HH:MM:SS", "id": int}
#: A products full pass's checkpoint (sync.fullpass, sync.ranges), saved with every page:
#: {"ranges": [{"after": int, "upto": int | None}, ...],  # unfinished id ranges, committed ids
#:  "high_water": "YYYY-MM-DD HH:MM:SS" | None,            # the watermark once the pass completes
#:  "window": {"since": str | None, "until": str | None}}  # a backfill's --since/--until
#: One written before concurrent ranges, {"last_id": int}, still resumes (one unbounded range).
#: Read back as hostile: one that is not this shape is reported and a full pass replaces it.
BACKFILL_CHECKPOINT = "backfill_checkpoint"
#: The other resources' full passes keep theirs under "<resource>:checkpoint" (store ``*`` for
#: a resource that is the same in every store view), saved with every page (sync.resume). A
#: key of one number (categories) has this same shape, id ranges included; other keys
#: (source items) keep keyset positions instead of ranges:
#: {"walks": [{"partition": str | int | None,      # the key's first field a walk is confined
#:             "after": [key, ...] | None,         #   to (source items per source), or None;
#:             "phase": "next" | "same"}, ...],    #   the last key committed, keyset phase
#:  "high_water": ..., "window": ...}             # as above
#: Finished ranges and walks leave the list; the checkpoint is deleted when the pass completes.
#: An incremental pass walked in key order (categories) keeps its own under
#: "<resource>:incremental" (sync.resume.Progress), deleted with the watermark raised once the
#: walk is complete: {"after": [key] | None, "phase": "next", "since": str, "began": str,
#: "written_high": str | None}.

RUNNING = "running"
#: A run left "running" by a process that died; set by :func:`mark_stale_runs`.
ABANDONED = "abandoned"
FinishedStatus = Literal["success", "partial", "failed", "interrupted"]
_FINISHED: frozenset[str] = frozenset(("success", "partial", "failed", "interrupted"))

_STORE_CODES_MAX = 255
#: The longest error kept in sync_runs (characters): one line for a human, never a dump.
ERROR_MAX = 2000


@dataclass(frozen=True, slots=True)
class StateEntry:
    """One row of ``sync_state``."""

    store_code: str
    key: str
    value: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One row of ``sync_runs``. Times are naive UTC."""

    id: int
    kind: str
    store_codes: list[str]
    started_at: datetime
    finished_at: datetime | None
    status: str
    pages: int
    products_written: int
    error: str | None
    token_mints: int = 0
    token_refreshes: int = 0
    auth_retries: int = 0
    secret_fallbacks: int = 0
    products_unchanged: int = 0
    products_rejected: int = 0
    products_deleted: int = 0
    products_revived: int = 0


class ProductCount(NamedTuple):
    """Rows of one store view in ``products``; ``total`` includes the soft-deleted ones."""

    store_code: str
    total: int
    deleted: int

    @property
    def alive(self) -> int:
        return self.total - self.deleted


# --- per-store state, in the caller's transaction ---------------------------------------------


def _as_object(store_code: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(
            f"sync_state value for store {store_code!r}, key {key!r} is not a JSON object; "
            "delete that row to let accs-sync rebuild it"
        )
    return value


def get_state(conn: Connection, store_code: str, key: str) -> dict[str, Any] | None:
    """The value stored under (``store_code``, ``key``), or None if there is none."""
    value = get_raw_state(conn, store_code, key)
    return None if value is None else _as_object(store_code, key, value)


def get_raw_state(conn: Connection, store_code: str, key: str) -> Any:
    """The JSON value stored under (``store_code``, ``key``) as it is, object or not (a row
    edited by hand); None if there is none."""
    return conn.execute(
        sa.select(sync_state.c.value).where(
            sync_state.c.store_code == store_code, sync_state.c.key == key
        )
    ).scalar_one_or_none()


def set_state(
    conn: Connection, store_code: str, key: str, value: dict[str, Any], updated_at: datetime
) -> None:
    """Store ``value`` under (``store_code``, ``key``), replacing any previous value.

    Does not commit: it becomes durable with the caller's transaction.
    """
    statement = upsert_statement(conn, sync_state, ["value", "updated_at"])
    conn.execute(
        statement,
        [
            {
                "store_code": store_code,
                "key": key,
                "value": value,
                "updated_at": naive_utc(updated_at),
            }
        ],
    )


def delete_state(conn: Connection, store_code: str, key: str) -> None:
    """Forget (``store_code``, ``key``); a no-op if it is not stored."""
    conn.execute(
        sa.delete(sync_state).where(sync_state.c.store_code == store_code, sync_state.c.key == key)
    )


def all_state(conn: Connection) -> list[StateEntry]:
    """Every state row, ordered by store code and key (for ``status`` output)."""
    rows = conn.execute(
        sa.select(sync_state).order_by(sync_state.c.store_code, sync_state.c.key)
    ).all()
    return [
        StateEntry(
            store_code=row.store_code,
            key=row.key,
            value=_as_object(row.store_code, row.key, row.value),
            updated_at=row.updated_at,
        )
        for row in rows
    ]


# --- the run log ---------------------------------------------------------------------------


def _join_store_codes(store_codes: Sequence[str]) -> str:
    joined = ",".join(store_codes)
    if len(joined) > _STORE_CODES_MAX:
        # The column is a summary for humans; the run itself knows its full list.
        joined = joined[: _STORE_CODES_MAX - 3] + "..."
    return joined


def start_run(engine: Engine, kind: str, store_codes: list[str], started_at: datetime) -> int:
    """Record a new run as "running" and commit at once; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(sync_runs).values(
                kind=kind,
                store_codes=_join_store_codes(store_codes),
                started_at=naive_utc(started_at),
                status=RUNNING,
                pages=0,
                products_written=0,
            )
        )
        key = result.inserted_primary_key
    assert key is not None
    run_id = int(key[0])
    logger.debug("run %d (%s) started for %s", run_id, kind, ",".join(store_codes))
    return run_id


def update_run(
    conn: Connection,
    run_id: int,
    pages_delta: int,
    products_delta: int,
    *,
    unchanged: int = 0,
    rejected: int = 0,
    deleted: int = 0,
    revived: int = 0,
) -> None:
    """Add to a run's counters inside the caller's (page) transaction.

    ``products_delta`` counts rows written (inserted, updated or revived); ``revived`` is the
    part of it that brought tombstoned products back.
    """
    c = sync_runs.c
    values: dict[str, Any] = {
        "pages": c.pages + pages_delta,
        "products_written": c.products_written + products_delta,
    }
    extra = {
        "products_unchanged": unchanged,
        "products_rejected": rejected,
        "products_deleted": deleted,
        "products_revived": revived,
    }
    for name, delta in extra.items():
        if delta:
            values[name] = c[name] + delta
    conn.execute(sa.update(sync_runs).where(c.id == run_id).values(**values))


def cap_error(error: str | None) -> str | None:
    """``error`` cut to :data:`ERROR_MAX` characters (what is stored and shown of it)."""
    if error is not None and len(error) > ERROR_MAX:
        return error[: ERROR_MAX - 3] + "..."
    return error


def finish_run(
    engine: Engine,
    run_id: int,
    status: FinishedStatus,
    finished_at: datetime,
    error: str | None = None,
) -> None:
    """Record a run's outcome and commit (see :func:`record_outcome`)."""
    with engine.begin() as conn:
        record_outcome(conn, run_id, status, finished_at, error)


def record_outcome(
    conn: Connection,
    run_id: int,
    status: FinishedStatus,
    finished_at: datetime,
    error: str | None = None,
) -> None:
    """Record a run's outcome in the caller's transaction; ``error`` is capped to
    :data:`ERROR_MAX` characters.

    Overwrites "abandoned": if another process mistook this run for a dead one, the run's own
    account of how it ended is the true one.
    """
    if status not in _FINISHED:
        raise ValueError(f"finish_run status must be one of {sorted(_FINISHED)}, got {status!r}")
    result = conn.execute(
        sa.update(sync_runs)
        .where(sync_runs.c.id == run_id)
        .values(status=status, finished_at=naive_utc(finished_at), error=cap_error(error))
    )
    if result.rowcount == 0:
        logger.warning(
            "run %d is not in sync_runs; its outcome (%s) was not recorded", run_id, status
        )


AUTH_COUNTERS = ("token_mints", "token_refreshes", "auth_retries", "secret_fallbacks")


def record_auth_audit(engine: Engine, run_id: int, counts: dict[str, int]) -> None:
    """Add what authentication did during a run (mints, refreshes, 401 re-sends, secret
    fallbacks) to its row, and commit. Unknown names are ignored; zeros write nothing."""
    values = {
        name: getattr(sync_runs.c, name) + int(counts[name])
        for name in AUTH_COUNTERS
        if counts.get(name)
    }
    if not values:
        return
    with engine.begin() as conn:
        conn.execute(sa.update(sync_runs).where(sync_runs.c.id == run_id).values(**values))


def mark_stale_runs(
    engine: Engine, now: datetime, *, started_before: datetime | None = None
) -> int:
    """Mark runs still "running" as "abandoned" (their process died); returns how many.

    Only the caller can know no other accs-sync process is alive (e.g. it holds the instance
    lock); otherwise pass ``started_before`` to spare recent runs.
    """
    condition = sync_runs.c.status == RUNNING
    if started_before is not None:
        condition = sa.and_(condition, sync_runs.c.started_at < naive_utc(started_before))
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(sync_runs)
            .where(condition)
            .values(
                status=ABANDONED,
                finished_at=naive_utc(now),
                error="the process running it stopped without recording an outcome",
            )
        )
    count = int(result.rowcount)
    if count:
        logger.info("marked %d unfinished run(s) as %s", count, ABANDONED)
    return count


def recent_runs(engine: Engine, limit: int = 10) -> list[RunInfo]:
    """The last ``limit`` runs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id.desc()).limit(limit)).all()
    return [
        RunInfo(
            id=row.id,
            kind=row.kind,
            store_codes=[code for code in row.store_codes.split(",") if code],
            started_at=row.started_at,
            finished_at=row.finished_at,
            status=row.status,
            pages=row.pages,
            products_written=row.products_written,
            error=cap_error(row.error),
            token_mints=row.token_mints,
            token_refreshes=row.token_refreshes,
            auth_retries=row.auth_retries,
            secret_fallbacks=row.secret_fallbacks,
            products_unchanged=row.products_unchanged,
            products_rejected=row.products_rejected,
            products_deleted=row.products_deleted,
            products_revived=row.products_revived,
        )
        for row in rows
    ]


def product_counts(engine: Engine, table: sa.Table = products) -> list[ProductCount]:
    """Per store view: how many rows of ``table`` (products by default) are mirrored, and how
    many of them are deleted. A table of rows shared by every store view counts as ``*``."""
    deleted = sa.func.sum(sa.case((table.c.deleted_at.is_not(None), 1), else_=0))
    scope = table.c.store_code if "store_code" in table.c else sa.literal("*")
    with engine.connect() as conn:
        if "store_code" in table.c:
            query = sa.select(scope, sa.func.count(), deleted).group_by(scope).order_by(scope)
        else:
            query = sa.select(scope, sa.func.count(), deleted).select_from(table)
        rows = conn.execute(query).all()
    return [
        ProductCount(str(store), int(total), int(dead or 0))
        for store, total, dead in rows
        if int(total)
    ]
