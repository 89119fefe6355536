"""Full-backfill throughput and the sync process's peak memory, against the bundled emulator.

    python bench/backfill.py                       # 20,000 and 200,000 products into SQLite
    python bench/backfill.py --products 5000 --database-url postgresql://postgres@127.0.0.1/test

The emulator runs in its own process so its catalog does not count towards the sync's memory;
the sync runs as ``accs-sync backfill`` in a child process whose peak RSS is read from wait4().
Prints one line per catalog size.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "sync"]


def start_emulator(products: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [*CLI, "emulator", "--port", "0", "--products", str(products)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    exports: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export "):
            name, _, value = line[7:].strip().partition("=")
            exports[name] = value.strip("'")
        if line.startswith("Press Ctrl-C"):
            break
    return proc, exports


def run_backfill(env: dict[str, str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, exit code) of one ``accs-sync backfill``."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "backfill", "--log-level", "WARNING"], env=env, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--database-url", help="default: a fresh SQLite file per size")
    parser.add_argument("--page-size", type=int, default=300)
    args = parser.parse_args()
    print(f"{'products':>10} {'seconds':>9} {'products/s':>11} {'peak RSS MiB':>13}  database")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.products:
            url = args.database_url or f"sqlite:///{Path(tmp) / f'bench-{n}.db'}"
            emulator, exports = start_emulator(n)
            try:
                env = {
                    **os.environ,
                    **exports,
                    "DATABASE_URL": url,
                    "SYNC_PAGE_SIZE": str(args.page_size),
                }
                seconds, rss_kib, code = run_backfill(env)
            finally:
                emulator.send_signal(signal.SIGTERM)
                emulator.wait(timeout=30)
            if code != 0:
                print(f"backfill of {n} products failed with exit code {code}", file=sys.stderr)
                return 1
            print(
                f"{n:>10} {seconds:>9.1f} {n / seconds:>11.0f} {rss_kib / 1024:>13.1f}  "
                f"{url.split(':', 1)[0]}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
