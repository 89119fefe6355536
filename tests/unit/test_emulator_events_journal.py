"""The emulator's Adobe I/O Events journal: positions, paging, 204/400/410, the 1.5 MB cap, its
credentials, and the journal faults (duplicates, reordering, delay, expiry, 5xx/429/reset)."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from sync.clock import FakeClock
from sync.emulator import Catalog, EmulatorApp, EmulatorServer
from sync.emulator.response import Response
from tests.unit.emulator_calls import make_app
from tests.unit.test_emulator_events import PRODUCT_SAVE, subscribe, subscribe_catalog

JOURNAL = "/events/organizations/1000001/integrations/2000002/3f1e5c2a-9d4b-4e6f-8a7c-0e2d4b6a8c10"


def journal_app(**faults: Any) -> tuple[EmulatorApp, dict[str, str], FakeClock]:
    clock = FakeClock()
    app, headers = make_app(Catalog.generate(20, seed=1, clock=clock.now), clock.now, **faults)
    subscribe_catalog(app, headers, priority=True)
    io_headers = {
        "Authorization": headers["Authorization"],
        "x-api-key": "cid",
        "x-ims-org-id": "ORG@AdobeOrg",
    }
    return app, io_headers, clock


def rest(headers: dict[str, str]) -> dict[str, str]:
    """The Commerce REST headers for the same credential as journal ``headers``."""
    return {**headers, "x-gw-ims-org-id": headers["x-ims-org-id"]}


def fresh(app: EmulatorApp, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with a new token (a fake clock moved days past the old one's expiry)."""
    return dict(headers, Authorization=f"Bearer {app.issue_token()}")


def read(app: EmulatorApp, headers: dict[str, str], **query: str) -> Response:
    return app.handle("GET", JOURNAL, headers, "&".join(f"{k}={v}" for k, v in query.items()))


def next_query(answer: Response) -> dict[str, str]:
    """The query of the answer's Link rel="next"."""
    link = dict(answer.headers)["Link"]
    found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert found is not None, link
    return dict(parse_qsl(urlsplit(found.group(1)).query))


def skus(answer: Response) -> list[str]:
    return [e["event"]["data"]["value"]["sku"] for e in answer.json()["events"]]


def touch(app: EmulatorApp, *indexes: int) -> list[str]:
    """Save products (by index): one priority product-save event each."""
    names = [app.catalog.skus()[i] for i in indexes]
    for sku in names:
        app.catalog.update(sku, price=1.0)
    return names


def test_an_empty_journal_answers_204_with_retry_after_and_a_link() -> None:
    app, headers, _ = journal_app()
    answer = read(app, headers)
    assert answer.status == 204 and answer.body == b""
    assert dict(answer.headers)["retry-after"] == "10"
    since = next_query(answer)["since"]
    again = read(app, headers, since=since)
    assert again.status == 204 and next_query(again)["since"] == since


def test_pages_follow_positions_and_since_is_exclusive() -> None:
    app, headers, _ = journal_app()
    changed = touch(app, 0, 1, 2, 3, 4)
    first = read(app, headers, limit="2")
    assert first.status == 200
    body = first.json()
    assert skus(first) == changed[:2]
    assert body["_page"] == {"last": body["events"][-1]["position"], "count": 2}
    assert next_query(first) == {"since": body["_page"]["last"], "limit": "2"}
    second = read(app, headers, **next_query(first))
    assert skus(second) == changed[2:4]
    third = read(app, headers, **next_query(second))
    assert skus(third) == changed[4:]
    end = read(app, headers, **next_query(third))
    assert end.status == 204
    # an earlier position replays from there: events stay retained after a read
    assert skus(read(app, headers, since=body["events"][0]["position"])) == changed[1:]


def test_a_standard_event_waits_for_the_cron_and_a_priority_one_does_not() -> None:
    app, headers, clock = journal_app(events_standard_delay=30.0)
    assert subscribe(app, rest(headers), PRODUCT_SAVE, ["sku"], False, force=True) == (200, True)
    touch(app, 0)
    assert read(app, headers).status == 204
    assert app.events.pending == 1 and len(app.events.published()) == 1
    clock.advance(29)
    assert read(app, headers).status == 204
    clock.advance(1)
    assert len(skus(read(app, headers))) == 1
    # a priority event is visible at once
    assert subscribe(app, rest(headers), PRODUCT_SAVE, ["sku"], True, force=True) == (200, True)
    touch(app, 1)
    assert skus(read(app, headers)) == [app.catalog.skus()[0], app.catalog.skus()[1]]


