"""sync.jsontext gives exactly json's results: generated values, tricky floats, every code point.

Content hashes stored in existing mirrors are sha256 of json's canonical text, so a single
differing byte would make products look changed: these tests compare with json itself.
"""

from __future__ import annotations

import enum
import json
import math
import random
import struct
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pytest

from sync import jsontext


def old_canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def old_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


TRICKY_FLOATS = [
    0.0, -0.0, 0.1, 0.2 + 0.1, 1 / 3, -2.5, 100.0, 1e15, 999999999999999.9, 9999999999999998.0,
    1e16, 1.2345678901234567e16, 1e22, 1.2e30, 1e300, 1.7976931348623157e308, 1e-4, 0.00012,
    9.999999999999999e-05, 5e-05, 1e-5, 1.5e-7, 2.2250738585072014e-308, 5e-324, -1e-5, -1e16,
    math.nan, math.inf, -math.inf, 52.0, 34.99, 6.37, 0.5, 12.345678,
]  # fmt: skip
TRICKY_STRINGS = [
    "", "plain", "\x00", "a\x00b", "\x1f\x7f", '"\\/', "\b\f\n\r\t", "é", "Ünïcödé",
    "\u2028\u2029", "\ufeff", "\ue000", "\uffff", "\U00010000", "😀 emoji", "\U0010ffff",
    "e-1 e+1 1e-5 0.00001 NaN Infinity null", "日本語の商品名", "<p>100% cotton</p>",
]  # fmt: skip
TRICKY_INTS = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1]


def scalar(rng: random.Random) -> Any:
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice(TRICKY_FLOATS)
    if kind == 1:
        bits = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        return bits  # any double: NaNs, subnormals, huge and tiny exponents
    if kind == 2:
        return round(rng.uniform(-1e5, 1e5), rng.randrange(0, 7))  # prices, weights
    if kind == 3:
        return rng.choice(TRICKY_INTS) if rng.random() < 0.3 else rng.randrange(-1000, 10**6)
    if kind == 4:
        return rng.choice(TRICKY_STRINGS)
    if kind == 5:
        return "".join(chr(rng.choice(CODE_POINTS)) for _ in range(rng.randrange(0, 12)))
    if kind == 6:
        return rng.choice([True, False])
    if kind == 7:
        return None
    return f"sku-{rng.randrange(10**6)}"


CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000][::97] + list(range(40))


