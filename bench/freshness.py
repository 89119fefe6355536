"""How fresh the mirror is with I/O Events, and with polling alone (issue 16).

    python bench/freshness.py                          # 20,000 products, 3 minutes each mode
    python bench/freshness.py --products 2000 --minutes 1 --mode events

The bundled emulator runs in this process (priority subscriptions, delivery delay 0); the
mirror is a SQLite file. After a first full sync, a steady stream of changes (price updates,
creates, deletes, default-source stock moves, category renames; ``--rate`` a second) runs for
``--minutes``; each change's row is looked for in the mirror every 50 ms, and the time from the
emulator's mutation to the committed row is recorded. Modes:

* ``events``: the consumer (as in the daemon) reads the journal and refetches, at once;
* ``events-60s``: the same with ``SYNC_EVENTS_WINDOW_SECONDS=60``: polling's freshness budget
  (a minute), so a minute's changes are refetched together;
* ``polling``: what the daemon does without events at one-minute freshness: ``sync`` and a
  source-items ``sync`` every minute;
* ``events-kill``: ``events`` with the consumer in its own ``accs-sync events consume``
  process, killed with SIGKILL ``--kills`` times (5) at random moments of the stream and
  started again: no change may be missed (no backstop pass runs).

Prints, per mode: changes, applied, superseded (replaced by a later change of the same key
before the mirror showed it), missed (the newest change of its key, not in the mirror 150 s
after the stream), p50, p95 and max seconds from mutation to committed row, ACCS and journal
requests per hour.
Not a timed test: the figures depend on the machine; the targets are p95 <= 3 s with events,
and, for the same freshness budget (``events-60s`` against ``polling``), at most 1/20 of
polling's ACCS requests per hour.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sync.app import build_app
from sync.db.schema import categories, inventory_source_items, products
from sync.emulator import Catalog, EmulatorServer
from sync.emulator.faults import ACCS_KINDS
from sync.events.setup import setup_events
from sync.events.wiring import build_consumer
from sync.settings import load_settings

RESOURCES = "products,categories,source_items"
MODES = ("events", "events-60s", "polling", "events-kill")


@dataclass
class Change:
    what: str
    at: float  # time.monotonic() of the mutation
    check: sa.Select[Any]  # returns a row once the mirror has the change
    key: str  # what it changed: a later change of the same key supersedes it
    seen: float | None = None


def _mutations(emu: EmulatorServer, rng: random.Random) -> Callable[[], Change]:
    catalog = emu.catalog
    p, s, c = products.c, inventory_source_items.c, categories.c
    made = [0]

    def mutate() -> Change:
        kind = rng.choice(("price", "price", "stock", "create", "delete", "category"))
        ids = catalog.ids()
        now = time.monotonic()
        if kind == "price":
            pid, price = rng.choice(ids), round(rng.uniform(1, 999), 2)
            catalog.update(pid, price=price)
            check = sa.select(p.id).where(p.id == pid, p.price == price)
            return Change(kind, now, check, f"product {pid}")
        if kind == "stock":  # a product with a stock item of its own (not grouped/configurable)
            item = catalog.item(rng.choice(ids)) or {}
            while item.get("type_id") not in ("simple", "virtual"):
                item = catalog.item(rng.choice(ids)) or {}
            sku, qty = item["sku"], rng.randint(1000, 9999)
            catalog.set_stock(sku, qty)
            where = (s.sku == sku, s.source_code == "default", s.quantity == qty)
            return Change(kind, now, sa.select(s.sku).where(*where), f"stock {sku}")
        if kind == "create":
            made[0] += 1
            sku = f"BENCH-{made[0]}"
            catalog.create(sku, name=sku, price=10.0)
            check = sa.select(p.id).where(p.sku == sku, p.deleted_at.is_(None))
            return Change(kind, now, check, f"new {sku}")
        if kind == "delete":
            pid = rng.choice(ids)
            catalog.delete(pid)
            check = sa.select(p.id).where(p.id == pid, p.deleted_at.isnot(None))
            return Change(kind, now, check, f"product {pid}")
        cid = rng.choice([x.id for x in catalog.categories() if x.level >= 2])
        name = f"Renamed {rng.random():.6f}"
        catalog.update_category(cid, name=name)
        check = sa.select(c.id).where(c.id == cid, c.name == name)
        return Change(kind, now, check, f"category {cid}")

    return mutate


def _watch(
    engine: sa.Engine, pending: list[Change], lock: threading.Lock, stop: threading.Event
) -> None:
    while not stop.is_set():
        with lock:
            open_ = [ch for ch in pending if ch.seen is None]
        with engine.connect() as conn:
            for change in open_:
                if conn.execute(change.check).first() is not None:
                    change.seen = time.monotonic()
        stop.wait(0.05)


def run(
    mode: str,
    products_n: int,
    seconds: float,
    rate: float,
    workdir: Path,
    idle: float | None,
    kills: int = 5,
) -> dict[str, float]:
    with EmulatorServer(Catalog.generate(products_n, seed=16)) as emu:
        for name in list(os.environ):
            if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC", "IO_")):
                del os.environ[name]
        os.environ.update(emu.credentials)
        os.environ.update(
            DATABASE_URL=f"sqlite:///{workdir / mode}.db",
            SYNC_TOKEN_CACHE="none",  # noqa: S106 - a setting, not a password
            SYNC_RESOURCES=RESOURCES,
            SYNC_LOG_LEVEL="WARNING",
            SYNC_PROGRESS_SECONDS="0",
        )
        events = mode.startswith("events")
        if events:
            os.environ["IO_EVENTS_JOURNAL_URL"] = emu.journal_url
            if idle is not None:
                os.environ["SYNC_EVENTS_IDLE_SECONDS"] = str(idle)
            if mode == "events-60s":
                os.environ["SYNC_EVENTS_WINDOW_SECONDS"] = "60"
        with build_app(load_settings()) as app:
            if events:
                setup_events(app.client.get, app.client.post, priority=True)
            assert app.run("sync").status == "success"
            emu.stats.reset()
            started = time.monotonic()
            stop, lock = threading.Event(), threading.Lock()
            pending: list[Change] = []
            if mode == "events-kill":
                worker = threading.Thread(
                    target=_killed_consumer, args=(stop, started, seconds, kills), daemon=True
                )
            elif events:
                worker = threading.Thread(target=build_consumer(app).run, daemon=True)
            else:
                worker = threading.Thread(target=_poll, args=(app, stop), daemon=True)
            worker.start()
            watcher = threading.Thread(target=_watch, args=(app.engine, pending, lock, stop))
            watcher.start()
            mutate = _mutations(emu, random.Random(16))
            for n in range(int(seconds * rate)):
                time.sleep(max(0.0, started + n / rate - time.monotonic()))
                change = mutate()
                with lock:
                    pending.append(change)
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline and any(ch.seen is None for ch in pending):
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            stop.set()
            app.stop_event.set()
            watcher.join()
            worker.join(timeout=120)
            requests = emu.stats.requests
            accs = sum(requests[k] for k in ACCS_KINDS)
            journal = requests["journal"]
    ages = sorted(ch.seen - ch.at for ch in pending if ch.seen is not None)
    last = {ch.key: ch for ch in pending}  # the newest change of each key
    missed = [ch for ch in pending if ch.seen is None and last[ch.key] is ch]
    for change in missed:
        print(f"{mode}: not seen: {change.what} ({change.check.compile().params})")
    return {
        "changes": len(pending),
        "applied": len(ages),
        # A change never seen because a later one of the same key replaced it before the
        # mirror caught up (a price changed twice within a window) is superseded, not missed:
        # the mirror's last state of each key is what must equal upstream's.
        "superseded": len(pending) - len(ages) - len(missed),
        "missed": len(missed),
        "p50": statistics.median(ages) if ages else float("nan"),
        "p95": ages[int(0.95 * (len(ages) - 1))] if ages else float("nan"),
        "max": ages[-1] if ages else float("nan"),
        "accs_per_hour": accs / elapsed * 3600,
        "journal_per_hour": journal / elapsed * 3600,
    }


def _killed_consumer(stop: threading.Event, started: float, seconds: float, kills: int) -> None:
    """``accs-sync events consume`` in a process of its own, killed with SIGKILL ``kills``
    times at random moments of the stream and started again each time."""
    rng = random.Random(5)
    moments = sorted(rng.uniform(2, seconds - 1) for _ in range(kills))
    command = [sys.executable, "-m", "sync", "events", "consume"]
    proc = subprocess.Popen(command, env=dict(os.environ))
    try:
        for moment in moments:
            if stop.wait(max(0.0, started + moment - time.monotonic())):
                return
            proc.kill()  # SIGKILL: no clean-up of any kind
            proc.wait()
            KILLED.append(moment)
            proc = subprocess.Popen(command, env=dict(os.environ))
        stop.wait()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


#: When the events-kill mode's consumer was killed (seconds into the stream).
KILLED: list[float] = []


def _poll(app: object, stop: threading.Event) -> None:
    """The daemon's jobs at one-minute freshness: sync, then source items, every minute."""
    while not stop.is_set():
        begun = time.monotonic()
        app.run("sync", resources=["products", "categories"])  # type: ignore[attr-defined]
        app.run("sync", resources=["source_items"])  # type: ignore[attr-defined]
        stop.wait(max(0.0, 60 - (time.monotonic() - begun)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=1.0, help="changes a second")
    parser.add_argument("--mode", choices=("all", *MODES), default="all")
    parser.add_argument(
        "--idle", type=float, default=None, help="SYNC_EVENTS_IDLE_SECONDS (default: unset)"
    )
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs in events-kill mode")
    args = parser.parse_args()
    modes = MODES if args.mode == "all" else (args.mode,)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="accs-sync-freshness-") as tmp:
        for mode in modes:
            rows[mode] = run(
                mode, args.products, args.minutes * 60, args.rate, Path(tmp), args.idle, args.kills
            )
    print(
        f"{'mode':<10} {'changes':>7} {'applied':>7} {'superseded':>10} {'missed':>6} "
        f"{'p50 s':>7} {'p95 s':>7} {'max s':>7} {'ACCS/h':>9} {'journal/h':>9}"
    )
    for mode, r in rows.items():
        print(
            f"{mode:<10} {r['changes']:>7.0f} {r['applied']:>7.0f} {r['superseded']:>10.0f} "
            f"{r['missed']:>6.0f} "
            f"{r['p50']:>7.2f} {r['p95']:>7.2f} {r['max']:>7.2f} {r['accs_per_hour']:>9.0f} "
            f"{r['journal_per_hour']:>9.0f}"
        )
    if "events-kill" in rows:
        missed = rows["events-kill"]["missed"]
        print(
            f"events-kill: consumer killed with SIGKILL {len(KILLED)} times at "
            f"{', '.join(f'{k:.0f}s' for k in KILLED)}; missed {missed:.0f} (target 0)"
        )
    polling = rows.get("polling", {}).get("accs_per_hour")
    if polling:
        for mode, target in (("events", ""), ("events-60s", " (same budget; target <= 0.05)")):
            if mode in rows:
                ratio = rows[mode]["accs_per_hour"] / polling
                print(f"ACCS requests per hour, {mode} / polling: {ratio:.3f}{target}")


if __name__ == "__main__":
    main()
