"""What one pass over one resource and store view does, decided from what is stored.

:func:`plan` is pure: given the resource's shape, the run's kind, its ``updated_at`` window and
what ``sync_state`` holds (already read and judged by the caller: a watermark usable or not, a
checkpoint parsed or found malformed), it says which pass runs (full, incremental, a resumed
full pass, or none), where it starts, how it finds deletions, whether the watermark may move,
and why, in words for the log. Products (:mod:`sync.pipeline`) and the other resources
(:mod:`sync.engine`) ask it the same question, so the rules live in one place and are tested as
a table (``tests/unit/test_planner.py``):

* A window belongs to a backfill only; a resource without an incremental field has nothing to
  window on and is skipped by a windowed backfill.
* A usable checkpoint is resumed by ``sync`` (over the window it was written for) and by a
  ``backfill`` or ``reconcile`` over the same window; one over another window discards it. A
  malformed checkpoint is reported and discarded: a full pass from the start.
* ``sync`` with a usable watermark, and no checkpoint, is incremental: it resumes the
  interrupted incremental walk whose checkpoint is stored (after its last committed key, from
  the same lower bound), else starts one from the watermark. Everything else is full.
* An interrupted incremental walk's checkpoint (resources walked in key order, which raise the
  watermark only once the walk is complete) is dropped when malformed (reported) and when a
  pass that sets the watermark supersedes it (a full pass over everything); a windowed backfill
  or a skipped pass leaves it for the next ``sync``.
* Deletions: a full pass over numeric keys tombstones, page by page, what each page's key
  interval no longer holds (a resumed pass too: intervals do not depend on what came before).
  Text keys are ordered by the store's collation, which the mirror cannot compare, so their
  pass sweeps what it did not see once complete; a resumed pass did not see the pages before
  the interruption, so it sweeps only the walks (sources) it read from their start, which the
  engine knows (the next complete pass sweeps the rest). A windowed pass sees
  part of each interval and never tombstones; an incremental pass finds deletions by count.
* The watermark moves only with a pass over everything (never a windowed one), and only for a
  resource that has an incremental field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sync.resources import Resource

__all__ = [
    "NO_WINDOW",
    "Deletions",
    "Kind",
    "Mode",
    "Plan",
    "Shape",
    "Stored",
    "describe",
    "full",
    "plan",
    "shape_of",
]

Kind = Literal["sync", "backfill", "reconcile"]
Mode = Literal["full", "incremental", "resumed", "resumed_incremental", "skip"]
#: How a pass finds deletions: in each page's key interval, by a sweep once complete, or not.
Deletions = Literal["interval", "sweep", "none"]
#: A window as stored in checkpoints: ``since <= updated_at < until`` (either None: open).
Window = Mapping[str, str | None]
NO_WINDOW: Window = {"since": None, "until": None}


@dataclass(frozen=True)
class Shape:
    """What the planner needs to know of a resource."""

    name: str
    #: It has an ``updated_at``-like field: incremental passes and windows.
    incremental: bool
    #: Its key is one number: deletions are found in each page's key interval.
    numeric_key: bool


def shape_of(resource: Resource) -> Shape:
    """The shape of a declared resource: its declared deletions say whether its key is one
    number compared in intervals (:data:`sync.resources.Deletions`)."""
    return Shape(
        resource.name,
        incremental=resource.incremental is not None,
        numeric_key=resource.deletions == "interval",
    )


@dataclass(frozen=True)
class Stored:
    """What ``sync_state`` holds for the resource and store view, judged by the caller."""

    #: The stored watermark when it is usable (its format; its time is judged on the first
    #: incremental page), else None.
    watermark: Any = None
    #: A watermark is stored but unusable (reported by the caller).
    watermark_unusable: bool = False
    #: The stored checkpoint's parsed positions (None: no usable checkpoint).
    checkpoint: Any = None
    #: The window the checkpoint's pass covers.
    checkpoint_window: Window | None = None
    #: What is wrong with a stored checkpoint that could not be parsed (None: nothing).
    checkpoint_problem: str | None = None
    #: An interrupted incremental walk's checkpoint, parsed (None: none usable).
    progress: Any = None
    #: What is wrong with a stored incremental walk's checkpoint (None: nothing).
    progress_problem: str | None = None


@dataclass(frozen=True)
class Plan:
    """One pass, decided."""

    mode: Mode
    #: The window the pass covers (a resumed pass: its checkpoint's).
    window: Window
    #: Where it starts: the checkpoint's positions (resumed), the watermark (incremental), the
    #: incremental walk's checkpoint (resumed_incremental), or None (the beginning).
    start: Any
    tombstones: Deletions
    moves_watermark: bool
    #: The stored checkpoint is dropped (malformed, or over another window).
    discard: bool
    #: Why, for the log.
    reason: str
    #: The stored incremental walk's checkpoint is dropped (malformed, or superseded).
    drop_progress: bool = False

    @property
    def windowed(self) -> bool:
        return _windowed(self.window)


def describe(window: Window) -> str:
    """A window in words: ``the whole catalog`` or ``updated_at in [since, until)``."""
    if not _windowed(window):
        return "the whole catalog"
    return f"updated_at in [{window.get('since') or '-inf'}, {window.get('until') or 'now'})"


def full(shape: Shape, window: Window, reason: str, *, discard: bool = False) -> Plan:
    """A full pass over ``window`` from the beginning."""
    windowed = _windowed(window)
    return Plan(
        mode="full",
        window=window,
        start=None,
        tombstones="none" if windowed else _deletions(shape),
        moves_watermark=shape.incremental and not windowed,
        discard=discard,
        reason=reason,
    )


def plan(shape: Shape, kind: Kind, window: Window, stored: Stored) -> Plan:
    """The pass to run (see the module docstring for the rules)."""
    chosen = _plan(shape, kind, window, stored)
    if chosen.mode == "skip" or chosen.mode == "resumed_incremental":
        return chosen
    if stored.progress_problem is not None:
        return replace(chosen, drop_progress=True)
    if stored.progress is not None and chosen.moves_watermark:
        return replace(chosen, drop_progress=True)
    return chosen


def _plan(shape: Shape, kind: Kind, window: Window, stored: Stored) -> Plan:
    windowed = _windowed(window)
    if windowed and kind != "backfill":
        raise ValueError(f"only a backfill takes an updated_at window, not {kind}")
    if windowed and not shape.incremental:
        return Plan(
            mode="skip",
            window=window,
            start=None,
            tombstones="none",
            moves_watermark=False,
            discard=False,
            reason=f"{shape.name} has no incremental field: a windowed backfill skips it",
        )
    notes: list[str] = []
    discard = False
    if stored.checkpoint_problem is not None:
        discard = True
        notes.append(f"the stored checkpoint {stored.checkpoint_problem}; it is discarded")
    elif stored.checkpoint is not None:
        covers = stored.checkpoint_window or NO_WINDOW
        if kind == "sync" or dict(covers) == dict(window):
            return _resumed(shape, covers, stored.checkpoint)
        discard = True
        notes.append(
            f"discarding the checkpoint of an unfinished pass over {describe(covers)}; "
            f"starting a pass over {describe(window)}"
        )
    if stored.progress_problem is not None:
        notes.append(
            f"the stored incremental checkpoint {stored.progress_problem}; it is discarded"
        )
    if kind == "sync" and shape.incremental and stored.watermark is not None:
        resumes = stored.progress is not None
        return Plan(
            mode="resumed_incremental" if resumes else "incremental",
            window=NO_WINDOW,
            start=stored.progress if resumes else stored.watermark,
            tombstones="none",
            moves_watermark=True,
            discard=discard,
            reason="; ".join(
                [
                    *notes,
                    "resuming the interrupted incremental pass after its last committed page"
                    if resumes
                    else "changes since the watermark",
                ]
            ),
        )
    if kind != "sync":
        why = f"a {kind} reads {describe(window)}"
    elif not shape.incremental:
        why = "no incremental field: every pass is a full pass"
    elif stored.watermark_unusable:
        why = "the stored watermark is unusable: a full pass replaces it"
    else:
        why = "no watermark yet: a full pass"
    return full(shape, window, "; ".join([*notes, why]), discard=discard)


def _resumed(shape: Shape, window: Window, positions: Any) -> Plan:
    windowed = _windowed(window)
    tombstones: Deletions = "none" if windowed else _deletions(shape)
    reason = f"resuming the unfinished pass over {describe(window)} from its checkpoint"
    if tombstones == "sweep":
        # The keys of the pages before the interruption were never seen by this process.
        reason += (
            "; it sweeps only the walks it reads from their start, the next complete pass "
            "finds the other deletions"
        )
    return Plan(
        mode="resumed",
        window=window,
        start=positions,
        tombstones=tombstones,
        moves_watermark=shape.incremental and not windowed,
        discard=False,
        reason=reason,
    )


def _deletions(shape: Shape) -> Deletions:
    return "interval" if shape.numeric_key else "sweep"


def _windowed(window: Window) -> bool:
    return window.get("since") is not None or window.get("until") is not None
