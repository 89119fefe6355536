"""How fast the commands that do little start: ``accs-sync --help``, ``accs-sync status`` on a
synced SQLite file, and ``accs-sync sync --help``.

    python bench/startup.py             # median of 7 runs each
    python bench/startup.py --runs 15

Each command is a real process (``python -m sync``), timed from start to reap; the figures are
medians, printed in seconds and as a ratio to ``python -c pass`` measured in the same run, so
a slower machine does not move the ratios much. Issue 15's targets: ``--help`` under 0.3 s,
``status`` under 0.5 s; both come from importing only what a command needs (``sync.cli``
imports a command's modules inside the command).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sync.emulator import Catalog, EmulatorServer

from _harness import CLI, ChildFailed, child_env, interrupt_on_sigterm, run_child

#: What each line measures: a label, the arguments, and the target in seconds (None: none).
COMMANDS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("accs-sync --help", ("--help",), 0.3),
    ("accs-sync status", ("status",), 0.5),
    ("accs-sync sync --help", ("sync", "--help"), None),
)


def median_seconds(
    argv: Sequence[str], env: dict[str, str], cwd: Path, runs: int
) -> tuple[float, float]:
    """The median wall time and CPU time of ``runs`` runs of ``argv`` (each must exit 0).
    On a busy machine the CPU time is the steadier of the two."""
    done = [
        run_child(argv, env, label=" ".join(argv), cwd=cwd, timeout=120).check()
        for _ in range(runs)
    ]
    return (
        statistics.median(r.seconds for r in done),
        statistics.median(r.cpu_seconds for r in done),
    )


def synced_database(workdir: Path, env: dict[str, str]) -> None:
    """Mirror a small emulated catalog into ``env``'s DATABASE_URL, so ``status`` has runs,
    rows and state to show."""
    with EmulatorServer(Catalog.generate(500, seed=1)) as server:
        run_child(
            [*CLI, "sync", "--quiet"],
            {**env, **server.credentials, "SYNC_RESOURCES": "products,categories,source_items"},
            label="sync",
            cwd=workdir,
        ).check()


def measure(runs: int) -> None:
    """Print one line per command: its medians, and how they compare with the targets."""
    with tempfile.TemporaryDirectory(prefix="accs-sync-startup-") as scratch:
        workdir = Path(scratch)
        env = child_env({"DATABASE_URL": f"sqlite:///{workdir / 'startup.db'}"})
        synced_database(workdir, env)
        baseline, base_cpu = median_seconds([sys.executable, "-c", "pass"], env, workdir, runs)
        print(f"python -c pass: {baseline:.3f}s, {base_cpu:.3f} CPU-s (median of {runs})")
        for label, command, target in COMMANDS:
            seconds, cpu = median_seconds([*CLI, *command], env, workdir, runs)
            verdict = ""
            if target is not None:
                verdict = f"  target < {target}s: {'met' if seconds < target else 'MISSED'}"
            print(
                f"{label}: {seconds:.3f}s = {seconds / baseline:.1f}x python -c pass "
                f"({cpu:.3f} CPU-s = {cpu / max(base_cpu, 1e-3):.1f}x){verdict}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every command ran (a missed target is a line, as in the other benches), 1
    when one failed, 130 when interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (the median counts)")
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    try:
        measure(max(1, args.runs))
    except KeyboardInterrupt:
        print("\ninterrupted: every child process has been stopped", file=sys.stderr)
        return 130
    except ChildFailed as exc:
        print(f"startup bench: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
