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
from tests.unit.jsonvalues import CODE_POINTS, TRICKY_FLOATS, TRICKY_INTS, generated


def old_canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def old_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


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


@pytest.mark.parametrize("seed", range(2))
def test_plain_values_encode_once_checked(seed: int) -> None:
    for item in generated(800, seed):
        text = jsontext.plain_canonical(item)
        if text is None:
            continue
        assert text == old_canonical(item).encode("utf-8")
        assert jsontext.plain_compact(item) == old_compact(item)


def test_tricky_values_are_not_plain() -> None:
    for item in ({"x": math.nan}, {"x": 1e-05}, {"x": 1e16}, (1,), {"u": uuid.UUID(int=1)}):
        assert jsontext.plain_canonical(item) is None
    assert jsontext.plain_canonical({"x": 1.5, "s": "ok"}) == b'{"s":"ok","x":1.5}'


def test_the_engine_serializer_takes_encoded_text_as_it_is() -> None:
    assert jsontext.serialize(jsontext.Encoded('{"b":1,"a":2}')) == '{"b":1,"a":2}'
    assert jsontext.serialize({"b": 1, "a": [1e-05]}) == '{"b":1,"a":[1e-05]}'
    with pytest.raises(TypeError):
        json.dumps(jsontext.Encoded("[]"))  # never mistaken for a string elsewhere


# --- decoded values: no round trip needed -------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_what_orjson_decoded_encodes_as_json_without_the_round_trip(seed: int) -> None:
    """``decode`` says when orjson read the text; ``decoded_canonical`` then trusts that
    everything in it is plain and only looks at floats. Either way: json's text, or None."""
    trusted = 0
    for item in generated(1500, seed):
        try:
            body = php_encode(item, ensure_ascii=False)
        except UnicodeEncodeError:
            continue
        value, plain = jsontext.decode(body)
        assert same(value, json.loads(body))
        if not plain:
            continue
        text = jsontext.decoded_canonical(value)
        if text is not None:
            trusted += 1
            assert text == old_canonical(value).encode("utf-8")
        assert text == jsontext.plain_canonical(value)
    assert trusted > 500


@pytest.mark.parametrize(
    "text",
    [
        b"[NaN]",
        b'{"x":-Infinity}',
        b"[18446744073709551616]",
        b"[1e400]",
        b'"\\ud800"',
        b"\xef\xbb\xbf[1]",
    ],
)
def test_what_only_json_reads_is_not_plain(text: bytes) -> None:
    value, plain = jsontext.decode(text)
    assert same(value, json.loads(text)) and plain is False
