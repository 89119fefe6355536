"""``accs-sync status``: what an operator wants to know at a glance, read from the database.

:func:`read_status` reads it once; :func:`status_text` and :func:`status_json` render that one
report, so the text and ``status --json`` never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, inspect

from sync.clock import Clock, SystemClock
from sync.db.auth_events import AuthEventRow, recent_auth_events
from sync.db.engine import redacted_url
from sync.db.migrate import current_revision, head_revision, known_revision
from sync.db.runlog import PassRow, run_resources
from sync.db.state import (
    ProductCount,
    RunInfo,
    StateEntry,
    all_state,
    product_counts,
    recent_runs,
)
from sync.redact import escape_control
from sync.resources import PRODUCTS, RESOURCES
from sync.watermark import SKEW, accs_time

__all__ = [
    "StatusReport",
    "counts_suffix",
    "pass_line",
    "read_status",
    "status_json",
    "status_text",
]


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


def pass_line(done: PassRow) -> str:
    """``source_items *: full, 344 rows written in 4 pages, 2 deleted upstream`` (text read
    from the database escaped: a hand-edited row cannot drive the terminal)."""
    where = escape_control(f"{done.resource} {done.store_code}: {done.mode or '-'}")
    return f"{where}, {done.written} rows written in {done.pages} pages" + counts_suffix(
        unchanged=done.unchanged, revived=done.revived, deleted=done.deleted, rejected=done.rejected
    )


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


@dataclass(frozen=True)
class StatusReport:
    """What ``status`` reads from the database, once; the text and the JSON both render it.

    ``revision`` is None and the lists are empty when the database has no accs-sync schema.
    """

    database: str
    schema_present: bool
    revision: str | None
    head: str
    counts: list[ProductCount]
    state: list[StateEntry]
    runs: list[RunInfo]
    #: Rows of the other resources (categories, source items) per store view.
    resources: dict[str, list[ProductCount]] = field(default_factory=dict)
    #: What each of ``runs`` did per resource and store view (``sync_run_resources``), by run
    #: id; a run from before revision 0006 has none.
    passes: dict[int, list[PassRow]] = field(default_factory=dict)
    #: (store code, key) of the watermarks later than this machine's clock plus the skew.
    future: frozenset[tuple[str, str]] = frozenset()
    #: (store code, key) of the watermarks that are not ACCS timestamps at all.
    malformed: frozenset[tuple[str, str]] = frozenset()
    #: The auth audit's last events (``sync_auth_events``), newest first.
    auth_events: list[AuthEventRow] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Schema present and the last finished run did not fail."""
        finished = [r for r in self.runs if r.status != "running"]
        return self.schema_present and (
            not finished or finished[0].status in ("success", "interrupted")
        )


def _is_watermark(key: str) -> bool:
    return key == "watermark" or key.endswith(":watermark")


def read_status(
    engine: Engine, database_url: str, runs: int = 5, clock: Clock | None = None
) -> StatusReport:
    """Read everything ``status`` shows (the last ``runs`` runs) from the database.

    A watermark is "in the future" when it is later than ``clock`` (this machine's; status
    asks ACCS nothing) plus :data:`sync.watermark.SKEW`: the next sync replaces it."""
    database, head = redacted_url(database_url), head_revision()
    if not inspect(engine).has_table("sync_runs"):
        return StatusReport(database, False, None, head, [], [], [])
    history = recent_runs(engine, runs)
    present = inspect(engine)
    with engine.connect() as conn:
        state = all_state(conn)
        passes = {}
        if present.has_table("sync_run_resources"):
            passes = run_resources(conn, [run.id for run in history])
    resources = {
        resource.name: product_counts(engine, resource.table)
        for resource in RESOURCES.values()
        if resource is not PRODUCTS  # products' rows are the report's own ``counts``
        and present.has_table(resource.table.name)
    }
    ceiling = (clock or SystemClock()).now().replace(tzinfo=None) + SKEW
    future, malformed = set(), set()
    for entry in state:
        if _is_watermark(entry.key):
            stamp = accs_time(entry.value.get("updated_at"))
            if stamp is None:
                malformed.add((entry.store_code, entry.key))
            elif stamp > ceiling:
                future.add((entry.store_code, entry.key))
    return StatusReport(
        future=frozenset(future),
        malformed=frozenset(malformed),
        database=database,
        schema_present=True,
        revision=current_revision(engine),
        head=head,
        counts=product_counts(engine),
        state=state,
        runs=history,
        resources=resources,
        passes=passes,
        auth_events=recent_auth_events(engine, max(runs, 10)),
    )


