"""Child rows (an attribute's options) are replaced whole and deleted by parent key, on every
database, including values a case- and accent-blind collation calls equal."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.db.children import delete_children, replace_children
from sync.db.schema import product_attribute_options

pytestmark = pytest.mark.integration

KEY = ["attribute_id"]


def option(value: str, label: str | None = None, labels: Any = None) -> dict[str, Any]:
    return {
        "attribute_code": "color",
        "value": value,
        "label": label or value,
        "sort_order": None,
        "store_labels": labels,
    }


def stored(engine: Engine) -> set[tuple[str, int, str, str]]:
    t = product_attribute_options.c
    with engine.connect() as conn:
        found = conn.execute(sa.select(t.store_code, t.attribute_id, t.value, t.label)).all()
    return {tuple(r) for r in found}  # type: ignore[misc]


def test_children_are_replaced_whole_per_parent_and_store(engine: Engine) -> None:
    with engine.begin() as conn:
        for store in ("default", "fr"):
            families = [((93,), [option("49"), option("50")]), ((144,), [option("166")])]
            replace_children(conn, product_attribute_options, {"store_code": store}, KEY, families)
    with engine.begin() as conn:
        families = [((93,), [option("50", "Blue!"), option("51")])]
        replace_children(conn, product_attribute_options, {"store_code": "fr"}, KEY, families)
    assert stored(engine) == {
        ("default", 93, "49", "49"),
        ("default", 93, "50", "50"),
        ("default", 144, "166", "166"),
        ("fr", 93, "50", "Blue!"),
        ("fr", 93, "51", "51"),
        ("fr", 144, "166", "166"),
    }
    with engine.begin() as conn:
        delete_children(conn, product_attribute_options, {"store_code": "default"}, KEY, [(93,)])
    assert {r for r in stored(engine) if r[0] == "default"} == {("default", 144, "166", "166")}


def test_store_labels_not_sent_are_sql_null(engine: Engine) -> None:
    with engine.begin() as conn:
        families = [
            ((93,), [option("49", labels=[{"store_id": 2, "label": "Noir"}]), option("50")])
        ]
        replace_children(conn, product_attribute_options, {"store_code": "default"}, KEY, families)
    t = product_attribute_options.c
    with engine.connect() as conn:
        nulls = conn.execute(sa.select(t.value).where(t.store_labels.is_(sa.null()))).all()
        labels = conn.execute(sa.select(t.store_labels).where(t.value == "49")).scalar_one()
    assert [r.value for r in nulls] == ["50"]
    assert labels == [{"store_id": 2, "label": "Noir"}]


def test_values_a_collation_calls_equal_do_not_break_the_write(engine: Engine) -> None:
    """MySQL/MariaDB's default utf8mb4 collation ignores accents: "e" and "é" are one key
    there (the last written wins), two elsewhere. Either way the transaction commits."""
    with engine.begin() as conn:
        families = [((93,), [option("e", "plain"), option("é", "accent")])]
        replace_children(conn, product_attribute_options, {"store_code": "default"}, KEY, families)
    found = stored(engine)
    if engine.dialect.name in ("mysql", "mariadb"):
        assert {label for *_, label in found} == {"accent"}
    else:
        assert found == {("default", 93, "e", "plain"), ("default", 93, "é", "accent")}
