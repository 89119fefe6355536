"""The throughput benchmark's verdicts on issue 15's goals (``bench/_scenarios.py``): at 500 ms
a request, the default concurrency reaches 85% of what its requests in flight allow, and a
first backfill costs at most 2.5x the reference client's CPU. Pure arithmetic on made-up runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _harness import ChildResult
from _scenarios import CACHED, DEFAULT, REFERENCE, Client, Row, targets


def row(client: Client, seconds: float, cpu: float, products: int = 20_000) -> Row:
    run = ChildResult(client.label, 0, seconds, cpu, 50_000, "", "")
    return Row(client, products, run, None, None, products)


def verdict(lines: list[tuple[bool | None, str]], words: str) -> tuple[bool | None, str]:
    found = [line for line in lines if words in line[1]]
    assert len(found) == 1, lines
    return found[0]


@pytest.mark.parametrize(("seconds", "passed", "share"), [(9.5, True, "88%"), (11.0, False, "76%")])
def test_the_500_ms_goal_is_a_share_of_concurrency_times_page_over_latency(
    seconds: float, passed: bool, share: str
) -> None:
    """Judged on the run that finds its token cached; the run that mints it first is shown."""
    rows = {
        (3, CACHED): row(CACHED, seconds, 3.0),
        (3, DEFAULT): row(DEFAULT, 10.4, 3.0),
        (3, REFERENCE): row(REFERENCE, 37.0, 1.1),
    }
    ok, text = verdict(targets(rows, None), "of 4 x 300 / 0.5 s")
    assert ok is passed and f"{share} (" in text
    assert "80% minting it first" in text


@pytest.mark.parametrize(("cpu", "passed"), [(2.7, True), (3.0, False)])
def test_the_cpu_goal_compares_the_first_backfill_with_the_reference(
    cpu: float, passed: bool
) -> None:
    rows = {(1, DEFAULT): row(DEFAULT, 4.0, cpu), (1, REFERENCE): row(REFERENCE, 1.9, 1.15)}
    ok, text = verdict(targets(rows, None), "CPU")
    assert ok is passed and f"{cpu / 1.15:.2f}x" in text


def test_unmeasured_goals_say_so() -> None:
    lines = targets({}, None)
    assert verdict(lines, "of 4 x 300 / 0.5 s")[0] is None
    assert verdict(lines, "CPU")[0] is None


@pytest.mark.parametrize(("mib", "passed"), [(95.0, True), (97.6, False)])
def test_the_large_backfill_stays_under_100_megabytes(mib: float, passed: bool) -> None:
    """Issue 15: under 100 MB (10**6 bytes; the harness measures MiB: 95.4 MiB is 100 MB)."""
    run = ChildResult(DEFAULT.label, 0, 40.0, 30.0, round(mib * 1024), "", "")
    large = Row(DEFAULT, 200_000, run, None, None, 200_000)
    rows = {(6, DEFAULT): large, (1, DEFAULT): row(DEFAULT, 4.0, 3.0)}
    ok, text = verdict(targets(rows, None), "under 100 MB")
    assert ok is passed and f"{mib * 1.048576:.1f} MB" in text


def test_the_cpu_goal_takes_each_clients_median_round() -> None:
    """Scenario 1 runs its clients in interleaved rounds (bench/throughput.py --cpu-rounds): one
    run of each on a shared 2-core machine varies by 10% or more, the reference's included, so
    the goal is judged on the round with each client's median CPU, and every round is shown."""
    from _scenarios import median_row

    refs = [row(REFERENCE, 2.0, cpu) for cpu in (1.50, 1.20, 1.36)]
    ours = [row(DEFAULT, 3.0, cpu) for cpu in (3.31, 3.03, 2.82)]
    assert median_row(refs).run.cpu_seconds == 1.36
    assert median_row(ours).run.cpu_seconds == 3.03
    assert median_row(ours[:2]).run.cpu_seconds == 3.03  # even: the lower middle
    rows = {(1, DEFAULT): median_row(ours), (1, REFERENCE): median_row(refs)}
    ok, text = verdict(targets(rows, None, cpu_rounds={DEFAULT: ours, REFERENCE: refs}), "CPU")
    assert ok is True and "3.03 CPU-s, 2.23x (1.36)" in text
    assert "median of 3 rounds" in text and "2.21x 2.52x 2.07x" in text
