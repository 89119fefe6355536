"""Cheap list pages: each product's encoded JSON is kept, and a page is joined from those bytes.

Rendering a product to dicts and json-encoding it costs ~45 us; a 300-product page did that for
every item on every request, so a client paging fast measured the emulator more than itself.
The bytes are exactly what :func:`~sync.emulator.response.encode_json` gives for the whole
page: that encoder has no indentation and escapes per character ("/" and non-ASCII), so the
encoding of a list is "[" + the items' encodings joined by "," + "]", and of a dict its keys'
and values' encodings in order.

A cached fragment is valid only for the very record it was rendered from. Records are never
changed in place (the catalog replaces them on every mutation, ``set_stock`` and ``set_images``
included, whether or not ``updated_at`` moves), and the cache holds the record it rendered, so
``entry.record is product`` cannot match a newer record. A fragment depends on the store view
only through the product's values for that view, so products without any share one fragment
across views.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sync.emulator.criteria import Criteria
from sync.emulator.fields import FieldTree
from sync.emulator.records import TOP_FIELDS, Product, render, render_top
from sync.emulator.response import encode_json
from sync.emulator.search import Result

__all__ = ["DEFAULT_CACHE_BYTES", "RenderCache", "list_payload", "product_page_payload"]

#: Enough for ~115,000 generated products (one encodes to ~2 KB); see :class:`RenderCache`.
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
# What one entry costs besides its bytes object: the dict slot, the key and entry tuples
# (measured: 200,000 entries took 2,350 bytes of RSS each).
_ENTRY_OVERHEAD = 250


class RenderCache:
    """Encoded products by (entity id, store view), up to about ``max_bytes`` of memory.

    Once full, new products are rendered but not kept (a changed product still replaces its
    own entry). A sync pages through the catalog in the same order again and again, where
    evicting the least recently used entry would evict exactly the next page, and keeping a
    fixed part of the catalog hits that part on every pass.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, str], tuple[Product, bytes]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Approximate bytes of memory the cached entries take."""
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def product(self, p: Product, store: str = "default") -> bytes:
        """``encode_json(render(p, store))``, from the cache when ``p`` was encoded before."""
        scoped = p.overrides.get(store) if p.overrides is not None else None
        key = (p.id, store if scoped else "")
        entry = self._entries.get(key)
        if entry is not None and entry[0] is p:
            return entry[1]
        body = encode_json(render(p, store))
        cost = sys.getsizeof(body) + _ENTRY_OVERHEAD
        with self._lock:
            old = self._entries.get(key)
            if old is not None:
                self._bytes -= sys.getsizeof(old[1]) + _ENTRY_OVERHEAD
            elif self._bytes + cost > self.max_bytes:
                return body
            self._entries[key] = (p, body)
            self._bytes += cost
        return body

    def page(
        self,
        products: Sequence[Product],
        store: str,
        search_criteria: Mapping[str, Any],
        total_count: int,
    ) -> bytes:
        """``encode_json`` of a ``GET /V1/products`` answer carrying ``products`` in full."""
        items = b",".join([self.product(p, store) for p in products])
        return b"".join(
            (
                b'{"items":[',
                items,
                b'],"search_criteria":',
                encode_json(search_criteria),
                b',"total_count":',
                encode_json(total_count),
                b"}",
            )
        )


def list_payload(
    criteria: Criteria,
    result: Result[Any],
    store: str,
    draw: Callable[[Any, str], Mapping[str, Any]],
) -> dict[str, Any]:
    """A list answer as dicts: ``{items, search_criteria, total_count}``."""
    return {
        "items": [draw(r, store) for r in result.items],
        "search_criteria": criteria.echo(),
        "total_count": result.total_count,
    }


def product_page_payload(
    criteria: Criteria, result: Result[Product], store: str, tree: FieldTree | None
) -> dict[str, Any]:
    """A product list answer as dicts. A listing that wants only top-level fields (the id
    listing) skips the full render."""
    wanted = None if tree is None else tree.get("items", False)
    cheap = isinstance(wanted, dict) and wanted.keys() <= TOP_FIELDS
    return list_payload(criteria, result, store, render_top if cheap else render)