def test_the_default_standard_delay_is_five_seconds() -> None:
    app, headers, clock = journal_app()
    assert subscribe(app, rest(headers), PRODUCT_SAVE, ["sku"], False, force=True) == (200, True)
    touch(app, 0)
    clock.advance(4.9)
    assert read(app, headers).status == 204
    clock.advance(0.1)
    assert read(app, headers).status == 200


def test_latest_jumps_to_the_end_and_seek_goes_back_in_time() -> None:
    app, headers, clock = journal_app()
    touch(app, 0, 1)
    latest = read(app, headers, latest="true")
    assert latest.status == 204
    newer = touch(app, 2)
    assert skus(read(app, headers, **next_query(latest))) == newer
    clock.advance(3 * 3600)
    recent = touch(app, 3)
    assert skus(read(app, headers, seek="-PT2H")) == recent
    assert len(skus(read(app, headers, seek="-PT4H"))) == 4
    assert len(skus(read(app, headers, seek="-P1DT0H"))) == 4


@pytest.mark.parametrize(
    "query",
    [
        {"since": "not-a-position"},
        {"since": ""},
        {"limit": "0"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"seek": "PT2H"},
        {"seek": "-P"},
        {"seek": "yesterday"},
    ],
)
def test_a_malformed_query_is_a_400(query: dict[str, str]) -> None:
    app, headers, _ = journal_app()
    touch(app, 0)
    answer = read(app, headers, **query)
    assert answer.status == 400
    assert answer.json()["message"]


def test_a_position_past_the_end_is_a_400() -> None:
    app, headers, _ = journal_app()
    touch(app, 0)
    position = read(app, headers).json()["_page"]["last"]
    instance, seq = position.split(".")
    assert read(app, headers, since=f"{instance}.{int(seq) + 5}").status == 400


def test_an_expired_position_is_410_and_the_next_one_is_not() -> None:
    app, headers, _ = journal_app()
    touch(app, 0, 1)
    old = read(app, headers).json()["events"][0]["position"]
    answer = app.handle("POST", "/_emulator/events/expire", {})
    assert answer.status == 200
    cut = answer.json()["expired_through"]
    gone = read(app, headers, since=old)
    assert gone.status == 410 and gone.json()["message"]
    assert read(app, headers, since=cut).status == 204  # nothing was lost after the cut-off
    newer = touch(app, 2)
    assert skus(read(app, headers)) == newer  # the journal now starts after the cut-off
    # a position of another emulator run is gone too
    assert read(app, headers, since="0badc0de.1").status == 410


def test_events_past_retention_expire() -> None:
    app, headers, clock = journal_app()
    touch(app, 0)
    first = read(app, headers).json()["events"][0]["position"]
    clock.advance(6 * 86400)
    headers = fresh(app, headers)
    touch(app, 1)
    assert len(skus(read(app, headers))) == 2  # within the 7 days
    clock.advance(86400 + 1)
    headers = fresh(app, headers)
    assert skus(read(app, headers)) == [app.catalog.skus()[1]]
    before_first = first.split(".")[0] + ".0"
    assert read(app, headers, since=before_first).status == 410
    assert read(app, headers, since=first).status == 200  # nothing after it is lost
    # retention is a fault too: a shorter one drops the rest
    app.faults.update({"events_retention": 60.0})
    assert read(app, headers, since=first).status == 410


def test_a_page_stays_under_one_and_a_half_megabytes() -> None:
    app, headers, _ = journal_app()
    assert subscribe(app, rest(headers), PRODUCT_SAVE, ["*"], True, force=True) == (200, True)
    big = "x" * 20_000
    for sku in app.catalog.skus():
        app.catalog.update(sku, name=big)
    for _ in range(5):  # 100 events of over 20 KB: over 2 MB in all
        for sku in app.catalog.skus():
            app.catalog.update(sku, name=big + sku)
    answer = read(app, headers, limit="1000")
    assert answer.status == 200
    assert len(answer.body) <= 1_500_000
    count = answer.json()["_page"]["count"]
    assert 50 < count < 120
    following = read(app, headers, **next_query(answer))
    assert following.json()["_page"]["count"] == 120 - count
    ids = [e["event"]["id"] for e in answer.json()["events"] + following.json()["events"]]
    assert len(set(ids)) == 120


