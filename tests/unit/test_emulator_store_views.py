"""``GET /V1/store/storeViews`` in the emulator: its store views as Magento lists them (the
``admin`` view, id 0, included), and controls that add or remove one while a client runs."""

from __future__ import annotations

import json

from sync.emulator import Catalog
from tests.unit.emulator_calls import TENANT, call, make_app

PATH = f"/{TENANT}/V1/store/storeViews"
FIELDS = {"id", "code", "name", "website_id", "store_group_id", "is_active"}


def admin(method: str, route: str, body: object = None, catalog: Catalog | None = None):  # type: ignore[no-untyped-def]
    app, _ = make_app(catalog)
    data = b"" if body is None else json.dumps(body).encode()
    response = app.handle(method, f"/_emulator{route}", {}, "", data)
    return response.status, response.json(), app


def test_lists_admin_first_then_every_configured_store_view() -> None:
    app, headers = make_app(Catalog.generate(5, seed=1, stores=("default", "fr", "de")))
    status, body = call(app, headers, PATH, [])
    assert status == 200
    assert isinstance(body, list)
    assert [(v["id"], v["code"]) for v in body] == [
        (0, "admin"),
        (1, "default"),
        (2, "fr"),
        (3, "de"),
    ]
    for view in body:
        assert set(view) == FIELDS
        assert view["is_active"] == 1
    assert body[0]["website_id"] == body[0]["store_group_id"] == 0
    assert body[1]["website_id"] == body[1]["store_group_id"] == 1
    assert app.stats.as_dict()["requests"] == {"store_views": 1}


def test_needs_the_store_acl_like_every_accs_endpoint() -> None:
    app, headers = make_app(forbidden={"store_views"}, forbidden_status=403)
    status, body = call(app, headers, PATH, [])
    assert status == 403
    assert body["parameters"]["resources"] == "Magento_Backend::store"
    status, _ = call(app, {**headers, "Authorization": "Bearer nope"}, PATH, [])
    assert status == 401


def test_a_store_view_added_at_run_time_is_listed_and_answers() -> None:
    catalog = Catalog.generate(5, seed=1)
    app, headers = make_app(catalog)
    added = catalog.add_store_view("fr", name="French")
    assert added["code"] == "fr" and added["id"] == 2 and added["name"] == "French"
    status, body = call(app, headers, PATH, [])
    assert [v["code"] for v in body] == ["admin", "default", "fr"]
    status, page = call(app, headers, f"/{TENANT}/V1/products", [("searchCriteria", "")], "fr")
    assert status == 200 and page["total_count"] == 5


def test_a_removed_store_view_is_no_longer_listed_nor_answered_and_ids_are_not_reused() -> None:
    catalog = Catalog.generate(5, seed=1, stores=("default", "fr", "de"))
    app, headers = make_app(catalog)
    catalog.remove_store_view("fr")
    status, body = call(app, headers, PATH, [])
    assert [(v["id"], v["code"]) for v in body] == [(0, "admin"), (1, "default"), (3, "de")]
    status, _ = call(app, headers, f"/{TENANT}/V1/products", [("searchCriteria", "")], "fr")
    assert status == 400
    assert catalog.add_store_view("it")["id"] == 4


def test_an_inactive_store_view_is_listed_but_not_answered() -> None:
    catalog = Catalog.generate(5, seed=1)
    app, headers = make_app(catalog)
    catalog.add_store_view("es", is_active=False)
    _, body = call(app, headers, PATH, [])
    assert body[-1]["code"] == "es" and body[-1]["is_active"] == 0
    assert "es" not in catalog.stores
    status, _ = call(app, headers, f"/{TENANT}/V1/products", [("searchCriteria", "")], "es")
    assert status == 400


def test_admin_controls_add_and_remove_store_views() -> None:
    catalog = Catalog.generate(5, seed=1)
    status, body, _ = admin("POST", "/stores", {"code": "fr", "name": "Français"}, catalog)
    assert status == 200 and body["code"] == "fr" and body["is_active"] == 1
    assert catalog.stores == ("default", "fr")
    status, body, _ = admin("DELETE", "/stores/fr", None, catalog)
    assert status == 200 and body == {"code": "fr", "removed": True}
    assert catalog.stores == ("default",)


def test_admin_controls_refuse_bad_store_views() -> None:
    catalog = Catalog.generate(5, seed=1)
    for body in ({"code": "bad code"}, {"code": "default"}, {"code": "admin"}, {}, {"code": 3}):
        status, answer, _ = admin("POST", "/stores", body, catalog)
        assert status == 400, (body, answer)
    for code in ("default", "admin"):
        status, answer, _ = admin("DELETE", f"/stores/{code}", None, catalog)
        assert status == 400, (code, answer)
    status, _, _ = admin("DELETE", "/stores/nope", None, catalog)
    assert status == 404
    assert catalog.stores == ("default",)
