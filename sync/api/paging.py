"""Keyset paging over ``GET /V1/products``: positions, and how one page moves them.

Magento has no default sort and its ``currentPage`` offsets shift when products are created or
deleted while a client pages, so pages repeat or skip (magento/magento2#25001). We never use
offsets: every request is ``currentPage=1`` with a filter that starts after the last key seen
and a unique, explicit sort. A position is a small plain value, so it can be checkpointed.

Two walks:

* :class:`IdWalk` (full pass): ``entity_id > last_id`` sorted by ``entity_id ASC``. An optional
  ``upper_id`` bounds it so disjoint id ranges can be fetched concurrently.
* :class:`ChangesWalk` (incremental): products with ``updated_at >= W``, in (``updated_at``, id)
  order. A filter cannot say "(updated_at = W and id > last) or updated_at > W" (groups are
  ANDed), so it alternates two phases: ``same_second`` pages through ``updated_at = W`` by id,
  then ``after`` asks for ``updated_at > W`` sorted by (updated_at, id) and moves W to the last
  item's second, whose remaining products the next ``same_second`` phase picks up. A walk that
  starts at a second with no id seen yet (phase ``from``) asks for ``updated_at >= W`` in that
  order at once, so a run over an unchanged catalog costs one request.

A walk never mutates anything: ``criteria(position)`` builds a request and
``advance(position, page)`` returns the next position (or ``None`` when done).

When a walk stops:

* an empty page;
* a page holding everything that matches (``total_count``), so a short last page needs no
  extra request. A short page while ``total_count`` promises more is not trusted as the end:
  a store may cap the page size silently, so the walk asks once more and that answer decides;
* a repeat of the previous page that is short: Magento before 2.4 answers a page past the end
  with the last page again. The walk stops with a warning instead of looping.

A page that does not move the position forward in any other way (including a repeated *full*
page while ``total_count`` promises more, which means the store ignores our key filter) raises
:class:`~sync.errors.InvalidResponse`: reporting a partial listing as complete would let a full
pass tombstone products that still exist.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.errors import InvalidResponse

__all__ = [
    "ChangesPosition",
    "ChangesWalk",
    "IdPosition",
    "IdWalk",
    "Page",
    "PageMark",
    "http_date",
]

log = logging.getLogger(__name__)

PageMark = tuple[int, int, int]
"""(item count, first id, last id) of a page, in the order received: enough to recognise the
same page served again, and a plain value."""


def http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as naive UTC; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


@dataclass(frozen=True)
class Page:
    """One answer of ``GET /V1/products`` (or another ``searchCriteria`` list): raw items as
    received, the matching total, the page size that was asked for (``None`` when unknown) and
    ACCS's clock when it answered (its ``Date`` header as naive UTC; ``None`` when it sent
    none)."""

    items: list[Any]
    total_count: int
    requested: int | None = None
    server_time: datetime | None = field(default=None, compare=False)
    #: Whether orjson decoded the answer (:func:`sync.jsontext.decode`): its items then hash
    #: without a round-trip check (:func:`sync.models.fingerprint`).
    plain: bool = field(default=False, compare=False)

    @classmethod
    def from_body(
        cls,
        body: Any,
        requested: int | None = None,
        server_time: datetime | None = None,
        endpoint: str = "/V1/products",
        plain: bool = False,
    ) -> Page:
        """The page in ``body``; a malformed answer raises an error naming ``endpoint`` (the
        path asked, e.g. ``/V1/categories/list``). ``plain``: see :attr:`plain`."""
        if not isinstance(body, dict):
            raise InvalidResponse(f"ACCS {endpoint} answer is not a JSON object")
        items = body.get("items")
        if items is None:
            items = []  # Magento omits "items" on some empty results
        if not isinstance(items, list):
            raise InvalidResponse(f"ACCS {endpoint} answer has 'items' that is not a list")
        total = body.get("total_count")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise InvalidResponse(f"ACCS {endpoint} answer has no valid 'total_count'")
        return cls(
            items=items,
            total_count=total,
            requested=requested,
            server_time=server_time,
            plain=plain,
        )

    def ids(self) -> list[int]:
        out = []
        for item in self.items:
            value = item.get("id") if isinstance(item, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                out.append(value)
        return out

    @property
    def is_last(self) -> bool:
        """All products matching the filter are in this page (or it is empty)."""
        return not self.items or len(self.items) >= self.total_count

    @property
    def is_short(self) -> bool:
        """Fewer items than asked for (unknown when the page size asked is unknown)."""
        return self.requested is not None and len(self.items) < self.requested

    def mark(self) -> PageMark | None:
        ids = self.ids()
        return (len(self.items), ids[0], ids[-1]) if ids else None


def _repeat_ends_walk(previous: PageMark | None, page: Page, what: str) -> bool:
    """Whether ``page`` is ``previous`` served again and ends the walk; raises when a repeat
    cannot be the end of the data."""
    if previous is None or page.mark() != previous:
        return False
    if page.is_short or page.requested is None:
        # Magento < 2.4 repeats the last (short) page for a page past the end.
        log.warning(
            "ACCS served the previous page again (%d items, ids %d..%d) for %s: "
            "treating it as the end, as stores older than 2.4 repeat the last page",
            previous[0],
            previous[1],
            previous[2],
            what,
        )
        return True
    raise InvalidResponse(
        f"ACCS served the same full page again (ids {previous[1]}..{previous[2]}) for {what} "
        f"while reporting {page.total_count} matching products: the store ignores the key "
        "filter; stopping instead of looping or reporting a partial catalog as complete"
    )


def _id_filter(last_id: int) -> tuple[Filter, ...]:
    return (Filter("entity_id", str(last_id), "gt"),)


@dataclass(frozen=True)
class IdPosition:
    """The last id written. ``previous`` marks the page that led here (never checkpointed: it
    only serves to recognise a repeated page within one run)."""

    last_id: int = 0
    previous: PageMark | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"last_id": self.last_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdPosition:
        return cls(last_id=int(data.get("last_id", 0)))


@dataclass(frozen=True)
class IdWalk:
    """Full pass by entity id, optionally bounded above by ``upper_id`` (inclusive)."""

    upper_id: int | None = None

    def criteria(self, position: IdPosition, page_size: int) -> SearchCriteria:
        groups = [_id_filter(position.last_id)]
        if self.upper_id is not None:
            groups.append((Filter("entity_id", str(self.upper_id), "lteq"),))
        return SearchCriteria(
            groups=tuple(groups), sorts=(Sort("entity_id", "ASC"),), page_size=page_size
        )

    def advance(self, position: IdPosition, page: Page) -> IdPosition | None:
        if not page.items:
            return None
        ids = page.ids()
        if not ids:
            raise InvalidResponse("ACCS returned a page with no product id; cannot page on")
        what = f"'entity_id > {position.last_id}'"
        if _repeat_ends_walk(position.previous, page, what):
            return None
        last = max(ids)
        if last <= position.last_id:
            raise InvalidResponse(
                f"ACCS returned ids up to {last} for {what}: "
                "the store ignored the filter; stopping instead of looping"
            )
        return None if page.is_last else IdPosition(last, page.mark())


Phase = Literal["from", "same_second", "after"]


@dataclass(frozen=True)
class ChangesPosition:
    """``updated_at`` second (ACCS format, UTC) and the last id seen within it."""

    updated_at: str
    last_id: int = 0
    phase: Phase = "same_second"
    previous: PageMark | None = field(default=None, compare=False)  # see IdPosition

    def to_json(self) -> dict[str, Any]:
        return {"updated_at": self.updated_at, "id": self.last_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChangesPosition:
        return cls(updated_at=str(data["updated_at"]), last_id=int(data.get("id", 0)))


@dataclass(frozen=True)
class ChangesWalk:
    """Incremental pass over products with ``updated_at >= position.updated_at``."""

    def criteria(self, position: ChangesPosition, page_size: int) -> SearchCriteria:
        if position.phase == "same_second":
            return SearchCriteria(
                groups=(
                    (Filter("updated_at", position.updated_at, "eq"),),
                    _id_filter(position.last_id),
                ),
                sorts=(Sort("entity_id", "ASC"),),
                page_size=page_size,
            )
        condition = "gteq" if position.phase == "from" else "gt"
        return SearchCriteria(
            groups=((Filter("updated_at", position.updated_at, condition),),),
            sorts=(Sort("updated_at", "ASC"), Sort("entity_id", "ASC")),
            page_size=page_size,
        )

    def advance(self, position: ChangesPosition, page: Page) -> ChangesPosition | None:
        what = f"products changed since {position.updated_at}"
        if page.items and _repeat_ends_walk(position.previous, page, what):
            return None
        if position.phase == "same_second":
            ids = page.ids()
            last = max(ids) if ids else position.last_id
            if page.items and last <= position.last_id:
                raise InvalidResponse(
                    "ACCS ignored the entity_id filter while paging one updated_at second"
                )
            phase: Phase = "after" if page.is_last else "same_second"
            return ChangesPosition(position.updated_at, last, phase, page.mark())
        if not page.items:
            return None
        tail = page.items[-1]
        stamp = tail.get("updated_at") if isinstance(tail, dict) else None
        tail_id = tail.get("id") if isinstance(tail, dict) else None
        if not isinstance(stamp, str) or not isinstance(tail_id, int):
            raise InvalidResponse("ACCS returned a changed product without updated_at or id")
        # The same fixed-width format, so string order is time order.
        inclusive = position.phase == "from"
        if stamp < position.updated_at or (stamp == position.updated_at and not inclusive):
            relation = ">=" if inclusive else ">"
            raise InvalidResponse(
                f"ACCS returned updated_at {stamp!r} for "
                f"'updated_at {relation} {position.updated_at}'"
            )
        if page.is_last:
            return None
        return ChangesPosition(stamp, tail_id, "same_second", page.mark())

    @staticmethod
    def high_water(
        position: ChangesPosition, page: Page, usable: Callable[[str], bool] = bool
    ) -> ChangesPosition:
        """The watermark once ``page`` is committed: the newest (updated_at, id) it covers,
        among the ``updated_at`` values ``usable`` accepts (see :mod:`sync.watermark`)."""
        best = position
        for item in page.items:
            if not isinstance(item, dict):
                continue
            stamp, pid = item.get("updated_at"), item.get("id")
            if isinstance(stamp, str) and isinstance(pid, int) and usable(stamp):
                if (stamp, pid) > (best.updated_at, best.last_id):
                    best = ChangesPosition(stamp, pid)
        return ChangesPosition(best.updated_at, best.last_id)
