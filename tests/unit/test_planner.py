"""The pass planner as a table: (resource, kind, window, stored state) -> plan.

Every combination of kind (sync / backfill / reconcile), window or not, watermark (none /
usable / unusable), checkpoint (none / same window / other window / malformed), an interrupted
incremental walk's checkpoint (none / usable / malformed) and resource
(with or without an incremental field, numeric key or text key) has one expected plan; the
rules the table spells out are written once, in :func:`expected`, and the few cases that stand
for a rule on their own are checked literally below it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from sync.planner import NO_WINDOW, Plan, Shape, Stored, plan, shape_of
from sync.resources import CATEGORIES, SOURCE_ITEMS

PRODUCTS = Shape("products", incremental=True, numeric_key=True)
SHAPES = {
    "products": PRODUCTS,
    "categories": shape_of(CATEGORIES),
    "source_items": shape_of(SOURCE_ITEMS),
}
WINDOW = {"since": "2026-01-01 00:00:00", "until": None}
OTHER = {"since": None, "until": "2025-06-01 00:00:00"}
WATERMARK = {"updated_at": "2026-02-01 00:00:00"}
POSITIONS = {"walks": ["where the pass stopped"]}
PROGRESS = {"after": ["where the incremental walk stopped"]}
WATERMARKS = ["none", "usable", "unusable"]
CHECKPOINTS = ["none", "same", "other", "malformed"]
KINDS = ["sync", "backfill", "reconcile"]
PROGRESSES = ["none", "usable", "malformed"]


def stored(
    watermark: str, checkpoint: str, window: dict[str, Any], progress: str = "none"
) -> Stored:
    return Stored(
        watermark=WATERMARK if watermark == "usable" else None,
        watermark_unusable=watermark == "unusable",
        checkpoint=POSITIONS if checkpoint in ("same", "other") else None,
        checkpoint_window=(
            window if checkpoint == "same" else OTHER if checkpoint == "other" else None
        ),
        checkpoint_problem="is not a JSON object" if checkpoint == "malformed" else None,
        progress=PROGRESS if progress == "usable" else None,
        progress_problem="has a since that is not YYYY-MM-DD HH:MM:SS"
        if progress == "malformed"
        else None,
    )


def expected(
    shape: Shape, kind: str, windowed: bool, watermark: str, checkpoint: str, progress: str
) -> dict[str, Any] | type[Exception]:
    """The table's rules, one line each."""
    want = _expected(shape, kind, windowed, watermark, checkpoint, progress)
    if isinstance(want, dict):
        # An incremental walk's checkpoint is dropped when malformed, or when a pass that sets
        # the watermark (a full pass over everything) supersedes it; a windowed one keeps it,
        # and a skipped pass touches nothing.
        superseded = want["moves_watermark"] and want["mode"] != "resumed_incremental"
        dropped = progress == "malformed" or (progress == "usable" and superseded)
        want["drop_progress"] = dropped and want["mode"] != "skip"
    return want


def _expected(
    shape: Shape, kind: str, windowed: bool, watermark: str, checkpoint: str, progress: str
) -> dict[str, Any] | type[Exception]:
    window = WINDOW if windowed else NO_WINDOW
    if windowed and kind != "backfill":
        return ValueError  # only a backfill takes a window
    if windowed and not shape.incremental:
        return {"mode": "skip", "tombstones": "none", "moves_watermark": False, "start": None}
    discard = checkpoint == "malformed" or (checkpoint == "other" and kind != "sync")
    if checkpoint == "same" or (checkpoint == "other" and kind == "sync"):
        # sync resumes whatever the checkpoint's window; a backfill or reconcile only its own
        resumed_window = window if checkpoint == "same" else OTHER
        wide = resumed_window == NO_WINDOW
        return {
            "mode": "resumed",
            "window": resumed_window,
            "start": POSITIONS,
            # text keys: the walks it reads from their start are swept (the engine knows which)
            "tombstones": ("interval" if shape.numeric_key else "sweep") if wide else "none",
            "moves_watermark": shape.incremental and wide,
            "discard": False,
        }
    if kind == "sync" and shape.incremental and watermark == "usable" and progress == "usable":
        # an interrupted incremental walk goes on after its committed key, same lower bound
        return {
            "mode": "resumed_incremental",
            "window": NO_WINDOW,
            "start": PROGRESS,
            "tombstones": "none",
            "moves_watermark": True,
            "discard": discard,
        }
    if kind == "sync" and shape.incremental and watermark == "usable":
        return {
            "mode": "incremental",
            "window": NO_WINDOW,
            "start": WATERMARK,
            "tombstones": "none",
            "moves_watermark": True,
            "discard": discard,
        }
    deletions = "interval" if shape.numeric_key else "sweep"
    return {
        "mode": "full",
        "window": window,
        "start": None,
        "tombstones": "none" if windowed else deletions,
        "moves_watermark": shape.incremental and not windowed,
        "discard": discard,
    }


