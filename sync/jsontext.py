"""JSON at orjson's speed with exactly the standard library's results.

orjson decodes and encodes several times faster than :mod:`json`, but not always the same way.
Decoding, it reads an integer beyond 64 bits as a float (silently losing digits) and refuses
what json accepts (``NaN``, ``Infinity``, lone surrogate escapes, a UTF-8 BOM). Encoding, it
writes NaN and infinities as ``null``, a float below 1e-4 as ``0.00001`` or ``1.5e-7`` where
json writes ``1e-05`` and ``1.5e-07``, and serialises types json refuses (UUIDs, enums). Every
function here takes orjson's answer only where it is known to equal json's, and asks json
otherwise, so callers get json's results, and its exceptions, faster:

* :func:`loads` is ``json.loads``. orjson's answer is used unless it failed or the text has a
  run of 19 or more digits (where an integer could exceed 64 bits). One difference: text nested
  deeper than json can recurse (about 1,000 levels, where json raises ``RecursionError``) is
  read with every value deeper than :data:`DECODE_DEPTH` levels as ``null``, so one absurd item
  cannot make a whole page unreadable; the item itself is then refused by
  :func:`unencodable`'s depth check (far below that depth).
* :func:`canonical` and :func:`compact` are ``json.dumps`` with sorted or original key order.
  orjson's text is used when (a) orjson could encode the value with every non-JSON type turned
  away (subclasses, dataclasses and datetimes are handed to a ``default`` that refuses them),
  (b) decoding that text gives back a value equal to the input, which rules out NaN, the
  infinities and anything orjson wrote in another shape (a UUID as a string, an enum as its
  value, a tuple as a list), and (c) the text has no float in exponent form or below 1e-4: no
  ``e-``/``e+`` followed by a digit and no ``0.0000``. (orjson has changed how it writes
  exponents before: 3.11.7 went from ``1e30`` to ``1e+30``.) For what is left (dicts, lists,
  str, int, bool, None, and floats written without an exponent) the two libraries write the
  same bytes: the same escapes for every code point, the same shortest round-trip digits in
  ``repr``'s layout, keys sorted by code point (orjson sorts UTF-8 bytes: the same order), the
  same separators. At import, a set of probe values checks those facts on the installed orjson;
  should one fail (a future release writing differently), every call goes to json.
  ``tests/unit/test_jsontext.py`` checks the facts, and the whole functions, against json.

Text that merely looks suspicious (a string holding ``e-1``) only costs a json call.

Checking costs more than orjson's encoding itself (decoding the text again is most of it), so a
caller that encodes one value twice can check once: :func:`plain_canonical` says whether a value
passed, and :func:`plain_compact` then encodes that same value without checking again.
:class:`Encoded` carries such text to the database: :func:`serialize`, the engine's JSON
serializer, writes it as it is.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

import orjson

__all__ = [
    "DECODE_DEPTH",
    "FAST",
    "Encoded",
    "canonical",
    "canonical_bytes",
    "compact",
    "decode",
    "decoded_canonical",
    "is_utf8",
    "loads",
    "plain_canonical",
    "plain_canonical_text",
    "plain_compact",
    "serialize",
    "unencodable",
    "within_depth",
]

_ENCODE = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
_ENCODE |= orjson.OPT_PASSTHROUGH_DATETIME
_ENCODE_SORTED = _ENCODE | orjson.OPT_SORT_KEYS

# Digits -> "0", everything else -> " ": a run of 19 zeros then marks a long digit run.
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19
_EXPONENT = re.compile(rb"e[-+][0-9]")


def _refuse(value: Any) -> NoReturn:
    raise TypeError(type(value).__name__)


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``: the same value, or the same exception (a ``ValueError``); text
    nested too deeply for json is read as the module docstring says."""
    return decode(data)[0]


