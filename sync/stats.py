"""What a run did, counted as it goes: per store view for products, per resource and store
view for the others, and for the run as a whole. Plain data, shared by the passes
(:mod:`sync.product_pass`, :mod:`sync.fullpass`, :mod:`sync.reconcile`, :mod:`sync.engine`) and
the commands that print it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sync.errors import AccsSyncError

__all__ = ["ResourceStats", "ResourceTotal", "RunStats", "StoreStats", "noun"]


def noun(resource: str) -> str:
    """What a resource's rows are called in words: ``source items``, ``categories``."""
    return resource.replace("_", " ")


@dataclass
class ResourceTotal:
    """What a run did to one resource, its store views summed."""

    resource: str
    pages: int = 0
    written: int = 0  # inserted, updated or revived rows
    unchanged: int = 0
    deleted: int = 0
    revived: int = 0  # part of written
    rejected: int = 0


@dataclass
class ResourceStats:
    """What one pass over one resource did."""

    resource: str
    store_code: str
    mode: str = ""
    pages: int = 0
    written: int = 0  # inserted, updated or revived rows
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    revived: int = 0  # part of written
    error: str | None = None


@dataclass
class StoreStats:
    store_code: str
    mode: str
    pages: int = 0
    products: int = 0  # rows written: inserted, updated or revived
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0
    revived: int = 0
    rejected_ids: set[int] = field(default_factory=set, repr=False)
    #: Whether sync_rejects has rows of this store (None: not asked yet). The run lock makes
    #: this run the only writer, so it stays true to the table once known.
    rejects_pending: bool | None = field(default=None, repr=False)


@dataclass
class RunStats:
    run_id: int
    kind: str
    status: Literal["running", "success", "partial", "failed", "interrupted"] = "running"
    seconds: float = 0.0
    stores: list[StoreStats] = field(default_factory=list)
    #: Passes over the other resources (categories, source items), one per store view.
    resources: list[ResourceStats] = field(default_factory=list)
    #: One line per resource ACCS refused (the run is then ``partial``).
    denied: list[str] = field(default_factory=list)
    #: SYNC_STORE_CODES=all: store views mirrored before that ACCS no longer lists as active
    #: (their rows are kept, never tombstoned); see :mod:`sync.stores`.
    stores_removed: list[str] = field(default_factory=list)
    error: str | None = None
    exception: AccsSyncError | None = field(default=None, repr=False)
    #: A pass over given keys: the keys neither ACCS nor the mirror has (``id:12``, ``sku:X``).
    unknown_keys: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.stores)

    @property
    def products(self) -> int:
        return sum(s.products for s in self.stores)

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.stores)

    @property
    def deleted(self) -> int:
        return sum(s.deleted for s in self.stores)

    def by_resource(self) -> list[ResourceTotal]:
        """Every resource the run passed over, in run order (products first), its store views
        summed; products alone (at zero) when the run got to no pass at all."""
        totals: dict[str, ResourceTotal] = {}
        if self.stores or not self.resources:
            totals["products"] = ResourceTotal(
                "products",
                pages=self.pages,
                written=self.products,
                unchanged=sum(s.unchanged for s in self.stores),
                deleted=self.deleted,
                revived=sum(s.revived for s in self.stores),
                rejected=self.rejected,
            )
        for r in self.resources:
            total = totals.setdefault(r.resource, ResourceTotal(r.resource))
            total.pages += r.pages
            total.written += r.written
            total.unchanged += r.unchanged
            total.deleted += r.deleted
            total.revived += r.revived
            total.rejected += r.rejected
        return list(totals.values())

    def finished_line(self) -> str:
        """The run's last log line: ``run 3 success: 750 products written in 8 pages, 40
        categories written in 1 pages (0 rejected, 0 deleted) in 2.5s``."""
        totals = self.by_resource()
        done = ", ".join(
            f"{t.written} {noun(t.resource)} written in {t.pages} pages" for t in totals
        )
        rejected, deleted = sum(t.rejected for t in totals), sum(t.deleted for t in totals)
        return (
            f"run {self.run_id} {self.status}: {done} ({rejected} rejected, {deleted} deleted) "
            f"in {self.seconds:.1f}s"
        )