CASES = list(itertools.product(SHAPES, KINDS, [False, True], WATERMARKS, CHECKPOINTS, PROGRESSES))


@pytest.mark.parametrize(
    ("shape", "kind", "windowed", "watermark", "checkpoint", "progress"),
    CASES,
    ids=["-".join(str(part) for part in case) for case in CASES],
)
def test_the_plan_of_every_combination(
    shape: str, kind: str, windowed: bool, watermark: str, checkpoint: str, progress: str
) -> None:
    window = WINDOW if windowed else NO_WINDOW
    want = expected(SHAPES[shape], kind, windowed, watermark, checkpoint, progress)
    state = stored(watermark, checkpoint, window, progress)
    if isinstance(want, type):
        with pytest.raises(want, match="only a backfill"):
            plan(SHAPES[shape], kind, window, state)  # type: ignore[arg-type]
        return
    got = plan(SHAPES[shape], kind, window, state)  # type: ignore[arg-type]
    assert {name: getattr(got, name) for name in want} == want
    assert got.reason  # every plan says why, for the log


def test_the_reasons_name_what_decided() -> None:
    def why(shape: Shape, kind: str, window: Any, state: Stored) -> str:
        return plan(shape, kind, window, state).reason  # type: ignore[arg-type]

    categories, source_items = SHAPES["categories"], SHAPES["source_items"]
    assert "no watermark yet" in why(categories, "sync", NO_WINDOW, Stored())
    assert "unusable" in why(categories, "sync", NO_WINDOW, Stored(watermark_unusable=True))
    assert "no incremental field" in why(source_items, "sync", NO_WINDOW, Stored())
    assert "skips" in why(source_items, "backfill", WINDOW, Stored())
    malformed = Stored(checkpoint_problem="has walks that are not a list")
    assert "has walks that are not a list" in why(categories, "sync", NO_WINDOW, malformed)
    resumed = why(
        source_items, "sync", NO_WINDOW, Stored(checkpoint=POSITIONS, checkpoint_window=NO_WINDOW)
    )
    assert "resum" in resumed and "next complete pass" in resumed
    other = Stored(checkpoint=POSITIONS, checkpoint_window=OTHER)
    discarded = why(categories, "backfill", WINDOW, other)
    assert "discarding" in discarded and "2025-06-01 00:00:00" in discarded
    assert "2026-01-01 00:00:00" in discarded
    walked = Stored(watermark=WATERMARK, progress=PROGRESS)
    assert "resuming the interrupted incremental pass" in why(categories, "sync", NO_WINDOW, walked)
    bad = Stored(watermark=WATERMARK, progress_problem="has an after that is not a key")
    assert "incremental checkpoint has an after that is not a key" in why(
        categories, "sync", NO_WINDOW, bad
    )


def test_a_plan_is_a_plain_value() -> None:
    one = plan(SHAPES["categories"], "sync", NO_WINDOW, Stored(watermark=WATERMARK))
    assert one == plan(SHAPES["categories"], "sync", NO_WINDOW, Stored(watermark=WATERMARK))
    assert isinstance(one, Plan) and one.windowed is False