def _shown(value: object) -> object:
    """A state value as text; one with control characters (a hand-edited row) escaped."""
    return repr(value) if isinstance(value, str) and not value.isprintable() else value


def _iso(value: datetime | None) -> str | None:
    """Naive UTC from the database as ISO 8601 with its ``Z``."""
    return None if value is None else f"{value:%Y-%m-%dT%H:%M:%S}Z"


def status_json(report: StatusReport) -> dict[str, Any]:
    """``status --json``: the report as plain JSON values (times are ISO 8601 UTC)."""
    return {
        "database": report.database,
        "schema": {
            "present": report.schema_present,
            "revision": report.revision,
            "head": report.head,
        },
        "healthy": report.healthy,
        "counts": [
            {"store_code": c.store_code, "live": c.alive, "deleted": c.deleted}
            for c in report.counts
        ],
        "resources": {
            name: [
                {"store_code": c.store_code, "live": c.alive, "deleted": c.deleted} for c in counts
            ]
            for name, counts in report.resources.items()
        },
        "state": [
            {
                "store_code": e.store_code,
                "key": e.key,
                "value": e.value,
                "updated_at": _iso(e.updated_at),
                "watermark_in_future": (e.store_code, e.key) in report.future,
            }
            for e in report.state
        ],
        "runs": [
            {
                **asdict(run),
                "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at),
                "resources": [p._asdict() for p in report.passes.get(run.id, [])],
            }
            for run in report.runs
        ],
        "auth_events": [
            {"at": _iso(e.at), "event": e.event, "detail": e.detail, "run_id": e.run_id}
            for e in report.auth_events
        ],
    }


def status_text(report: StatusReport) -> str:
    """The report as the lines an operator reads."""
    lines = [f"database: {report.database}"]
    if not report.schema_present:
        lines.append("no accs-sync schema yet: run `accs-sync migrate` or `accs-sync sync`")
        return "\n".join(lines)
    revision, head = report.revision, report.head
    note = "" if revision == head else f" (this accs-sync expects {head}: run accs-sync migrate)"
    if revision is not None and not known_revision(revision):
        note = f" (newer than this accs-sync, which expects {head}: upgrade accs-sync)"
    lines.append(f"schema revision: {revision}{note}")
    if report.runs:  # as the run resolved them (SYNC_STORE_CODES=all: what ACCS listed then)
        codes = report.runs[0].store_codes
        lines.append(f"store views of the last run: {', '.join(codes) or '-'}")

    tables = {"products per store view": report.counts}
    tables |= {name.replace("_", " "): counts for name, counts in report.resources.items()}
    for title, counts in tables.items():
        lines.append("")
        lines.append(f"{title}:")
        if not counts:
            lines.append("  (none yet)")
        for count in counts:
            lines.append(
                f"  {count.store_code:<16} {count.alive:>9} live  {count.deleted:>7} "
                "deleted upstream"
            )

    lines.append("")
    lines.append("sync state:")
    if not report.state:
        lines.append("  (no watermark yet: the next sync is a full pass)")
    for entry in report.state:
        detail = ", ".join(f"{k}={_shown(v)}" for k, v in entry.value.items())
        where = (entry.store_code, entry.key)
        if where in report.future:
            detail += "  WARNING: in the future; the next sync replaces it with a full pass"
        elif where in report.malformed:
            detail += "  WARNING: not an ACCS timestamp; the next sync replaces it with a full pass"
        lines.append(f"  {entry.store_code:<16} {entry.key:<20} {detail}")

    history = report.runs
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
        for done in report.passes.get(run.id, []):
            lines.append(f"         {pass_line(done)}")
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
    if report.auth_events:
        lines.append("")
        lines.append("auth events (newest first):")
        for e in report.auth_events:
            of_run = f" (run #{e.run_id})" if e.run_id is not None else ""
            detail = f"  {e.detail}" if e.detail else ""
            lines.append(escape_control(f"  {_when(e.at)}  {e.event:<16}{detail}{of_run}"))
    return "\n".join(lines)
