"""Categories as Magento keeps them: a tree of rows with ids, paths, levels and positions.

A category row (``catalog_category_entity``) holds ``parent_id``, ``path`` ("1/2/11"),
``level``, ``position`` and ``children_count``; its ``updated_at`` column is MySQL's
``ON UPDATE CURRENT_TIMESTAMP``, so it moves whenever the row's values change: for a rename (the
repository saves the entity), but also for every sibling whose position shifts when a category
is moved, and for every ancestor whose ``children_count`` changes when a category is created,
moved or deleted. :meth:`CategoryTree.settle` reproduces that by recomputing the derived columns
and stamping each row that changed. Deleting a category deletes its subtree, as Magento's
``_beforeDelete`` does; product links go with it by foreign-key cascade (see :mod:`.catalog`).

Ids are auto-increment: root 1 ("Root Catalog"), 2 the store root "Default Category", then
children in creation order; a deleted id is never reused.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

__all__ = ["ROOT_ID", "STORE_ROOT_ID", "Category", "CategoryTree", "render_category"]

ROOT_ID = 1
STORE_ROOT_ID = 2
# Row columns whose change moves updated_at (children and names are not columns of the row).
_ROW_COLUMNS = ("parent_id", "path", "level", "position", "children_count")
_UPDATABLE = frozenset(
    {"name", "is_active", "include_in_menu", "is_anchor", "url_key", "display_mode", "position"}
)


@dataclass(frozen=True, slots=True)
class Category:
    """One category row and its attributes. ``names``: store view code -> name there."""

    id: int
    parent_id: int
    name: str
    path: str = ""
    level: int = 0
    position: int = 0
    children_count: int = 0
    children: str = ""  # direct children's ids, by position: what the API calls "children"
    is_active: bool = True
    include_in_menu: bool = True
    is_anchor: bool = True
    url_key: str | None = None
    display_mode: str | None = None
    created_at: str = ""
    updated_at: str = ""
    names: Mapping[str, str] | None = None
    url_path: str | None = None  # url keys below the store root: "men/tops-men"

    def name_in(self, store: str) -> str:
        """The name in ``store``; a code like ``fr_ca`` falls back to ``fr``'s name."""
        if self.names:
            found = self.names.get(store) or self.names.get(store.split("_")[0])
            if found:
                return found
        return self.name


def render_category(c: Category, store: str = "default") -> dict[str, Any]:
    """The category exactly as ``GET /V1/categories/list`` shows it in ``store``.

    Empty ``extension_attributes`` are left out, as Magento's output processor does.
    """
    custom: dict[str, Any] = {}
    if c.display_mode:
        custom["display_mode"] = c.display_mode
    custom["is_anchor"] = "1" if c.is_anchor else "0"
    custom["path"] = c.path
    custom["children_count"] = str(c.children_count)
    if c.url_key:
        custom["url_key"] = c.url_key
    if c.url_path:
        custom["url_path"] = c.url_path
    return {
        "id": c.id,
        "parent_id": c.parent_id,
        "name": c.name_in(store),
        "is_active": c.is_active,
        "position": c.position,
        "level": c.level,
        "children": c.children,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "path": c.path,
        "available_sort_by": [],
        "include_in_menu": c.include_in_menu,
        "custom_attributes": [{"attribute_code": k, "value": v} for k, v in custom.items()],
    }


def _translations() -> dict[str, dict[str, str]]:
    """url_key -> {language: name}: the emulator's own translations of Luma's names (Luma
    ships English only), so store views ``fr``, ``de`` and ``es`` have names of their own."""
    text = resources.files(__package__).joinpath("data/category_names.csv").read_text("utf-8")
    rows = csv.DictReader(text.splitlines())
    return {row["url_key"]: {k: v for k, v in row.items() if k != "url_key"} for row in rows}


