"""Attribute metadata and option labels, end to end on every database.

``accs-sync sync`` against an emulator with two store views (``default`` and ``fr``) mirrors
``GET /V1/products/attributes`` into ``product_attribute_metadata`` and
``product_attribute_options``; the view ``product_attribute_labels`` decodes each product's
select and multiselect values to the option labels of its store view; an option or an
attribute removed upstream leaves the mirror with the next pass; an unchanged pass writes
nothing; a credential without the attributes ACL leaves the other resources mirrored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.schema import (
    catalog_changes,
    product_attribute_metadata,
    product_attribute_options,
    products,
    sync_runs,
)
from sync.emulator import Catalog, EmulatorServer
from tests.integration.mirror import rows

pytestmark = pytest.mark.integration

STORES = ("default", "fr")
LABELS = sa.table(
    "product_attribute_labels",
    sa.column("store_code"),
    sa.column("product_id"),
    sa.column("attribute_code"),
    sa.column("value"),
    sa.column("label"),
)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """200 generated products in two store views (overrides the package fixture)."""
    with EmulatorServer(Catalog.generate(200, seed=11, stores=STORES)) as server:
        yield server


@pytest.fixture
def two_stores(sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_STORE_CODES", ",".join(STORES))
    monkeypatch.delenv("SYNC_RESOURCES", raising=False)  # the default: every resource


def sync(*args: str) -> int:
    return main(["sync", "--quiet", *args])


def mirrored_options(db_url: str, store: str) -> dict[str, dict[str, str | None]]:
    t = product_attribute_options.c
    query = sa.select(t.attribute_code, t.value, t.label).where(t.store_code == store)
    out: dict[str, dict[str, str | None]] = {}
    for r in rows(db_url, query):
        out.setdefault(r.attribute_code, {})[r.value] = r.label
    return out


def upstream_options(emulator: EmulatorServer, store: str) -> dict[str, dict[str, str | None]]:
    return {
        a.code: {str(o.id): o.labels.get(store, o.label) for o in a.options}
        for a in emulator.catalog.attributes()
        if a.options
    }


def live_attributes(db_url: str, store: str) -> dict[int, str]:
    t = product_attribute_metadata.c
    query = sa.select(t.attribute_id, t.attribute_code).where(
        t.store_code == store, t.deleted_at.is_(None)
    )
    return {r.attribute_id: r.attribute_code for r in rows(db_url, query)}


def labels(db_url: str, store: str, product_id: int, code: str) -> set[tuple[str, str | None]]:
    c = LABELS.c
    query = sa.select(c.value, c.label).where(
        c.store_code == store, c.product_id == product_id, c.attribute_code == code
    )
    return {(r.value, r.label) for r in rows(db_url, query)}


def attribute_changes(db_url: str) -> list[tuple[str, str, str]]:
    t = catalog_changes.c
    query = sa.select(t.store_code, t.entity_key, t.op).where(t.resource == "attributes")
    return [tuple(r) for r in rows(db_url, query.order_by(t.seq))]


def test_sync_mirrors_attributes_and_their_options_per_store_view(
    two_stores: None, emulator: EmulatorServer, db_url: str
) -> None:
    assert sync() == 0
    upstream = {a.id: a.code for a in emulator.catalog.attributes()}
    for store in STORES:
        assert live_attributes(db_url, store) == upstream
        assert mirrored_options(db_url, store) == upstream_options(emulator, store)
    assert mirrored_options(db_url, "fr")["color"]["49"] == "Noir"
    assert mirrored_options(db_url, "default")["color"]["49"] == "Black"
    # Products, categories and source items are mirrored in the same run.
    assert len(rows(db_url, sa.select(products.c.id).where(products.c.store_code == "fr"))) == 200
    t = product_attribute_options.c
    [black] = rows(
        db_url,
        sa.select(t.sort_order, t.store_labels).where(
            t.store_code == "default", t.attribute_code == "color", t.value == "49"
        ),
    )
    assert black.sort_order == 0 and black.store_labels == [{"store_id": 2, "label": "Noir"}]
    assert len(attribute_changes(db_url)) == 2 * len(upstream)


def test_the_view_decodes_select_and_multiselect_values_per_store_view(
    two_stores: None, emulator: EmulatorServer, db_url: str
) -> None:
    assert sync() == 0
    child = next(p for p in emulator.catalog if p.attributes.get("color") == "49")
    parent = next(p for p in emulator.catalog if "," in str(p.attributes.get("material", "")))
    materials = {o.id: o for o in emulator.catalog.attribute("material").options}
    wanted = [int(v) for v in parent.attributes["material"].split(",")]
    assert labels(db_url, "default", child.id, "color") == {("49", "Black")}
    assert labels(db_url, "fr", child.id, "color") == {("49", "Noir")}
    for store in STORES:
        assert labels(db_url, store, parent.id, "material") == {
            (str(v), materials[v].labels.get(store, materials[v].label)) for v in wanted
        }
    # Cotton has a French label: the multiselect row in fr shows it.
    cotton = next(o for o in materials.values() if o.label == "Cotton")
    some = next(p for p in emulator.catalog if str(cotton.id) in str(p.attributes.get("material")))
    assert (str(cotton.id), "Coton") in labels(db_url, "fr", some.id, "material")
    # Other attributes pass through with no label: a text attribute with metadata, and one
    # the store describes nowhere.
    description = str(child.attributes["description"])
    assert labels(db_url, "default", child.id, "description") == {(description, None)}
    assert labels(db_url, "default", child.id, "url_key") == {(child.attributes["url_key"], None)}


def test_an_option_removed_upstream_leaves_the_mirror_with_the_next_pass(
    two_stores: None, emulator: EmulatorServer, db_url: str
) -> None:
    assert sync() == 0
    emulator.catalog.remove_attribute_option("material", 209)  # Cotton
    emulator.catalog.remove_attribute_option("color", 49)  # Black
    emulator.catalog.relabel_attribute_option("color", 50, "Bleu marine", store="fr")
    assert sync() == 0
    for store in STORES:
        assert mirrored_options(db_url, store) == upstream_options(emulator, store)
        assert "209" not in mirrored_options(db_url, store)["material"]
        assert "49" not in mirrored_options(db_url, store)["color"]
    assert mirrored_options(db_url, "fr")["color"]["50"] == "Bleu marine"
    assert mirrored_options(db_url, "default")["color"]["50"] == "Blue"
    material = str(emulator.catalog.attribute("material").id)
    color = str(emulator.catalog.attribute("color").id)
    assert set(attribute_changes(db_url)[-4:]) == {
        ("default", color, "update"),
        ("default", material, "update"),
        ("fr", color, "update"),
        ("fr", material, "update"),
    }
    # Products still carry the removed options: a select shows its value with no label; a
    # multiselect shows the options the mirror knows (docs/schema.md).
    black = next(p for p in emulator.catalog if p.attributes.get("color") == "49")
    assert labels(db_url, "fr", black.id, "color") == {("49", None)}
    holder = next(p for p in emulator.catalog if p.attributes.get("material") == "209,214")
    assert labels(db_url, "default", holder.id, "material") == {("214", "Polyester")}


def test_an_attribute_removed_upstream_is_tombstoned_and_its_options_are_gone(
    two_stores: None, emulator: EmulatorServer, db_url: str
) -> None:
    assert sync() == 0
    child = next(p for p in emulator.catalog if p.attributes.get("size"))
    size = emulator.catalog.attribute("size")
    emulator.catalog.delete_attribute("size")
    assert sync() == 0
    t = product_attribute_metadata.c
    gone = rows(db_url, sa.select(t.store_code, t.deleted_at).where(t.attribute_id == size.id))
    assert {r.store_code for r in gone} == set(STORES)
    assert all(r.deleted_at is not None for r in gone)
    for store in STORES:
        assert "size" not in mirrored_options(db_url, store)
        assert size.id not in live_attributes(db_url, store)
    # The products lost the value upstream without their updated_at moving: the mirror keeps
    # the value until the product is next written, but the view no longer labels it.
    for store in STORES:
        assert {label for _, label in labels(db_url, store, child.id, "size")} <= {None}
    assert (
        "default",
        str(size.id),
        "delete",
    ) in attribute_changes(db_url)


def test_an_unchanged_second_pass_writes_nothing(
    two_stores: None, emulator: EmulatorServer, db_url: str
) -> None:
    assert sync() == 0
    before = attribute_changes(db_url)
    t = product_attribute_options.c
    stamps = rows(
        db_url,
        sa.select(product_attribute_metadata.c.synced_at).order_by(
            product_attribute_metadata.c.store_code, product_attribute_metadata.c.attribute_id
        ),
    )
    options = rows(
        db_url,
        sa.select(t.store_code, t.attribute_id, t.value, t.label).order_by(
            t.store_code, t.attribute_id, t.value
        ),
    )
    assert sync("--resource", "attributes") == 0
    assert attribute_changes(db_url) == before
    assert (
        rows(
            db_url,
            sa.select(product_attribute_metadata.c.synced_at).order_by(
                product_attribute_metadata.c.store_code, product_attribute_metadata.c.attribute_id
            ),
        )
        == stamps
    )
    assert (
        rows(
            db_url,
            sa.select(t.store_code, t.attribute_id, t.value, t.label).order_by(
                t.store_code, t.attribute_id, t.value
            ),
        )
        == options
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # an ACL refusal: no SQL of its own
def test_a_credential_without_the_attributes_acl_leaves_the_rest_mirrored(
    two_stores: None,
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.faults.forbidden = {"attributes"}
    assert sync() == 1
    err = capsys.readouterr().err
    assert (
        "accs-sync: error: attributes: ACCS refused access (401); the API credential's "
        "integration needs the ACL resource Magento_Catalog::attributes_attributes" in err
    )
    status = rows(db_url, sa.select(sync_runs.c.status).order_by(sync_runs.c.id.desc()))[0]
    assert status.status == "partial"
    assert len(rows(db_url, sa.select(products.c.id))) == 400
    assert live_attributes(db_url, "default") == {}
    emulator.faults.forbidden = set()
    assert sync() == 0
    assert len(live_attributes(db_url, "default")) == len(emulator.catalog.attributes())
