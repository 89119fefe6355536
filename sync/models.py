"""The validated shape of one mirrored product, and how an ACCS item becomes one.

ACCS guarantees only ``sku`` on an item (Adobe's schema marks nothing else required), so every
other field is optional here; we refuse only what would corrupt the mirror: no ``sku``, no usable
``id`` (our key), or a field whose type is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sync import item_fields as fields
from sync import jsontext
from sync.item_fields import ItemRejected

__all__ = [
    "DEFAULT_MAX_ITEM_BYTES",
    "MAX_ITEM_DEPTH",
    "Fingerprint",
    "ProductRecord",
    "cleaned",
    "content_hash",
    "fingerprint",
    "parse_item",
]

#: SYNC_MAX_ITEM_BYTES' default: an item's JSON text larger than this is rejected. Magento's
#: largest text column (MEDIUMTEXT) holds 16 MiB; real products are a few KB, and a page's
#: statement must stay under the database's packet limit (MariaDB's default is 16 MiB).
DEFAULT_MAX_ITEM_BYTES = 4 * 1024 * 1024
#: Items nested deeper are rejected: MariaDB's JSON type refuses nesting deeper than 31 levels
#: (``json_valid`` is its columns' check), and the mirror stays the same on every database.
MAX_ITEM_DEPTH = 31


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """One row of the ``products`` table. Timestamps are naive datetimes in UTC."""

    store_code: str
    id: int
    sku: str
    name: str | None
    type_id: str | None
    attribute_set_id: int | None
    status: int | None
    visibility: int | None
    price: Decimal | None
    weight: Decimal | None
    created_at: datetime | None
    updated_at: datetime | None
    data: dict[str, Any]
    #: sha256 hex of the item's canonical JSON (see :func:`content_hash`).
    content_hash: str = ""
    #: From ``extension_attributes.stock_item``; None when the item has none.
    qty: Decimal | None = None
    is_in_stock: bool | None = None
    #: (attribute_code, value as text) from ``custom_attributes``, one per code.
    attributes: tuple[tuple[str, str | None], ...] = ()
    #: (category id, position) from ``extension_attributes.category_links``, one per category.
    categories: tuple[tuple[int, int | None], ...] = ()
    #: True when ``data`` is known to be *plain* JSON (see :func:`sync.jsontext.plain_canonical`),
    #: so :meth:`data_json` need not check it again. A copy made with ``dataclasses.replace``
    #: forgets it unless given again, so changed data is always checked.
    plain: InitVar[bool] = False
    _plain: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self, plain: bool) -> None:
        object.__setattr__(self, "_plain", plain)

    def data_json(self) -> str:
        """``data`` as the compact JSON text the mirror stores (``json.dumps``' text)."""
        return jsontext.plain_compact(self.data) if self._plain else jsontext.compact(self.data)


T = TypeVar("T")


def _slots_constructor(
    cls: type[T], init_vars: Mapping[str, str] | None = None
) -> Callable[..., T]:
    """A function taking a frozen, slotted dataclass's arguments (all of them, as keywords)
    that builds the same object as its ``__init__``, written out as ``dataclasses`` writes that
    ``__init__`` but setting each slot through its descriptor. A frozen dataclass's ``__init__``
    sets every field through ``object.__setattr__`` by name, which made building a
    :class:`ProductRecord` (20,000 in a backfill) cost more than reading most of its fields.
    ``init_vars``: each ``InitVar`` argument and the slot its ``__post_init__`` sets to it
    (all that ``ProductRecord.__post_init__`` does; ``__post_init__`` itself is not called).
    Only :func:`parse_item` and :func:`fingerprint` use these; ``tests/unit/test_models.py``
    checks that they build what the classes' own ``__init__`` builds."""
    init_vars = dict(init_vars or {})
    names = [f.name for f in dataclass_fields(cls) if f.init]  # type: ignore[arg-type]
    if getattr(cls, "__post_init__", None) is not None and not init_vars:
        raise TypeError(f"{cls.__name__}.__post_init__ would not run")
    # Double-underscore names for what is not a field: no field of ours starts with one.
    env: dict[str, Any] = {"__new": object.__new__, "__cls": cls}
    parameters = ", ".join([*names, *init_vars])
    lines = [f"def construct(*, {parameters}):", "    __made = __new(__cls)"]
    for argument, slot in [*((name, name) for name in names), *init_vars.items()]:
        env[f"__set_{slot}"] = getattr(cls, slot).__set__
        lines.append(f"    __set_{slot}(__made, {argument})")
    lines.append("    return __made")
    exec(compile("\n".join(lines) + "\n", f"<{cls.__name__} slots>", "exec"), env)  # noqa: S102
    constructor: Callable[..., T] = env["construct"]
    return constructor


_new_record = _slots_constructor(ProductRecord, {"plain": "_plain"})


def _digest(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def content_hash(item: Any) -> str:
    """sha256 (hex) of ``item`` as canonical JSON: sorted keys, no whitespace, UTF-8.

    Two payloads hash equal exactly when they hold the same data, whatever the key order ACCS
    used, so a pass can tell "really changed" from "sent again". The text is, byte for byte,
    ``json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` (mirrors
    store these hashes: it must never change); :mod:`sync.jsontext` only finds it faster.
    """
    return _digest(jsontext.canonical_bytes(item))


# PostgreSQL text and JSONB cannot hold NUL characters; Magento data occasionally does.
_NUL = "\x00"


def _without_nul(value: Any) -> Any:
    """``value`` with NUL characters removed from every string in it (a copy only if needed)."""
    if isinstance(value, str):
        return value.replace(_NUL, "") if _NUL in value else value
    if isinstance(value, dict):
        cleaned = {_without_nul(k): _without_nul(v) for k, v in value.items()}
        return cleaned
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a page needs to tell whether an item changed, without validating all of it.

    Made by :func:`fingerprint`; handing it to :func:`parse_item` reuses its work.
    """

    #: The item's entity id, read as :func:`parse_item` reads it.
    id: int
    #: sha256 hex of the item's canonical JSON, as :func:`content_hash` (after NUL removal).
    content_hash: str
    #: The item with NUL characters removed (the received item itself when it had none).
    item: dict[str, Any]
    #: The item as received.
    received: dict[str, Any]
    #: Whether ``item`` is plain JSON (see :func:`sync.jsontext.plain_canonical`).
    plain: bool = False
    #: Why the item cannot be mirrored when even its hash could not be taken (too big, NaN,
    #: a lone surrogate, too deep): :func:`parse_item` rejects it with this reason.
    problem: str | None = None
    #: Whether its canonical text alone shows it nests no deeper than :data:`MAX_ITEM_DEPTH`
    #: (:func:`sync.jsontext.few_containers`): :func:`parse_item` then skips the walk.
    shallow: bool = False


_new_fingerprint = _slots_constructor(Fingerprint)


def _cleaned(
    item: dict[str, Any], max_bytes: int, decoded: bool = False
) -> tuple[dict[str, Any], str, bool]:
    """``item`` without NUL characters, its content hash, and whether it is plain JSON
    (``decoded``: orjson read it, see :func:`sync.jsontext.decode`); see :func:`_hashed`.
    """
    item, digest, plain, _ = _hashed(item, max_bytes, decoded)
    return item, digest, plain


def _hashed(
    item: dict[str, Any], max_bytes: int, decoded: bool = False
) -> tuple[dict[str, Any], str, bool, bool]:
    """``item`` without NUL characters, its content hash, whether it is plain JSON (``decoded``:
    orjson read it, see :func:`sync.jsontext.decode`) and whether its text shows it shallow
    (:func:`sync.jsontext.few_containers`).

    Raises :class:`ItemRejected` when the item's JSON text is over ``max_bytes`` or the item
    holds what JSON text cannot (see :func:`sync.jsontext.unencodable`). A plain item (what
    orjson wrote) holds neither NaN nor a lone surrogate, but may still be nested too deeply:
    :func:`_too_deep` checks that, only for items about to be written.
    """
    # JSON writes NUL as \u0000: one serialisation both finds NULs and feeds the hash, and the
    # (slow) recursive clean-up runs only for the rare item that has any.
    text, plain = _canonical(item, decoded)
    if len(text) > max_bytes:
        raise ItemRejected(f"item is {len(text)} bytes, over SYNC_MAX_ITEM_BYTES={max_bytes}")
    if b"\\u0000" in text:
        item = _without_nul(item)  # still decoded plain: only strings change
        text, plain = _canonical(item, decoded)
    return item, _digest(text), plain, jsontext.few_containers(text, MAX_ITEM_DEPTH)


def _too_deep(item: dict[str, Any]) -> None:
    """Reject a plain item nested deeper than :data:`MAX_ITEM_DEPTH` levels."""
    if not jsontext.within_depth(item, MAX_ITEM_DEPTH):
        _unencodable(item)


def _unencodable(item: dict[str, Any]) -> None:
    """Reject ``item`` if JSON text cannot hold it on every database, saying where."""
    problem = jsontext.unencodable(item, MAX_ITEM_DEPTH)
    if problem is not None:
        raise ItemRejected(f"item holds {problem}")


def cleaned(
    item: dict[str, Any], max_bytes: int = DEFAULT_MAX_ITEM_BYTES, decoded: bool = False
) -> tuple[dict[str, Any], str, bool]:
    """``item`` without NUL characters, its content hash (:func:`content_hash`) and whether it
    is plain JSON: what any resource's page compares with the mirror. ``decoded``: orjson read
    it (:attr:`sync.api.paging.Page.plain`), which spares a round-trip check.

    Raises :class:`ItemRejected` for an item that cannot be mirrored as JSON on every database
    (over ``max_bytes``, NaN or infinite numbers, lone surrogates, nesting too deep).
    """
    item, digest, plain, shallow = _hashed(item, max_bytes, decoded)
    if plain and not shallow:
        _too_deep(item)
    return item, digest, plain


def _canonical(item: dict[str, Any], decoded: bool = False) -> tuple[bytes, bool]:
    text = jsontext.decoded_canonical(item) if decoded else jsontext.plain_canonical(item)
    if text is not None:
        return text, True
    # Not what orjson wrote: maybe an item JSON text cannot hold (checked without recursion,
    # before json.dumps could recurse too deep), else json's text, as orjson's may differ.
    _unencodable(item)
    return jsontext.canonical_bytes(item), False


def fingerprint(
    item: Any, max_bytes: int = DEFAULT_MAX_ITEM_BYTES, decoded: bool = False
) -> Fingerprint | None:
    """The id and content hash of one element of ``items``, for comparing with the mirror.

    Costs one canonical serialisation: no field is validated but the id. ``None`` when the item
    has no usable id (not an object, no ``id``, or not a positive 64-bit integer), so only
    :func:`parse_item` can say what is wrong with it. An item it fingerprints may still be
    rejected by :func:`parse_item` (always when :attr:`Fingerprint.problem` is set: its JSON
    text is over ``max_bytes`` or cannot be written); one whose hash equals the stored hash of a
    live row was accepted before with exactly this content.

    ``decoded``: orjson read the page (:attr:`sync.api.paging.Page.plain`), which spares the
    serialisation's round-trip check (a third of this function's cost); the hash is the same.
    """
    if not isinstance(item, dict):
        return None
    try:
        cleaned, digest, plain, shallow = _hashed(item, max_bytes, decoded)
    except ItemRejected as exc:
        # No hash equals "": the item reaches parse_item, which rejects it with this reason.
        product_id = _usable_id(item)
        if product_id is None:
            return None
        return _new_fingerprint(
            id=product_id,
            content_hash="",
            item=item,
            received=item,
            plain=False,
            problem=exc.reason,
            shallow=False,
        )
    product_id = _usable_id(cleaned)
    if product_id is None:
        return None
    return _new_fingerprint(
        id=product_id,
        content_hash=digest,
        item=cleaned,
        received=item,
        plain=plain,
        problem=None,
        shallow=shallow,
    )


def _usable_id(item: dict[str, Any]) -> int | None:
    """The item's ``id`` if it is a positive 64-bit integer (or its digits), else None."""
    try:
        product_id = fields.int_field(item, "id")
    except ItemRejected:
        return None
    return product_id if product_id is not None and 0 < product_id < 2**63 else None


def parse_item(
    item: Any,
    store_code: str,
    fingerprint: Fingerprint | None = None,
    max_bytes: int = DEFAULT_MAX_ITEM_BYTES,
) -> ProductRecord:
    """Validate one element of ``items`` from ``GET /V1/products``.

    ``fingerprint``, if given, must be ``fingerprint(item)``: its NUL-free item and content
    hash are used instead of serialising the item again (and its ``max_bytes`` instead of
    this one's). An item whose JSON text is over ``max_bytes`` (SYNC_MAX_ITEM_BYTES), holds
    NaN, an infinity or a lone surrogate escape, or nests deeper than :data:`MAX_ITEM_DEPTH`
    levels is rejected: the databases cannot all store it.

    Raises :class:`ItemRejected` with a reason when the item cannot be mirrored.
    """
    if fingerprint is not None:
        if item is not fingerprint.received and item is not fingerprint.item:
            raise ValueError("parse_item was given the fingerprint of another item")
        if fingerprint.problem is not None:
            raise ItemRejected(fingerprint.problem)
        item, digest, plain = fingerprint.item, fingerprint.content_hash, fingerprint.plain
        if plain and not fingerprint.shallow:
            _too_deep(item)
    elif not isinstance(item, dict):
        raise ItemRejected(f"item must be a JSON object, got {type(item).__name__}")
    else:
        item, digest, plain = cleaned(item, max_bytes)
    sku = item.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        raise ItemRejected("item has no sku")
    product_id = fields.int_field(item, "id")
    if product_id is None:
        raise ItemRejected("item has no id (the entity id is the mirror's key)")
    if not 0 < product_id < 2**63:
        raise ItemRejected(f"item id must be a positive 64-bit integer, got {product_id}")
    if len(sku) > 64:
        raise ItemRejected(f"sku is longer than Magento's 64 characters: {sku[:70]!r}")
    qty, is_in_stock = fields.stock(item)
    return _new_record(
        store_code=store_code,
        id=product_id,
        sku=sku,
        name=fields.str_field(item, "name"),
        type_id=fields.short_field(item, "type_id", 32),
        attribute_set_id=fields.int_field(item, "attribute_set_id"),
        status=fields.int_field(item, "status"),
        visibility=fields.int_field(item, "visibility"),
        price=fields.decimal_field(item, "price"),
        weight=fields.decimal_field(item, "weight"),
        created_at=fields.time_field(item, "created_at"),
        updated_at=fields.time_field(item, "updated_at"),
        data=item,
        content_hash=digest,
        qty=qty,
        is_in_stock=is_in_stock,
        attributes=fields.attributes(item, plain),
        categories=fields.category_links(item),
        plain=plain,
    )
