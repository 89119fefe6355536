"""Generated JSON-ish values for property-style tests: tricky floats, every plane of Unicode,
NUL characters, huge integers, nesting. Deterministic for a given seed."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

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


def product_items(count: int, seed: int) -> list[dict[str, Any]]:
    """Items shaped like ACCS products (id, sku, stock, custom attributes) with generated
    values everywhere else, NULs in strings and keys included."""
    rng = random.Random(seed)
    items = []
    for n in range(count):
        item: dict[str, Any] = {"id": n + 1, "sku": f"SKU-{n}"}
        if rng.random() < 0.2:
            item["sku"] = f"SKU\x00-{n}"
        if rng.random() < 0.1:
            item["id"] = str(n + 1)
        item["price"] = rng.choice([10, 34.99, 0.00001, 1e16, "12.50", None])
        item["extension_attributes"] = {"stock_item": {"qty": rng.randrange(100), "x": value(rng)}}
        item["custom_attributes"] = [
            {"attribute_code": key(rng) or "code", "value": value(rng)} for _ in range(3)
        ]
        for _ in range(rng.randrange(0, 4)):
            item[key(rng)] = value(rng)
        if rng.random() < 0.1:
            item["name\x00"] = "Name with a NUL key\x00"
        items.append(item)
    return items