def test_the_journal_needs_a_token_the_api_key_and_the_org() -> None:
    app, headers, _ = journal_app()
    touch(app, 0)
    assert read(app, {k: v for k, v in headers.items() if k != "Authorization"}).status == 401
    assert read(app, dict(headers, Authorization="Bearer forged")).status == 401
    assert read(app, dict(headers, **{"x-api-key": "other"})).status == 403
    assert read(app, dict(headers, **{"x-ims-org-id": "OTHER@AdobeOrg"})).status == 403
    assert app.handle("POST", JOURNAL, headers).status == 405
    app.tokens.revoke_all()
    assert read(app, headers).status == 401


def test_duplicated_events_keep_their_id_at_new_positions() -> None:
    app, headers, _ = journal_app(events_duplicate_every=2)
    touch(app, 0, 1, 2, 3)
    events = read(app, headers).json()["events"]
    ids = [e["event"]["id"] for e in events]
    assert len(ids) == 6 and len(set(ids)) == 4
    assert ids[1] == ids[2] and ids[4] == ids[5]
    assert len({e["position"] for e in events}) == 6


def test_reordered_events_arrive_newest_first_with_growing_positions() -> None:
    app, headers, clock = journal_app(events_reorder=True, events_delay=2.0)
    changed = touch(app, 0, 1, 2)
    assert read(app, headers).status == 204  # the delivery delay holds them back
    clock.advance(2)
    answer = read(app, headers)
    assert skus(answer) == changed[::-1]
    seqs = [int(e["position"].split(".")[1]) for e in answer.json()["events"]]
    assert seqs == sorted(seqs)
    assert answer.json()["_page"]["last"] == answer.json()["events"][-1]["position"]


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ("error_5xx_next", 503),
        ("rate_limit_next", 429),
        ("disconnect_next", 0),
        ("invalid_json_next", 200),
    ],
)
def test_gateway_faults_hit_the_journal(fault: str, status: int) -> None:
    app, headers, _ = journal_app()
    touch(app, 0)
    app.faults.update({fault: 1})
    failed = read(app, headers)
    assert failed.status == status
    if status == 429:
        assert dict(failed.headers)["Retry-After"] == "1"
    if status == 200:  # cut in half: not JSON
        with pytest.raises(ValueError):
            failed.json()
    assert read(app, headers).status == 200  # one request only


def test_journal_faults_are_set_through_the_admin_endpoint() -> None:
    app, _, _ = journal_app()
    values = {
        "events_standard_delay": 0.5,
        "events_delay": 1.5,
        "events_duplicate_every": 3,
        "events_reorder": True,
        "events_retention": 3600.0,
    }
    answer = app.handle("POST", "/_emulator/faults", {}, "", json.dumps(values).encode())
    assert answer.status == 200
    assert {k: answer.json()[k] for k in values} == values
    refused = app.handle("POST", "/_emulator/faults", {}, "", b'{"events_reorder": 1}')
    assert refused.status == 400
    app.handle("POST", "/_emulator/faults/reset", {})
    assert app.faults.events_standard_delay == 5.0
    assert app.faults.events_retention == timedelta(days=7).total_seconds()


def test_the_server_serves_the_journal_at_journal_url() -> None:
    with EmulatorServer(Catalog.generate(10, seed=2)) as emu, requests.Session() as session:
        assert emu.journal_url == emu.base_url + JOURNAL
        assert "IO_EVENTS_JOURNAL_URL" not in emu.credentials
        assert emu.journal_url not in emu.credentials.values()
        token = emu.issue_token()
        session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "x-api-key": emu.client_id,
                "x-ims-org-id": emu.org_id,
            }
        )
        emu.events.subscribe(PRODUCT_SAVE, ["entity_id", "sku"], priority=True)
        sku = emu.catalog.skus()[0]
        emu.catalog.update(sku, price=3.0)
        first = session.get(emu.journal_url, params={"limit": 10}, timeout=5)
        assert first.status_code == 200
        [event] = first.json()["events"]
        assert event["event"]["data"]["value"] == {"entity_id": "1", "sku": sku}
        following = first.links["next"]["url"]
        assert following.startswith(emu.journal_url + "?since=")
        empty = session.get(following, timeout=5)
        assert empty.status_code == 204 and empty.headers["retry-after"] == "10"


