"""The emulator's request handling as a pure function of (method, path, headers, query, body).

No sockets here, so every behaviour is testable directly; :mod:`.server` only moves bytes.
Checks run in the order a request meets them in Adobe's stack: the API gateway (``x-api-key``,
``x-gw-ims-org-id``, rate limiting), then the token, then Commerce itself (5xx, store view,
``searchCriteria``). The emulator's own ``/_emulator/...`` controls (:mod:`.admin`) come
before all of that.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from sync.emulator.admin import admin_response, is_admin_path
from sync.emulator.catalog import Catalog
from sync.emulator.console import CONSOLE_PATH, SecretsConsole
from sync.emulator.criteria import Criteria, MagentoError, internal_error, parse_criteria
from sync.emulator.events import EventHub
from sync.emulator.faults import ACCS_KINDS, EVENT_KINDS, RESOURCES, Faults, RequestRecord, Stats
from sync.emulator.fields import FieldTree, apply_fields_filter, parse_fields
from sync.emulator.ims import REQUIRED_SCOPES, Grants, TokenStore
from sync.emulator.journal import event_kind, events_response
from sync.emulator.listings import LISTINGS
from sync.emulator.oauth import AUTHORIZE_PATH, REVOKE_PATH, TOKEN_PATH, ImsEndpoints
from sync.emulator.pages import DEFAULT_CACHE_BYTES, RenderCache, list_payload, product_page_payload
from sync.emulator.ratelimit import TokenBucket, retry_after_seconds
from sync.emulator.records import Product, render
from sync.emulator.response import JSON_HEADERS, Response, encode_json, too_many_requests
from sync.emulator.response import json_response as _json
from sync.emulator.search import Result, Table, product_table, run

__all__ = ["AUTHORIZE_PATH", "TOKEN_PATH", "EmulatorApp", "Response"]

log = logging.getLogger(__name__)

_PRODUCTS = re.compile(r"^/(?P<tenant>[^/]+)/V1/products(?:/(?P<sku>[^/]+))?/?$")
# The other list endpoints, by the request kind they count as.
_LISTS = {
    "categories": re.compile(r"^/(?P<tenant>[^/]+)/V1/categories/list/?$"),
    "source_items": re.compile(r"^/(?P<tenant>[^/]+)/V1/inventory/source-items/?$"),
    # Matched after _PRODUCTS, which reads "attributes" as a sku.
    "attributes": re.compile(r"^/(?P<tenant>[^/]+)/V1/products/attributes/?$"),
    "store_views": re.compile(r"^/(?P<tenant>[^/]+)/V1/store/storeViews/?$"),
}
_RESOURCE_OF = {"list": "products", "item": "products"}  # other kinds are their resource
_NO_STORE = "The store that was requested wasn't found. Verify the store and try again."
_NO_ROUTE = "Request does not match any route."
_NO_PRODUCT = "The product that was requested doesn't exist. Verify the product and try again."
_REASONS = {
    500: "Internal Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _not_authorized(status: int, resource: str) -> Response:
    """Magento's answer to a bad token or a role without the ACL resource: the same body,
    with 401 (Magento's own status for both) or 403 (as some gateways answer)."""
    body = {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": RESOURCES[resource]},
    }
    return _json(status, body)


class EmulatorApp(ImsEndpoints):
    """IMS + ACCS for one tenant and one API credential."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        tenant: str,
        client_id: str,
        client_secret: str,
        org_id: str,
        credential_id: str = "emulator-credential",
        faults: Faults | None = None,
        clock: Callable[[], datetime] | None = None,
        stats: Stats | None = None,
        scopes: tuple[str, ...] = REQUIRED_SCOPES,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        render_cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.catalog = catalog
        self.tenant = tenant
        self.client_id = client_id
        # Secrets IMS accepts now; a test rotating a secret replaces or extends this list.
        self.client_secrets: list[str] = [client_secret]
        self.org_id = org_id
        self.faults = faults or Faults()
        self.stats = stats or Stats()
        self.scopes = scopes
        # Encoded products for list pages; 0 turns it off (every answer rendered afresh).
        self.renders = RenderCache(render_cache_bytes) if render_cache_bytes > 0 else None
        self._sleep = sleep
        # Request stamps (RequestRecord.arrived/answered) and the rate-limit bucket use this.
        self._monotonic = monotonic
        self._bucket_lock = threading.Lock()
        self._bucket: TokenBucket | None = None
        self._bucket_setting: tuple[float, int | None] = (0.0, None)
        self._clock = clock
        self.tokens = TokenStore(self._now)
        self.grants = Grants(self._now)
        #: Subscriptions and the journal (see .events); every catalog change is offered to it.
        self.events = EventHub(self._precise_now, self.faults)
        catalog.listeners.append(self.events.publish)
        self.console = SecretsConsole(
            self.client_secrets,
            self._precise_now,
            org_id=org_id,
            credential_id=credential_id,
            client_id=client_id,
            faults=self.faults,
            token_scopes=self.tokens.scopes,
        )

    def now(self) -> datetime:
        """The emulator's now (naive UTC): what its Date header says."""
        return self._now()

    def _now(self) -> datetime:
        if self._clock is None:
            return self.catalog.now()
        value = self._clock()
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def _precise_now(self) -> datetime:
        """Now with its fraction of a second (the catalog's own clock keeps whole seconds, as
        ACCS timestamps do; a secret's last use is told to the millisecond)."""
        value = self._clock() if self._clock is not None else self.catalog.clock()
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def issue_token(
        self, grant: str = "client_credentials", scopes: frozenset[str] = frozenset()
    ) -> str:
        """A valid token without an HTTP round trip (for tests)."""
        self.stats.token_issued(grant)
        return self.tokens.issue(self.client_id, self.faults.token_lifetime, scopes)

    # -- entry point --------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        query: str = "",
        body: bytes = b"",
    ) -> Response:
        """Answer one request. ``path`` is raw (still percent-encoded); ``query`` is the raw
        query string."""
        if is_admin_path(path):  # the emulator's own controls: not IMS or ACCS, not counted
            return admin_response(
                method, path, body, self.faults, self.stats, self.catalog, self.events
            )
        started = time.perf_counter()
        lowered = {k.lower(): v for k, v in headers.items()}
        params = tuple(parse_qsl(query, keep_blank_values=True))
        match = _PRODUCTS.match(path)
        kind = {TOKEN_PATH: "token", AUTHORIZE_PATH: "authorize", REVOKE_PATH: "revoke"}.get(
            path.rstrip("/"), "other"
        )
        if match and match.group("tenant") == self.tenant:
            kind = "item" if match.group("sku") else "list"
        for name, pattern in _LISTS.items():
            found = pattern.match(path)
            if found and found.group("tenant") == self.tenant:
                kind, match = name, found
        kind = event_kind(path, self.tenant) or kind
        console = CONSOLE_PATH.match(path)
        if console is not None:
            kind, match = "console", console
        # A token request may carry the secret in its query string, an authorization request
        # its state: never keep them.
        kept = () if kind in ("token", "authorize", "revoke") else params
        record, seq = self.stats.begin(
            method, kind, path, kept, lowered.get("store"), arrived=self._monotonic()
        )
        status = 0
        try:
            response = self._route(method, path, kind, match, lowered, params, body, record, seq)
            # ``latency`` is the time to answer, counted from arrival: the emulator's own work
            # on the request is inside it (a remote server's page takes its time whatever the
            # client's machine does); an answer that took longer is not delayed more.
            left = self.faults.latency - (self._monotonic() - record.arrived)
            if left > 0:
                self._sleep(left)
            status = response.status
        finally:  # even a KeyboardInterrupt must not leave the request counted as in flight
            self.stats.finish(record, status, answered=self._monotonic())
        log.debug(
            "%s %s -> %d (%.1f ms)",
            method,
            path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _route(
        self,
        method: str,
        path: str,
        kind: str,
        match: re.Match[str] | None,
        headers: Mapping[str, str],
        params: tuple[tuple[str, str], ...],
        body: bytes,
        record: RequestRecord,
        seq: int,
    ) -> Response:
        try:
            if kind == "token":
                return self._token(method, headers, body, params)
            if kind == "revoke":
                return self._revoke(method, headers, body)
            if kind == "authorize" and method == "GET":
                return self._authorize(dict(params))
            if kind in EVENT_KINDS:
                return events_response(self, kind, method, path, headers, params, body, seq)
            if kind == "console" and match is not None:
                return self.console.answer(method, match, headers)
            if kind in ACCS_KINDS and method == "GET" and match is not None:
                return self._accs(kind, match, headers, params, record, seq)
            if path in ("", "/") and method == "GET":
                return _json(200, {"emulator": "accs-sync", "tenant": self.tenant})
            return _json(404, {"message": _NO_ROUTE})
        except MagentoError as exc:
            return _json(exc.status, exc.body)
        except Exception:  # a bug or a failing test hook must still answer like Magento
            log.exception("emulator failed to answer %s %s", method, path)
            return self.server_error(500)

    # -- ACCS ---------------------------------------------------------------------------------

    def server_error(self, status: int) -> Response:
        if status == 500:
            return _json(500, internal_error().body)
        return _json(status, {"message": _REASONS.get(status, "Server Error")})

    def gateway(self, headers: Mapping[str, str], seq: int, resource: str) -> Response | None:
        if headers.get("x-api-key") != self.client_id:
            return _json(403, {"error_code": "403003", "message": "Api Key is invalid"})
        org = headers.get("x-gw-ims-org-id")
        if org != self.org_id:
            return _json(
                403,
                {
                    "message": 'The IMS organization "%1" is not authorized to access this instance.',  # noqa: E501
                    "parameters": [org or ""],
                },
            )
        if self.faults.take("rate_limit_next") or self.faults.every("rate_limit_every", seq):
            return too_many_requests(self.faults.retry_after)
        if (limited := self.rate_limited()) is not None:
            return limited
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or self.tokens.check(token.strip()) != "valid":
            return _not_authorized(401, resource)
        if resource in self.faults.missing:
            return _json(404, {"message": _NO_ROUTE})
        if resource in self.faults.forbidden:
            return _not_authorized(self.faults.forbidden_status, resource)
        if self.faults.take("error_5xx_next") or self.faults.every("error_5xx_every", seq):
            return self.server_error(self.faults.error_5xx_status)
        return None

    def rate_limited(self) -> Response | None:
        """A 429 when the ``rate_limit_rps`` bucket is empty, else ``None``."""
        bucket = self._rate_limiter()
        if bucket is not None and (wait := bucket.take()) > 0:
            return too_many_requests(retry_after_seconds(wait))
        return None

    def _rate_limiter(self) -> TokenBucket | None:
        """The bucket for the current ``rate_limit_*`` faults, rebuilt (full) when they
        change, so a test or benchmark can switch the limit while clients run."""
        setting = (float(self.faults.rate_limit_rps), self.faults.rate_limit_burst)
        with self._bucket_lock:
            if setting != self._bucket_setting:
                rps, burst = setting
                self._bucket = TokenBucket(rps, burst, self._monotonic) if rps > 0 else None
                self._bucket_setting = setting
            return self._bucket

    def _accs(
        self,
        kind: str,
        match: re.Match[str],
        headers: Mapping[str, str],
        params: tuple[tuple[str, str], ...],
        record: RequestRecord,
        seq: int,
    ) -> Response:
        refused = self.gateway(headers, seq, _RESOURCE_OF.get(kind, kind))
        if refused is not None:
            return refused
        if self.faults.take("disconnect_next"):
            return Response(0, disconnect=True)
        store = headers.get("store") or "default"
        if store not in self.catalog.stores:
            raise MagentoError(400, {"message": _NO_STORE})
        for hook in list(self.faults.on_request):
            hook(record)
        fields = dict(params).get("fields")
        tree = parse_fields(fields) if fields else None
        # Whole products (no fields filter) come as cached bytes, identical to encoding the
        # rendered dicts (see .pages); a filtered answer is rendered and encoded afresh.
        renders = self.renders if tree is None else None
        if kind == "store_views":  # a plain list, no searchCriteria
            body = encode_json(self.catalog.store_views.records())
        elif kind in LISTINGS:
            body = self._listing(kind, params, store, seq, tree)
        elif kind == "item":
            product = self._item(unquote(match.group("sku")))
            if renders is not None:
                body = renders.product(product, store)
            else:
                body = encode_json(apply_fields_filter(render(product, store), tree))
        else:
            criteria, result = self._search(params, store, seq)
            record.served_ids = tuple(p.id for p in result.items)
            if renders is not None:
                body = renders.page(result.items, store, criteria.echo(), result.total_count)
            else:
                payload = product_page_payload(criteria, result, store, tree)
                body = encode_json(apply_fields_filter(payload, tree))
        if self.faults.take("invalid_json_next"):
            return Response(200, body[: len(body) // 2], JSON_HEADERS)
        return Response(200, body, JSON_HEADERS)

    def _item(self, sku: str) -> Product:
        product = self.catalog.get(sku)
        if product is None:
            raise MagentoError(404, {"message": _NO_PRODUCT})
        return product

    def _search(
        self, params: tuple[tuple[str, str], ...], store: str, seq: int
    ) -> tuple[Criteria, Result[Product]]:
        snap = self.catalog.snapshot()
        return self._run(product_table(snap, store), params, seq, snap.version)

    def _run(
        self, table: Table[Any], params: tuple[tuple[str, str], ...], seq: int, version: int
    ) -> tuple[Criteria, Result[Any]]:
        """Any list endpoint's ``searchCriteria``: Magento's webapi input limit on
        ``pageSize``, then filter, sort and page ``table``."""
        criteria = parse_criteria(params)
        faults = self.faults
        if faults.input_limit and criteria.page_size is not None:
            if criteria.page_size > faults.max_page_size:
                limit = str(faults.max_page_size)
                raise MagentoError(
                    400,
                    {
                        "message": f"Maximum SearchCriteria pageSize is {limit}",
                        "parameters": [limit],
                    },
                )
        # Unsorted order: reshuffled per request, or only when the catalog changes.
        salt = seq if faults.shuffle_per_request else version
        result = run(
            table,
            criteria,
            salt=salt,
            legacy_last_page=faults.legacy_last_page,
            default_page_size=faults.default_page_size,
        )
        return criteria, result

    def _listing(
        self,
        kind: str,
        params: tuple[tuple[str, str], ...],
        store: str,
        seq: int,
        tree: FieldTree | None,
    ) -> bytes:
        """A categories, source-items or attributes answer, rendered afresh (they are small)."""
        listing = LISTINGS[kind]
        version, stores = self.catalog.version, self.catalog.stores
        criteria, result = self._run(listing.table(self.catalog, store), params, seq, version)
        payload = list_payload(criteria, result, store, lambda r, s: listing.draw(r, s, stores))
        return encode_json(apply_fields_filter(payload, tree))
