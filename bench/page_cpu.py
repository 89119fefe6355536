"""CPU the sync spends per page of each resource, from the answer's bytes to the committed page.

    python bench/page_cpu.py                          # 20 pages of 300 into SQLite
    python bench/page_cpu.py --database postgresql    # or mariadb (local test servers), or a URL
    python bench/page_cpu.py --resources products     # some resources only
    python bench/page_cpu.py --profile unchanged      # cProfile of one pass, top functions

Page bodies come from the bundled emulator in-process (``EmulatorApp.handle``, so the bytes are
what the wire carries: PHP-style escaped JSON, keyset-paged by entity id). Each page is then
timed with ``time.process_time()`` through the whole client path: ``response_decoded`` on a
``requests.Response`` holding the bytes, ``Page.from_body``, and ``Pipeline.write_page``
plus the checkpoint row, in one transaction, committed. Two passes: into the empty database
(``first``), then the same pages again (``unchanged``: every product already mirrored with the
same content hash).

The write is ``Pipeline.write_page`` as a full pass calls it: every item's id and content hash
first (``fingerprint``), one range SELECT of the stored rows in the page's id interval, full
validation only for new, changed or revived items, tombstones for rows the interval lost, the
rejects and run counters, plus the range checkpoint.

Categories and source items go through the resource engine's page write (``ResourcePass``:
content hashes against the stored rows, parse and upsert of what changed, the change log), one
transaction a page as a run commits them; their pages come from the same emulator (its Luma
category tree, and every product's source items), up to ``--pages`` of each.

Only this process's CPU is counted: a database server's own work is not. Figures are
milliseconds per page (the median over pages, and the fastest and slowest page) and the median
microseconds per item, which compares resources whose pages hold different numbers of items.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy.engine import Engine

from sync.api.classify import response_decoded
from sync.api.criteria import SearchCriteria
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import IdPosition, IdWalk, Page
from sync.api.products import Newest
from sync.clock import SystemClock
from sync.db.engine import make_engine, redacted_url
from sync.db.migrate import ensure_schema
from sync.db.state import start_run
from sync.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_ID,
    DEFAULT_TENANT,
    Catalog,
    EmulatorApp,
)
from sync.pipeline import Pipeline, StoreStats
from sync.resource_page import ResourcePageWriter, Step
from sync.resources import RESOURCES, Resource
from sync.stats import ResourceStats

from _harness import scratch_database

STORE = "default"
PRODUCTS = "products"


def emulator(products: int, seed: int) -> tuple[EmulatorApp, dict[str, str]]:
    """The bundled emulator in-process, and the headers of an authenticated request."""
    app = EmulatorApp(
        Catalog.generate(products, seed=seed),
        tenant=DEFAULT_TENANT,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        org_id=DEFAULT_ORG_ID,
    )
    headers = {
        "Authorization": f"Bearer {app.issue_token()}",
        "x-api-key": DEFAULT_CLIENT_ID,
        "x-gw-ims-org-id": DEFAULT_ORG_ID,
        "Store": STORE,
    }
    return app, headers


def _get(app: EmulatorApp, headers: dict[str, str], path: str, criteria: SearchCriteria) -> bytes:
    answer = app.handle("GET", f"/{DEFAULT_TENANT}{path}", headers, urlencode(criteria.params()))
    if answer.status != 200:
        raise SystemExit(f"the emulator answered {answer.status}: {answer.body[:200]!r}")
    return answer.body


def page_bodies(
    app: EmulatorApp, headers: dict[str, str], pages: int, page_size: int
) -> list[bytes]:
    """``pages`` full answers of a full pass (entity id > last, ASC), as the emulator sends them."""
    walk = IdWalk()
    position: IdPosition | None = IdPosition()
    bodies: list[bytes] = []
    while position is not None and len(bodies) < pages:
        body = _get(app, headers, "/V1/products", walk.criteria(position, page_size))
        bodies.append(body)
        position = walk.advance(position, Page.from_body(response_decoded(as_response(body))[0]))
    return bodies


def resource_bodies(
    app: EmulatorApp, headers: dict[str, str], resource: Resource, pages: int, page_size: int
) -> list[bytes]:
    """Up to ``pages`` answers of ``resource``'s full pass (keyset by its key, no partitions)."""
    walk = KeysetWalk(fields=[key.filter for key in resource.keys], key_of=resource.key_of)
    position: KeyPosition | None = KeyPosition()
    bodies: list[bytes] = []
    while position is not None and len(bodies) < pages:
        body = _get(app, headers, resource.path, walk.criteria(position, page_size))
        bodies.append(body)
        page = Page.from_body(response_decoded(as_response(body))[0], page_size)
        position = walk.advance(position, page)
    return bodies


def as_response(body: bytes) -> requests.Response:
    """A ``requests.Response`` holding ``body``, as the session hands it to the client."""
    response = requests.Response()
    response.status_code = 200
    response._content = body
    response.url = f"https://accs.example.com/{DEFAULT_TENANT}/V1/products"
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


class _NoCatalog:
    """``Pipeline`` wants a catalog and a lister; ``write_page`` never calls them."""

    def search(self, criteria: SearchCriteria, store_code: str) -> Page:
        raise AssertionError("the benchmark does not fetch")

    list_ids = search

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page:
        raise AssertionError("the benchmark does not fetch")

    def count(self, store_code: str) -> int:
        raise AssertionError("the benchmark does not fetch")

    def newest(self, store_code: str) -> Newest:
        raise AssertionError("the benchmark does not fetch")

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]:
        raise AssertionError("the benchmark does not fetch")


