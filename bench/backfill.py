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
count towards the sync's memory; the sync's peak RSS is read from ``wait4()``. Both run in
process groups of their own that are stopped on any exit, Ctrl-C included (``_harness``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from sync.db.engine import redacted_url

from _harness import (
    CLI,
    ChildFailed,
    Emulator,
    child_env,
    interrupt_on_sigterm,
    run_child,
    scratch_database,
)


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
    interrupt_on_sigterm()
    backend = args.database if "://" not in args.database else redacted_url(args.database)
    print(f"database: {backend}; page size {args.page_size}")
    print(f"{'products':>10} {'pass':>7} {'seconds':>9} {'products/s':>11} {'peak RSS MiB':>13}")
    try:
        run(args.products, args.database, args.page_size)
    except KeyboardInterrupt:
        print("\ninterrupted: every child process has been stopped", file=sys.stderr)
        return 130
    except ChildFailed as exc:
        print(f"backfill bench: {exc}", file=sys.stderr)
        return 1
    return 0


def run(sizes: list[int], database: str, page_size: int) -> None:
    """One line per size and pass; children are stopped whatever happens."""
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            with (
                Emulator(n, Path(tmp)) as emulator,
                scratch_database(database, str(n), Path(tmp)) as url,
            ):
                env = child_env(
                    {
                        **emulator.exports,
                        "DATABASE_URL": url,
                        "SYNC_PAGE_SIZE": str(page_size),
                        "SYNC_TOKEN_CACHE": str(Path(tmp) / "tokens.json"),
                    }
                )
                for label in ("first", "second"):
                    result = run_child(
                        [*CLI, "backfill", "--log-level", "WARNING"],
                        env,
                        label=f"accs-sync backfill ({n} products, {label} pass)",
                        cwd=Path(tmp),
                    ).check()
                    print(
                        f"{n:>10} {label:>7} {result.seconds:>9.1f} "
                        f"{n / result.seconds:>11.0f} {result.peak_rss_mib:>13.1f}",
                        flush=True,
                    )


if __name__ == "__main__":
    raise SystemExit(main())
