"""How many IMS tokens cron-style runs mint, with and without the cross-process token cache.

    python bench/token_cache.py                 # 5 runs in a row, then 5 side by side
    python bench/token_cache.py --runs 10

Each run is a real ``accs-sync sync`` process against the bundled emulator (in this process,
so its token counter can be read). Prints one line per scenario: runs, tokens minted, wall
time. Adobe throttles integrations that mint too many tokens: with the cache, a day of
``*/5`` cron runs should mint one token, not 288.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sync.emulator import Catalog, EmulatorServer

CLI = [sys.executable, "-m", "sync"]


def _env(server: EmulatorServer, workdir: Path, cache: str, db: str = "bench") -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC"))
    }
    env.update(server.credentials)
    env["DATABASE_URL"] = f"sqlite:///{workdir / db}.db"
    env["SYNC_TOKEN_CACHE"] = cache
    env["SYNC_LOG_LEVEL"] = "WARNING"
    return env


def scenario(runs: int, parallel: bool, cached: bool) -> tuple[int, float, int]:
    """(tokens minted, seconds, failed runs) for ``runs`` sync processes."""
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer(Catalog.generate(200)) as server:
        workdir = Path(tmp)
        cache = str(workdir / "tokens.json") if cached else "none"
        env = _env(server, workdir, cache)
        started = time.perf_counter()
        failed = 0
        if parallel:
            # Workers sharing one credential (each with its own database, so the run lock
            # does not serialise them): they race for the token at the same moment.
            procs = [
                subprocess.Popen(
                    [*CLI, "sync"],
                    env=_env(server, workdir, cache, db=f"worker{n}"),
                    cwd=workdir,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for n in range(runs)
            ]
            failed = sum(1 for p in procs if p.wait(timeout=120) != 0)
        else:
            for _ in range(runs):
                result = subprocess.run(
                    [*CLI, "sync"], env=env, cwd=workdir, capture_output=True, check=False
                )
                failed += result.returncode != 0
        return server.stats.tokens_issued, time.perf_counter() - started, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'scenario':<36} {'runs':>5} {'tokens minted':>14} {'seconds':>8} {'failed':>7}")
    for parallel in (False, True):
        for cached in (True, False):
            mints, seconds, failed = scenario(args.runs, parallel, cached)
            name = f"{'side by side' if parallel else 'in a row'}, " + (
                "token cache" if cached else "SYNC_TOKEN_CACHE=none"
            )
            print(f"{name:<36} {args.runs:>5} {mints:>14} {seconds:>8.1f} {failed:>7}")


if __name__ == "__main__":
    main()
