"""``SYNC_STORE_CODES=all``: the answer of ``GET /V1/store/storeViews`` becomes the run's store
views; a hostile answer is an error that says what is wrong, or filtered with a warning."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sync.errors import ApiError, EndpointMissing, PermissionDenied
from sync.stores import MAX_STORE_VIEWS, parse_store_views, resolve_store_views


def view(code: Any, id: int = 1, is_active: Any = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "code": code,
        "name": str(code).title(),
        "website_id": 1,
        "store_group_id": 1,
        "is_active": is_active,
        **extra,
    }


def test_admin_is_left_out_and_the_order_is_kept() -> None:
    body = [view("admin", 0, website_id=0), view("default", 1), view("fr", 2), view("de", 3)]
    found = parse_store_views(body)
    assert found.codes == ("default", "fr", "de")
    assert found.inactive == () and found.warnings == ()


def test_inactive_store_views_are_left_out_and_named() -> None:
    body = [view("default", 1), view("es", 2, is_active=0), view("it", 3, is_active=False)]
    found = parse_store_views(body)
    assert found.codes == ("default",)
    assert found.inactive == ("es", "it")
    assert found.warnings == ()


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("fr", "not an object"),
        (None, "not an object"),
        ({"id": 4, "name": "no code"}, "no store code"),
        (view(7, 4), "no store code"),
        (view("bad code", 4), "'bad code' is not a valid store view code"),
        (view("fr\x1b[2J", 4), "fr\\x1b[2J"),
        (view("x" * 65, 4), "is not a valid store view code"),
        (view("it", 4, is_active="yes"), "is_active"),
        (view("it", 4, is_active=None), "is_active"),
    ],
)
def test_an_unusable_entry_is_left_out_with_a_warning(entry: Any, said: str) -> None:
    found = parse_store_views([view("default", 1), entry])
    assert found.codes == ("default",)
    assert len(found.warnings) == 1
    assert said in found.warnings[0]
    assert "\x1b" not in found.warnings[0]


def test_a_duplicate_code_is_kept_once_with_a_warning() -> None:
    found = parse_store_views([view("default", 1), view("fr", 2), view("fr", 3)])
    assert found.codes == ("default", "fr")
    assert found.warnings == ("ACCS lists store view 'fr' twice (ids 2 and 3): mirrored once",)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"items": [view("default")]}, "not a list"),
        ("default", "not a list"),
        (None, "not a list"),
        ([], "no active store view"),
        ([view("admin", 0)], "no active store view"),
        ([view("default", 1, is_active=0)], "no active store view"),
        ([view(f"s{i}", i) for i in range(MAX_STORE_VIEWS + 1)], f"{MAX_STORE_VIEWS + 1}"),
    ],
)
def test_an_unusable_answer_is_an_error_naming_the_setting(body: Any, said: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_store_views(body)
    assert said in info.value.message
    assert "SYNC_STORE_CODES" in info.value.message
    assert "/V1/store/storeViews" in info.value.message


ANSWER = [view("admin", 0), view("default", 1), view("fr", 2), view("es", 3, is_active=0)]


def test_resolving_reports_the_store_views_mirrored_before_that_accs_no_longer_lists(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "sync.stores")
    asked: list[str] = []

    def fetch(path: str) -> Any:
        asked.append(path)
        return ANSWER

    resolved = resolve_store_views(fetch, lambda: {"default", "de", "es"})
    assert asked == ["/V1/store/storeViews"]
    assert resolved.codes == ["default", "fr"]
    assert resolved.removed == ["de", "es"]  # gone, and no longer active
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("never tombstoned" in w for w in warnings)
    assert "store view es is inactive in ACCS: not mirrored" in caplog.messages


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_names_the_acl_and_the_setting(status: int) -> None:
    def fetch(path: str) -> Any:
        raise PermissionDenied("refused", status=status, acl=None)

    with pytest.raises(PermissionDenied) as info:
        resolve_store_views(fetch, set)
    assert "Magento_Backend::store" in info.value.message
    assert "SYNC_STORE_CODES" in info.value.message
    assert info.value.exit_code == 1 and info.value.acl == "Magento_Backend::store"


def test_an_instance_without_the_endpoint_says_to_list_the_codes() -> None:
    def fetch(path: str) -> Any:
        raise EndpointMissing("no route", status=404)

    with pytest.raises(EndpointMissing) as info:
        resolve_store_views(fetch, set)
    assert "SYNC_STORE_CODES" in info.value.message and info.value.exit_code == 2