def decode(data: bytes | str) -> tuple[Any, bool]:
    """:func:`loads` of ``data``, and whether orjson read it (the value is *decoded plain*).

    What orjson reads holds only dicts, lists, valid UTF-8 strings, integers within 64 bits,
    finite floats, booleans and None, so :func:`decoded_canonical` may encode it, or any part
    of it, without checking the round trip (only floats can still be written differently).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if FAST and _LONG_RUN not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw), True
        except orjson.JSONDecodeError:
            pass  # maybe JSON only json accepts (NaN, a BOM, a lone surrogate), or not JSON
    try:
        return json.loads(data), False
    except RecursionError:
        pass
    try:
        return json.loads(_flattened(raw, DECODE_DEPTH)), False
    except RecursionError:  # only when brackets do not balance: not JSON
        raise ValueError("JSON text nested too deeply") from None


#: :func:`loads` reads values nested deeper than this as ``null`` (see the module docstring).
DECODE_DEPTH = 256
# A JSON string (escapes included) or one bracket: what _flattened steps over.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _flattened(raw: bytes, limit: int) -> bytes:
    """``raw`` with every array or object opened deeper than ``limit`` levels replaced by
    ``null`` (brackets inside strings are left alone). Invalid JSON stays invalid."""
    out: list[bytes] = []
    depth = 0
    skip_from: int | None = None  # where the subtree being dropped starts
    kept = 0
    for match in _TOKEN.finditer(raw):
        token = match.group()
        if token[0] == 0x22:  # a string
            continue
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit and skip_from is None:
                skip_from = match.start()
        else:
            depth -= 1
            if skip_from is not None and depth == limit:
                out += (raw[kept:skip_from], b"null")
                kept, skip_from = match.end(), None
    if skip_from is not None:
        raise ValueError(f"JSON text nested deeper than {limit} levels is never closed")
    out.append(raw[kept:])
    return b"".join(out)


def unencodable(value: Any, max_depth: int) -> str | None:
    """Why ``value`` (a decoded item) cannot be stored as JSON text on every database, or None.

    JSON itself cannot hold NaN or an infinite number (PostgreSQL and MariaDB refuse the text
    json writes for them; SQLite stores it and its JSON functions then fail over the whole
    table); a string with a lone surrogate (from an escape like ``"\\ud800"``) is not UTF-8
    (no database accepts it); MariaDB's JSON refuses nesting deeper than 31 levels. The answer
    names the first such value found, with its path in ``value``. Walks without recursion.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        kind = type(node)
        if kind is float or isinstance(node, float):
            if not math.isfinite(node):
                spelled = "NaN" if node != node else "Infinity" if node > 0 else "-Infinity"
                return f"{spelled} at {_where(path)} (JSON has no such number)"
        elif kind is str or isinstance(node, str):
            if not is_utf8(node):
                return f"a lone surrogate escape in the text at {_where(path)} (not UTF-8)"
        elif isinstance(node, dict | list):
            if depth > max_depth:
                return f"values nested deeper than {max_depth} levels (at {_where(path)})"
            if isinstance(node, list):
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))
                continue
            for key, child in node.items():
                if isinstance(key, str) and not is_utf8(key):
                    return f"a lone surrogate escape in a key at {_where(path)} (not UTF-8)"
                stack.append((child, f"{path}.{key}", depth + 1))
    return None


def few_containers(text: bytes, levels: int) -> bool:
    """Whether the JSON text ``text`` has at most ``levels`` opening brackets (those inside
    strings counted too): then no list or object in it nests deeper than ``levels`` levels, and
    :func:`within_depth` need not walk its value (a count in C, a tenth of the walk's cost).
    False says nothing: the walk decides."""
    return text.count(b"{") + text.count(b"[") <= levels


def within_depth(value: Any, levels: int) -> bool:
    """Whether no list or object in ``value`` is nested deeper than ``levels`` levels (``value``
    itself is the first), as :func:`unencodable` counts them. For plain JSON values (exact
    dicts and lists): a sixth of :func:`unencodable`'s cost, and recursion at most ``levels``
    deep."""
    if levels <= 0:
        return False
    for child in value.values() if type(value) is dict else value:
        kind = type(child)
        if (kind is dict or kind is list) and not within_depth(child, levels - 1):
            return False
    return True


def is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8: it has no lone surrogate (from an escape like
    ``\\ud800``, which json decodes and no database stores)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _where(path: str) -> str:
    if not path:
        return "the top level"
    path = path.lstrip(".")
    return repr(path if len(path) <= 80 else path[:77] + "...")


