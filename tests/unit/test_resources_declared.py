"""Every resource, products included, is a declaration (issue 15): what the passes read of it,
the ``sync_state`` keys it keeps (a public contract), and declarations the passes cannot honour
refused at import, naming what is wrong."""

from __future__ import annotations

import dataclasses

import pytest

from sync.models import parse_item
from sync.resources import (
    CATEGORIES,
    PRODUCTS,
    RESOURCES,
    SOURCE_ITEMS,
    KeyField,
    Resource,
    StateKeys,
    resource_names,
)


def test_products_are_a_declaration_in_resources() -> None:
    assert RESOURCES["products"] is PRODUCTS
    assert isinstance(PRODUCTS, Resource)
    assert (PRODUCTS.path, PRODUCTS.acl) == ("/V1/products", "Magento_Catalog::products")
    assert PRODUCTS.table.name == "products"
    assert [(k.filter, k.item, k.numeric) for k in PRODUCTS.keys] == [("entity_id", "id", True)]
    assert (PRODUCTS.incremental, PRODUCTS.per_store) == ("updated_at", True)
    assert (PRODUCTS.partitions, PRODUCTS.deletions, PRODUCTS.checkpoints) == (
        "id_ranges",
        "interval",
        True,
    )
    assert [c.table.name for c in PRODUCTS.children] == [
        "product_attributes",
        "product_categories",
    ]
    assert not any(c.cleared_on_delete for c in PRODUCTS.children)  # kept when tombstoned
    assert [t.name for t in PRODUCTS.change_logs] == ["product_changes", "catalog_changes"]
    assert (PRODUCTS.runs, PRODUCTS.required) == ("products", True)


def test_products_declared_child_rows_are_the_ones_their_parser_reads() -> None:
    item = {
        "id": 7,
        "sku": "MJ01",
        "custom_attributes": [
            {"attribute_code": "color", "value": "49"},
            {"attribute_code": "size", "value": "168"},
        ],
        "extension_attributes": {"category_links": [{"category_id": "3", "position": 1}]},
    }
    record = parse_item(item, "default")
    attributes, categories = (child.rows(item) for child in PRODUCTS.children)
    assert attributes == [
        {"attribute_code": code, "value": value} for code, value in record.attributes
    ]
    assert attributes[0] == {"attribute_code": "color", "value": "49"}
    assert categories == [{"category_id": 3, "position": 1}]


def test_state_keys_are_the_ones_earlier_releases_wrote() -> None:
    # A checkpoint or watermark written by today's release must be found after an upgrade.
    assert (PRODUCTS.state.watermark, PRODUCTS.state.checkpoint) == (
        "watermark",
        "backfill_checkpoint",
    )
    assert (CATEGORIES.state.watermark, CATEGORIES.state.checkpoint) == (
        "categories:watermark",
        "categories:checkpoint",
    )
    assert SOURCE_ITEMS.state.checkpoint == "source_items:checkpoint"
    # New keys: an interrupted incremental walk in key order resumes (categories only; products
    # raise their watermark page by page, source items have no incremental field).
    assert CATEGORIES.state.incremental_checkpoint == "categories:incremental"
    assert PRODUCTS.state.incremental_checkpoint is None
    assert SOURCE_ITEMS.state.incremental_checkpoint is None


def test_the_other_resources_declare_how_they_are_partitioned() -> None:
    assert (CATEGORIES.partitions, CATEGORIES.deletions, CATEGORIES.runs) == (
        "id_ranges",
        "interval",
        "resource",
    )
    assert (SOURCE_ITEMS.partitions, SOURCE_ITEMS.deletions) == ("first_key", "sweep")
    assert not CATEGORIES.required and not SOURCE_ITEMS.required


def test_resource_names_keep_products_first() -> None:
    assert resource_names()[:3] == ("products", "categories", "source_items")
    assert resource_names() == tuple(RESOURCES)


TEXT_KEY = (KeyField("sku", "sku", "sku"),)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"keys": TEXT_KEY, "partitions": "id_ranges"}, "id_ranges partitions need"),
        ({"keys": TEXT_KEY, "partitions": "first_key"}, "first_key partitions need"),
        ({"keys": TEXT_KEY, "partitions": "none", "deletions": "interval"}, "interval deletions"),
        ({"state": StateKeys("categories:watermark")}, "checkpoints need a state.checkpoint"),
        (
            {"state": StateKeys("categories:watermark"), "checkpoints": False},
            "the resource engine resumes every full pass",
        ),
        (
            {"state": StateKeys("categories:watermark", "categories:checkpoint")},
            "the resource engine resumes every incremental pass",
        ),
        (
            {"incremental": None},
            "an incremental checkpoint needs an incremental field",
        ),
    ],
)
def test_a_declaration_the_passes_cannot_honour_is_refused(
    change: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=f"resource categories: {problem}"):
        dataclasses.replace(CATEGORIES, **change)  # type: ignore[arg-type]
