"""The attributes resource's parsers: an item of ``GET /V1/products/attributes`` to its row in
``product_attribute_metadata`` and its options' rows in ``product_attribute_options``, with
the hostile values a store can send."""

from __future__ import annotations

from typing import Any

import pytest

from sync.item_fields import ItemRejected
from sync.resources import ATTRIBUTES, RESOURCES, attribute_options, parse_attribute


def color(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "attribute_id": 93,
        "attribute_code": "color",
        "frontend_input": "select",
        "entity_type_id": "4",
        "is_required": False,
        "is_user_defined": True,
        "scope": "global",
        "default_frontend_label": "Color",
        "frontend_labels": [{"store_id": 2, "label": "Couleur"}],
        "options": [
            {"label": " ", "value": ""},
            {
                "label": "Black",
                "value": "49",
                "sort_order": 1,
                "is_default": False,
                "store_labels": [{"store_id": 2, "label": "Noir"}],
            },
            {"label": "Blue", "value": "50"},
        ],
    }
    item.update(changes)
    return item


def test_an_attribute_is_declared_like_every_other_resource() -> None:
    assert RESOURCES["attributes"] is ATTRIBUTES
    assert ATTRIBUTES.path == "/V1/products/attributes"
    assert ATTRIBUTES.acl == "Magento_Catalog::attributes_attributes"
    assert ATTRIBUTES.incremental is None and ATTRIBUTES.per_store
    assert ATTRIBUTES.key_of(color()) == (93,)
    assert ATTRIBUTES.key_of(color(attribute_id="93")) == (93,)
    assert [child.table.name for child in ATTRIBUTES.children] == ["product_attribute_options"]


def test_the_row_holds_code_input_label_and_flags() -> None:
    assert parse_attribute(color()) == {
        "attribute_code": "color",
        "frontend_input": "select",
        "label": "Color",
        "is_user_defined": True,
        "scope": "global",
    }


def test_options_become_rows_and_the_empty_placeholder_is_left_out() -> None:
    assert attribute_options(color()) == [
        {
            "attribute_code": "color",
            "value": "49",
            "label": "Black",
            "sort_order": 1,
            "store_labels": [{"store_id": 2, "label": "Noir"}],
        },
        {
            "attribute_code": "color",
            "value": "50",
            "label": "Blue",
            "sort_order": None,
            "store_labels": None,
        },
    ]


def test_an_attribute_without_options_has_no_option_rows() -> None:
    text = color(attribute_code="description", frontend_input="textarea")
    del text["options"]
    assert attribute_options(text) == []
    assert attribute_options(color(options=None)) == []
    assert attribute_options(color(options=[])) == []


def test_a_repeated_option_value_keeps_the_last_one() -> None:
    options = [{"label": "Black", "value": "49"}, {"label": "Noir", "value": "49"}]
    assert [o["label"] for o in attribute_options(color(options=options))] == ["Noir"]


def test_numbers_as_option_values_are_read_as_text() -> None:
    rows = attribute_options(color(options=[{"label": 28, "value": 171}]))
    assert (rows[0]["value"], rows[0]["label"]) == ("171", "28")


def test_a_missing_attribute_id_leaves_the_item_without_a_key() -> None:
    for bad in (None, "", "x", -1, True, 2**64):
        assert ATTRIBUTES.key_of(color(attribute_id=bad)) is None
    item = color()
    del item["attribute_id"]
    assert ATTRIBUTES.key_of(item) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"attribute_code": None}, "attribute_code must be text"),
        ({"attribute_code": ""}, "attribute_code must be text"),
        ({"attribute_code": 12}, "attribute_code must be text"),
        ({"attribute_code": "x" * 256}, "attribute_code must be text"),
        ({"frontend_input": ["select"]}, "frontend_input must be text"),
        ({"frontend_input": "s" * 51}, "frontend_input must be text"),
        ({"default_frontend_label": {"en": "Color"}}, "default_frontend_label must be text"),
        ({"is_user_defined": "maybe"}, "is_user_defined must be a boolean"),
        ({"scope": 7}, "scope must be text"),
    ],
)
def test_hostile_attribute_fields_reject_the_item(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ItemRejected) as caught:
        parse_attribute(color(**changes))
    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ("49:Black", "options must be a list"),
        ({"value": "49"}, "options must be a list"),
        (["49"], "options[0] must be an object"),
        ([{"value": "49", "label": ["Black"]}], "options[0].label must be text"),
        ([{"value": "49", "label": True}], "options[0].label must be text"),
        ([{"value": {"id": 49}, "label": "Black"}], "options[0].value must be text"),
        ([{"value": "4" * 256, "label": "Black"}], "options[0].value must be text"),
        ([{"value": "49", "label": "B", "sort_order": "first"}], "options[0].sort_order"),
        ([{"value": "49", "label": "B", "store_labels": "Noir"}], "options[0].store_labels"),
    ],
)
def test_hostile_options_reject_the_item(options: Any, reason: str) -> None:
    with pytest.raises(ItemRejected) as caught:
        attribute_options(color(options=options))
    assert caught.value.reason.startswith(reason)


def test_a_huge_label_is_kept_whole() -> None:
    """The item's size is bounded by SYNC_MAX_ITEM_BYTES (the engine rejects a larger one);
    a label within it is stored as sent, not cut."""
    huge = "Black " * 20_000
    rows = attribute_options(color(options=[{"label": huge, "value": "49"}]))
    assert rows[0]["label"] == huge
    assert parse_attribute(color(default_frontend_label=huge))["label"] == huge


def test_an_error_names_the_option_without_echoing_a_huge_value() -> None:
    with pytest.raises(ItemRejected) as caught:
        attribute_options(color(options=[{"value": "9" * 100_000, "label": "x"}]))
    assert len(caught.value.reason) < 300


def test_values_mysql_would_call_equal_are_one_option() -> None:
    """MySQL/MariaDB compare text without case and trailing spaces: two such values in one
    item would break the page's transaction there, so the last one is kept everywhere."""
    options = [{"label": "lower", "value": "us"}, {"label": "upper", "value": "US "}]
    assert [(o["value"], o["label"]) for o in attribute_options(color(options=options))] == [
        ("US ", "upper")
    ]