def _orjson_text(value: Any, option: int) -> bytes | None:
    """orjson's text for ``value`` when it is json's too (see the module docstring), else None."""
    if not FAST:
        return None
    try:
        text = orjson.dumps(value, default=_refuse, option=option)
    except orjson.JSONEncodeError:
        return None
    if _suspicious(text) or orjson.loads(text) != value:
        return None
    return text


def _suspicious(text: bytes) -> bool:
    """Whether ``text`` may hold a float that json writes differently (see module docstring)."""
    return b"0.0000" in text or _EXPONENT.search(text) is not None


def canonical(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``."""
    text = _orjson_text(value, _ENCODE_SORTED)
    return _json_canonical(value) if text is None else text.decode("utf-8")


def canonical_bytes(value: Any) -> bytes:
    """:func:`canonical` encoded as UTF-8 (what a content hash is taken of)."""
    text = _orjson_text(value, _ENCODE_SORTED)
    return _json_canonical(value).encode("utf-8") if text is None else text


def compact(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``: keys in their order."""
    text = _orjson_text(value, _ENCODE)
    if text is None:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.decode("utf-8")


def plain_canonical(value: Any) -> bytes | None:
    """:func:`canonical_bytes` of ``value`` if orjson wrote it (``value`` is *plain*), else None."""
    return _orjson_text(value, _ENCODE_SORTED)


def decoded_canonical(value: Any) -> bytes | None:
    """:func:`plain_canonical` of a value :func:`decode` read as plain (or a part of one, or one
    with some strings replaced by other valid strings), at a third of its cost: the round trip
    that rules out NaN, tuples and other types cannot fail for such a value, so only the text
    is checked for floats that json writes differently."""
    if not FAST:
        return None
    try:
        text = orjson.dumps(value, default=_refuse, option=_ENCODE_SORTED)
    except orjson.JSONEncodeError:  # not what decode read after all (nested too deeply)
        return None
    return None if _suspicious(text) else text


def plain_canonical_text(value: Any) -> str:
    """:func:`canonical` of a ``value`` that is plain or part of a plain value (which
    :func:`plain_canonical` or :func:`decoded_canonical` accepted), without checking again."""
    return orjson.dumps(value, default=_refuse, option=_ENCODE_SORTED).decode("utf-8")


def plain_compact(value: Any) -> str:
    """:func:`compact` of a ``value`` that :func:`plain_canonical` accepted and that has not
    changed since, without checking it again."""
    return orjson.dumps(value, default=_refuse, option=_ENCODE).decode("utf-8")


class Encoded:
    """JSON text standing in for the value it encodes, for a JSON column: :func:`serialize`
    writes the text as it is. Not a ``str``, so no other serializer can mistake it for one."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Encoded({self.text[:40]!r})"


def serialize(value: Any) -> str:
    """The engine's JSON serializer: :func:`compact`, or the text of an :class:`Encoded`."""
    if type(value) is Encoded:
        return value.text
    return compact(value)


def _json_canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Probes of the facts the fast paths rely on: floats at the edges of repr's two layouts and of
# the ranges above, every ASCII character and a few others that need escaping or not.
_PROBE_FLOATS = (
    0.0, -0.0, 0.1, -2.5, 100.0, 123.456, 1 / 3, 5e-324, 1e-7, 1.5e-7, 1e-5, 9.999999999999999e-05,
    0.0001, 0.00012, 999999999999999.9, 9999999999999998.0, 1e16, 1.2e30, 1e22,
    1.7976931348623157e308, -1e-5, -1e16,
)  # fmt: skip
_PROBE_TEXT = "".join(map(chr, range(128))) + "\u00e9\u2028\u2029\ufeff\U0001f600\U0010ffff"


def _facts_hold() -> bool:
    for number in _PROBE_FLOATS:
        text = orjson.dumps(number)
        if text != repr(number).encode() and not _suspicious(text):
            return False
    keys = {_PROBE_TEXT[i:]: i for i in range(len(_PROBE_TEXT))}
    probe = [_PROBE_TEXT, keys, 0, -(2**63), 2**64 - 1, True, False, None, [], {}]
    if orjson.dumps(probe, option=orjson.OPT_SORT_KEYS) != _json_canonical(probe).encode():
        return False
    return bool(orjson.loads(_json_canonical(probe)) == probe)


#: False when the installed orjson writes a probe differently from json: then json does it all.
FAST = _facts_hold()
