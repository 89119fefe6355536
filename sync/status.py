"""``accs-sync status``: what an operator wants to know at a glance, read from the database."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from sync.db.engine import redacted_url
from sync.db.migrate import current_revision, head_revision
from sync.db.state import all_state, product_counts, recent_runs

__all__ = ["counts_suffix", "render_status"]


def counts_suffix(*, unchanged: int, revived: int, deleted: int, rejected: int) -> str:
    """``", 3 unchanged, 1 rejected"``: the non-zero outcome counters of a run or store."""
    parts = [
        f", {n} {label}"
        for n, label in (
            (unchanged, "unchanged"),
            (revived, "revived"),
            (deleted, "deleted upstream"),
            (rejected, "rejected"),
        )
        if n
    ]
    return "".join(parts)


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def render_status(engine: Engine, database_url: str, runs: int = 5) -> tuple[str, bool]:
    """The report, and whether the mirror is healthy (schema present, last run not failed)."""
    lines = [f"database: {redacted_url(database_url)}"]
    if not inspect(engine).has_table("sync_runs"):
        lines.append("no accs-sync schema yet: run `accs-sync migrate` or `accs-sync sync`")
        return "\n".join(lines), False
    revision, head = current_revision(engine), head_revision()
    note = "" if revision == head else f" (this accs-sync expects {head}: run accs-sync migrate)"
    lines.append(f"schema revision: {revision}{note}")

    lines.append("")
    lines.append("products per store view:")
    counts = product_counts(engine)
    if not counts:
        lines.append("  (none yet)")
    for count in counts:
        lines.append(
            f"  {count.store_code:<16} {count.alive:>9} live  {count.deleted:>7} deleted upstream"
        )

    with engine.connect() as conn:
        state = all_state(conn)
    lines.append("")
    lines.append("sync state:")
    if not state:
        lines.append("  (no watermark yet: the next sync is a full pass)")
    for entry in state:
        detail = ", ".join(f"{k}={v}" for k, v in entry.value.items())
        lines.append(f"  {entry.store_code:<16} {entry.key:<20} {detail}")

    history = recent_runs(engine, runs)
    lines.append("")
    lines.append(f"last {len(history)} runs:")
    if not history:
        lines.append("  (none yet)")
    for run in history:
        lines.append(
            f"  #{run.id:<5} {run.kind:<9} {run.status:<12} started {_when(run.started_at)}  "
            f"finished {_when(run.finished_at)}  {run.pages} pages, {run.products_written} "
            "products written"
            + counts_suffix(
                unchanged=run.products_unchanged,
                revived=run.products_revived,
                deleted=run.products_deleted,
                rejected=run.products_rejected,
            )
        )
        auth = [
            f"{label} {count}"
            for count, label in (
                (run.token_mints, "token mints"),
                (run.token_refreshes, "token refreshes"),
                (run.auth_retries, "401 re-sends"),
                (run.secret_fallbacks, "secret fallbacks"),
            )
            if count
        ]
        if auth:
            lines.append(f"         auth: {', '.join(auth)}")
        if run.error:
            lines.append(f"         error: {run.error}")
    finished = [r for r in history if r.status != "running"]
    if finished and finished[0].products_rejected:
        lines.append("")
        lines.append(
            f"{finished[0].products_rejected} products rejected in the last run "
            f"(#{finished[0].id}); see sync_rejects for each item's reason and payload"
        )
    healthy = not finished or finished[0].status in ("success", "interrupted")
    return "\n".join(lines), healthy
