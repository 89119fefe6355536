"""A pass over given keys: refetch exactly the products named by id or sku, now.

Support staff use it for "this product is wrong in the mirror" (``accs-sync sync --sku SKU``
/ ``--id ID`` / ``--keys-from FILE``); the event consumer (:mod:`sync.events`) hands over
what a batch of events names with ``Pipeline.run("refetch", keys=EventKeys(...),
commit=...)`` (:func:`refetch_events`: products, the source items of stock events, categories
by id; everything written in one transaction with the journal position). For each store
view:

* **products**: ``GET /V1/products`` with one filter group, ``entity_id in (...)`` for the ids
  and ``sku in (...)`` for the skus, at most :data:`KEYS_PER_REQUEST` keys a request (fewer
  when ``SYNC_PAGE_SIZE`` or the store's page-size cap is lower), sorted by ``entity_id ASC``
  and paged by key inside a chunk when ``total_count`` says the answer has more than one page.
  A sku holding a comma cannot be said in an ``in`` list (Magento splits it there) and is asked
  alone with ``eq``. Pages go through the products page writer (content hash: an unchanged
  product is not rewritten; ``product_changes``; rejects), each in its own transaction.
* once every chunk of the store view was answered in full: the mirrored products whose id or
  sku was asked for and that the answer did not carry are tombstoned (``deleted_at`` and a
  ``delete`` in ``product_changes`` / ``catalog_changes``, like every other deletion). Only
  those: an item ACCS returns that nobody asked for is real data and is written, but a product
  is never tombstoned for not being in an answer that did not ask for it. An item with neither
  a usable id nor a sku could be any of them: then nothing is tombstoned (a warning says so).
* keys ACCS did not return and the mirror never had are reported (a warning, the run summary,
  ``unknown_keys`` in ``--json``), never an error: a typo must not fail the run.

Then, when ``source_items`` is among the run's resources, the source items of those skus (the
skus asked, those of the products returned and of the mirrored products asked for by id):
``GET /V1/inventory/source-items`` with ``sku in (...)`` through the resource engine's page
writer (:meth:`sync.engine.ResourcePass.write_matching`), and the mirrored source items of
those skus that ACCS no longer returns are tombstoned.

Categories (events only): ``entity_id in (...)`` in each store view, swept the same way. Source
items or categories ACCS refuses (403/404) end the run ``partial`` naming the ACL, as a sync.

An answer whose ``total_count`` exceeds the keys asked for means the store ignored the filter:
the pass stops there (the run fails) rather than walk the whole catalog. Watermarks and
checkpoints are never read nor moved: the next ``sync`` is what it would have been. The run is
recorded in ``sync_runs`` with kind ``refetch`` and holds the run lock like every run (see
:meth:`sync.run.Pipeline.run`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from sync.api.criteria import Filter
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import Page
from sync.db.changes import chunks, tombstone
from sync.db.retry import Transactions, after_commit
from sync.db.schema import products
from sync.db.state import update_run
from sync.engine import Lister, ResourcePass
from sync.errors import EndpointMissing, InvalidResponse, OrgRejected, PermissionDenied
from sync.keys import EventKeys, Keys
from sync.observe import Observer, PageReport
from sync.passtools import PassTools, ProductTools
from sync.redact import escape_control
from sync.resources import CATEGORIES, GLOBAL_STORE, PRODUCTS, SOURCE_ITEMS, Resource, refused_line
from sync.stats import ResourceStats, RunStats, StoreStats

__all__ = ["KEYS_PER_REQUEST", "KeysTools", "refetch", "refetch_events"]

log = logging.getLogger(__name__)

#: Keys in one ``in`` filter: ACCS's largest page, so one request can answer them all.
KEYS_PER_REQUEST = 300

Groups = tuple[tuple[Filter, ...], ...]


@dataclass(frozen=True)
class KeysTools:
    """What the pass is handed by the run that drives it (values and callables, never the run)."""

    #: The product passes' tools: ``fetch``, ``write_page``, ``db``, ``now``, ``page_size``.
    products: ProductTools
    observer: Observer
    #: The source-items tools and the ACCS list client (None when source items are not
    #: mirrored).
    source_items: PassTools | None = None
    lister: Lister | None = None
    #: The categories' tools (None when categories are not mirrored).
    categories: PassTools | None = None

    @property
    def db(self) -> Transactions:
        return self.products.db


def refetch(
    context: KeysTools,
    keys: Keys,
    store_codes: Sequence[str],
    resources: Sequence[str],
    stats: RunStats,
    run_id: int,
) -> None:
    """Refetch ``keys`` in every store view of ``store_codes`` and, when ``resources`` has
    source items, their source items; counts go into ``stats`` (``stats.unknown_keys``: the
    keys neither ACCS nor the mirror has). Raises what the API or the database raised."""
    skus: dict[str, None] = dict.fromkeys(keys.skus)
    unknown: list[str] | None = None
    for code in store_codes if PRODUCTS.name in resources else ():
        found = _StoreKeys(context, code, run_id, stats).run(keys)
        skus.update(dict.fromkeys(found.skus))
        # A key known in any store view is known.
        unknown = found.unknown if unknown is None else [k for k in unknown if k in found.unknown]
    if PRODUCTS.name not in resources and keys.ids:
        skus.update(dict.fromkeys(context.db.read(lambda conn: _mirrored_skus(conn, keys.ids))))
    stats.unknown_keys += unknown or []
    for key in unknown or []:
        log.warning("%s: neither ACCS nor the mirror has this product", escape_control(key))
    skipped = [r for r in resources if r not in (PRODUCTS.name, SOURCE_ITEMS.name)]
    if skipped:
        log.debug("%s: a pass over given keys covers products and source items", ", ".join(skipped))
    if SOURCE_ITEMS.name in resources and skus and store_codes:
        first = store_codes[0]
        _refusable(
            SOURCE_ITEMS, stats, lambda: _source_items(context, sorted(skus), first, stats, run_id)
        )


def refetch_events(
    context: KeysTools,
    keys: EventKeys,
    store_codes: Sequence[str],
    resources: Sequence[str],
    stats: RunStats,
    run_id: int,
) -> None:
    """What a batch of events names (:class:`~sync.keys.EventKeys`), each part only when its
    resource is in ``resources``: products alone, stock events' source items, categories."""
    if keys.products and PRODUCTS.name in resources:
        refetch(context, keys.products, store_codes, (PRODUCTS.name,), stats, run_id)
    if keys.stock and SOURCE_ITEMS.name in resources and context.source_items is not None:
        refetch(context, keys.stock, store_codes, (SOURCE_ITEMS.name,), stats, run_id)
    if keys.categories and CATEGORIES.name in resources and context.categories is not None:
        ids = sorted(set(keys.categories))
        _refusable(CATEGORIES, stats, lambda: _categories(context, ids, store_codes, stats, run_id))


