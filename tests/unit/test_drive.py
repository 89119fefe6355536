"""The one run driver (sync.drive): every resource, products included, goes over the store
views through the same loop, so a store view ACCS does not know is skipped once, in every
resource after it, and refusals read the declaration (its ACL, whether a 404 is fatal)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.clock import FakeClock
from sync.errors import EndpointMissing, PermissionDenied, StoreUnknown
from sync.pipeline import Pipeline
from tests.unit.test_pipeline import ScriptedCatalog, item


class UnknownStore(ScriptedCatalog):
    """Products of ``default``; ACCS knows no store view ``xx``; ``refuse`` answers the
    product search with that error."""

    def __init__(self) -> None:
        super().__init__([item(n) for n in range(1, 4)])
        self.refuse: Exception | None = None
        self.asked: list[str] = []

    def search(self, criteria: SearchCriteria, store_code: str) -> Page:
        self.asked.append(f"products {store_code}")
        if store_code == "xx":
            raise StoreUnknown("ACCS does not know store view 'xx'", store_code="xx")
        if self.refuse is not None:
            raise self.refuse
        return super().search(criteria, store_code)


class Lister:
    """Categories: none in ``default``; ``xx`` unknown."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page:
        self.asked.append(f"{path} {store_code}")
        if store_code == "xx":
            raise StoreUnknown("ACCS does not know store view 'xx'", store_code="xx")
        return Page([], total_count=0)


def pipeline(engine: Engine, catalog: UnknownStore, lister: Lister) -> Pipeline:
    return Pipeline(
        engine,
        catalog,
        FakeClock(),
        ["xx", "default"],
        page_size=10,
        resources=("categories", "products"),
        lister=lister,
    )


def test_an_unknown_store_view_is_skipped_once_in_the_declared_order(
    engine: Engine,
) -> None:
    catalog, lister = UnknownStore(), Lister()
    stats = pipeline(engine, catalog, lister).run("sync")
    assert stats.status == "partial"
    assert [line for line in stats.denied if "'xx'" in line] == [
        "store view 'xx' skipped: ACCS does not know store view 'xx'"
    ]
    # Declared order: products first (asked once for xx), categories never ask for it.
    assert catalog.asked.count("products xx") == 1
    assert [a for a in lister.asked if a.endswith(" xx")] == []
    assert [s.store_code for s in stats.stores] == ["default"]
    assert stats.products == 3


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            PermissionDenied("refused", status=403),
            "products: ACCS refused access (403); the API credential's integration needs the "
            "ACL resource Magento_Catalog::products (or leave products out of SYNC_RESOURCES)",
        ),
        (
            PermissionDenied("refused", status=401, acl="Magento_Catalog::catalog"),
            "products: ACCS refused access (401); the API credential's integration needs the "
            "ACL resource Magento_Catalog::catalog (or leave products out of SYNC_RESOURCES)",
        ),
    ],
)
def test_a_refused_resource_is_named_with_its_declared_acl(
    engine: Engine, error: Exception, line: str
) -> None:
    catalog, lister = UnknownStore(), Lister()
    catalog.refuse = error
    stats = pipeline(engine, catalog, lister).run("sync")
    assert stats.status == "partial"
    assert line in stats.denied


def test_a_404_of_a_required_resource_fails_the_run(engine: Engine) -> None:
    catalog, lister = UnknownStore(), Lister()
    catalog.refuse = EndpointMissing("ACCS has no /V1/products here (404)", status=404)
    stats = pipeline(engine, catalog, lister).run("sync")
    assert stats.status == "failed"
    assert isinstance(stats.exception, EndpointMissing)