def key(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(["id", "sku", "name", "price", "a", "B", "_", "é", "\U0001f600", ""])
    return "".join(chr(rng.choice(CODE_POINTS)) for _ in range(rng.randrange(1, 6)))


def value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth >= 5 or roll < 0.5:
        return scalar(rng)
    if roll < 0.75:
        return [value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return {key(rng): value(rng, depth + 1) for _ in range(rng.randrange(0, 6))}


def generated(count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [value(rng) for _ in range(count)]


def test_the_installed_orjson_passes_the_import_probes() -> None:
    # If this fails, a new orjson writes some value differently: jsontext still gives json's
    # results (everything goes to json), but the speed-up is gone until the probes are reviewed.
    assert jsontext.FAST


@pytest.mark.parametrize("seed", range(4))
def test_canonical_and_compact_are_json_for_generated_values(seed: int) -> None:
    items = generated(1500, seed)
    for item in items:
        assert jsontext.canonical(item) == old_canonical(item)
        assert jsontext.compact(item) == old_compact(item)
        assert jsontext.canonical_bytes(item) == old_canonical(item).encode("utf-8")
    # Both ways are exercised: orjson's text for most values, json's for the tricky ones.
    fast = sum(jsontext._orjson_text(i, jsontext._ENCODE_SORTED) is not None for i in items)
    assert len(items) * 0.3 < fast < len(items) * 0.95


@pytest.mark.parametrize("number", TRICKY_FLOATS + TRICKY_INTS)
def test_every_tricky_number_is_written_as_json_writes_it(number: float) -> None:
    for item in (number, [number], {"price": number, "id": 1}):
        assert jsontext.canonical(item) == old_canonical(item)
        assert jsontext.compact(item) == old_compact(item)


def test_random_doubles_are_written_as_json_writes_them() -> None:
    rng = random.Random(11)
    numbers = [
        struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20000)
    ]
    numbers += [rng.choice((1, -1)) * 10 ** rng.uniform(-8, 20) for _ in range(20000)]
    for start in range(0, len(numbers), 100):
        chunk = numbers[start : start + 100]
        assert jsontext.canonical(chunk) == old_canonical(chunk)


def test_orjson_writes_floats_as_repr_unless_the_text_is_flagged() -> None:
    """The fact the float check relies on, over doubles of every magnitude."""
    rng = random.Random(3)
    for _ in range(50000):
        number = rng.choice((1, -1)) * 10 ** rng.uniform(-10, 25)
        text = orjson.dumps(number)
        assert text == repr(number).encode() or jsontext._suspicious(text), number


def test_every_code_point_is_escaped_as_json_escapes_it() -> None:
    points = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(points), 4096):
        text = "".join(map(chr, points[start : start + 4096]))
        assert jsontext.canonical(text) == old_canonical(text)
        assert jsontext.canonical({text: 1, "k": text}) == old_canonical({text: 1, "k": text})


def test_keys_sort_by_code_point_including_non_bmp_characters() -> None:
    rng = random.Random(5)
    keys = ["\ue000", "\uffff", "\U00010000", "\U0001f600", "z", "Z", "é", "", "\x00", "a\x00"]
    keys += ["".join(chr(rng.choice(CODE_POINTS)) for _ in range(3)) for _ in range(3000)]
    mapping = dict.fromkeys(keys, 0)
    assert jsontext.canonical(mapping) == old_canonical(mapping)


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    S = 1


class Text(str):
    pass


@dataclass
class Point:
    x: int


NOT_JSON = [
    uuid.UUID(int=1),
    Colour.RED,
    datetime(2026, 1, 1),
    Point(1),
    {1, 2},
    b"bytes",
    1 + 2j,
    orjson.Fragment(b"[1]"),
]


@pytest.mark.parametrize("thing", NOT_JSON, ids=lambda t: type(t).__name__)
def test_values_json_refuses_are_refused(thing: Any) -> None:
    for item in (thing, {"a": [thing]}):
        with pytest.raises(TypeError):
            old_canonical(item)
        with pytest.raises(TypeError):
            jsontext.canonical(item)
        with pytest.raises(TypeError):
            jsontext.compact(item)


@pytest.mark.parametrize(
    "item",
    [
        (1, "tuple"),
        {"nested": (1.5, None)},
        {1: "int key", 2: "int key"},
        {"mixed": 1, 2: "key types"},
        {"x": Size.S},
        {Size.S: "enum key"},
        {Text("k"): Text("v")},
        OrderedDict([("b", 1), ("a", 2)]),
        {"circular?": [[[[[[[[[[[[]]]]]]]]]]]]},
    ],
    ids=repr,
)
def test_other_python_values_get_json_text_or_error(item: Any) -> None:
    for ours, theirs in ((jsontext.canonical, old_canonical), (jsontext.compact, old_compact)):
        try:
            expected = theirs(item)
        except TypeError:
            with pytest.raises(TypeError):
                ours(item)
        else:
            assert ours(item) == expected


def test_nesting_deeper_than_orjson_allows_is_json_text() -> None:
    deep: Any = [1]
    for _ in range(400):
        deep = {"d": deep}
    assert jsontext.canonical(deep) == old_canonical(deep)


def test_lone_surrogates_fail_as_before() -> None:
    item = {"name": "\ud800"}
    assert jsontext.canonical(item) == old_canonical(item)
    with pytest.raises(UnicodeEncodeError):
        old_canonical(item).encode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        jsontext.canonical_bytes(item)


def php_encode(value: Any, ensure_ascii: bool) -> bytes:
    """What Magento sends: PHP's json_encode escapes "/" and, by default, non-ASCII."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii)
    return text.replace("/", "\\/").encode("utf-8", "surrogatepass")


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included, with the same types (1 and 1.0 differ) and -0.0 apart from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@pytest.mark.parametrize("seed", range(3))
def test_loads_is_json_loads_for_generated_answers(seed: int) -> None:
    for item in generated(1500, seed):
        for ensure_ascii in (True, False):
            try:
                body = php_encode(item, ensure_ascii)
            except UnicodeEncodeError:
                continue
            assert same(jsontext.loads(body), json.loads(body))


@pytest.mark.parametrize(
    "text",
    [
        b"18446744073709551616",
        b"-9223372036854775809",
        b'{"big":123456789012345678901234567890,"ok":1}',
        b"[NaN,Infinity,-Infinity]",
        b"1e400",
        b'"\\ud800"',
        b"\xef\xbb\xbf[1]",
        b'{"a":1,"b":2,"a":3}',
        b'"\\u0000\\u00e9\\ud83d\\ude00\\/\\"\\\\\\b\\f\\n\\r\\t"',
        b"  [1.5e-7, -0, -0.0, 1E5, 0.1]\n",
        '{"name":"caf\u00e9 \U0001f600"}'.encode(),
        "[1]".encode("utf-16"),
    ],
)
def test_loads_keeps_every_value_json_reads(text: bytes) -> None:
    assert same(jsontext.loads(text), json.loads(text))


@pytest.mark.parametrize(
    "text", [b"", b"{", b"[1,]", b"01", b"\xff", b'{"a":1}{', b"<html>", b'"\x1f"', b"nul"]
)
def test_loads_refuses_what_json_refuses(text: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        jsontext.loads(text)