def _refusable(resource: Resource, stats: RunStats, work: Callable[[], None]) -> None:
    """``work()``; a 403 or 404 skips ``resource`` with one line naming the ACL (``partial``)."""
    try:
        work()
    except OrgRejected:
        raise
    except (EndpointMissing, PermissionDenied) as exc:
        line = refused_line(resource, exc if isinstance(exc, PermissionDenied) else None)
        stats.denied.append(line)
        log.error("%s", line)


def _chunk_size(context: KeysTools) -> int:
    return max(1, min(KEYS_PER_REQUEST, context.products.page_size()))


def _in_filters(
    field: str, values: Sequence[str], size: Callable[[], int]
) -> Iterator[tuple[Groups, int]]:
    """``field in (...)`` for at most ``size()`` values at a time, each chunk's size decided
    when it is asked (a store's page-size cap learnt on one chunk makes the next ones
    smaller); a value holding a comma alone, with ``eq``. Yields how many values each asks."""
    plain = [v for v in values if "," not in v]
    start = 0
    while start < len(plain):
        part = plain[start : start + size()]
        start += len(part)
        yield ((Filter(field, ",".join(part), "in"),),), len(part)
    for value in values:
        if "," in value:
            yield ((Filter(field, value, "eq"),),), 1


def _product_key(item: Any) -> tuple[int] | None:
    value = item.get("id") if isinstance(item, dict) else None
    return (value,) if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class _Found:
    """What one store view's answers said: the skus to follow into source items and the keys
    neither ACCS nor the mirror has (``id:12``, ``sku:24-MB01``)."""

    skus: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


