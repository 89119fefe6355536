"""What progress display and metrics cost a backfill: the same run quiet, with progress lines,
with the live bar on a terminal (against the same quiet run on a terminal), and with the
metrics file, against the bundled emulator.

    python bench/observability.py                       # 20,000 products, 3 rounds
    python bench/observability.py --products 50000 --rounds 5 --latency 0.05

Each round runs every mode once, in turn, each into a fresh SQLite file, so a slow moment of the
machine spreads over all modes. The bar mode runs under ``script`` (util-linux), which gives the
child a pseudo-terminal; its output is thrown away, as a terminal would show and forget it.
Printed per mode: the median products/s and CPU seconds (from ``wait4``), and the difference
from the quiet run.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _harness import (
    CLI,
    ChildFailed,
    Emulator,
    child_env,
    interrupt_on_sigterm,
    run_child,
)

#: mode -> (flags, settings, on a pseudo-terminal). "quiet on a terminal" is the baseline of
#: the bar: ``script`` copying the output costs something of its own.
MODES = {
    "quiet": (["--quiet"], {}, False),
    "progress lines (1 s)": ([], {"SYNC_PROGRESS_SECONDS": "1"}, False),
    "quiet + metrics file": (["--quiet"], {"SYNC_METRICS_FILE": "metrics.prom"}, False),
    "quiet on a terminal": (["--quiet"], {}, True),
    "bar on a terminal": ([], {}, True),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.0, help="emulator latency, seconds")
    args = parser.parse_args()
    interrupt_on_sigterm()
    if shutil.which("script") is None:
        print("observability bench: needs `script` (util-linux) for the terminal mode")
        return 1
    try:
        results = run(args.products, args.rounds, args.latency)
    except KeyboardInterrupt:
        print("\ninterrupted: every child process has been stopped", file=sys.stderr)
        return 130
    except ChildFailed as exc:
        print(f"observability bench: {exc}", file=sys.stderr)
        return 1
    base_rate = statistics.median(r for r, _ in results["quiet"])
    base_cpu = statistics.median(c for _, c in results["quiet"])
    print(f"{args.products} products, latency {args.latency:g} s, {args.rounds} rounds (medians)")
    print(f"{'mode':<24} {'products/s':>11} {'vs quiet':>9} {'CPU s':>7} {'vs quiet':>9}")
    for mode, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{mode:<24} {rate:>11.0f} {100 * (rate / base_rate - 1):>+8.1f}% "
            f"{cpu:>7.2f} {100 * (cpu / base_cpu - 1):>+8.1f}%"
        )
    return 0


def run(products: int, rounds: int, latency: float) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(products, Path(tmp), latency=latency) as emulator,
    ):
        for round_ in range(rounds):
            for n, (mode, (flags, extra, terminal)) in enumerate(MODES.items()):
                work = Path(tmp) / f"{round_}-{n}"
                work.mkdir()
                env = child_env(
                    {
                        **emulator.exports,
                        "DATABASE_URL": f"sqlite:///{work / 'mirror.db'}",
                        "SYNC_TOKEN_CACHE": str(Path(tmp) / "tokens.json"),
                        "SYNC_PROGRESS_SECONDS": "30",
                        "COLUMNS": "120",
                        **extra,
                    }
                )
                argv = [*CLI, "backfill", *flags]
                if terminal:
                    argv = ["script", "-qfec", shlex.join(argv), "/dev/null"]
                result = run_child(argv, env, label=f"backfill ({mode})", cwd=work).check()
                results[mode].append((products / result.seconds, result.cpu_seconds))
    return results


if __name__ == "__main__":
    raise SystemExit(main())
