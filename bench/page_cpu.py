"""CPU the sync spends per page of products, from the answer's bytes to the committed page.

    python bench/page_cpu.py                          # 20 pages of 300 into SQLite
    python bench/page_cpu.py --database postgresql    # or mariadb (local test servers), or a URL
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

Only this process's CPU is counted: a database server's own work is not. Figures are
milliseconds per page: the median over pages, and the fastest and slowest page.
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
from sqlalchemy.engine import Connection, Engine

from sync.api.classify import response_decoded
from sync.api.criteria import SearchCriteria
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

from _harness import scratch_database

STORE = "default"


def page_bodies(pages: int, page_size: int, seed: int) -> list[bytes]:
    """``pages`` full answers of a full pass (entity id > last, ASC), as the emulator sends them."""
    catalog = Catalog.generate(pages * page_size, seed=seed)
    app = EmulatorApp(
        catalog,
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
    walk = IdWalk()
    position: IdPosition | None = IdPosition()
    bodies: list[bytes] = []
    while position is not None and len(bodies) < pages:
        criteria = walk.criteria(position, page_size)
        answer = app.handle(
            "GET", f"/{DEFAULT_TENANT}/V1/products", headers, urlencode(criteria.params())
        )
        if answer.status != 200:
            raise SystemExit(f"the emulator answered {answer.status}: {answer.body[:200]!r}")
        bodies.append(answer.body)
        position = walk.advance(position, Page.from_body(answer.json(), page_size))
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
    """``Pipeline`` wants a catalog; ``write_page`` never calls it."""

    def search(self, criteria: SearchCriteria, store_code: str) -> Page:
        raise AssertionError("the benchmark does not fetch")

    list_ids = search

    def count(self, store_code: str) -> int:
        raise AssertionError("the benchmark does not fetch")

    def newest(self, store_code: str) -> Newest:
        raise AssertionError("the benchmark does not fetch")

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]:
        raise AssertionError("the benchmark does not fetch")


def write(conn: Connection, pipeline: Pipeline, store: StoreStats, run_id: int, page: Page) -> None:
    """A full pass's page: it covers the ids from just below its first to its last."""
    ids = page.ids()
    pipeline.write_page(conn, store, run_id, page, interval=(min(ids) - 1, max(ids)))


Writer = Callable[[Connection, Pipeline, StoreStats, int, Page], None]


def timed_pass(
    engine: Engine,
    pipeline: Pipeline,
    write: Writer,
    run_id: int,
    bodies: list[bytes],
    page_size: int,
) -> tuple[list[float], StoreStats]:
    """CPU milliseconds of each page, decoded and written in its own committed transaction."""
    store = StoreStats(store_code=STORE, mode="bench")
    figures: list[float] = []
    for body in bodies:
        response = as_response(body)
        started = time.process_time()
        body, plain = response_decoded(response)
        page = Page.from_body(body, page_size, plain=plain)
        with engine.begin() as conn:
            write(conn, pipeline, store, run_id, page)
            value = {"ranges": [{"after": max(page.ids()), "upto": None}], "high_water": None}
            pipeline.save_checkpoint(conn, STORE, value)
        figures.append((time.process_time() - started) * 1000)
    return figures, store


def _profiled(run: Callable[[], tuple[list[float], StoreStats]], top: int) -> None:
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(run)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def measure(url: str, path: str, write: Writer, bodies: list[bytes], args: Any) -> None:
    """Both passes of one writer into the empty database at ``url``."""
    engine = make_engine(url)
    try:
        ensure_schema(engine)
        clock = SystemClock()
        run_id = start_run(engine, "backfill", [STORE], clock.now())
        pipeline = Pipeline(engine, _NoCatalog(), clock, [STORE], args.page_size)
        for label in ("first", "unchanged"):

            def run() -> tuple[list[float], StoreStats]:
                return timed_pass(engine, pipeline, write, run_id, bodies, args.page_size)

            if args.profile == label:
                print(f"--- cProfile of the {label} pass, {path} path (process time) ---")
                _profiled(run, args.top)
                continue
            figures, store = run()
            expected = store.products if label == "first" else store.unchanged
            if expected != len(bodies) * args.page_size:
                raise SystemExit(f"{label} pass: {store} is not what the pass should do")
            print(
                f"{path:>8} {label:>10} {statistics.median(figures):>10.1f} "
                f"{min(figures):>7.1f} {max(figures):>7.1f} {store.products:>8}",
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
    args = parser.parse_args()

    bodies = page_bodies(args.pages, args.page_size, args.seed)
    size = sum(len(b) for b in bodies) / len(bodies) / 1024
    backend = args.database if "://" not in args.database else redacted_url(args.database)
    print(f"database: {backend}; {len(bodies)} pages of {args.page_size} ({size:.0f} KiB each)")
    print(f"{'path':>8} {'pass':>10} {'median ms':>10} {'min':>7} {'max':>7} {'written':>8}")
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.database, "cpu", Path(tmp)) as url,
    ):
        measure(url, "pipeline", write, bodies, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