class _StoreKeys:
    """The products of ``keys`` in one store view."""

    def __init__(self, context: KeysTools, code: str, run_id: int, stats: RunStats) -> None:
        self.context = context
        self.code = code
        self.run_id = run_id
        self.store = StoreStats(store_code=code, mode="refetch")
        stats.stores.append(self.store)
        self.ids: set[int] = set()  # usable ids the answers carried
        self.skus: dict[str, str] = {}  # casefolded sku -> as ACCS spells it, every item
        self.idless_skus: set[str] = set()  # casefolded skus of items without a usable id
        self.keyless = False  # an item with neither: it could be any product

    def run(self, keys: Keys) -> _Found:
        self.context.observer.store_started(self.code, "refetch")
        self.context.observer.store_total(self.code, len(keys))
        for groups, asked in self._requests(keys):
            self._walk(groups, asked)
        # Every chunk was answered in full: what was asked for and not returned is gone.
        mirrored = self.context.db.write(lambda conn: self._tombstone(conn, keys))
        known_ids = self.ids | {row.id for row in mirrored}
        known_skus = set(self.skus) | {row.sku.casefold() for row in mirrored}
        unknown = [f"id:{pid}" for pid in keys.ids if pid not in known_ids]
        unknown += [f"sku:{sku}" for sku in keys.skus if sku.casefold() not in known_skus]
        follow = [*self.skus.values(), *(row.sku for row in mirrored)]
        return _Found(skus=follow, unknown=unknown)

    def _requests(self, keys: Keys) -> Iterator[tuple[Groups, int]]:
        """The chunks, ids first."""
        size = functools.partial(_chunk_size, self.context)
        yield from _in_filters("entity_id", [str(pid) for pid in keys.ids], size)
        yield from _in_filters("sku", keys.skus, size)

    def _walk(self, groups: Groups, asked: int) -> None:
        """Every page that matches ``groups``, paged by id, each page written as it comes."""
        walk = KeysetWalk(fields=["entity_id"], key_of=_product_key, groups=groups)
        position: KeyPosition | None = KeyPosition()
        while position is not None:
            page = self.context.products.fetch(walk.criteria, position, self.code)
            if page.total_count > asked:
                raise InvalidResponse(
                    f"ACCS reports {page.total_count} products for {asked} keys asked "
                    f"({groups[0][0].field} {groups[0][0].condition}): the store ignored the "
                    "filter; stopping instead of walking the whole catalog"
                )
            following = None if page.is_last else walk.advance(position, page)
            self.context.db.write(functools.partial(self._write, page))
            self._carried(page)
            position = following

    def _write(self, page: Page, conn: Connection) -> None:
        self.context.products.write_page(conn, self.store, self.run_id, page, None)

    def _carried(self, page: Page) -> None:
        """Remember the keys ``page`` carried (what is not gone, what is known)."""
        for item in page.items:
            sku = item.get("sku") if isinstance(item, dict) else None
            if isinstance(sku, str) and sku.strip():
                self.skus.setdefault(sku.casefold(), sku)
            key = _product_key(item)
            if key is not None:
                self.ids.add(key[0])
            elif isinstance(sku, str) and sku.strip():
                self.idless_skus.add(sku.casefold())
            else:
                self.keyless = True

    def _tombstone(self, conn: Connection, keys: Keys) -> list[Any]:
        """Tombstone the live mirrored products asked for that the answers did not carry, in
        the caller's transaction; returns the mirrored rows asked for (live or not)."""
        mirrored = _mirrored(conn, self.code, keys)
        if self.keyless:
            log.warning(
                "store %s: an item without an id or a sku came back; products asked for that "
                "ACCS no longer has stay until a pass can tell which they are",
                self.code,
            )
            return mirrored
        gone = [
            row.id
            for row in mirrored
            if row.deleted_at is None
            and row.id not in self.ids
            and row.sku.casefold() not in self.idless_skus
        ]
        if not gone:
            return mirrored
        deleted = tombstone(conn, self.code, gone, self.context.products.now(), self.run_id)
        update_run(conn, self.run_id, 0, 0, deleted=deleted)

        def counted() -> None:
            self.store.deleted += deleted
            self.context.observer.page_written(self.code, PageReport(deleted=deleted))

        after_commit(counted)
        return mirrored


