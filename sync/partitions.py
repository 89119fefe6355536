"""How a resource's full pass is cut into partitions walked at the same time, as its declaration
says (:data:`sync.resources.Partitions`), found with one-item probes.

* ``first_key``: one keyset walk per value of the first of two key fields (source items: one
  per source), each walking the second field within its value. The values are found with
  one-item requests sorted by the first field, each asking for a value past the previous one.
* ``id_ranges``: the lowest and highest id upstream (two one-item requests) bound the id space,
  cut evenly into ``SYNC_CONCURRENCY`` ranges (the last one open-ended: an entity created
  during the pass lands there): the products' :class:`~sync.ranges.RangeSet`, whose running
  ranges split when a worker goes idle, walked by :func:`sync.keyranges.walk_id_ranges` and
  checkpointed as the products' ranges are.
* ``none``: the key walked as a whole.

A :class:`Partition` is a walk and where it starts (a resumed pass: its checkpoint's). Pure
functions of a ``probe(criteria) -> Page`` callable: a partitioning can be tested without a
pass, a database or a network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import Page
from sync.ranges import IdRange, RangeSet, even_ranges
from sync.resources import Resource
from sync.resume import Walked

__all__ = [
    "MAX_PARTITIONS",
    "Partition",
    "first_key_values",
    "full_parts",
    "id_bounds",
    "id_range_set",
    "partition",
    "whole_walk",
]

#: More values than this in a key's first field (sources) and the pass walks the key as a whole.
MAX_PARTITIONS = 64

Groups = tuple[tuple[Filter, ...], ...]
Probe = Callable[[SearchCriteria], Page]


@dataclass(frozen=True)
class Partition:
    """One walk of a pass, starting after ``start`` (a resumed pass: its checkpoint's).
    ``value``: the value of the key's first field it is confined to (source items per source;
    None: the key walked as a whole); for a key of one number, the end of its id range
    (``id <= value``; None: no end) and ``lower`` its start (``id > lower``)."""

    value: Any
    walk: KeysetWalk
    start: KeyPosition = field(default_factory=KeyPosition)
    lower: int = 0


def whole_walk(resource: Resource, groups: Groups) -> KeysetWalk:
    """The keyset walk of ``resource``'s whole key, ``groups`` ANDed to every request."""
    return KeysetWalk(
        fields=[key.filter for key in resource.keys], key_of=resource.key_of, groups=groups
    )


def partition(
    resource: Resource,
    value: Any,
    groups: Groups = (),
    start: KeyPosition | None = None,
    lower: int = 0,
) -> Partition:
    """The walk of partition ``value`` (:attr:`Partition.value`) with ``groups`` ANDed to every
    request, from ``start``."""
    start = start or KeyPosition()
    if resource.deletions == "interval":  # one numeric key: value is its id range's end
        key = resource.keys[0]
        bound = () if value is None else ((Filter(key.filter, str(value), "lteq"),),)
        return Partition(value, whole_walk(resource, (*groups, *bound)), start, lower)
    if value is None:
        return Partition(None, whole_walk(resource, groups), start)
    first, second = resource.keys

    def key_of(item: Any) -> tuple[Any, ...] | None:
        part = second.read(item) if isinstance(item, dict) else None
        return None if part is None else (part,)

    walk = KeysetWalk(
        fields=[second.filter],
        key_of=key_of,
        groups=((Filter(first.filter, str(value), "eq"),), *groups),
    )
    return Partition(value, walk, start)


def first_key_values(resource: Resource, probe: Probe) -> list[Any] | None:
    """The values of ``resource``'s first key field (a key of two fields), sorted; None (walk
    the key as a whole) when a value is unreadable, the store ignores the filter, or there are
    more than :data:`MAX_PARTITIONS` values."""
    first = resource.keys[0]
    values: list[Any] = []
    while len(values) <= MAX_PARTITIONS:
        groups = ((Filter(first.filter, str(values[-1]), "gt"),),) if values else ()
        criteria = SearchCriteria(
            groups=groups,
            sorts=(Sort(first.filter, "ASC"),),
            page_size=1,
            fields=f"items[{first.item}],total_count",
        )
        page = probe(criteria)
        if not page.items:
            break
        value = first.read(page.items[0]) if isinstance(page.items[0], dict) else None
        if value is None or value in values:
            return None  # unreadable, or the store ignored the filter: walk it whole
        values.append(value)
    if len(values) > MAX_PARTITIONS:
        return None
    return values


def id_bounds(resource: Resource, probe: Probe) -> tuple[int | None, int | None, int]:
    """The lowest and highest id upstream of ``resource``'s one numeric key (two one-item
    requests; None for a bound ACCS did not give as a usable id), and ACCS's unfiltered
    ``total_count``: what the whole pass covers."""
    key = resource.keys[0]
    bounds: list[int | None] = []
    total = -1
    for direction in ("ASC", "DESC"):
        criteria = SearchCriteria(
            sorts=(Sort(key.filter, direction),),
            page_size=1,
            fields=f"items[{key.item}],total_count",
        )
        page = probe(criteria)
        value = key.read(page.items[0]) if page.items and isinstance(page.items[0], dict) else None
        bounds.append(value if isinstance(value, int) else None)
        total = page.total_count
    return bounds[0], bounds[1], total


def full_parts(
    resource: Resource,
    probe: Probe,
    concurrency: int,
    groups: Groups,
    resumed: Iterable[Walked] | None = None,
) -> list[Partition]:
    """The walks of a full pass not cut into splitting id ranges: a checkpoint's (``resumed``),
    else one per value of the key's first field (``first_key`` partitions with ``concurrency``
    > 1) or the key as a whole."""
    if resumed is not None:
        return [partition(resource, w.partition, groups, w.position, w.lower) for w in resumed]
    values = None
    if concurrency > 1 and resource.partitions == "first_key":
        values = first_key_values(resource, probe)
    return [partition(resource, value, groups) for value in values or [None]]


def id_range_set(
    resource: Resource,
    probe: Probe,
    concurrency: int,
    page_size: int,
    resumed: Iterable[Walked] | None = None,
) -> tuple[RangeSet, int]:
    """The id ranges of a full pass over ``resource``'s one numeric key, as the products' full
    pass keeps them (:class:`~sync.ranges.RangeSet`: an idle worker splits the running range
    with the most left): ``resumed``, a checkpoint's ranges, else the id space between the
    lowest and highest id upstream cut evenly into ``concurrency`` ranges. Returns them and
    ACCS's total count of the resource from the bounds probe (which also bounds the last,
    open-ended range for splitting)."""
    lowest, highest, total = id_bounds(resource, probe)
    if resumed is None:
        ranges = even_ranges(lowest, highest, concurrency)
    else:
        ranges = [IdRange(committed=w.lower, end=_end(w.partition)) for w in resumed]
    return RangeSet(ranges, page_size, highest), total


def _end(upto: Any) -> int | None:
    """A checkpointed id range's end (``upto``: a whole number, or None for no end)."""
    return upto if isinstance(upto, int) else None
