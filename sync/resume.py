"""The checkpoint of a resource pass (categories, source items): where each unfinished walk's
committed data stops, so a killed full pass resumes there instead of starting over.

Stored in ``sync_state`` under ``<resource>:checkpoint`` (per store view; ``*`` for a resource
that is the same in every store view), written in each page's own transaction by
:mod:`sync.engine`, deleted when the pass completes. A key of one number (categories) keeps the
products' shape (:data:`sync.db.state.BACKFILL_CHECKPOINT`), id ranges ``after < id <= upto``
still to be read, so one model serves every numeric key::

    {"ranges": [{"after": 41, "upto": null}, ...],
     "high_water": "YYYY-MM-DD HH:MM:SS" | null,
     "window": {"since": "YYYY-MM-DD HH:MM:SS" | null, "until": ... | null}}

Any other key (source items: ``source_code`` + ``sku``, text the mirror cannot order as ACCS
does) keeps keyset positions instead::

    {"walks": [{"partition": "default" | null, "after": ["24-MB01"] | null, "phase": "next"}],
     "high_water": null, "window": {...}}

``walks`` are the walks not finished yet: ``partition`` is the value of the key's first field
the walk is confined to (source items read per source) or null (the key walked as a whole);
``after`` is the last key committed (the fields the walk pages on: the second field within a
partition, else the whole key, ``[source, null]`` once a source is done; null: nothing yet) and
``phase`` the keyset phase (:class:`~sync.api.keyset.KeyPosition`). ``high_water`` is the
watermark the pass sets once complete, ``window`` a backfill's ``--since/--until``.

An incremental pass over a resource walked in key order (categories) keeps its own
checkpoint under ``<resource>:incremental`` (``state.incremental_checkpoint``), written with each
committed page and deleted, with the watermark raised, once the walk is complete::

    {"after": [41] | null, "phase": "next", "since": "YYYY-MM-DD HH:MM:SS",
     "began": "YYYY-MM-DD HH:MM:SS", "written_high": "YYYY-MM-DD HH:MM:SS" | null}

``after``/``phase``: the walk's position after its last committed page (a walk's last page
leaves the position it was fetched at: read again, it completes the walk); ``since``: the
``updated_at`` lower bound the walk filters on; ``began``: ACCS's clock when the walk began,
the cap of the watermark it sets; ``written_high``: the newest usable ``updated_at`` written so
far (:class:`Progress`, :func:`save_progress`, :func:`load_progress`).

The value is read back as hostile (edited by hand, or by another program): :func:`load`
accepts exactly what :func:`save` writes, and raises :class:`CheckpointError` with a one-line
reason for anything else; the engine reports it and runs a full pass from the beginning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.api.keyset import KeyPosition
from sync.resources import KeyField
from sync.watermark import accs_time

__all__ = [
    "MAX_RANGES",
    "MAX_WALKS",
    "CheckpointError",
    "Progress",
    "Resume",
    "Walked",
    "load",
    "load_progress",
    "ranges_problem",
    "save",
    "save_progress",
]

#: The most walks a checkpoint holds (one per partition; :data:`sync.engine.MAX_PARTITIONS`).
MAX_WALKS = 64
#: The most id ranges a checkpoint holds (a few per worker are written; more is not ours).
MAX_RANGES = 10_000
_STAMP_MAX = 64  # characters of a high water mark (a usable one has 19)


class CheckpointError(ValueError):
    """A stored checkpoint that cannot be resumed; the message says what is wrong with it."""


@dataclass(frozen=True)
class Walked:
    """One unfinished walk and the position after its last committed page. ``partition``:
    the key's first field it is confined to, or None (the whole key); for an id range, its
    end (``upto``, None: no end), and ``lower`` its start (exclusive)."""

    partition: int | str | None
    position: KeyPosition
    lower: int = 0


@dataclass(frozen=True)
class Resume:
    """A checkpoint, read back."""

    walks: tuple[Walked, ...]
    high_water: str | None
    window: Mapping[str, str | None]


@dataclass
class Progress:
    """An incremental walk in key order, as far as it has committed: its position, its
    ``updated_at`` lower bound, ACCS's clock when it began (None until its first page) and the
    newest usable ``updated_at`` written so far."""

    position: KeyPosition
    since: str
    began: str | None = None
    written_high: str | None = None


def save_progress(progress: Progress, position: KeyPosition) -> dict[str, Any]:
    """The incremental checkpoint's JSON value, the walk standing at ``position``."""
    return {
        "after": None if position.after is None else list(position.after),
        "phase": position.phase,
        "since": progress.since,
        "began": progress.began,
        "written_high": progress.written_high,
    }


def load_progress(value: Any, keys: tuple[KeyField, ...]) -> Progress:
    """The incremental checkpoint ``value`` of a resource keyed by ``keys``; raises
    :class:`CheckpointError` for anything :func:`save_progress` would not have written."""
    if not isinstance(value, dict):
        raise CheckpointError("is not a JSON object")
    walked = _walk(
        {"partition": None, "after": value.get("after"), "phase": value.get("phase")}, keys
    )
    stamps = {name: value.get(name) for name in ("since", "began", "written_high")}
    for name, stamp in stamps.items():
        if (stamp is not None or name != "written_high") and accs_time(stamp) is None:
            raise CheckpointError(f"has a {name} that is not YYYY-MM-DD HH:MM:SS")
    return Progress(walked.position, str(stamps["since"]), stamps["began"], stamps["written_high"])


