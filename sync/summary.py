"""What ``sync``, ``backfill`` and ``reconcile`` print when a run ends: lines for people, or
(``--json``) one JSON document for scripts. Both render the run's :class:`~sync.stats.RunStats`,
so they never disagree; the JSON reuses its field names (and ``status --json``'s ``status``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sync.redact import escape_control
from sync.stats import RunStats, noun
from sync.status import counts_suffix

__all__ = ["summary_json", "summary_lines"]


def summary_lines(stats: RunStats) -> list[str]:
    """``run 3 success: 750 products, 4 pages; 0 source items, 2 pages (344 unchanged), 1.0s``
    (every resource's rows written, pages and rows read unchanged) and a line per store view
    and resource."""
    done = "; ".join(
        f"{t.written} {noun(t.resource)}, {t.pages} pages"
        + (f" ({t.unchanged} unchanged)" if t.unchanged else "")
        for t in stats.by_resource()
    )
    lines = [f"run {stats.run_id} {stats.status}: {done}, {stats.seconds:.1f}s"]
    for store in stats.stores:
        lines.append(
            f"  store {store.store_code}: {store.mode}, {store.products} products written in "
            f"{store.pages} pages"
            + counts_suffix(
                unchanged=store.unchanged,
                revived=store.revived,
                deleted=store.deleted,
                rejected=store.rejected,
            )
        )
    for r in stats.resources:
        where = "" if r.store_code == "*" else f" {r.store_code}"
        if r.error:
            lines.append(f"  {r.resource}{where}: not mirrored ({r.error})")
            continue
        lines.append(
            f"  {r.resource}{where}: {r.mode}, {r.written} rows written in {r.pages} pages"
            + counts_suffix(
                unchanged=r.unchanged, revived=r.revived, deleted=r.deleted, rejected=r.rejected
            )
        )
    if stats.unknown_keys:
        lines.append(
            f"  not in ACCS nor in the mirror ({len(stats.unknown_keys)}): "
            + ", ".join(escape_control(key) for key in stats.unknown_keys)
        )
    for code in stats.stores_removed:
        lines.append(f"  store {code}: no longer listed by ACCS; its mirrored rows are kept")
    if stats.rejected:
        lines.append(
            f"{stats.rejected} products rejected; see sync_rejects for reasons and payloads"
        )
    return lines


def summary_json(stats: RunStats, exit_code: int) -> dict[str, Any]:
    """The run as plain JSON values; the shape is documented in the README ("--json"). A
    ``refetch`` run adds ``unknown_keys``."""
    document = {
        "run_id": stats.run_id,
        "kind": stats.kind,
        "status": stats.status,
        "exit_code": exit_code,
        "seconds": round(stats.seconds, 3),
        "products": stats.products,
        "pages": stats.pages,
        "rejected": stats.rejected,
        "deleted": stats.deleted,
        "stores": [
            {
                "store_code": s.store_code,
                "mode": s.mode,
                "pages": s.pages,
                "products": s.products,
                "unchanged": s.unchanged,
                "revived": s.revived,
                "deleted": s.deleted,
                "rejected": s.rejected,
            }
            for s in stats.stores
        ],
        "resources": [asdict(r) for r in stats.resources],
        "by_resource": [asdict(t) for t in stats.by_resource()],
        "denied": list(stats.denied),
        "stores_removed": list(stats.stores_removed),
        "error": stats.error,
    }
    if stats.kind == "refetch":
        document["unknown_keys"] = list(stats.unknown_keys)
    return document
