"""Runtime-switchable misbehaviour, and counters of what the emulator was asked and answered.

Everything a client must survive in production (rate limits, 5xx bursts, garbled bodies, short
token lifetimes, Magento's page-size limit and its pre-2.4 "last page again" paging) can be
turned on while a server runs: set a field of :class:`Faults`; ``*_next`` counters are consumed
atomically, one per affected request.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACCS_KINDS",
    "EVENT_KINDS",
    "RESOURCES",
    "Faults",
    "RequestHook",
    "RequestRecord",
    "Stats",
]

#: Request kinds that are ACCS calls (the rest are IMS or unknown routes): a product list, one
#: product, a category list, a source-item list, a product-attribute list, the store views.
ACCS_KINDS = frozenset({"list", "item", "categories", "source_items", "attributes", "store_views"})
#: Request kinds of Commerce eventing (``/V1/eventing/...``) and the I/O Events journal: the
#: gateway faults (429, 5xx, a reset connection, latency) hit them like ACCS requests.
EVENT_KINDS = frozenset({"eventing", "journal"})
_COUNTED = ACCS_KINDS | EVENT_KINDS  # numbered for the ``*_every`` faults, and in flight
#: What the ``forbidden`` fault can refuse, and the ACL resource Magento names in its answer.
RESOURCES: dict[str, str] = {
    "products": "Magento_Catalog::products",
    "categories": "Magento_Catalog::categories",
    "source_items": "Magento_InventoryApi::source",
    "attributes": "Magento_Catalog::attributes_attributes",
    "store_views": "Magento_Backend::store",
    "eventing": "Magento_AdobeCommerceEventsClient::event_subscribe",
}


@dataclass
class RequestRecord:
    """One request as the emulator saw it (no credentials: the query holds none)."""

    seq: int
    method: str
    kind: str  # "token", "authorize", "list", "item", "categories", "source_items",
    # "attributes", "other"
    path: str
    query: tuple[tuple[str, str], ...]
    store: str | None
    status: int = 0
    served_ids: tuple[int, ...] = ()  # ids of the products a list answer carried, in order
    # The emulator's monotonic clock (time.monotonic unless injected) when the request was
    # received and when its answer was decided (before the bytes were sent).
    arrived: float = 0.0
    answered: float = 0.0

    def params(self) -> dict[str, str]:
        """The query parameters as a dict (the last of repeated names wins)."""
        return dict(self.query)


RequestHook = Callable[[RequestRecord], None]


@dataclass
class Faults:
    """Faults and switches. Defaults behave like a healthy ACCS 2.4 instance."""

    latency: float = 0.0  # seconds each request takes to answer, counted from its arrival
    rate_limit_every: int = 0  # every Nth ACCS request answers 429
    rate_limit_next: int = 0  # the next K ACCS requests answer 429
    retry_after: int = 1  # Retry-After seconds sent with a 429
    # A real limit: a token bucket over all ACCS requests (not IMS), refilled continuously at
    # this many requests per second (0: off). A refused request gets a 429 whose Retry-After
    # is the whole seconds until a token is back. Changing either field starts a full bucket.
    rate_limit_rps: float = 0.0
    rate_limit_burst: int | None = None  # tokens saved up (None: max(1, round(rps)))
    error_5xx_every: int = 0  # every Nth ACCS request answers error_5xx_status
    error_5xx_next: int = 0
    error_5xx_status: int = 503  # 500, 502, 503 or 504
    invalid_json_next: int = 0  # next K successful ACCS answers are cut in half (still 200)
    disconnect_next: int = 0  # next K ACCS requests: connection closed without an answer
    token_lifetime: int = 86399  # expires_in of new IMS tokens, seconds
    ims_error_5xx_next: int = 0  # next K token requests answer 503
    ims_rate_limit_next: int = 0  # next K token requests answer 429
    ims_invalid_client_next: int = 0  # next K token requests answer invalid_client
    ims_invalid_scope_next: int = 0  # next K token requests answer invalid_scope
    ims_html_next: int = 0  # next K token requests get a proxy's HTML page
    ims_revoke_error_next: int = 0  # next K /ims/revoke requests answer 503
    ims_html_status: int = 200  # status of that HTML page (captive portals answer 200)
    refresh_token_lifetime: int = 14 * 86400  # seconds a refresh token stays usable
    # The I/O Management API's client secrets (.console): the next K requests of each step
    # answer 503; the next secret created is refused by the token endpoint K times.
    console_list_error_next: int = 0
    console_create_error_next: int = 0
    console_delete_error_next: int = 0
    console_new_secret_rejected: int = 0
    authorize_deny: bool = False  # /ims/authorize/v2 redirects with error=access_denied
    input_limit: bool = True  # Magento 2.4 webapi input limits: pageSize over max is a 400
    max_page_size: int = 300
    default_page_size: int | None = None  # pageSize when absent (None: all matching items)
    legacy_last_page: bool = False  # Magento < 2.4: a page past the end repeats the last page
    shuffle_per_request: bool = True  # unsorted order changes every request (else per change)
    # Resources (RESOURCES' keys) this credential may not use: their endpoints answer
    # forbidden_status with Magento's "The consumer isn't authorized to access %resources."
    # naming the ACL resource, as when the integration's role lacks it. Magento answers 401
    # (its web API maps an AuthorizationException to 401); 403 is what some gateways send.
    forbidden: set[str] = field(default_factory=set)
    forbidden_status: int = 401  # 401 or 403
    # Resources whose endpoints this instance lacks (e.g. no inventory API): 404 with Magento's
    # "Request does not match any route."
    missing: set[str] = field(default_factory=set)
    # Events (see .events). Seconds a standard (not priority) event waits before the journal
    # has it, as Commerce's cron sends them (up to ~59 s on ACCS); priority ones go at once.
    events_standard_delay: float = 5.0
    events_delay: float = 0.0  # a delivery delay for every event published while set
    events_duplicate_every: int = 0  # every Nth delivered event is journaled twice (same id)
    events_reorder: bool = False  # events delivered together are journaled newest first
    events_retention: float = 7 * 86400.0  # seconds kept; a position before them answers 410
    # Called before each ACCS request is answered, e.g. to change the catalog between pages.
    on_request: list[RequestHook] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self, name: str) -> bool:
        """Consume one unit of the ``name`` counter (e.g. ``"rate_limit_next"``) if any is left."""
        with self._lock:
            left = int(getattr(self, name))
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def every(self, name: str, seq: int) -> bool:
        """Whether request number ``seq`` is hit by the ``name`` periodic fault."""
        period = int(getattr(self, name))
        return period > 0 and seq % period == 0

    def reset(self) -> None:
        """Back to a healthy instance (hooks are removed too)."""
        fresh = Faults()
        with self._lock:
            for name in self.__dataclass_fields__:
                if name != "_lock":
                    setattr(self, name, getattr(fresh, name))

    def settings(self) -> dict[str, Any]:
        """Every field that :meth:`update` can set, with its value (JSON-ready)."""
        return {name: _plain(getattr(self, name)) for name in _SETTABLE}

    def update(self, values: Mapping[str, Any]) -> None:
        """Set fields by name, all or none: any unknown name or bad value raises
        :class:`ValueError` naming it, and nothing changes. Only numbers, switches and the
        ``forbidden`` list can be set so: ``on_request`` (Python callables) cannot."""
        checked = {name: _check_setting(name, value) for name, value in values.items()}
        with self._lock:
            for name, value in checked.items():
                setattr(self, name, value)


# Fields update() accepts, by their annotation (faults.py uses postponed annotations).
_SETTABLE: dict[str, str] = {
    f.name: str(f.type)
    for f in dataclasses.fields(Faults)
    if str(f.type) in ("int", "float", "bool", "int | None", "set[str]")
}
_AT_LEAST = {"rate_limit_burst": 1, "max_page_size": 1}
_STATUS_RANGES = {"error_5xx_status": (500, 599), "ims_html_status": (100, 599)}
#: Settings that take one of a few values only.
_CHOICES: dict[str, tuple[int, ...]] = {"forbidden_status": (401, 403)}


def _plain(value: Any) -> Any:
    return sorted(value) if isinstance(value, set) else value


def _check_names(name: str, value: Any) -> set[str]:
    """A list of resource names (JSON has no sets), each one :data:`RESOURCES` knows."""
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(f"fault {name!r} must be a list of resource names, not {value!r}")
    for item in value:
        if item not in RESOURCES:
            known = ", ".join(RESOURCES)
            raise ValueError(f"fault {name!r}: unknown resource {item!r}; known: {known}")
    return set(value)


def _check_setting(name: str, value: Any) -> Any:
    kind = _SETTABLE.get(name)
    if kind is None:
        if name in Faults.__dataclass_fields__ and not name.startswith("_"):
            raise ValueError(f"fault {name!r} cannot be set this way (only numbers and switches)")
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(_SETTABLE))}")
    if kind == "set[str]":
        return _check_names(name, value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"fault {name!r} must be true or false, not {value!r}")
        return value
    if value is None and kind == "int | None":
        return None
    # bool is an int subclass in Python, but true/false are no numbers in JSON.
    number_types = (int, float) if kind == "float" else (int,)
    if isinstance(value, bool) or not isinstance(value, number_types):
        wanted = {"float": "a number", "int": "an integer"}.get(kind, "an integer or null")
        raise ValueError(f"fault {name!r} must be {wanted}, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"fault {name!r} must be a finite number, not {value!r}")
    least = _AT_LEAST.get(name, 0)
    if value < least:
        raise ValueError(f"fault {name!r} must be at least {least}, not {value!r}")
    if name in _CHOICES and value not in _CHOICES[name]:
        allowed = " or ".join(str(v) for v in _CHOICES[name])
        raise ValueError(f"fault {name!r} must be {allowed}, not {value!r}")
    if name in _STATUS_RANGES:
        low, high = _STATUS_RANGES[name]
        if not low <= value <= high:
            raise ValueError(f"fault {name!r} must be an HTTP status from {low} to {high}")
    return float(value) if kind == "float" else value


class Stats:
    """Counters and the most recent requests, for tests to assert what clients did.

    ``in_flight`` is how many ACCS requests are being handled right now (from receipt,
    including any injected latency, until the answer is decided); ``max_in_flight`` the most
    seen at once, which shows whether a client really runs requests concurrently.
    """

    def __init__(self, keep: int = 1000) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero the counters. ``in_flight`` is a gauge, not a counter: requests being handled
        stay counted (so it never goes negative), and ``max_in_flight`` restarts from it."""
        with self._lock:
            self.max_in_flight = self.in_flight
            self.tokens_issued = 0
            self.tokens_by_grant: Counter[str] = Counter()
            self.requests: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.recent: deque[RequestRecord] = deque(maxlen=self._keep)
            self._seq = 0
            self._accs_seq = 0

    @property
    def unauthorized(self) -> int:
        """401s served."""
        return self.statuses[401]

    @property
    def rate_limited(self) -> int:
        """429s served."""
        return self.statuses[429]

    @property
    def server_errors(self) -> int:
        """5xx served."""
        with self._lock:
            return self._server_errors()

    def _server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def begin(
        self,
        method: str,
        kind: str,
        path: str,
        query: tuple[tuple[str, str], ...],
        store: str | None,
        arrived: float = 0.0,
    ) -> tuple[RequestRecord, int]:
        """Record a new request; returns it and its number among ACCS requests (0 for others).
        An ACCS request counts as in flight until :meth:`finish`."""
        with self._lock:
            self._seq += 1
            accs = 0
            if kind in _COUNTED:
                self._accs_seq += 1
                accs = self._accs_seq
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            record = RequestRecord(self._seq, method, kind, path, query, store, arrived=arrived)
            self.requests[kind] += 1
            self.recent.append(record)
            return record, accs

    def finish(self, record: RequestRecord, status: int, answered: float = 0.0) -> None:
        """The answer to ``record`` is decided (call exactly once per :meth:`begin`)."""
        with self._lock:
            record.status = status
            record.answered = answered
            self.statuses[status] += 1
            if record.kind in _COUNTED:
                self.in_flight -= 1

    def token_issued(self, grant: str = "client_credentials") -> None:
        with self._lock:
            self.tokens_issued += 1
            self.tokens_by_grant[grant] += 1

    def list_requests(self) -> list[RequestRecord]:
        """Recent ``GET /V1/products`` requests, oldest first."""
        with self._lock:
            return [r for r in self.recent if r.kind == "list"]

    def as_dict(self) -> dict[str, Any]:
        """The counters as plain JSON-ready values (what ``GET /_emulator/stats`` answers)."""
        with self._lock:
            return {
                "tokens_issued": self.tokens_issued,
                "tokens_by_grant": dict(self.tokens_by_grant),
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
                "unauthorized": self.statuses[401],
                "rate_limited": self.statuses[429],
                "server_errors": self._server_errors(),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }
