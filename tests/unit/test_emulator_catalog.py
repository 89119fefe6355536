"""The emulator's catalog: deterministic generation, CSV import, and mutations that move (or,
like Magento's stock and image saves, do not move) ``updated_at``."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sync.clock import FakeClock
from sync.emulator import Catalog, Product

LUMA = Path("/work/shared/data/magento-sample/ConfigurableSampleData/fixtures/products.csv")


def test_generate_is_deterministic_and_realistic() -> None:
    a = Catalog.generate(3000, seed=7)
    b = Catalog.generate(3000, seed=7)
    assert list(a.items()) == list(b.items())
    assert [p.sku for p in Catalog.generate(3000, seed=8)] != a.skus()

    products = list(a)
    assert len(products) == 3000
    ids = [p.id for p in products]
    assert ids == sorted(ids) and ids[0] == 1
    assert ids[-1] > len(ids)  # gaps, as if some products were deleted

    types = Counter(p.type_id for p in products)
    assert 0.05 < types["configurable"] / 3000 < 0.11
    assert {"simple", "virtual", "downloadable", "bundle", "grouped"} <= set(types)
    by_id = {p.id: p for p in products}
    for parent in (p for p in products if p.type_id == "configurable"):
        assert parent.children and parent.weight is None and parent.visibility == 4
        assert all(
            by_id[c].visibility == 1 and by_id[c].type_id == "simple" for c in parent.children
        )
    assert any(p.price is None for p in products)
    assert any(p.weight is None and p.type_id == "simple" for p in products)

    stamps = Counter(p.updated_at for p in products)
    assert stamps.most_common(1)[0][1] >= 5  # mass updates share one second
    assert all(p.updated_at and len(p.updated_at) == 19 for p in products)
    assert all(p.created_at is None or p.created_at <= (p.updated_at or "") for p in products)


def test_rendered_item_has_the_accs_shape() -> None:
    catalog = Catalog.generate(200, seed=2)
    parent = next(p for p in catalog if p.type_id == "configurable")
    item = catalog.item(parent.sku)
    assert item is not None
    assert "weight" not in item  # configurable parents have no weight
    ext = item["extension_attributes"]
    assert ext["configurable_product_links"] == list(parent.children)
    assert {"attribute_id", "label", "values", "product_id"} <= set(
        ext["configurable_product_options"][0]
    )
    assert {"qty", "is_in_stock", "item_id", "product_id", "stock_id"} <= set(ext["stock_item"])
    codes = {a["attribute_code"] for a in item["custom_attributes"]}
    assert {"description", "url_key", "tax_class_id"} <= codes
    child = catalog.item(parent.children[0])
    assert child is not None
    child_codes = {a["attribute_code"]: a["value"] for a in child["custom_attributes"]}
    option_values = {
        v["value_index"] for o in ext["configurable_product_options"] for v in o["values"]
    }
    assert int(child_codes["color"]) in option_values


def test_mutations_bump_updated_at_but_stock_and_images_do_not() -> None:
    clock = FakeClock(datetime(2026, 2, 1, 12, 0, 0, tzinfo=UTC))
    catalog = Catalog.generate(50, seed=1, clock=clock.now)
    sku = catalog.skus()[3]
    before = catalog.item(sku)
    assert before is not None

    clock.advance(30)
    catalog.set_stock(sku, 0, False)
    catalog.set_images(sku, ["/n/e/new.jpg"])
    after = catalog.item(sku)
    assert after is not None
    assert after["extension_attributes"]["stock_item"]["qty"] == 0
    assert after["extension_attributes"]["stock_item"]["is_in_stock"] is False
    assert after["media_gallery_entries"][0]["file"] == "/n/e/new.jpg"
    assert after["updated_at"] == before["updated_at"]  # the trap an updated_at sync misses

    version = catalog.version
    item = catalog.update(sku, price=12.5, color="49")
    assert catalog.version > version
    assert item["updated_at"] == "2026-02-01 12:00:30"
    assert item["price"] == 12.5
    assert {"attribute_code": "color", "value": "49"} in item["custom_attributes"]

    created = catalog.create("NEW-1", name="New thing", price=None)
    assert created["id"] == max(catalog.ids())
    assert "price" not in created
    catalog.delete("NEW-1")
    assert "NEW-1" not in catalog and catalog.get(created["id"]) is None
    assert catalog.create("NEW-2")["id"] == created["id"] + 1  # ids are never reused

    stamp = catalog.touch_many(catalog.ids()[:10], at=datetime(2026, 3, 1, 8, 0, 0))
    assert stamp == "2026-03-01 08:00:00"
    assert {p.updated_at for p in list(catalog)[:10]} == {stamp}


def test_store_overrides_and_add_round_trip() -> None:
    catalog = Catalog.generate(10, seed=1, stores=["default", "fr"])
    sku = catalog.skus()[0]
    catalog.update(sku, store="fr", name="Nom français")
    assert catalog.item(sku, "fr")["name"] == "Nom français"  # type: ignore[index]
    assert catalog.item(sku)["name"] != "Nom français"  # type: ignore[index]
    with pytest.raises(ValueError):
        catalog.update(sku, store="de", name="x")

    item = catalog.item(sku)
    assert item is not None
    copy = Catalog([], stores=["default"])
    added = copy.add(item)
    assert added == item
    with pytest.raises(ValueError):
        copy.add(item)  # duplicate sku


def test_duplicate_skus_are_refused_ignoring_case() -> None:
    with pytest.raises(ValueError, match="twice"):
        Catalog([Product(id=1, sku="abc"), Product(id=2, sku="ABC")])
    with pytest.raises(ValueError, match="already exists"):
        Catalog([Product(id=2, sku="abc"), Product(id=1, sku="ABC")])


def test_snapshot_is_unaffected_by_later_changes() -> None:
    catalog = Catalog.generate(20, seed=1)
    snap = catalog.snapshot()
    catalog.update(snap.products[0].sku, name="Changed")
    catalog.delete(snap.products[1].sku)
    assert snap.products[0].name != "Changed"
    assert len(snap.products) == 20 and len(catalog) == 19


def test_from_csv_with_store_view_rows(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    columns = [
        "sku",
        "store_view_code",
        "attribute_set_code",
        "product_type",
        "categories",
        "name",
        "weight",
        "product_online",
        "visibility",
        "price",
        "url_key",
        "created_at",
        "updated_at",
        "additional_attributes",
        "qty",
        "is_in_stock",
        "configurable_variations",
    ]
    rows = [
        [
            "K-S",
            "",
            "Top",
            "simple",
            "Default Category/Men",
            "Kid S",
            "1",
            "1",
            "Not Visible Individually",
            "10",
            "",
            "",
            "",
            "size=S,color=Red",
            "5",
            "1",
            "",
        ],
        [
            "K",
            "",
            "Gear",
            "configurable",
            "Default Category/Men",
            "Kid",
            "",
            "1",
            "Catalog, Search",
            "10",
            "kid",
            "2024-02-03 04:05:06",
            "",
            "",
            "0",
            "1",
            "sku=K-S,size=S,color=Red",
        ],
        ["K", "fr", "", "", "", "Enfant", "", "", "", "", "", "", "", "", "", "", ""],
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    catalog = Catalog.from_csv(path)
    assert catalog.stores == ("default", "fr")
    assert catalog.ids() == [1, 2]
    parent = catalog.get("K")
    assert parent is not None
    assert (parent.attribute_set_id, parent.visibility, parent.weight) == (11, 4, None)
    assert parent.created_at == "2024-02-03 04:05:06"
    assert parent.children == (1,)
    assert catalog.item("K", "fr")["name"] == "Enfant"  # type: ignore[index]
    child = catalog.get("K-S")
    assert child is not None and child.created_at and child.updated_at
    assert (child.attribute_set_id, child.visibility, child.qty) == (9, 1, 5.0)


@pytest.mark.skipif(not LUMA.is_file(), reason="Luma sample data not available")
def test_from_csv_loads_the_luma_sample_catalog() -> None:
    with LUMA.open(newline="", encoding="utf-8") as handle:
        skus = {row["sku"] for row in csv.DictReader(handle)}
    catalog = Catalog.from_csv(LUMA)
    assert len(catalog) == len(skus) == 1994
    assert catalog.ids() == list(range(1, 1995))
    assert Counter(p.type_id for p in catalog) == {"simple": 1847, "configurable": 147}
    parent = catalog.get("WSH12")
    assert parent is not None
    assert len(parent.children) == 15
    assert all(p.created_at and p.updated_at for p in catalog)
    assert Catalog.from_csv(LUMA).skus() == catalog.skus()
