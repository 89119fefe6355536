"""``SYNC_STORE_CODES=all``: the store views to mirror, read from ACCS at the start of every run.

``GET /V1/store/storeViews`` (ACL ``Magento_Backend::store``) answers a JSON list of store
views (``id``, ``code``, ``name``, ``website_id``, ``store_group_id``, ``is_active``). A run
mirrors each listed store view except ``admin`` (id 0: the admin panel's, not a catalog) and
the inactive ones (``is_active`` 0: Magento answers no catalog request for them), which are
named in an info line. Resolving at the start of each run, not once at start-up, lets a
daemon pick up a new store view on its next run.

A store view the mirror has state for that ACCS no longer lists is reported (a warning and
the run summary) and left alone: its rows are never tombstoned or deleted, since a store view
switched off for a day must not cost its whole mirror.

The answer is not trusted: anything but a list, more than :data:`MAX_STORE_VIEWS` entries or no
active store view is an error naming the setting; an entry without a valid store code (the rule
``SYNC_STORE_CODES`` applies) or with an unusable ``is_active`` is left out with a warning, a
duplicate code is mirrored once with a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sync.errors import EndpointMissing, FatalApiError, OrgRejected, PermissionDenied
from sync.redact import escape_control

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "ALL_STORES",
    "MAX_STORE_VIEWS",
    "STORE_ACL",
    "STORE_CODE",
    "STORE_VIEWS_PATH",
    "ResolvedStores",
    "StoreViewList",
    "invalid_store_codes",
    "mirrored_store_codes",
    "parse_store_views",
    "removed_line",
    "resolve_store_views",
]

log = logging.getLogger(__name__)

#: The ``SYNC_STORE_CODES`` value that asks ACCS for the store views.
ALL_STORES = "all"
STORE_VIEWS_PATH = "/V1/store/storeViews"
#: The ACL resource ``GET /V1/store/storeViews`` needs.
STORE_ACL = "Magento_Backend::store"
#: More store views than this is no catalog but a mistake (each one is a full pass per run).
MAX_STORE_VIEWS = 500
#: What ``SYNC_STORE_CODES`` accepts as a store view code (and so what a discovered one must be).
STORE_CODE = re.compile(r"[A-Za-z0-9_]{1,64}")
#: The admin panel's store view: listed by Magento, never a catalog to mirror.
_ADMIN = "admin"
_SETTING = "SYNC_STORE_CODES"


def invalid_store_codes(codes: Iterable[str]) -> list[str]:
    """The codes that are not store view codes (letters, digits and _ only)."""
    return [code for code in codes if not STORE_CODE.fullmatch(code)]


@dataclass(frozen=True)
class StoreViewList:
    """What a ``GET /V1/store/storeViews`` answer means for a run."""

    #: The active store views to mirror, in ACCS's order.
    codes: tuple[str, ...]
    #: The inactive ones, left out.
    inactive: tuple[str, ...] = ()
    #: Entries left out or merged, one line each (control characters escaped).
    warnings: tuple[str, ...] = ()


def _refuse(problem: str) -> FatalApiError:
    return FatalApiError(
        f"{_SETTING}=all: ACCS's GET {STORE_VIEWS_PATH} answer is unusable ({problem}); list "
        f"the store view codes to mirror in {_SETTING} instead"
    )


def parse_store_views(body: Any) -> StoreViewList:
    """The store views a run mirrors, from the decoded answer ``body``; raises
    :class:`~sync.errors.FatalApiError` for an answer that cannot be used at all."""
    if not isinstance(body, list):
        raise _refuse(f"a JSON {_json_kind(body)}, not a list of store views")
    if len(body) > MAX_STORE_VIEWS:
        raise _refuse(f"{len(body)} store views; at most {MAX_STORE_VIEWS} are mirrored")
    codes: dict[str, Any] = {}  # code -> id, in ACCS's order
    inactive: list[str] = []
    warnings: list[str] = []
    for position, entry in enumerate(body, 1):
        problem, code = _check(entry)
        if problem:
            warnings.append(f"left out entry {position} of ACCS's store views: {problem}")
        elif code == _ADMIN or entry.get("id") == 0:
            continue
        elif code in codes or code in inactive:
            first = codes.get(code, "?")
            warnings.append(
                f"ACCS lists store view {code!r} twice (ids {first} and {entry.get('id')}): "
                "mirrored once"
            )
        elif entry["is_active"] in (0, False):
            inactive.append(code)
        else:
            codes[code] = entry.get("id")
    if not codes:
        raise _refuse("no active store view besides admin")
    return StoreViewList(tuple(codes), tuple(inactive), tuple(warnings))


def _check(entry: Any) -> tuple[str, str]:
    """``(problem, code)``: the reason an entry is left out ("" when usable) and its code."""
    if not isinstance(entry, dict):
        return f"a JSON {_json_kind(entry)}, not an object", ""
    code = entry.get("code")
    if not isinstance(code, str):
        return "no store code", ""
    if not STORE_CODE.fullmatch(code):
        return (
            f"{escape_control(repr(code[:80]))} is not a valid store view code (letters, "
            "digits and _ only, as in SYNC_STORE_CODES)",
            "",
        )
    if entry.get("is_active") not in (0, 1, True, False):
        shown = escape_control(repr(entry.get("is_active"))[:40])
        return f"store view {code!r} has is_active {shown} (0 or 1 expected)", ""
    return "", code


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def mirrored_store_codes(engine: Engine) -> set[str]:
    """The store views the mirror holds state for (a watermark or a checkpoint of any
    resource): those mirrored before."""
    import sqlalchemy as sa

    from sync.db.schema import sync_state
    from sync.resources import GLOBAL_STORE

    with engine.connect() as conn:
        rows = conn.execute(sa.select(sync_state.c.store_code).distinct()).scalars().all()
    return {code for code in rows if code != GLOBAL_STORE}


@dataclass(frozen=True)
class ResolvedStores:
    """The store views of one run, and the ones mirrored before that ACCS no longer lists."""

    codes: list[str]
    removed: list[str]
    #: Listed but inactive, so not mirrored.
    inactive: list[str] = field(default_factory=list)


def resolve_store_views(
    fetch: Callable[[str], Any], mirrored: Callable[[], set[str]]
) -> ResolvedStores:
    """Ask ACCS (``fetch(path)`` returns the decoded answer) for the store views to mirror now,
    say what was left out, and report the store views in ``mirrored()`` no longer listed.

    A refusal says what to grant: :class:`~sync.errors.PermissionDenied` naming
    :data:`STORE_ACL` (exit 1, as for any refused resource), or
    :class:`~sync.errors.EndpointMissing` for an instance without the endpoint (exit 2).
    """
    try:
        body = fetch(STORE_VIEWS_PATH)
    except OrgRejected:
        raise  # the organisation, not an ACL: its own message says what to fix
    except PermissionDenied as exc:
        raise PermissionDenied(
            f"{_SETTING}=all: ACCS refused GET {STORE_VIEWS_PATH} ({exc.status or 403}); the "
            f"API credential's integration needs the ACL resource {exc.acl or STORE_ACL}, or "
            f"list the store view codes to mirror in {_SETTING}",
            status=exc.status,
            url=exc.url,
            acl=exc.acl or STORE_ACL,
        ) from None
    except EndpointMissing as exc:
        raise EndpointMissing(
            f"{_SETTING}=all: ACCS has no {STORE_VIEWS_PATH} on this instance (404); list the "
            f"store view codes to mirror in {_SETTING}",
            status=exc.status,
            url=exc.url,
        ) from None
    found = parse_store_views(body)
    for warning in found.warnings:
        log.warning("%s", warning)
    for code in found.inactive:
        log.info("store view %s is inactive in ACCS: not mirrored", code)
    log.info("%s=all: mirroring the store views %s", _SETTING, ", ".join(found.codes))
    removed = sorted(mirrored() - set(found.codes))  # an inactive one too
    for code in removed:
        log.warning("%s", removed_line(code))
    return ResolvedStores(list(found.codes), removed, list(found.inactive))


def removed_line(code: str) -> str:
    """What a run says of a store view mirrored before that ACCS no longer lists as active."""
    return (
        f"store view {code} was mirrored before but ACCS no longer lists it as active: its "
        "rows stay in the mirror as they are (never tombstoned); delete them yourself if it is "
        "gone for good"
    )
