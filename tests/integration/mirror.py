"""Compare the mirror in a database with the emulator's catalog, and read the run log.

Shared by the end-to-end tests: "the mirror equals upstream" means the same live ids with the
same sku, name, price and ``updated_at`` as ACCS serves, and every row ACCS no longer has is
kept with ``deleted_at`` set (never hard-deleted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from sync.db.engine import make_engine
from sync.db.schema import products
from sync.emulator import EmulatorServer, RequestRecord

__all__ = [
    "assert_mirror_equals_upstream",
    "mirror",
    "mirror_by_id",
    "page_requests",
    "rows",
    "runs",
    "served_counts",
]


def mirror_by_id(db_url: str, store: str = "default") -> dict[int, dict[str, Any]]:
    """Every row of ``store`` (tombstoned ones too), keyed by product id."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            t = products
            query = sa.select(t.c.id, t.c.sku, t.c.name, t.c.price, t.c.updated_at, t.c.deleted_at)
            rows = conn.execute(query.where(t.c.store_code == store)).mappings()
            return {row["id"]: dict(row) for row in rows}
    finally:
        engine.dispose()


def mirror(db_url: str, store: str = "default") -> dict[str, dict[str, Any]]:
    """Every row of ``store``, keyed by sku."""
    return {row["sku"]: row for row in mirror_by_id(db_url, store).values()}


def assert_mirror_equals_upstream(
    db_url: str,
    emulator: EmulatorServer,
    store: str = "default",
    deleted: Iterable[int] | None = None,
) -> None:
    """Live rows equal the catalog field by field; rows ACCS no longer has are tombstoned.

    ``deleted``: when given, exactly these ids must be the tombstoned rows.
    """
    upstream = {item["id"]: item for item in emulator.catalog.items(store)}
    local = mirror_by_id(db_url, store)
    live = {pid for pid, row in local.items() if row["deleted_at"] is None}
    missing = sorted(set(upstream) - set(local))
    assert not missing, f"{len(missing)} upstream products not mirrored, e.g. {missing[:5]}"
    revived = sorted(set(upstream) - live)
    assert not revived, f"{len(revived)} upstream products are tombstoned, e.g. {revived[:5]}"
    for pid, item in upstream.items():
        row = local[pid]
        assert row["sku"] == item["sku"], pid
        assert row["name"] == item.get("name"), pid
        if item.get("price") is None:
            assert row["price"] is None, pid
        else:
            assert Decimal(str(row["price"])) == Decimal(str(item["price"])), pid
        assert f"{row['updated_at']:%Y-%m-%d %H:%M:%S}" == item["updated_at"], pid
    # Last, so a failure here means everything that exists upstream is mirrored exactly.
    stale = sorted(live - set(upstream))
    assert not stale, f"{len(stale)} products deleted upstream are still live, e.g. {stale[:5]}"
    if deleted is not None:
        assert set(local) - set(upstream) == set(deleted), "tombstoned rows differ"


def rows(db_url: str, query: Any) -> list[Any]:
    """The rows ``query`` (any SQLAlchemy select) reads from the mirror at ``db_url``."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).all())
    finally:
        engine.dispose()


def runs(db_url: str) -> list[dict[str, Any]]:
    """The run log, oldest first."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM sync_runs ORDER BY id")).mappings()
            return [dict(r) for r in rows]
    finally:
        engine.dispose()


def served_counts(records: Iterable[RequestRecord]) -> Counter[int]:
    """How many times each product id was delivered by the given list requests."""
    return Counter(pid for record in records for pid in record.served_ids)


def page_requests(emulator: EmulatorServer) -> list[RequestRecord]:
    """The product page requests the emulator answered so far: list requests without a
    ``fields`` filter, so the id listing and the count probe of deletion checks are left out."""
    return [r for r in emulator.stats.list_requests() if "fields" not in r.params()]
