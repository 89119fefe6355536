"""Full-backfill throughput and the sync process's peak memory, against the bundled emulator.

    python bench/backfill.py                                  # 20,000 and 200,000 into SQLite
    python bench/backfill.py --database postgresql --products 20000
    python bench/backfill.py --database mariadb --products 20000 200000
    python bench/backfill.py --database postgresql://postgres@db.example/test --products 5000

``--database`` is ``sqlite`` (a fresh file per size), ``postgresql`` or ``mariadb`` (the local
test servers), or a server URL. For a server, each size gets its own scratch database, created
next to the one in the URL and dropped afterwards, so the figures never mix.

For each size it runs two ``accs-sync backfill`` passes and prints a line for each: the first
into the empty database, the second over the unchanged catalog (what a scheduled backfill costs
once the mirror is complete). The emulator runs in its own process so its catalog does not
count towards the sync's memory; the sync's peak RSS is read from ``wait4()``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from sync.db.engine import normalize_url, redacted_url

CLI = [sys.executable, "-m", "sync"]
LOCAL_SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


@contextmanager
def emulator(products: int) -> Iterator[dict[str, str]]:
    """``accs-sync emulator`` with ``products`` generated products; yields its ``export`` lines."""
    proc = subprocess.Popen(
        [*CLI, "emulator", "--port", "0", "--products", str(products)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    exports: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("export "):
                name, _, value = line[7:].strip().partition("=")
                exports[name] = value.strip("'")
            if line.startswith("Press Ctrl-C"):
                break
        if "API_ENDPOINT" not in exports:
            raise SystemExit(f"the emulator for {products} products did not start")
        yield exports
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def scratch_database(database: str, label: str, workdir: Path) -> Iterator[str]:
    """A ``DATABASE_URL`` for an empty database of the kind ``database`` names."""
    if database == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{label}.db'}"
        return
    server: URL = normalize_url(LOCAL_SERVERS.get(database, database))
    if server.get_backend_name() == "sqlite":
        yield server.render_as_string(hide_password=False)
        return
    name = f"accs_sync_bench_{label}_{secrets.token_hex(3)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    postgres = server.get_backend_name() == "postgresql"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if postgres else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def run_backfill(env: dict[str, str]) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of one successful ``accs-sync backfill``."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "backfill", "--log-level", "WARNING"], env=env, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"accs-sync backfill failed with exit code {proc.returncode}")
    return seconds, usage.ru_maxrss  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite, postgresql, mariadb (local test servers) or a server URL",
    )
    parser.add_argument("--page-size", type=int, default=300)
    args = parser.parse_args()
    backend = args.database if "://" not in args.database else redacted_url(args.database)
    print(f"database: {backend}; page size {args.page_size}")
    print(f"{'products':>10} {'pass':>7} {'seconds':>9} {'products/s':>11} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.products:
            with (
                emulator(n) as exports,
                scratch_database(args.database, str(n), Path(tmp)) as url,
            ):
                env = {
                    **os.environ,
                    **exports,
                    "DATABASE_URL": url,
                    "SYNC_PAGE_SIZE": str(args.page_size),
                }
                for label in ("first", "second"):
                    seconds, rss_kib = run_backfill(env)
                    print(
                        f"{n:>10} {label:>7} {seconds:>9.1f} {n / seconds:>11.0f} "
                        f"{rss_kib / 1024:>13.1f}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
