"""``GET /V1/products/attributes``: Luma's attributes and options, bundled, with option ids
the emulator's products carry, labels per store view, searchCriteria like the other lists, and
the same ACL refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sync.emulator import Catalog
from tests.unit.emulator_calls import TENANT, call, keyset_walk, make_app, sc
from tests.unit.openapi_shapes import problems, response_ref

ATTRIBUTES = f"/{TENANT}/V1/products/attributes"
SAMPLE = Path("/work/shared/data/magento-sample")
LUMA = SAMPLE / "ConfigurableSampleData/fixtures/products.csv"


def by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["attribute_code"]: item for item in body["items"]}


def options(item: dict[str, Any]) -> dict[str, str]:
    return {o["value"]: o["label"] for o in item["options"] if o["value"]}


def test_answers_follow_the_openapi_schema() -> None:
    app, headers = make_app(Catalog.generate(20, seed=1, stores=("default", "fr")))
    definition = response_ref("/V1/products/attributes")
    assert definition == "catalog-data-product-attribute-search-results-interface"
    for store in ("default", "fr"):
        status, body = call(app, headers, ATTRIBUTES, sc(page_size=300), store=store)
        assert status == 200
        assert problems(body, definition) == []


def test_lumas_attributes_with_the_ids_products_carry() -> None:
    app, headers = make_app()
    status, body = call(app, headers, ATTRIBUTES, sc())
    assert status == 200
    found = by_code(body)
    assert body["total_count"] == len(found) >= 20
    color, size, material = found["color"], found["size"], found["material"]
    assert (color["attribute_id"], color["frontend_input"]) == (93, "select")
    assert color["options"][0] == {"label": " ", "value": ""}  # a select's "no choice"
    assert options(color)["49"] == "Black" and options(color)["60"] == "Yellow"
    assert (size["attribute_id"], options(size)["166"], options(size)["179"]) == (144, "XS", "38")
    assert material["frontend_input"] == "multiselect" and "Cotton" in options(material).values()
    assert options(found["eco_collection"]) == {"1": "Yes", "0": "No"}
    assert found["description"]["options"] == []


def test_every_option_value_of_a_generated_product_is_an_option() -> None:
    catalog = Catalog.generate(300, seed=3)
    app, headers = make_app(catalog)
    found = by_code(call(app, headers, ATTRIBUTES, sc())[1])
    used = {"color": 0, "size": 0, "material": 0}
    for product in catalog:
        for code in used:
            value = product.attributes.get(code)
            if value is not None:
                assert set(value.split(",")) <= set(options(found[code])), (code, value)
                used[code] += 1
    assert all(used.values()), used


def test_luma_products_carry_option_ids() -> None:
    if not LUMA.is_file():
        pytest.skip(f"the Luma sample is not at {LUMA}")
    catalog = Catalog.from_csv(LUMA)
    app, headers = make_app(catalog)
    found = by_code(call(app, headers, ATTRIBUTES, sc())[1])
    jacket = next(
        p for p in catalog if p.attributes.get("material") and "," in p.attributes["climate"]
    )
    for code in ("material", "climate", "eco_collection", "pattern"):
        ids = jacket.attributes[code].split(",")
        assert set(ids) <= set(options(found[code])), code


def test_labels_come_in_the_store_views_language() -> None:
    app, headers = make_app(Catalog.generate(20, seed=1, stores=("default", "fr")))
    default = by_code(call(app, headers, ATTRIBUTES, sc(), store="default")[1])["color"]
    french = by_code(call(app, headers, ATTRIBUTES, sc(), store="fr")[1])["color"]
    assert options(default)["49"] == "Black" and options(french)["49"] == "Noir"
    black = next(o for o in default["options"] if o["value"] == "49")
    assert black["store_labels"] == [{"store_id": 2, "label": "Noir"}]
    assert default["default_frontend_label"] == french["default_frontend_label"] == "Color"
    assert french["frontend_labels"] == [{"store_id": 2, "label": "Couleur"}]


def test_paged_by_attribute_id_the_keyset_way() -> None:
    catalog = Catalog.generate(20, seed=1)
    app, headers = make_app(catalog)
    ids = keyset_walk(app, headers, ATTRIBUTES, ("attribute_id", "attribute_id"), 0, page_size=5)
    assert ids == sorted(a.id for a in catalog.attributes())
    status, _ = call(app, headers, ATTRIBUTES, sc(sorts=(("no_such_column", "ASC"),)))
    assert status == 500  # an unknown column of a flat table: an SQL error


def test_changes_a_test_makes_show_in_the_next_answer() -> None:
    catalog = Catalog.generate(40, seed=2)
    app, headers = make_app(catalog)
    catalog.remove_attribute_option("color", 49)
    catalog.relabel_attribute_option("size", 166, "Extra Small")
    with_color = [p for p in catalog if "color" in p.attributes]
    catalog.delete_attribute("color")
    found = by_code(call(app, headers, ATTRIBUTES, sc())[1])
    assert "color" not in found
    assert options(found["size"])["166"] == "Extra Small"
    assert with_color and all("color" not in p.attributes for p in catalog)
    # The products lost the value without their updated_at moving (a foreign-key cascade).
    assert [catalog.get(p.id).updated_at for p in with_color] == [p.updated_at for p in with_color]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="no option 49"):
        catalog.remove_attribute_option("size", 49)


@pytest.mark.parametrize("status", [401, 403])
def test_a_credential_without_the_acl_is_refused(status: int) -> None:
    app, headers = make_app(forbidden={"attributes"}, forbidden_status=status)
    answer, body = call(app, headers, ATTRIBUTES, sc())
    assert answer == status
    assert body["parameters"] == {"resources": "Magento_Catalog::attributes_attributes"}
    assert call(app, headers, f"/{TENANT}/V1/products", sc())[0] == 200


def test_attributes_can_be_changed_over_http() -> None:
    """The controls a test or user in another process has (``/_emulator/attributes...``)."""
    import requests

    from sync.emulator import EmulatorServer

    with (
        EmulatorServer(Catalog.generate(20, seed=3, stores=("default", "fr"))) as emu,
        requests.Session() as session,
    ):
        admin = f"{emu.base_url}/_emulator/attributes"
        relabelled = session.post(
            f"{admin}/color/options/50", json={"label": "Bleu nuit", "store": "fr"}, timeout=5
        )
        assert relabelled.status_code == 200, relabelled.text
        assert emu.catalog.attribute("color").options[1].labels["fr"] == "Bleu nuit"
        assert session.post(f"{admin}/color/options/50", json={}, timeout=5).status_code == 400
        assert session.delete(f"{admin}/color/options/49", timeout=5).status_code == 200
        assert 49 not in {o.id for o in emu.catalog.attribute("color").options}
        assert session.delete(f"{admin}/color/options/49", timeout=5).status_code == 400
        assert session.delete(f"{admin}/size", timeout=5).status_code == 200
        assert "size" not in {a.code for a in emu.catalog.attributes()}
        assert session.delete(f"{admin}/size", timeout=5).status_code == 404
        assert session.get(f"{admin}/color", timeout=5).status_code == 405
