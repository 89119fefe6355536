"""A declared resource's watermark in one store view (``state.watermark`` in ``sync_state``):
where it starts (H0, read before a full pass pages), how a complete full pass sets it and how a
complete incremental walk raises it.

Watermarks follow the products' rules (:mod:`sync.watermark`): only an ``updated_at`` in ACCS's
exact format and no later than ACCS's ``Date`` plus five minutes becomes one; H0 skips unusable
values with a second, filtered probe. A full pass sets the watermark to its H0 even when that
lowers it (a value from the future stored before must not outlive the pass); an incremental
walk in key order only raises it, once complete (see :mod:`sync.engine`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.paging import Page
from sync.db.state import delete_state, get_state, set_state
from sync.passtools import PassTools
from sync.resources import Resource

__all__ = ["ResourceWatermark"]

log = logging.getLogger(__name__)


class ResourceWatermark:
    """The watermark of ``resource`` (which has an incremental field) in ``store_code``."""

    def __init__(self, resource: Resource, context: PassTools, store_code: str) -> None:
        self.resource = resource
        self.context = context
        self.store_code = store_code
        self.key = resource.state.watermark

    def newest(self, probe: Callable[[SearchCriteria], Page]) -> str | None:
        """The newest usable ``updated_at`` upstream right now (before paging: a change made
        while we page is newer than this); see :meth:`sync.watermark.Stamps.high_water`."""
        field = self.resource.incremental
        assert field is not None
        sorts = (Sort(field, "DESC"), *(Sort(k.filter, "DESC") for k in self.resource.keys))
        page = probe(SearchCriteria(sorts=sorts, page_size=1))
        newest = None
        for item in page.items:
            stamp = item.get(field) if isinstance(item, dict) else None
            if isinstance(stamp, str) and stamp:
                newest = stamp
                break

        def below(condition: Filter, size: int) -> Page:
            return probe(SearchCriteria(groups=((condition,),), sorts=sorts, page_size=size))

        what = f"{self.resource.name} {self.store_code}"
        return self.context.stamps.high_water(newest, page.server_time, below, field, what)

    def set(self, conn: Connection, high_water: str | None) -> None:
        """A complete full pass: the watermark becomes its H0, even when that lowers it; none
        without one, nor with one that is unusable (a hostile checkpoint's)."""
        stamps = self.context.stamps
        if high_water is not None and not stamps.usable(high_water, stamps.limit(None, quiet=True)):
            log.warning(
                "%s %s: the full pass's starting high-water mark %r is unusable; no watermark "
                "is kept, so the next sync is a full pass",
                self.resource.name,
                self.store_code,
                high_water[:40],
            )
            high_water = None
        if high_water is None:
            delete_state(conn, self.store_code, self.key)
        else:
            value = {"updated_at": high_water}
            set_state(conn, self.store_code, self.key, value, self.context.now())

    def raise_to(self, conn: Connection, candidate: str) -> None:
        """A complete incremental walk: the watermark moves to ``candidate``, forward only."""
        current = get_state(conn, self.store_code, self.key)
        if current is not None and str(current.get("updated_at", "")) >= candidate:
            return
        set_state(conn, self.store_code, self.key, {"updated_at": candidate}, self.context.now())
