"""A deterministic, realistic-looking synthetic catalog.

Real catalogs are not tidy, and a mirror has to cope with that, so the generator reproduces what
matters to a sync: configurable parents with "Not Visible Individually" children, several product
types, products without ``weight`` or ``price``, id gaps left by deletions, products created in
import batches (many sharing a ``created_at`` second) and later mass updates that give thousands
of products the same ``updated_at`` second. Same ``n`` and ``seed`` -> the same catalog.
"""

from __future__ import annotations

import gc
import random
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from sync.emulator.attributes import option_value
from sync.emulator.records import MAIN_IMAGE_TYPES, Image, Product

__all__ = ["CATEGORY_IDS", "COLOR_IDS", "SIZE_IDS", "generate_products", "option_id"]

# Luma-like option ids for the configurable attributes, so value_index matches children's values.
COLOR_IDS = {
    c: 49 + i
    for i, c in enumerate(
        [
            "Black",
            "Blue",
            "Brown",
            "Gray",
            "Green",
            "Lavender",
            "Multi",
            "Orange",
            "Purple",
            "Red",
            "White",
            "Yellow",
        ]
    )
}
SIZE_IDS = {
    s: 166 + i
    for i, s in enumerate(
        ["XS", "S", "M", "L", "XL", "28", "29", "30", "31", "32", "33", "34", "36", "38"]
    )
}

_ADJECTIVES = (
    "Aero",
    "Breathe",
    "Chaz",
    "Cruise",
    "Echo",
    "Fusion",
    "Hera",
    "Ida",
    "Juno",
    "Kratos",
    "Lando",
    "Mars",
    "Nona",
    "Orion",
    "Proteus",
    "Rival",
    "Strike",
    "Tiberius",
    "Vulcan",
    "Zeppelin",
    "Atlas",
    "Beacon",
    "Comet",
    "Drift",
)
_MATERIALS = ("Eco", "Performance", "Cotton", "Merino", "Trail", "Studio", "All-Weather", "Ultra")
_NOUNS = (
    "Hoodie",
    "Tee",
    "Jacket",
    "Pant",
    "Short",
    "Tank",
    "Bra",
    "Backpack",
    "Duffle Bag",
    "Water Bottle",
    "Yoga Mat",
    "Watch",
    "Sneaker",
    "Legging",
    "Sweatshirt",
    "Pullover",
)
_CATEGORIES = tuple(range(3, 43))
#: The category ids generated products link to (Luma's 3-36 and six more).
CATEGORY_IDS = _CATEGORIES
_DESCRIPTIONS = tuple(
    f"<p>The {a} line is built for {u}. {m} fabric keeps you comfortable.</p>"
    for a, u, m in zip(
        _ADJECTIVES[:12],
        ("training", "commuting", "the trail", "the studio", "everyday wear", "long runs") * 2,
        _MATERIALS + _MATERIALS[:4],
        strict=True,
    )
)
# Shared category tuples (1 to 3 categories each) so 200k products do not each own one.
_CATEGORY_SETS = tuple(
    tuple(
        tuple(sorted((c, _CATEGORIES[(i + 7) % 40], _CATEGORIES[(i + 19) % 40])[:k]))
        for k in (1, 2, 3)
    )
    for i, c in enumerate(_CATEGORIES)
)
#: Materials of configurable parents (a multiselect: comma-separated option ids).
_PARENT_MATERIALS = ("Cotton", "Cotton|Polyester", "Wool", "Fleece|Polyester", "Organic Cotton")
_SIZES = tuple(SIZE_IDS)[:5]
_COLORS = tuple(COLOR_IDS)
_NO_TYPES: tuple[str, ...] = ()
_CENTS = (0.0, 0.0, 0.99, 0.5)
_ATTRIBUTE_SETS = (4, 4, 9, 10, 11)
_VISIBILITIES = (4, 4, 4, 4, 2, 3)
_IMAGE_COUNTS = (0, 1, 1, 1, 2, 2, 3, 3, 3, 1, 2, 0, 1, 2, 3, 1, 2, 1, 2, 3)  # ~10% without
_T = TypeVar("_T")
_STANDALONE = (("simple", 72), ("virtual", 10), ("downloadable", 8), ("bundle", 5), ("grouped", 5))
_PREFIX = {
    "simple": "SP",
    "virtual": "VT",
    "downloadable": "DL",
    "bundle": "BN",
    "grouped": "GR",
    "configurable": "CF",
}
_STORE_SUFFIX = {"fr": "(édition FR)", "de": "(DE-Ausgabe)", "es": "(edición ES)"}


def option_id(attribute: str, label: str) -> int:
    """The option id Magento would return for a select attribute's label (deterministic): the
    bundled attributes' (:mod:`.attributes`), else one derived from the label."""
    known = option_value(attribute, label)
    if known and "," not in known:
        return int(known)
    return 1000 + sum((i + 1) * ord(ch) for i, ch in enumerate(f"{attribute}:{label}")) % 90000


