"""A declared resource's watermark in one store view (``state.watermark`` in ``sync_state``):
where it starts (H0, read before a full pass pages), how a complete full pass sets it and how a
complete incremental walk raises it.

Watermarks follow the products' rules (:mod:`sync.watermark`): only an ``updated_at`` in ACCS's
exact format and no later than ACCS's ``Date`` plus five minutes becomes one; H0 skips unusable
values with a second, filtered probe. A full pass sets the watermark to its H0 even when that
lowers it (a value from the future stored before must not outlive the pass); an incremental
walk in key order only raises it, once complete (see :mod:`sync.engine`), and judges the stored
watermark (and a resumed walk's clock) on its first page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from sync.accs_time import format_accs_time
from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.paging import Page
from sync.db.state import delete_state, get_state, set_state
from sync.passtools import PassTools
from sync.resources import Resource
from sync.resume import Progress
from sync.watermark import Distrusted

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

    def trust(self, watermark: dict[str, Any], progress: Progress, server_time: Any) -> None:
        """An incremental walk's first page: the stored ``watermark`` (and a resumed walk's
        clock) judged against ACCS's clock (``server_time``, the page's ``Date``); raises
        :class:`~sync.watermark.Distrusted` (a full pass replaces them) when either is later.
        A new walk takes ACCS's clock now as the cap of the watermark it will set."""
        stamps, what = self.context.stamps, f"{self.resource.name} {self.store_code}"
        limit = stamps.limit(server_time)
        problem = stamps.problem(watermark, limit)
        if problem is not None:
            stamps.report(what, watermark["updated_at"], problem)
            raise Distrusted
        if progress.began is None:
            progress.began = format_accs_time(limit - stamps.skew)
        elif stamps.problem({"updated_at": progress.began}, limit) is not None:
            log.warning(
                "%s: the incremental checkpoint's clock %s is later than ACCS's; a full pass "
                "replaces it",
                what,
                progress.began,
            )
            raise Distrusted

    def walked(self, conn: Connection, progress: Progress) -> None:
        """A complete incremental walk: its checkpoint goes and the watermark is raised to the
        newest usable ``updated_at`` it wrote, no later than ACCS's clock when it began."""
        key = self.resource.state.incremental_checkpoint
        if key is not None:
            delete_state(conn, self.store_code, key)
        high, began = progress.written_high, progress.began
        if high is not None and began is not None:
            self.raise_to(conn, min(high, began))

    def raise_to(self, conn: Connection, candidate: str) -> None:
        """A complete incremental walk: the watermark moves to ``candidate``, forward only."""
        current = get_state(conn, self.store_code, self.key)
        if current is not None and str(current.get("updated_at", "")) >= candidate:
            return
        set_state(conn, self.store_code, self.key, {"updated_at": candidate}, self.context.now())
