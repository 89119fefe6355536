"""How a resource's full pass is cut into partitions walked at the same time, as its declaration
says (:data:`sync.resources.Partitions`), found with one-item probes.

* ``first_key``: one keyset walk per value of the first of two key fields (source items: one
  per source), each walking the second field within its value. The values are found with
  one-item requests sorted by the first field, each asking for a value past the previous one.
* ``id_ranges``: the lowest and highest id upstream (two one-item requests) bound the id space
  that :mod:`sync.ranges` cuts into ranges which split when a worker goes idle.

Pure functions of a ``probe(criteria) -> Page`` callable: a partitioning can be tested without a
pass, a database or a network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.keyset import KeysetWalk
from sync.api.paging import Page
from sync.resources import Resource

__all__ = ["MAX_PARTITIONS", "first_key_walks", "id_bounds"]

#: More values than this in a key's first field (sources) and the pass walks the key as a whole.
MAX_PARTITIONS = 64

Probe = Callable[[SearchCriteria], Page]


def first_key_walks(resource: Resource, probe: Probe) -> list[KeysetWalk] | None:
    """One walk per value of ``resource``'s first key field (a key of two fields); None (walk
    the key as a whole) when a value is unreadable, the store ignores the filter, or there are
    more than :data:`MAX_PARTITIONS` values."""
    first, second = resource.keys
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

    def key_of(item: Any) -> tuple[Any, ...] | None:
        value = second.read(item) if isinstance(item, dict) else None
        return None if value is None else (value,)

    return [
        KeysetWalk(
            fields=[second.filter],
            key_of=key_of,
            groups=((Filter(first.filter, str(value), "eq"),),),
        )
        for value in values
    ]


def id_bounds(resource: Resource, probe: Probe) -> tuple[int | None, int | None]:
    """The lowest and highest id upstream of ``resource``'s one numeric key (two one-item
    requests); None for a bound ACCS did not give as a usable id."""
    key = resource.keys[0]
    bounds: list[int | None] = []
    for direction in ("ASC", "DESC"):
        criteria = SearchCriteria(
            sorts=(Sort(key.filter, direction),),
            page_size=1,
            fields=f"items[{key.item}],total_count",
        )
        page = probe(criteria)
        value = key.read(page.items[0]) if page.items and isinstance(page.items[0], dict) else None
        bounds.append(value if isinstance(value, int) else None)
    return bounds[0], bounds[1]