def test_shapes_of_the_declared_resources() -> None:
    assert SHAPES["categories"] == Shape("categories", incremental=True, numeric_key=True)
    assert SHAPES["source_items"] == Shape("source_items", incremental=False, numeric_key=False)


USABLE = Stored(watermark=WATERMARK)
RESUMABLE = Stored(watermark=WATERMARK, checkpoint=POSITIONS, checkpoint_window=NO_WINDOW)
WINDOWED_CHECKPOINT = Stored(checkpoint=POSITIONS, checkpoint_window=WINDOW)
MALFORMED = Stored(watermark=WATERMARK, checkpoint_problem="is not a JSON object")
WALKED = Stored(watermark=WATERMARK, progress=PROGRESS)
WALKED_NO_WATERMARK = Stored(progress=PROGRESS)
WALKED_BAD = Stored(watermark=WATERMARK, progress_problem="is not a JSON object")

#: The rows a reader checks first, written out: (shape, kind, window, stored) ->
#: (mode, window, start, tombstones, moves watermark, discard, drops the incremental checkpoint).
LITERAL = [
    ("categories", "sync", NO_WINDOW, USABLE, ("incremental", NO_WINDOW, WATERMARK, "none", True, False, False)),
    ("categories", "sync", NO_WINDOW, Stored(), ("full", NO_WINDOW, None, "interval", True, False, False)),
    ("categories", "sync", NO_WINDOW, RESUMABLE, ("resumed", NO_WINDOW, POSITIONS, "interval", True, False, False)),
    ("categories", "sync", NO_WINDOW, MALFORMED, ("incremental", NO_WINDOW, WATERMARK, "none", True, True, False)),
    ("categories", "backfill", WINDOW, USABLE, ("full", WINDOW, None, "none", False, False, False)),
    ("categories", "backfill", NO_WINDOW, WINDOWED_CHECKPOINT, ("full", NO_WINDOW, None, "interval", True, True, False)),
    ("products", "sync", NO_WINDOW, WINDOWED_CHECKPOINT, ("resumed", WINDOW, POSITIONS, "none", False, False, False)),
    ("products", "reconcile", NO_WINDOW, RESUMABLE, ("resumed", NO_WINDOW, POSITIONS, "interval", True, False, False)),
    ("source_items", "sync", NO_WINDOW, USABLE, ("full", NO_WINDOW, None, "sweep", False, False, False)),
    ("source_items", "sync", NO_WINDOW, RESUMABLE, ("resumed", NO_WINDOW, POSITIONS, "sweep", False, False, False)),
    ("source_items", "backfill", WINDOW, Stored(), ("skip", WINDOW, None, "none", False, False, False)),
    ("categories", "sync", NO_WINDOW, WALKED, ("resumed_incremental", NO_WINDOW, PROGRESS, "none", True, False, False)),
    ("categories", "sync", NO_WINDOW, WALKED_NO_WATERMARK, ("full", NO_WINDOW, None, "interval", True, False, True)),
    ("categories", "sync", NO_WINDOW, WALKED_BAD, ("incremental", NO_WINDOW, WATERMARK, "none", True, False, True)),
    ("categories", "reconcile", NO_WINDOW, WALKED, ("full", NO_WINDOW, None, "interval", True, False, True)),
    ("categories", "backfill", WINDOW, WALKED, ("full", WINDOW, None, "none", False, False, False)),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "kind", "window", "state", "want"), LITERAL)
def test_the_literal_rows(
    shape: str, kind: str, window: Any, state: Stored, want: tuple[Any, ...]
) -> None:
    got = plan(SHAPES[shape], kind, window, state)  # type: ignore[arg-type]
    assert (
        got.mode,
        got.window,
        got.start,
        got.tombstones,
        got.moves_watermark,
        got.discard,
        got.drop_progress,
    ) == want