class CategoryTree:
    """The category rows of one catalog. Not locked on its own: the catalog's lock guards it."""

    def __init__(self, categories: Iterable[Category] = ()) -> None:
        self._by_id: dict[int, Category] = {c.id: c for c in categories}
        self._high_id = max(self._by_id, default=0)
        self._records: tuple[Category, ...] | None = None
        # Each category's row columns as last settled: what ON UPDATE compares against.
        self._rows: dict[int, tuple[Any, ...]] = {}

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def luma(cls, stamp: str) -> CategoryTree:
        """Luma's sample-data categories, ids as a sample-data install assigns them.

        The bundled ``data/luma_categories.csv`` is the three sample-data modules'
        ``categories.csv`` in install order (catalog, downloadable, configurable), which gives
        Gear 3, Training 9, Men 11 and Women 20. Like the installer, a row whose path already
        exists is skipped, and a blank position is one past the highest among its siblings
        (Magento's ``ResourceModel\\Category::_beforeSave``).
        """
        tree = cls(
            [
                Category(ROOT_ID, 0, "Root Catalog", is_active=False, include_in_menu=False,
                         created_at=stamp, updated_at=stamp),
                Category(STORE_ROOT_ID, ROOT_ID, "Default Category", position=1,
                         display_mode="PRODUCTS", created_at=stamp, updated_at=stamp),
            ]
        )  # fmt: skip
        text = resources.files(__package__).joinpath("data/luma_categories.csv").read_text("utf-8")
        names = _translations()
        for row in csv.DictReader(text.splitlines()):
            parent = tree.find_path(["Default Category", *filter(None, row["path"].split("/"))])
            if parent is None or tree.find_child(parent.id, row["name"]) is not None:
                continue
            tree.create(
                row["name"],
                parent.id,
                stamp=stamp,
                position=int(row["position"]) if row["position"] else None,
                is_active=row["active"] == "1",
                is_anchor=row["is_anchor"] == "1",
                include_in_menu=row["include_in_menu"] == "1",
                url_key=row["url_key"],
                display_mode=row["display_mode"] or None,
                names=names.get(row["url_key"]),
            )
        return tree

    # -- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, cid: object) -> bool:
        return cid in self._by_id

    def get(self, cid: int) -> Category | None:
        return self._by_id.get(cid)

    def records(self) -> tuple[Category, ...]:
        """Every category in id order (a tuple later changes do not disturb)."""
        if self._records is None:
            self._records = tuple(self._by_id[i] for i in sorted(self._by_id))
        return self._records

    def _kids(self, cid: int) -> list[Category]:
        kids = [c for c in self._by_id.values() if c.parent_id == cid and c.id != cid]
        return sorted(kids, key=lambda c: (c.position, c.id))

    def find_child(self, parent_id: int, name: str) -> Category | None:
        return next((c for c in self._kids(parent_id) if c.name == name), None)

    def find_path(self, names: Iterable[str]) -> Category | None:
        """The category at a path of names from the root ("Default Category", "Men", ...)."""
        node: Category | None = self._by_id.get(ROOT_ID)
        for name in names:
            if node is None:
                return None
            node = self.find_child(node.id, name)
        return node

    def subtree(self, cid: int) -> list[int]:
        """``cid`` and every category below it."""
        out, todo = [], [cid]
        while todo:
            current = todo.pop()
            out.append(current)
            todo.extend(c.id for c in self._kids(current))
        return out

    # -- changes ------------------------------------------------------------------------------

    def _require(self, cid: int) -> Category:
        found = self._by_id.get(cid)
        if found is None:
            raise KeyError(f"no category {cid} in the catalog")
        return found

    def _max_position(self, parent_id: int) -> int:
        return max((c.position for c in self._kids(parent_id)), default=0)

    def create(
        self,
        name: str,
        parent_id: int = STORE_ROOT_ID,
        *,
        stamp: str,
        id: int | None = None,
        position: int | None = None,
        **attributes: Any,
    ) -> Category:
        """Add a category under ``parent_id``: id one past the highest ever seen, position one
        past its last sibling unless given."""
        self._require(parent_id)
        cid = self._high_id + 1 if id is None else id
        if cid in self._by_id:
            raise ValueError(f"category id {cid} already exists")
        if position is None:
            position = self._max_position(parent_id) + 1
        category = Category(cid, parent_id, name, position=position, created_at=stamp,
                            updated_at=stamp, **attributes)  # fmt: skip
        self._by_id[cid] = category
        self._high_id = max(self._high_id, cid)
        self.settle(stamp)
        return self._by_id[cid]

    def update(self, cid: int, *, stamp: str, store: str | None = None, **fields: Any) -> Category:
        """Change attributes (``name``, ``is_active``, ...); ``store``: that store view's name.
        The repository saves the row, so ``updated_at`` moves even when nothing else does."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)} on a category; use move or delete")
        category = self._require(cid)
        if store is not None and store != "default":
            if set(fields) != {"name"}:
                raise ValueError("a store view keeps only its own name: give name=...")
            names = dict(category.names or {})
            names[store] = str(fields["name"])
            category = replace(category, names=names)
        else:
            category = replace(category, **fields)
        self._by_id[cid] = replace(category, updated_at=stamp)
        self.settle(stamp)
        return self._by_id[cid]

    def move(self, cid: int, parent_id: int, after_id: int | None, *, stamp: str) -> Category:
        """Magento's ``PUT /V1/categories/{id}/move``: close the gap among the old siblings,
        then take the position after ``after_id`` (first without it), shifting the rest."""
        category = self._require(cid)
        self._require(parent_id)
        if parent_id in self.subtree(cid):
            raise ValueError("a category cannot move below itself")
        for c in self._kids(category.parent_id):
            if c.position > category.position:
                self._by_id[c.id] = replace(c, position=c.position - 1)
        position = 1 if after_id is None else self._require(after_id).position + 1
        for c in self._kids(parent_id):
            if c.position >= position and c.id != cid:
                self._by_id[c.id] = replace(c, position=c.position + 1)
        self._by_id[cid] = replace(category, parent_id=parent_id, position=position)
        # children_count goes down on every old ancestor, then up on every new one: two
        # UPDATEs, so a common ancestor's row changed (twice) even though its count is back.
        ancestors = category.path.split("/")[:-1] + self._require(parent_id).path.split("/")
        self.settle(stamp, touched={int(a) for a in ancestors if a})
        return self._by_id[cid]

    def delete(self, cid: int, *, stamp: str) -> list[int]:
        """Remove ``cid`` and its subtree; returns the removed ids."""
        if cid in (ROOT_ID, STORE_ROOT_ID):
            raise ValueError(f"category {cid} is a root and cannot be deleted")
        self._require(cid)
        removed = self.subtree(cid)
        for gone in removed:
            del self._by_id[gone]
        self.settle(stamp)
        return removed

    def settle(self, stamp: str, touched: frozenset[int] | set[int] = frozenset()) -> None:
        """Recompute path, level, children_count and children from the parent links; a row
        whose columns changed since the last settle, or in ``touched``, gets
        ``updated_at = stamp`` (MySQL's ON UPDATE)."""
        kids: dict[int, list[Category]] = {}
        for c in self._by_id.values():
            if c.id != ROOT_ID:
                kids.setdefault(c.parent_id, []).append(c)
        settled: dict[int, Category] = {}

        def visit(c: Category, path: str, level: int, url: str) -> int:
            # url_path leaves out the root and the store root, as Magento's does.
            url = f"{url}/{c.url_key or c.id}".lstrip("/") if level > 1 else ""
            below = sorted(kids.get(c.id, ()), key=lambda k: (k.position, k.id))
            count = sum(visit(k, f"{path}/{k.id}", level + 1, url) for k in below)
            children = ",".join(str(k.id) for k in below)
            new = replace(c, path=path, level=level, children_count=count, children=children,
                          url_path=url or None)  # fmt: skip
            row = tuple(getattr(new, f) for f in _ROW_COLUMNS)
            if c.id in touched or row != self._rows.get(c.id, row):
                new = replace(new, updated_at=stamp)
            self._rows[c.id] = row
            settled[c.id] = new
            return count + 1

        root = self._by_id.get(ROOT_ID)
        if root is not None:
            visit(root, str(ROOT_ID), 0, "")
        self._by_id = settled
        self._rows = {cid: row for cid, row in self._rows.items() if cid in settled}
        self._records = None

    def ensure(self, ids: Iterable[int], stamp: str) -> None:
        """Add a plain category under the store root for every id products link to that the
        tree lacks (a generated catalog links ids 3-42, Luma's tree ends at 36)."""
        for cid in sorted(set(ids) - set(self._by_id)):
            self.create(f"Category {cid}", STORE_ROOT_ID, stamp=stamp, id=cid,
                        include_in_menu=False, url_key=f"category-{cid}")  # fmt: skip