def save(
    walks: Iterable[Walked],
    high_water: str | None,
    window: Mapping[str, str | None],
    *,
    ranges: bool = False,
) -> dict[str, Any]:
    """The checkpoint's JSON value: id ranges (``ranges``: a key of one number) or walks."""
    value: dict[str, Any]
    if ranges:
        value = {
            "ranges": [
                {
                    "after": w.lower if w.position.after is None else w.position.after[0],
                    "upto": w.partition,
                }
                for w in walks
            ]
        }
    else:
        value = {
            "walks": [
                {
                    "partition": w.partition,
                    "after": None if w.position.after is None else list(w.position.after),
                    "phase": w.position.phase,
                }
                for w in walks
            ]
        }
    window_value = {"since": window.get("since"), "until": window.get("until")}
    return {**value, "high_water": high_water, "window": window_value}


def load(value: Any, keys: tuple[KeyField, ...]) -> Resume:
    """The checkpoint ``value`` of a resource keyed by ``keys``; raises
    :class:`CheckpointError` for anything :func:`save` would not have written."""
    if not isinstance(value, dict):
        raise CheckpointError("is not a JSON object")
    if len(keys) == 1 and keys[0].numeric:
        walks = _ranges(value.get("ranges"))
    else:
        walks = _walks(value.get("walks"), keys)
    high_water = value.get("high_water")
    if high_water is not None and (not isinstance(high_water, str) or len(high_water) > _STAMP_MAX):
        raise CheckpointError("has a high_water that is not a short text")
    return Resume(walks, high_water, _window(value.get("window", {})))


def ranges_problem(ranges: Any) -> str | None:
    """What is wrong with a checkpoint's id ranges (None: nothing): a list of at most
    :data:`MAX_RANGES` ``{"after": whole >= 0, "upto": null | whole > after}``."""
    if not isinstance(ranges, list) or len(ranges) > MAX_RANGES:
        return f"has ranges that are not a list of at most {MAX_RANGES}"
    if not all(_id_range(rng) for rng in ranges):
        return "has an id range that is not two whole numbers 0 <= after < upto"
    return None


def _ranges(raw: Any) -> tuple[Walked, ...]:
    problem = ranges_problem(raw)
    if problem is not None:
        raise CheckpointError(problem)
    uptos = [rng["upto"] for rng in raw]
    if len(set(uptos)) != len(uptos):
        raise CheckpointError("has two id ranges with the same end")
    return tuple(
        Walked(
            rng["upto"],
            KeyPosition((rng["after"],), "next") if rng["after"] else KeyPosition(),
            lower=rng["after"],
        )
        for rng in raw
    )


def _walks(raw: Any, keys: tuple[KeyField, ...]) -> tuple[Walked, ...]:
    if not isinstance(raw, list):
        raise CheckpointError("has walks that are not a list")
    if len(raw) > MAX_WALKS:
        raise CheckpointError(f"has more than {MAX_WALKS} walks")
    walks = tuple(_walk(item, keys) for item in raw)
    partitions = [walked.partition for walked in walks]
    if len(set(partitions)) != len(partitions) or (None in partitions and len(partitions) > 1):
        raise CheckpointError("names the same partition twice, or the whole key beside one")
    return walks


def _walk(item: Any, keys: tuple[KeyField, ...]) -> Walked:
    if not isinstance(item, dict):
        raise CheckpointError("has a walk that is not a JSON object")
    partition, after, phase = item.get("partition"), item.get("after"), item.get("phase")
    if phase not in ("next", "same"):
        raise CheckpointError("has a walk whose phase is neither 'next' nor 'same'")
    if partition is not None:
        if len(keys) != 2 or not _valid(keys[0], partition):
            raise CheckpointError("has a partition that is not a value of the key's first field")
        if phase != "next":
            raise CheckpointError("has a partition walk whose phase is not 'next'")
        fields: tuple[KeyField, ...] = keys[1:]
    else:
        fields = keys
        if phase == "same" and len(keys) != 2:
            raise CheckpointError("has a phase 'same' for a key of one field")
    if after is None:
        if phase != "next":
            raise CheckpointError("has a walk in phase 'same' that has no position")
        return Walked(partition, KeyPosition())
    if not isinstance(after, list) or len(after) != len(fields):
        raise CheckpointError(f"has an after that is not a key of {len(fields)} field(s)")
    # A whole walk of two fields that finished a first-field value waits at (value, null).
    open_end = len(fields) == 2 and phase == "next"
    for n, (field, part) in enumerate(zip(fields, after, strict=True)):
        if open_end and n == 1:
            if part is not None:
                raise CheckpointError("has an after whose second field is set in phase 'next'")
        elif not _valid(field, part):
            raise CheckpointError(f"has an after whose {field.item} is not a usable key value")
    return Walked(partition, KeyPosition(tuple(after), phase))


def _whole(value: Any) -> bool:
    """A whole number of JSON (not a boolean), within what an id column holds."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def _id_range(value: Any) -> bool:
    """A checkpoint's id range: ``{"after": whole >= 0, "upto": null | whole > after}``."""
    if not isinstance(value, dict):
        return False
    after: Any = value.get("after")
    upto: Any = value.get("upto")
    if not _whole(after) or after < 0:
        return False
    return upto is None or (_whole(upto) and upto > after)


def _valid(field: KeyField, value: Any) -> bool:
    """Whether ``value`` is a key value of ``field`` exactly as an item would carry it."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    read = field.read({field.item: value})
    return read is not None and type(read) is type(value) and read == value


def _window(value: Any) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise CheckpointError("has a window that is not a JSON object")
    window: dict[str, str | None] = {}
    for name in ("since", "until"):
        stamp = value.get(name)
        if stamp is not None and accs_time(stamp) is None:
            raise CheckpointError(f"has a window whose {name} is not YYYY-MM-DD HH:MM:SS")
        window[name] = stamp
    since, until = window["since"], window["until"]
    if since is not None and until is not None and since >= until:
        raise CheckpointError("has a window whose since is not before its until")
    return window
