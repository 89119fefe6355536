"""The emulated instance's store views, as ``GET /V1/store/storeViews`` lists them.

Magento lists every store view, the ``admin`` one (id 0, website 0, group 0) first and the
inactive ones too (``is_active`` 0); only the active ones other than ``admin`` answer catalog
requests (a ``Store`` header naming another is "The store that was requested wasn't found").
Ids are never reused, like MySQL's auto-increment: a store view added after one was removed
gets a new id. A test (or ``/_emulator/stores``) adds and removes store views while a client
runs, to show that a client with ``SYNC_STORE_CODES=all`` picks up the change.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ADMIN", "STORE_CODE", "StoreView", "StoreViews"]

#: The store view Magento keeps for the admin panel: listed, never a catalog to mirror.
ADMIN = "admin"
#: Magento's rule for a store code: a letter, then letters, digits and underscores.
STORE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


@dataclass(frozen=True)
class StoreView:
    """One ``store-data-store-interface`` of Magento's web API."""

    id: int
    code: str
    name: str
    website_id: int
    store_group_id: int
    is_active: int

    def render(self) -> dict[str, Any]:
        return asdict(self)


class StoreViews:
    """The store views of one instance; safe to change while requests are answered."""

    def __init__(self, codes: Sequence[str] = ("default",)) -> None:
        self._lock = threading.Lock()
        self._views: dict[str, StoreView] = {ADMIN: StoreView(0, ADMIN, "Admin", 0, 0, 1)}
        self._next_id = 1
        for code in dict.fromkeys(["default", *codes]):  # as configured, even a code that
            self._insert(code, None, True)  # add() would refuse (a CSV's own)

    def add(self, code: str, *, name: str | None = None, is_active: bool = True) -> dict[str, Any]:
        """Add a store view to the main website; its answer as ACCS lists it. Raises
        ``ValueError`` for an invalid or taken code."""
        if not isinstance(code, str) or not STORE_CODE.fullmatch(code):
            raise ValueError(
                f"store view code {code!r} is invalid: a letter, then letters, digits or _ "
                "(at most 32)"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f'"name" must be text, not {name!r}')
        if not isinstance(is_active, bool):
            raise TypeError(f'"is_active" must be true or false, not {is_active!r}')
        with self._lock:
            if code in self._views:
                raise ValueError(f"store view {code!r} exists already")
            return self._insert(code, name, is_active).render()

    def _insert(self, code: str, name: str | None, is_active: bool) -> StoreView:
        view = StoreView(
            id=self._next_id,
            code=code,
            name=name or code.replace("_", " ").title(),
            website_id=1,
            store_group_id=1,
            is_active=int(is_active),
        )
        self._views[code] = view
        self._next_id += 1
        return view

    def remove(self, code: str) -> None:
        """Delete a store view. Raises ``KeyError`` for an unknown one and ``ValueError`` for
        ``default`` and ``admin``, which Magento does not let anyone delete."""
        if code in (ADMIN, "default"):
            raise ValueError(f"store view {code!r} cannot be removed")
        with self._lock:
            if code not in self._views:
                raise KeyError(f"no store view {code!r}")
            del self._views[code]

    def scope(self, code: str) -> tuple[int, int, int]:
        """(store id, website id, store group id) of store view ``code`` (the default's when
        unknown: events name the scope they were fired in)."""
        with self._lock:
            view = self._views.get(code) or self._views["default"]
            return (view.id, view.website_id, view.store_group_id)

    def codes(self) -> tuple[str, ...]:
        """The codes that answer catalog requests: active, not ``admin``, ``default`` first."""
        with self._lock:
            return tuple(v.code for v in self._views.values() if v.id != 0 and v.is_active)

    def records(self) -> list[dict[str, Any]]:
        """The ``GET /V1/store/storeViews`` answer: every store view, by id."""
        with self._lock:
            views = sorted(self._views.values(), key=lambda v: v.id)
        return [v.render() for v in views]
