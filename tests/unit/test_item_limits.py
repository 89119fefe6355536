"""What an item may hold to be mirrored on every database, and what happens when it cannot be:
a reason naming the value, never an exception that stops the page (issue 14)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync import jsontext
from sync.db.rejects import PAYLOAD_LIMIT, Reject, payload_text
from sync.item_fields import ItemRejected
from sync.models import MAX_ITEM_DEPTH, cleaned, fingerprint, parse_item
from sync.settings import load_settings


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` levels of lists around ``leaf`` (``nested(1)`` is ``[1]``)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def item(**fields: Any) -> dict[str, Any]:
    return {"id": 7, "sku": "SKU-7", "name": "Seven", **fields}


def page_text(*items: str) -> bytes:
    return ('{"items":[' + ",".join(items) + f'],"total_count":{len(items)}}}').encode()


def test_a_page_with_an_item_nested_beyond_any_parser_still_decodes() -> None:
    deep = '{"id":2,"sku":"B","x":' + "[" * 5000 + "]" * 5000 + "}"
    body = page_text('{"id":1,"sku":"A","x":"[{not a bracket"}', deep, '{"id":3,"sku":"C"}')
    page = jsontext.loads(body)
    first, second, third = page["items"]
    assert first == {"id": 1, "sku": "A", "x": "[{not a bracket"}
    assert third == {"id": 3, "sku": "C"}
    with pytest.raises(ItemRejected, match=f"nested deeper than {MAX_ITEM_DEPTH} levels"):
        parse_item(second, "default", fingerprint(second))
    assert page["total_count"] == 3


def test_text_that_is_not_json_stays_an_error_however_deep() -> None:
    with pytest.raises(ValueError):
        jsontext.loads(b"[" * 5000 + b"}")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"price": float("nan")}, "NaN at 'price'"),
        ({"custom_attributes": [{"attribute_code": "w", "value": float("inf")}]}, "Infinity"),
        (
            {"extension_attributes": {"x": [float("-inf")]}},
            "-Infinity at 'extension_attributes.x[0]'",
        ),
        ({"name": "caf\ud800e"}, "a lone surrogate escape in the text at 'name'"),
        ({"bad\udfffkey": 1}, "a lone surrogate escape in a key"),
        ({"deep": nested(300)}, f"nested deeper than {MAX_ITEM_DEPTH} levels"),
        ({"deep": nested(MAX_ITEM_DEPTH)}, f"nested deeper than {MAX_ITEM_DEPTH} levels"),
        ({"huge": "x" * 5_000_000}, "item is 50000"),
    ],
)
def test_items_the_databases_cannot_store_are_rejected_with_a_reason(
    fields: dict[str, Any], words: str
) -> None:
    bad = item(**fields)
    fp = fingerprint(bad)
    assert fp is not None and fp.id == 7  # so a rejected item still counts as present
    with pytest.raises(ItemRejected) as caught:
        parse_item(bad, "default", fp)
    assert words in caught.value.reason
    with pytest.raises(ItemRejected):
        parse_item(bad, "default")
    with pytest.raises(ItemRejected):
        cleaned(bad)


def test_the_deepest_item_every_database_stores_is_accepted() -> None:
    ok = item(deep=nested(MAX_ITEM_DEPTH - 1))
    assert parse_item(ok, "default", fingerprint(ok)).data == ok
    assert cleaned(ok)[0] == ok


def test_the_size_limit_is_the_setting_and_the_reason_names_it() -> None:
    big = item(description="d" * 2000)
    assert parse_item(big, "default", fingerprint(big)).id == 7
    fp = fingerprint(big, max_bytes=1500)
    assert fp is not None
    with pytest.raises(
        ItemRejected, match=r"^item is 20\d\d bytes, over SYNC_MAX_ITEM_BYTES=1500$"
    ):
        parse_item(big, "default", fp)
    with pytest.raises(ItemRejected, match="over SYNC_MAX_ITEM_BYTES=1500"):
        cleaned(big, 1500)


def test_sync_max_item_bytes_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_MAX_ITEM_BYTES", "65536")
    settings = load_settings(
        ims_client_id="id", ims_client_secret="s", ims_org_id="org@AdobeOrg",
        api_endpoint="https://na1.api.commerce.adobe.com/T1", database_url="sqlite://",
    )  # fmt: skip
    assert settings.sync_max_item_bytes == 65536


@pytest.mark.parametrize(
    "value",
    [
        item(price=float("nan"), other=[float("inf"), float("-inf")]),
        item(name="caf\ud800e", **{"k\udc00": "v"}),
        item(deep=nested(5000)),
        item(description="é" * 6_000_000, more=["x" * 100] * 3),
    ],
)
def test_a_rejected_payload_is_valid_bounded_json_naming_the_item(value: dict[str, Any]) -> None:
    text = payload_text(value)
    assert len(text.encode("utf-8")) <= PAYLOAD_LIMIT
    stored = json.loads(text)  # valid JSON (no NaN: json.loads would accept it, so check)
    assert "NaN" not in text.replace('"NaN"', "")
    assert stored["id"] == 7 and stored["sku"] == "SKU-7"
    reject = Reject.of(value, "why")
    assert (reject.product_id, reject.sku, reject.payload) == (7, "SKU-7", text)


def test_an_ordinary_payload_is_stored_as_before() -> None:
    value = item(name="Café 😀", price=1.5, nul="a\x00b")
    assert payload_text(value) == json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("depth", [1, 2, 30, 31, 32, 33, 100])
def test_the_fast_depth_check_counts_levels_as_the_full_check_does(depth: int) -> None:
    for value in (nested(depth), {"a": nested(depth - 2, {"b": 1})} if depth > 1 else {}):
        fast = jsontext.within_depth(value, MAX_ITEM_DEPTH)
        assert fast == (jsontext.unencodable(value, MAX_ITEM_DEPTH) is None)
        assert fast == (depth <= MAX_ITEM_DEPTH)


@pytest.mark.parametrize("depth", [1, 2, 30, 31, 32, 33, 100])
def test_text_with_few_brackets_is_known_shallow_without_walking_it(depth: int) -> None:
    """A cheap bound on the canonical text: a value nesting ``depth`` levels has at least
    ``depth`` opening brackets, so text with at most MAX_ITEM_DEPTH of them needs no walk; more
    (even inside strings) only means the walk decides."""
    for value in (nested(depth), {"a": nested(depth - 2, {"b": 1})} if depth > 1 else {}):
        text = jsontext.canonical_bytes(value)
        assert jsontext.few_containers(text, MAX_ITEM_DEPTH) == (depth <= MAX_ITEM_DEPTH)
    in_strings = jsontext.canonical_bytes({"a": "[" * 40, "b": [1]})
    assert not jsontext.few_containers(in_strings, MAX_ITEM_DEPTH)  # the walk says: shallow
    wide = {f"k{n}": {"v": n} for n in range(40)}  # shallow, but too many to tell from the text
    assert not jsontext.few_containers(jsontext.canonical_bytes(wide), MAX_ITEM_DEPTH)
    assert jsontext.within_depth(wide, MAX_ITEM_DEPTH)


@pytest.mark.parametrize("depth", [MAX_ITEM_DEPTH - 1, MAX_ITEM_DEPTH, MAX_ITEM_DEPTH + 1])
def test_a_fingerprinted_item_is_judged_by_depth_whichever_check_decides(depth: int) -> None:
    for value in (item(deep=nested(depth - 1)), item(deep=nested(depth - 1), wide=[[1]] * 40)):
        fp = fingerprint(value, decoded=True)
        assert fp is not None
        if depth <= MAX_ITEM_DEPTH:
            assert parse_item(value, "default", fp).id == 7
        else:
            with pytest.raises(ItemRejected, match="nested deeper than"):
                parse_item(value, "default", fp)
