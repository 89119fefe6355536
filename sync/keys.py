"""The keys of a pass over given keys (:mod:`sync.keyspass`): product ids and skus, validated.

Support staff name the products that look wrong in the mirror with ``accs-sync sync --sku SKU``
/ ``--id ID`` (each repeatable) or ``--keys-from FILE`` (``-``: standard input), and the event
consumer hands them over directly. Every key is checked here, before anything connects, so a
typo is one clear line (the CLI exits 2), never a request ACCS refuses halfway through a pass.

A keys file has one key a line: ``sku:24-MB01`` or ``id:12``; a line without a prefix is a sku
(skus are what people copy from the admin; a sku may well be all digits, so a bare number is
never taken for an id). Blank lines and lines starting with ``#`` are skipped; spaces around a
key are not part of it (Magento trims skus too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

__all__ = ["MAX_ID", "MAX_SKU_LENGTH", "EventKeys", "Keys", "parse_id", "parse_sku", "read_keys"]

#: Magento's longest sku (``catalog_product_entity.sku`` is VARCHAR(64)).
MAX_SKU_LENGTH = 64
#: The largest id the mirror stores (BIGINT).
MAX_ID = 2**63 - 1

T = TypeVar("T")


@dataclass(frozen=True)
class Keys:
    """Product ids and skus to refetch, each once, in the order given."""

    ids: tuple[int, ...] = ()
    skus: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ids or self.skus)

    def __len__(self) -> int:
        return len(self.ids) + len(self.skus)

    def __add__(self, other: Keys) -> Keys:
        return Keys(_once(self.ids + other.ids), _once(self.skus + other.skus))


@dataclass(frozen=True)
class EventKeys:
    """What a batch of events asks a pass over given keys for (:mod:`sync.events`): the
    ``products`` themselves, the source items of the ``stock`` products (by sku, or by the
    mirrored sku of an id) and ``categories`` by id, each only where it is mirrored."""

    products: Keys = field(default_factory=Keys)
    stock: Keys = field(default_factory=Keys)
    categories: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.products or self.stock or self.categories)

    def __len__(self) -> int:
        return len(self.products) + len(self.stock) + len(self.categories)


def _once(values: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(values))


def parse_id(text: str) -> int:
    """A product id: a whole number above 0 (raises ValueError saying so)."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ID:
        raise ValueError(f"id {value[:40]!r} must be a whole number above 0")
    return int(value)


def parse_sku(text: str) -> str:
    """A sku: not empty, at most 64 characters, no control characters (raises ValueError)."""
    value = text.strip()
    if not value:
        raise ValueError("empty sku")
    if len(value) > MAX_SKU_LENGTH:
        raise ValueError(
            f"sku {value[:20]!r}... is longer than Magento's {MAX_SKU_LENGTH} characters "
            f"({len(value)})"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"sku {value[:40]!r} holds a control character")
    return value


def _parse_line(line: str) -> Keys:
    prefix, colon, rest = line.partition(":")
    name = prefix.strip().lower()
    if colon and name == "id":
        return Keys(ids=(parse_id(rest),))
    if colon and name == "sku":
        return Keys(skus=(parse_sku(rest),))
    if colon and name.isalpha() and " " not in prefix.strip():
        raise ValueError(
            f"unknown prefix {prefix.strip()[:20] + ':'!r} (use sku: or id:); "
            f"a sku that holds ':' is written sku:{line[:40]}"
        )
    return Keys(skus=(parse_sku(line),))


def read_keys(lines: TextIO, name: str) -> Keys:
    """The keys in ``lines`` (a keys file called ``name`` in errors: ``name line N: ...``)."""
    keys = Keys()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys = keys + _parse_line(line)
        except ValueError as exc:
            raise ValueError(f"{name} line {number}: {exc}") from None
    return keys