#: Writes one decoded page in its own committed transaction; returns (written, unchanged).
Writer = Callable[[Page], tuple[int, int]]


def product_writer(engine: Engine, pipeline: Pipeline, run_id: int) -> Writer:
    """A full pass's product page with its range checkpoint: it covers the ids from just
    below its first to its last."""
    store = StoreStats(store_code=STORE, mode="bench")

    def write(page: Page) -> tuple[int, int]:
        ids = page.ids()
        before = (store.products, store.unchanged)
        with engine.begin() as conn:
            pipeline.write_page(conn, store, run_id, page, interval=(min(ids) - 1, max(ids)))
            value = {"ranges": [{"after": max(ids), "upto": None}], "high_water": None}
            pipeline.save_checkpoint(conn, STORE, value)
        return store.products - before[0], store.unchanged - before[1]

    return write


def resource_writer(pipeline: Pipeline, resource: Resource, run_id: int) -> Writer:
    """A full pass's page of ``resource``, as the engine commits it (its page writer, each
    page the whole of a partition: no checkpoint, no interval)."""
    stats = ResourceStats(resource.name, STORE if resource.per_store else "*")
    writer = ResourcePageWriter(
        resource,
        pipeline.driver.pass_tools(resource),
        store_code=STORE,
        run_id=run_id,
        stats=stats,
    )
    stats.mode = "full"

    def write(page: Page) -> tuple[int, int]:
        before = (stats.written, stats.unchanged)
        writer.commit(page, set(), Step(None, KeyPosition(), None))
        return stats.written - before[0], stats.unchanged - before[1]

    return write


def timed_pass(
    write: Writer, bodies: list[bytes], page_size: int
) -> tuple[list[float], int, int, int]:
    """CPU milliseconds of each page, decoded and written in its own committed transaction;
    then the items, and how many were written and unchanged."""
    figures: list[float] = []
    items = written = unchanged = 0
    for body in bodies:
        response = as_response(body)
        started = time.process_time()
        decoded, plain = response_decoded(response)
        page = Page.from_body(decoded, page_size, plain=plain)
        wrote, kept = write(page)
        figures.append((time.process_time() - started) * 1000)
        items += len(page.items)
        written += wrote
        unchanged += kept
    return figures, items, written, unchanged


def _profiled(run: Callable[[], object], top: int) -> None:
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(run)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def measure(url: str, bodies: dict[str, list[bytes]], args: Any) -> None:
    """Both passes of every resource into the empty database at ``url``."""
    engine = make_engine(url)
    try:
        ensure_schema(engine)
        clock = SystemClock()
        run_id = start_run(engine, "backfill", [STORE], clock.now())
        resources = [name for name in bodies if name != PRODUCTS]
        pipeline = Pipeline(
            engine,
            _NoCatalog(),
            clock,
            [STORE],
            args.page_size,
            resources=(PRODUCTS, *resources),
            lister=_NoCatalog(),
        )
        for name, pages in bodies.items():
            if name == PRODUCTS:
                write = product_writer(engine, pipeline, run_id)
            else:
                write = resource_writer(pipeline, RESOURCES[name], run_id)
            for label in ("first", "unchanged"):

                def run(
                    w: Writer = write, p: list[bytes] = pages
                ) -> tuple[list[float], int, int, int]:
                    return timed_pass(w, p, args.page_size)

                if args.profile == label:
                    print(f"--- cProfile of the {label} pass of {name} (process time) ---")
                    _profiled(run, args.top)
                    continue
                figures, items, written, unchanged = run()
                expected = written if label == "first" else unchanged
                if expected != items:
                    raise SystemExit(
                        f"{name} {label} pass: {written} written, {unchanged} unchanged of "
                        f"{items} items is not what the pass should do"
                    )
                per_item = statistics.median(figures) * 1000 * len(pages) / items
                print(
                    f"{name:>12} {label:>10} {len(pages):>5} {items // len(pages):>6} "
                    f"{statistics.median(figures):>10.1f} {min(figures):>7.1f} "
                    f"{max(figures):>7.1f} {per_item:>8.0f}",
                    flush=True,
                )
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (a fresh file), postgresql, mariadb (local test servers) or a server URL",
    )
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile",
        choices=("first", "unchanged"),
        help="run that pass under cProfile and print the top functions instead of figures",
    )
    parser.add_argument("--top", type=int, default=35, help="functions to show with --profile")
    parser.add_argument(
        "--resources",
        nargs="+",
        choices=(PRODUCTS, *RESOURCES),
        default=[PRODUCTS, *RESOURCES],
        help="what to measure (default: every resource)",
    )
    args = parser.parse_args()

    app, headers = emulator(args.pages * args.page_size, args.seed)
    bodies: dict[str, list[bytes]] = {}
    for name in args.resources:
        if name == PRODUCTS:
            bodies[name] = page_bodies(app, headers, args.pages, args.page_size)
        else:
            resource = RESOURCES[name]
            bodies[name] = resource_bodies(app, headers, resource, args.pages, args.page_size)
    backend = args.database if "://" not in args.database else redacted_url(args.database)
    print(f"database: {backend}; up to {args.pages} pages of {args.page_size} per resource")
    print(
        f"{'resource':>12} {'pass':>10} {'pages':>5} {'items':>6} {'median ms':>10} "
        f"{'min':>7} {'max':>7} {'us/item':>8}"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.database, "cpu", Path(tmp)) as url,
    ):
        measure(url, bodies, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