def test_the_emulator_command_prints_the_journal_url_as_an_opt_in() -> None:
    """Printed commented out: pasting the exports must not turn the consumer on unasked."""
    from sync.emulator import serve_forever

    lines: list[str] = []
    stop = threading.Event()
    ready = lambda _: stop.set()  # noqa: E731
    public = "http://emulator:8080"
    serve_forever(0, 5, print_fn=lines.append, public_url=public, stop_event=stop, on_ready=ready)
    assert f"# export IO_EVENTS_JOURNAL_URL=http://emulator:8080{JOURNAL}" in lines
    assert not any(line.startswith("export IO_EVENTS") for line in lines)


def test_the_emulator_command_sets_the_event_delays() -> None:
    from sync.cli import build_parser
    from sync.emulator.cli_args import emulator_faults

    flags = ["emulator", "--events-standard-delay", "59", "--events-delay", "0.5"]
    faults = emulator_faults(build_parser().parse_args(flags))
    assert (faults.events_standard_delay, faults.events_delay) == (59.0, 0.5)
    defaults = emulator_faults(build_parser().parse_args(["emulator"]))
    assert (defaults.events_standard_delay, defaults.events_delay) == (5.0, 0.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["emulator", "--events-delay", "-1"])


def test_a_late_standard_event_is_not_skipped_by_a_reader_past_an_early_priority_one() -> None:
    """Positions are given at delivery: reading after the priority event's position still
    finds the standard event published before it."""
    app, headers, clock = journal_app()
    standard = "observer.catalog_category_save_after"
    assert subscribe(app, rest(headers), standard, ["entity_id"], False, force=True) == (200, True)
    made = app.catalog.create_category("Late")  # standard: waits 5 s
    early = touch(app, 0)  # priority: at once
    first = read(app, headers)
    assert skus(first) == early
    clock.advance(5)
    late = read(app, headers, **next_query(first)).json()["events"]
    assert [e["event"]["data"]["value"] for e in late] == [{"entity_id": str(made["id"])}]


def test_concurrent_saves_and_reads_see_every_event_once_in_position_order() -> None:
    app, headers, _ = journal_app()
    skus_all = app.catalog.skus()
    done = threading.Event()

    def writer() -> None:
        for round_ in range(25):
            for sku in skus_all:
                app.catalog.update(sku, price=float(round_))
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[str] = []
    positions: list[int] = []
    query: dict[str, str] = {"limit": "37"}
    while True:
        finished = done.is_set()
        answer = read(app, headers, **query)
        if answer.status == 200:
            events = answer.json()["events"]
            seen += [e["event"]["id"] for e in events]
            positions += [int(e["position"].split(".")[1]) for e in events]
        else:
            assert answer.status == 204
            if finished:
                break
        query = next_query(answer)
    thread.join(timeout=10)
    published = [e["id"] for e in app.events.published()]
    assert len(published) == 25 * len(skus_all)
    assert sorted(seen) == sorted(published) and len(set(seen)) == len(seen)
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


@pytest.mark.parametrize(
    ("host", "base"),
    [
        ("emulator:8080", f"http://emulator:8080{JOURNAL}"),
        ("[::1]:8080", f"http://[::1]:8080{JOURNAL}"),
        ('evil>; rel="prev", <x', JOURNAL),
        ("", JOURNAL),
    ],
)
def test_the_link_names_the_requested_host_only_when_it_is_a_host(host: str, base: str) -> None:
    app, headers, _ = journal_app()
    answer = read(app, dict(headers, host=host))
    link = dict(answer.headers)["Link"]
    assert link.startswith(f"<{base}?since=") and link.endswith('>; rel="next"')


def test_stats_count_journal_and_eventing_requests_by_kind() -> None:
    app, headers, _ = journal_app()  # five eventSubscribe calls
    read(app, headers)
    read(app, dict(headers, Authorization="Bearer nope"))
    counts = app.handle("GET", "/_emulator/stats", {}).json()["requests"]
    assert (counts["journal"], counts["eventing"]) == (2, 5)
    assert "list" not in counts