_NON_WORD = re.compile(r"[^a-z0-9]+")


def _slug(text: str) -> str:
    return _NON_WORD.sub("-", text.lower()).strip("-")


class _Timeline:
    """Creation times in import batches, and mass-update events afterwards."""

    def __init__(self, rng: random.Random, n: int, start: datetime, span_days: float) -> None:
        self.rng = rng
        self.start = start
        self.span = int(span_days * 86400)
        self.n = max(n, 1)
        self.t = 0
        self.left_in_batch = 0
        events = sorted(rng.randrange(self.span) for _ in range(max(3, n // 2000)))
        self.events = events
        self._text: dict[int, str] = {}
        self._days: dict[int, str] = {}
        self.start_day = start.date()
        self.start_seconds = start.hour * 3600 + start.minute * 60 + start.second

    def next_created(self, made: int) -> int:
        """The creation second of the next product, ``made`` products into the catalog.
        A new import batch starts where the catalog's progress says, so times cover the
        whole span whatever ``n`` is; inside a batch a few products share each second."""
        if self.left_in_batch <= 0:
            self.left_in_batch = int(self.rng.expovariate(1 / 40)) + 1
            self.t = max(self.t, int(self.span * made / self.n) + int(self.rng.random() * 3600))
        self.left_in_batch -= 1
        self.t = min(self.span, self.t + int(self.rng.random() * 2.5))
        return self.t

    def updated_for(self, created: int) -> int:
        r = self.rng.random()
        if r < 0.45 or created >= self.span:
            return created
        if r < 0.75:
            return created + int(self.rng.random() * (self.span - created))
        i = bisect_left(self.events, created)
        if i >= len(self.events):
            return created
        return self.events[i + int(self.rng.random() * (len(self.events) - i))]

    def text(self, offset: int) -> str:
        # Many products share a second; sharing the string keeps 200k products compact.
        found = self._text.get(offset)
        if found is None:
            days, rest = divmod(offset + self.start_seconds, 86400)
            day = self._days.get(days)
            if day is None:
                day = self._days[days] = (self.start_day + timedelta(days=days)).isoformat()
            hours, rest = divmod(rest, 3600)
            found = self._text[offset] = f"{day} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        return found


class _Builder:
    def __init__(self, n: int, seed: int, start: datetime, stores: Sequence[str]) -> None:
        self.n = n
        self.rng = random.Random(seed)  # noqa: S311 - reproducible data, not security
        self.time = _Timeline(self.rng, n, start.replace(microsecond=0, tzinfo=None), 1000)
        self.stores = [s for s in stores if s != "default"]
        self.out: list[Product] = []
        self.next_id = 1
        self.seq = 0
        self.simple_skus: list[str] = []
        self._slugs: dict[str, str] = {}

    def _id(self) -> int:
        if self.rng.random() < 0.004:  # ids of products deleted long ago
            self.next_id += self.rng.randint(1, 5)
        pid = self.next_id
        self.next_id += 1
        return pid

    def _images(self, sku: str, count: int) -> tuple[Image, ...]:
        if not count:
            return ()
        base = sku.lower()
        prefix = f"/{base[0]}/{base[1]}/{base}_"
        first: Image = (prefix + "0.jpg", MAIN_IMAGE_TYPES)
        if count == 1:
            return (first,)
        return (first, *((f"{prefix}{k}.jpg", _NO_TYPES) for k in range(1, count)))

    def _overrides(self, name: str) -> dict[str, dict[str, str]] | None:
        out = {
            store: {"name": f"{name} {_STORE_SUFFIX.get(store, f'[{store.upper()}]')}"}
            for store in self.stores
            if self.rng.random() < 0.3
        }
        return out or None

    def _slug(self, name: str) -> str:
        found = self._slugs.get(name)
        if found is None:
            found = self._slugs[name] = _slug(name)
        return found

    def _pick(self, options: Sequence[_T]) -> _T:
        return options[int(self.rng.random() * len(options))]

    def _emit(
        self,
        type_id: str,
        sku: str,
        name: str,
        *,
        parent_price: float | None = None,
        visibility: int | None = None,
        extra: dict[str, str] | None = None,
        created: int | None = None,
        slug: str | None = None,
    ) -> Product:
        rnd = self.rng.random
        created = self.time.next_created(len(self.out)) if created is None else created
        updated = self.time.updated_for(created)
        # Indexing with random() instead of Random.choice: several times faster at 200k.
        price: float | None = parent_price or float(int(5 + rnd() * 245)) + _CENTS[int(rnd() * 4)]
        weight: float | None = round(0.1 + rnd() * 8, 2)
        if type_id in ("configurable", "grouped") or (type_id == "bundle" and rnd() < 0.5):
            price = None  # price comes from children / dynamic bundle pricing
        if type_id in ("configurable", "virtual", "downloadable", "grouped") or rnd() < 0.02:
            weight = None
        stocked = type_id not in ("configurable", "bundle", "grouped")
        qty = float(int(rnd() * 500) + 1 if rnd() < 0.7 else 0) if stocked else 0.0
        attributes = {
            "description": _DESCRIPTIONS[self.seq % len(_DESCRIPTIONS)],
            "url_key": slug or self._slug(name),
        }
        if extra:
            attributes.update(extra)
        first = int(rnd() * len(_CATEGORIES))
        cats = _CATEGORY_SETS[first][int(rnd() * 3)]
        product = Product(
            id=self._id(),
            sku=sku,
            type_id=type_id,
            attribute_set_id=_ATTRIBUTE_SETS[int(rnd() * len(_ATTRIBUTE_SETS))],
            name=name,
            price=price,
            status=1 if rnd() < 0.95 else 2,
            visibility=visibility if visibility is not None else _VISIBILITIES[int(rnd() * 6)],
            weight=weight,
            # A handful of products imported by old tools have no created_at at all.
            created_at=None if rnd() < 0.001 else self.time.text(created),
            updated_at=self.time.text(updated),
            category_ids=cats,
            qty=qty,
            is_in_stock=(qty > 0) if stocked else True,
            images=self._images(sku, _IMAGE_COUNTS[int(rnd() * len(_IMAGE_COUNTS))]),
            attributes=attributes,
            overrides=self._overrides(name) if self.stores else None,
        )
        self.out.append(product)
        return product

    def configurable(self) -> None:
        rng = self.rng
        self.seq += 1
        sku = f"CF{self.seq:06d}"
        name = self._name()
        slug = self._slug(name)
        sizes = rng.sample(_SIZES, rng.randint(1, 3))
        colors = rng.sample(_COLORS, rng.randint(2, 3))
        room = max(1, min(8, self.n - len(self.out) - 1))
        combos = [(s, c) for s in sizes for c in colors][:room]
        price = float(int(20 + rng.random() * 100))
        created = self.time.next_created(len(self.out))
        children = []
        for size, color in combos:
            child = self._emit(
                "simple",
                f"{sku}-{size}-{color}",
                f"{name}-{size}-{color}",
                parent_price=price,
                visibility=1,
                extra={"size": str(SIZE_IDS[size]), "color": str(COLOR_IDS[color])},
                created=created,
                slug=f"{slug}-{size.lower()}-{color.lower()}",
            )
            children.append(child.id)
        supers = (
            ("size", tuple(SIZE_IDS[s] for s in sizes)),
            ("color", tuple(COLOR_IDS[c] for c in colors)),
        )
        material = option_value("material", _PARENT_MATERIALS[self.seq % len(_PARENT_MATERIALS)])
        parent = self._emit(
            "configurable",
            sku,
            name,
            visibility=4,
            created=created,
            extra={"material": material or ""},
        )
        self.out[-1] = replace(parent, children=tuple(children), super_attributes=supers)

    def standalone(self) -> None:
        rng = self.rng
        roll = int(rng.random() * 100)
        type_id = _STANDALONE[-1][0]
        for kind, weight in _STANDALONE:
            if roll < weight:
                type_id = kind
                break
            roll -= weight
        self.seq += 1
        sku = f"{_PREFIX[type_id]}{self.seq:06d}"
        links: tuple[tuple[str, str, str], ...] = ()
        if type_id in ("bundle", "grouped") and self.simple_skus:
            kind = "bundle" if type_id == "bundle" else "associated"
            picks = rng.sample(self.simple_skus[-200:], min(3, len(self.simple_skus)))
            links = tuple((kind, s, "simple") for s in picks)
        elif self.simple_skus and rng.random() < 0.1:
            links = (("related", self._pick(self.simple_skus), "simple"),)
        product = self._emit(type_id, sku, self._name())
        if links:
            product = self.out[-1] = replace(product, links=links)
        if type_id == "simple":
            self.simple_skus.append(sku)
            if rng.random() < 0.03:
                tier = ((0, 5.0, round((product.price or 10) * 0.9, 2)),)
                self.out[-1] = replace(product, tier_prices=tier)

    def _name(self) -> str:
        return f"{self._pick(_ADJECTIVES)} {self._pick(_MATERIALS)} {self._pick(_NOUNS)}"

    def build(self) -> list[Product]:
        while len(self.out) < self.n:
            # ~13% of draws start a configurable family: ~8% of products end up parents.
            if self.n - len(self.out) >= 3 and self.rng.random() < 0.13:
                self.configurable()
            else:
                self.standalone()
        return self.out


def generate_products(
    n: int, seed: int = 0, start: datetime | None = None, stores: Sequence[str] = ("default",)
) -> list[Product]:
    """``n`` products in id order; see the module docstring for what they look like."""
    if n < 0:
        raise ValueError("n must be >= 0")
    builder = _Builder(n, seed, start or datetime(2023, 1, 1), stores)
    # Only acyclic objects are made here; pausing the cyclic GC saves ~20% on big catalogs.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return builder.build()
    finally:
        if was_enabled:
            gc.enable()
