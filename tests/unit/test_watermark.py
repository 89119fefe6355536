"""Which ``updated_at`` may become a watermark (:mod:`sync.watermark`), as tables; ACCS's
clock carried from its ``Date`` header through the client; the emulator's ``Date``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from sync.api.criteria import Filter
from sync.api.paging import Page, http_date
from sync.clock import FakeClock
from sync.emulator import Catalog, EmulatorServer
from sync.watermark import PROBE_SIZE, SKEW, Stamps, accs_time
from tests.unit.test_products_client import PRODUCTS, client, rsps  # noqa: F401 - fixture

NOW = datetime(2026, 6, 1, 12, 0, 0)
SERVER = datetime(2026, 6, 1, 12, 30, 0)  # ACCS's clock, half an hour ahead of ours


def stamps() -> Stamps:
    return Stamps(lambda: NOW)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2026-01-02 03:04:05", datetime(2026, 1, 2, 3, 4, 5)),
        ("zzzz", None),
        ("2026-12-07T10:00:00", None),  # sorts after "2026-12-07 23:59:59"
        ("2026-1-2 3:4:5", None),  # strptime reads it, but it does not sort as text
        ("2026-02-30 00:00:00", None),
        ("2026-01-02 03:04:05 ", None),
        ("", None),
        (None, None),
        (20260102, None),
    ],
)
def test_only_the_exact_accs_format_is_a_timestamp(value: Any, parsed: datetime | None) -> None:
    assert accs_time(value) == parsed


@pytest.mark.parametrize(
    ("value", "usable"),
    [
        ("2026-06-01 12:30:00", True),
        ("2026-06-01 12:35:00", True),  # within the skew
        ("2026-06-01 12:35:01", False),
        ("2026-06-03 12:00:00", False),  # two days ahead
        ("9999-12-31 23:59:59", False),
        ("2020-01-01 00:00:00", True),
        ("zzzz", False),
    ],
)
def test_a_watermark_is_never_later_than_accs_clock_plus_the_skew(value: str, usable: bool) -> None:
    judge = stamps()
    assert judge.usable(value, judge.limit(SERVER)) is usable


def test_without_a_date_header_our_clock_is_used_and_the_run_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    judge = stamps()
    with caplog.at_level(logging.WARNING):
        assert judge.limit(None) == NOW + SKEW
        assert judge.limit(None) == NOW + SKEW
    assert len([r for r in caplog.records if "no Date header" in r.getMessage()]) == 1
    judge.limit(SERVER)
    assert judge.limit(None) == SERVER + SKEW  # the latest Date seen stands in


def test_a_future_item_is_named_once_per_run(caplog: pytest.LogCaptureFixture) -> None:
    judge = stamps()
    items = [
        {"sku": "FUTURE", "updated_at": "9999-12-31 23:59:59"},
        {"sku": "FINE", "updated_at": "2026-06-01 12:00:00"},
        {"sku": "BAD", "updated_at": "zzzz"},  # rejected as an item, not a future value
    ]

    def name(item: dict[str, Any]) -> str:
        return f"sku={item['sku']!r}"

    def warn() -> None:
        limit = judge.limit(SERVER)
        judge.future(items, "updated_at", limit, resource="products", scope="default", name=name)

    with caplog.at_level(logging.WARNING):
        warn()
        warn()
        judge.start_run()
        warn()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all("sku='FUTURE'" in m for m in messages)
    assert "9999-12-31 23:59:59" in messages[0] and "2026-06-01 12:30:00" in messages[0]


class Below:
    """The second H0 probe: records what it was asked and answers ``items``."""

    def __init__(self, items: list[dict[str, Any]], server_time: datetime | None = SERVER):
        self.items, self.server_time = items, server_time
        self.asked: list[tuple[Filter, int]] = []

    def __call__(self, condition: Filter, size: int) -> Page:
        self.asked.append((condition, size))
        return Page(self.items, len(self.items), server_time=self.server_time)


def test_h0_is_the_newest_value_when_it_is_usable_in_one_request() -> None:
    below = Below([])
    h0 = stamps().high_water("2026-06-01 12:29:00", SERVER, below, "updated_at", "store x")
    assert h0 == "2026-06-01 12:29:00" and below.asked == []


@pytest.mark.parametrize("newest", ["9999-12-31 23:59:59", "zzzz", "2026-06-01T12:00:00"])
def test_h0_skips_an_unusable_newest_value_with_a_filtered_probe(newest: str) -> None:
    below = Below(
        [
            {"updated_at": "2026-06-01T11:00:00"},  # below the ceiling as text, but malformed
            {"updated_at": "2026-06-01 11:59:00"},
            {"updated_at": "2026-06-01 11:58:00"},
        ]
    )
    h0 = stamps().high_water(newest, SERVER, below, "updated_at", "store x")
    assert h0 == "2026-06-01 11:59:00"
    assert below.asked == [(Filter("updated_at", "2026-06-01 12:35:00", "lteq"), PROBE_SIZE)]


def test_h0_falls_back_to_accs_clock_less_the_skew() -> None:
    below = Below([{"updated_at": "zzzz"}])
    h0 = stamps().high_water("zzzz", SERVER, below, "updated_at", "store x")
    assert h0 == "2026-06-01 12:25:00"


def test_without_accs_clock_there_is_no_fallback_h0() -> None:
    below = Below([], server_time=None)
    assert stamps().high_water("zzzz", None, below, "updated_at", "store x") is None


def test_an_empty_list_has_no_h0() -> None:
    below = Below([])
    assert stamps().high_water(None, SERVER, below, "updated_at", "store x") is None
    assert below.asked == []


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ({"updated_at": "2026-06-01 12:00:00", "id": 3}, None),
        ({"updated_at": "zzzz"}, "is not an ACCS timestamp"),
        ({"updated_at": 5}, "is not an ACCS timestamp"),
        ({}, "is not an ACCS timestamp"),
        ({"updated_at": "9999-12-31 23:59:59"}, "is later than ACCS's clock"),
    ],
)
def test_a_stored_watermark_is_judged_by_format_and_time(
    stored: dict[str, Any], problem: str | None
) -> None:
    judge = stamps()
    found = judge.problem(stored, judge.limit(SERVER))
    assert (found is None) if problem is None else (problem in (found or ""))
    assert judge.problem({"updated_at": "9999-12-31 23:59:59"}, None) is None  # format only


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (None, False),
        ({"updated_at": "2026-06-01 12:00:00"}, True),
        ({"updated_at": "9999-12-31 23:59:59"}, True),  # its time is judged on the first page
        ({"updated_at": "zzzz"}, False),
        (["2026-06-01 12:00:00"], False),
        ("2026-06-01 12:00:00", False),
    ],
)
def test_a_stored_watermark_read_back_is_kept_only_when_its_format_is_usable(
    raw: Any, kept: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        value = stamps().stored("store default", raw)
    assert (value == raw) if kept else value is None
    reported = raw is not None and not kept
    assert len(caplog.records) == int(reported)


def test_a_stored_watermark_is_reported_escaped_scrubbed_and_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    judge = Stamps(lambda: NOW, scrub=lambda text: text.replace("s3cret", "***"))
    value = "s3cret\n2026-06-01 forged line\x1b[31m" + "x" * 200
    with caplog.at_level(logging.WARNING):
        judge.report("store default", value, "is not an ACCS timestamp")
    [message] = [r.getMessage() for r in caplog.records]
    assert "store default" in message and "***" in message and "s3cret" not in message
    assert "\n" not in message and "\x1b" not in message and len(message) < 250


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("Sat, 05 Dec 2026 05:35:18 GMT", datetime(2026, 12, 5, 5, 35, 18)),
        ("Sat, 05 Dec 2026 06:35:18 +0100", datetime(2026, 12, 5, 5, 35, 18)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_an_http_date_is_read_as_naive_utc(header: str | None, parsed: datetime | None) -> None:
    assert http_date(header) == parsed


def test_the_client_carries_accs_clock_on_every_page(rsps: responses.RequestsMock) -> None:  # noqa: F811
    body = {"items": [{"id": 9, "sku": "Z", "updated_at": "2026-02-03 04:05:06"}], "total_count": 1}
    rsps.get(PRODUCTS, json=body, headers={"Date": "Sat, 05 Dec 2026 05:35:18 GMT"})
    rsps.get(PRODUCTS, json=body)
    api = client(FakeClock())
    newest = api.newest("default")
    assert newest.server_time == datetime(2026, 12, 5, 5, 35, 18)
    assert api.newest("default").server_time is None  # no Date header


def test_the_emulator_dates_its_answers_by_its_own_clock() -> None:
    when = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
    with EmulatorServer(Catalog(clock=lambda: when)) as emu:
        answer = requests.get(f"{emu.base_url}/no/such/path", timeout=5)
    assert http_date(answer.headers["Date"]) == when.replace(tzinfo=None)
