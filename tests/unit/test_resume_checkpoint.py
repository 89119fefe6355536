"""A resource pass's checkpoint (``categories:checkpoint``, ``source_items:checkpoint``): what it
writes reads back the same, and a hostile value (edited by hand, or by another program) is
refused with a reason instead of crashing the run or steering the walk somewhere odd."""

from __future__ import annotations

from typing import Any

import pytest

from sync.api.keyset import KeyPosition
from sync.resources import CATEGORIES, SOURCE_ITEMS
from sync.resume import (
    CheckpointError,
    Progress,
    Resume,
    Walked,
    load,
    load_progress,
    save,
    save_progress,
)

WINDOW = {"since": "2026-01-01 00:00:00", "until": None}


def test_a_categories_checkpoint_is_id_ranges_as_the_products_one() -> None:
    resume = Resume(
        walks=(
            Walked(100, KeyPosition((41,), "next"), lower=0),
            Walked(None, KeyPosition(), lower=100),
        ),
        high_water="2026-03-01 10:00:00",
        window=WINDOW,
    )
    value = save(resume.walks, resume.high_water, resume.window, ranges=True)
    assert value == {
        "ranges": [{"after": 41, "upto": 100}, {"after": 100, "upto": None}],
        "high_water": "2026-03-01 10:00:00",
        "window": WINDOW,
    }
    read = load(value, CATEGORIES.keys)
    assert save(read.walks, read.high_water, read.window, ranges=True) == value
    assert [w.position.after for w in read.walks] == [(41,), (100,)]  # ids after are asked
    # What a products checkpoint of today's release looks like reads as well.
    products = {"ranges": [{"after": 0, "upto": None}], "high_water": None, "window": None}
    with pytest.raises(CheckpointError, match="window"):
        load(products, CATEGORIES.keys)
    [walk] = load({**products, "window": {}}, CATEGORIES.keys).walks
    assert walk == Walked(None, KeyPosition(), lower=0)


def test_source_item_walks_read_back_per_source_and_whole() -> None:
    walks = (
        Walked("eu", KeyPosition(("24-MB01",), "next")),
        Walked("us", KeyPosition()),
    )
    value = save(walks, None, {"since": None, "until": None})
    assert load(value, SOURCE_ITEMS.keys).walks == walks
    whole = (Walked(None, KeyPosition(("eu", "24-MB01"), "same")),)
    assert load(save(whole, None, {}), SOURCE_ITEMS.keys).walks == whole
    after_source = (Walked(None, KeyPosition(("eu", None), "next")),)
    assert load(save(after_source, None, {}), SOURCE_ITEMS.keys).walks == after_source


def test_a_complete_pass_leaves_no_walks() -> None:
    assert load(save((), None, {}, ranges=True), CATEGORIES.keys).walks == ()
    assert load(save((), None, {}), SOURCE_ITEMS.keys).walks == ()


def good() -> dict[str, Any]:
    return {"ranges": [{"after": 41, "upto": None}], "high_water": None}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda v: "a string", "is not a JSON object"),
        (lambda v: {**v, "ranges": "all"}, "ranges"),
        (lambda v: {"walks": [{"partition": None, "after": [41], "phase": "next"}]}, "ranges"),
        (lambda v: {**v, "ranges": [{"after": 1, "upto": None}] * 10_001}, "at most"),
        (lambda v: {**v, "ranges": [7]}, "id range"),
        (lambda v: {**v, "ranges": [{"after": -3, "upto": None}]}, "id range"),
        (lambda v: {**v, "ranges": [{"after": 2**70, "upto": None}]}, "id range"),
        (lambda v: {**v, "ranges": [{"after": "7", "upto": None}]}, "id range"),
        (lambda v: {**v, "ranges": [{"after": True, "upto": None}]}, "id range"),
        (lambda v: {**v, "ranges": [{"after": 9, "upto": 9}]}, "id range"),
        (lambda v: {**v, "ranges": [{"after": 9, "upto": 1.5}]}, "id range"),
        (
            lambda v: {**v, "ranges": [{"after": 1, "upto": None}, {"after": 5, "upto": None}]},
            "same end",
        ),
        (lambda v: {**v, "high_water": 12}, "high_water"),
        (lambda v: {**v, "high_water": "x" * 10_000}, "high_water"),
        (lambda v: {**v, "window": {"since": "yesterday"}}, "window"),
        (lambda v: {**v, "window": ["2026-01-01 00:00:00"]}, "window"),
        (
            lambda v: {
                **v,
                "window": {"since": "2026-02-01 00:00:00", "until": "2026-01-01 00:00:00"},
            },
            "window",
        ),
    ],
)
def test_a_hostile_categories_checkpoint_is_refused_with_a_reason(
    change: Any, problem: str
) -> None:
    with pytest.raises(CheckpointError, match=problem) as caught:
        load(change(good()), CATEGORIES.keys)
    assert len(str(caught.value)) < 300  # a line for the log, never the value itself


@pytest.mark.parametrize(
    "walk",
    [
        {"partition": "eu", "after": ["sku", "more"], "phase": "next"},
        {"partition": "eu", "after": ["x"], "phase": "same"},  # one field within a partition
        {"partition": "eu" * 200, "after": None, "phase": "next"},  # longer than a key's 255
        {"partition": None, "after": ["eu"], "phase": "next"},  # two fields in a whole walk
        {"partition": None, "after": [None, "sku"], "phase": "next"},
        {"partition": None, "after": ["eu", None], "phase": "same"},
        {"partition": "", "after": None, "phase": "next"},
    ],
)
def test_a_hostile_source_items_walk_is_refused(walk: dict[str, Any]) -> None:
    with pytest.raises(CheckpointError):
        load({"walks": [walk], "high_water": None}, SOURCE_ITEMS.keys)


def test_the_same_partition_twice_is_refused() -> None:
    walk = {"partition": "eu", "after": None, "phase": "next"}
    with pytest.raises(CheckpointError, match="twice"):
        load({"walks": [walk, walk], "high_water": None}, SOURCE_ITEMS.keys)


# -- an interrupted incremental walk's checkpoint (categories:incremental) ----------------------

STAMP = "2026-03-01 10:00:00"
PROGRESS = {
    "after": [41],
    "phase": "next",
    "since": "2026-03-01 09:55:00",
    "began": STAMP,
    "written_high": "2026-03-01 09:59:00",
}


def test_an_incremental_checkpoint_reads_back_the_same() -> None:
    progress = load_progress(PROGRESS, CATEGORIES.keys)
    assert progress == Progress(
        KeyPosition((41,), "next"), "2026-03-01 09:55:00", STAMP, PROGRESS["written_high"]
    )
    assert save_progress(progress, progress.position) == PROGRESS
    fresh = {**PROGRESS, "after": None, "written_high": None}
    assert load_progress(fresh, CATEGORIES.keys).position == KeyPosition()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"after": ["41"]}, "not a usable key value"),
        ({"after": [-3]}, "not a usable key value"),
        ({"after": [41, 42]}, "not a key of 1 field"),
        ({"phase": "same"}, "phase 'same'"),
        ({"phase": None}, "neither 'next' nor 'same'"),
        ({"since": None}, "since that is not"),
        ({"since": "2026-03-01T09:55:00"}, "since that is not"),
        ({"began": 12}, "began that is not"),
        ({"written_high": "9999-99-99 99:99:99"}, "written_high that is not"),
    ],
)
def test_a_hostile_incremental_checkpoint_is_refused(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason):
        load_progress({**PROGRESS, **change}, CATEGORIES.keys)
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_progress([PROGRESS], CATEGORIES.keys)