def _mirrored(conn: Connection, code: str, keys: Keys) -> list[Any]:
    """The mirrored products of ``code`` with an id or a sku of ``keys`` (live or not)."""
    t = products.c
    found: dict[int, Any] = {}
    for column, values in ((t.id, list(keys.ids)), (t.sku, list(keys.skus))):
        for part in chunks(values):
            query = sa.select(t.id, t.sku, t.deleted_at).where(
                t.store_code == code, column.in_(part)
            )
            found.update((row.id, row) for row in conn.execute(query))
    return sorted(found.values(), key=lambda row: row.id)


def _mirrored_skus(conn: Connection, ids: Iterable[int]) -> list[str]:
    """The skus of the mirrored products with ``ids`` (in any store view)."""
    t = products.c
    out: list[str] = []
    for part in chunks(sorted(set(ids))):
        query = sa.select(t.sku).where(t.id.in_(part)).distinct()
        out.extend(conn.execute(query).scalars())
    return out


def _source_items(
    context: KeysTools, skus: list[str], request_store: str, stats: RunStats, run_id: int
) -> None:
    """The source items of ``skus``: written through the resource engine, and the mirrored
    ones of those skus that the complete answer did not carry tombstoned."""
    assert context.source_items is not None
    table = SOURCE_ITEMS.table
    live = _live(table, (table.c.source_code, table.c.sku), table.c.sku, skus)
    if not _engine_keys(
        context, SOURCE_ITEMS, context.source_items, "sku", skus, GLOBAL_STORE, request_store,
        live, stats, run_id,
    ):  # fmt: skip
        log.warning(
            "source_items: an item without a source_code and sku came back; the source items "
            "ACCS no longer has stay until the next source-items pass"
        )


def _categories(
    context: KeysTools, ids: list[int], store_codes: Sequence[str], stats: RunStats, run_id: int
) -> None:
    """The categories of ``ids`` in each store view, through the resource engine; the
    mirrored ones a complete answer did not carry are tombstoned (ACCS says they are gone)."""
    assert context.categories is not None
    table, asked = CATEGORIES.table, [str(i) for i in ids]
    for code in store_codes:
        live = _live(table, (table.c.id,), table.c.id, ids, code)
        _engine_keys(
            context, CATEGORIES, context.categories, "entity_id", asked, code, code, live,
            stats, run_id,
        )  # fmt: skip


def _engine_keys(
    context: KeysTools,
    resource: Resource,
    tools: PassTools,
    field: str,
    values: list[str],
    store_code: str,
    request_store: str,
    live: Callable[[Connection], list[tuple[Any, ...]]],
    stats: RunStats,
    run_id: int,
) -> bool:
    """Write every item of ``resource`` whose ``field`` is in ``values`` through the resource
    engine, then tombstone the live rows ``live`` lists that the complete answer did not
    carry. Returns False (nothing tombstoned) when an item without a key came back."""
    assert context.lister is not None
    rstats = ResourceStats(resource.name, store_code, mode="refetch")
    stats.resources.append(rstats)
    context.observer.store_started(store_code, "refetch", resource.name)
    engine_pass = ResourcePass(
        resource,
        tools,
        context.lister,
        store_code=store_code,
        request_store=request_store,
        run_id=run_id,
        stats=rstats,
    )
    seen: set[tuple[Any, ...]] = set()
    keyed = True
    for groups, _ in _in_filters(field, values, functools.partial(_chunk_size, context)):
        keyed &= engine_pass.write_matching(groups, seen)
    if not keyed:
        return False
    engine_pass.sweep_within(seen, live)
    log.info(
        "%s %s: refetch wrote %d rows (%d unchanged, %d deleted, %d rejected) in %d pages",
        resource.name,
        store_code,
        rstats.written,
        rstats.unchanged,
        rstats.deleted,
        rstats.rejected,
        rstats.pages,
    )
    return True


def _live(
    table: sa.Table,
    columns: tuple[sa.ColumnElement[Any], ...],
    column: sa.ColumnElement[Any],
    values: Sequence[Any],
    store_code: str | None = None,
) -> Callable[[Connection], list[tuple[Any, ...]]]:
    """The live rows (``columns``) whose ``column`` is in ``values`` (in ``store_code``)."""

    def live(conn: Connection) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for part in chunks(list(values)):
            query = sa.select(*columns).where(column.in_(part), table.c.deleted_at.is_(None))
            if store_code is not None:
                query = query.where(table.c.store_code == store_code)
            out.extend(tuple(row) for row in conn.execute(query))
        return out

    return live
