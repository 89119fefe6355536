"""Keyset paging over any ``searchCriteria`` list by a unique key of one or two fields.

Like the products' walks (:mod:`sync.api.paging`) every request is ``currentPage=1``, sorted by
the key with explicit directions, filtered to start after the last key seen. A key of one field
asks ``key > last``. A key of two fields (a source item's ``source_code`` + ``sku``) cannot say
"(a = A and b > B) or a > A" (filter groups are ANDed), so the walk alternates: ``same`` pages
through ``a = A`` by ``b``; ``next`` asks ``a > A`` sorted by (a, b) and moves A to the last
item's value. Text keys are compared by the store (MySQL collation), never here, so a walk only
relies on the store ordering its own answers consistently.

A position is a plain value; ``advance`` returns the next one or None at the end. An empty page
or one that holds all that matches ends a phase. A page that repeats the previous one (no
progress) raises :class:`~sync.errors.InvalidResponse` instead of looping, unless it is short:
stores older than 2.4 answer a page past the end with the last page again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.paging import Page
from sync.errors import InvalidResponse

__all__ = ["KeyPosition", "KeysetWalk"]

log = logging.getLogger(__name__)

Key = tuple[Any, ...]


@dataclass(frozen=True)
class KeyPosition:
    """``after``: the last key read (None before the first page). ``phase``: ``next`` asks for
    keys after ``after`` (all of them at the start); ``same`` pages within ``after[0]`` (keys
    of two fields only). ``previous``: the first and last key of the page that led here."""

    after: Key | None = None
    phase: Literal["next", "same"] = "next"
    previous: tuple[Key, Key, int] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class KeysetWalk:
    """Walk a list sorted by ``fields`` (``searchCriteria`` names) with ``groups`` ANDed to
    every request. ``key_of`` reads an item's key (None: unusable, skipped for paging)."""

    fields: Sequence[str]
    key_of: Callable[[Any], Key | None]
    groups: tuple[tuple[Filter, ...], ...] = ()
    fields_filter: str | None = None

    def __post_init__(self) -> None:
        if len(self.fields) not in (1, 2):
            raise ValueError("a keyset walk takes a key of one or two fields")

    def criteria(self, position: KeyPosition, page_size: int) -> SearchCriteria:
        groups = list(self.groups)
        first = self.fields[0]
        if position.after is not None:
            if position.phase == "same":
                groups.append((Filter(first, str(position.after[0]), "eq"),))
                groups.append((Filter(self.fields[1], str(position.after[1]), "gt"),))
            else:
                groups.append((Filter(first, str(position.after[0]), "gt"),))
        return SearchCriteria(
            groups=tuple(groups),
            sorts=tuple(Sort(name, "ASC") for name in self.fields),
            page_size=page_size,
            fields=self.fields_filter,
        )

    def advance(self, position: KeyPosition, page: Page) -> KeyPosition | None:
        keys = [key for key in map(self.key_of, page.items) if key is not None]
        if not page.items:
            return self._after_phase(position)
        if not keys:
            raise InvalidResponse("ACCS returned a page whose items have no key; cannot page on")
        mark = (keys[0], keys[-1], len(page.items))
        if position.previous == mark:
            if page.is_short or page.requested is None:
                log.warning(
                    "ACCS served the previous page again (%d items): treating it as the end, "
                    "as stores older than 2.4 repeat the last page",
                    len(page.items),
                )
                return self._after_phase(position)
            raise InvalidResponse(
                f"ACCS served the same full page again (keys {keys[0]}..{keys[-1]}): the store "
                "ignores the key filter; stopping instead of looping"
            )
        if page.is_last:
            return self._after_phase(position)
        last = keys[-1]
        if len(self.fields) == 1:
            return KeyPosition(last, "next", mark)
        return KeyPosition(last, "same", mark)

    def _after_phase(self, position: KeyPosition) -> KeyPosition | None:
        """Where to go once a phase has no more items: a ``same`` phase moves on to the keys
        after its first field's value; anything else is the end."""
        if len(self.fields) == 2 and position.phase == "same" and position.after is not None:
            return KeyPosition((position.after[0], None), "next")
        return None
