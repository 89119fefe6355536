"""The ACCS catalog client: one authenticated session, one retry policy, ``/V1/products``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import requests

from sync.api.classify import raise_for_network, response_decoded
from sync.api.criteria import SearchCriteria, Sort
from sync.api.limiter import RequestGate
from sync.api.paging import Page, http_date
from sync.api.retry import RetryPolicy
from sync.background import in_background
from sync.errors import ApiError, RateLimited
from sync.names import PRODUCTS_PATH
from sync.observe import Observer
from sync.redact import redact_url

__all__ = ["BOUND_FIELDS", "ID_FIELDS", "Newest", "ProductsClient"]

#: Magento's response filter for the cheap id listing: a few bytes per product.
ID_FIELDS = "items[id,sku,updated_at],total_count"
#: ... and for the id bounds of a full pass.
BOUND_FIELDS = "items[id],total_count"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Newest:
    """The newest ``updated_at`` in a store view (None when it is empty) and its product count,
    from one request, and ACCS's clock when it answered (its ``Date``; None if absent)."""

    updated_at: str | None
    total_count: int
    server_time: datetime | None = None


class ProductsClient:
    """Runs searches against ``<API_ENDPOINT>/V1/products`` for one store view at a time.

    The session is handed in (it carries auth, pooling and headers), so tests point it at the
    emulator or at ``responses``.
    """

    def __init__(
        self,
        session: requests.Session,
        api_endpoint: str,
        retry: RetryPolicy,
        gate: RequestGate | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._session = session
        self._observer = observer or Observer()
        self._base = api_endpoint.rstrip("/")
        self._url = f"{self._base}{PRODUCTS_PATH}"
        self._retry = retry
        self.gate = gate or RequestGate()
        self.requests = 0
        #: Whether ACCS answered (any HTTP status) once: a network error before that is more
        #: likely a wrong API_ENDPOINT than an outage (the retry policy gives up sooner).
        self.answered = False

    def __repr__(self) -> str:
        return f"ProductsClient({redact_url(self._url)!r})"

    def _get(self, criteria: SearchCriteria, store_code: str, path: str = PRODUCTS_PATH) -> Page:
        """One attempt at a ``searchCriteria`` list at ``path``, in ``store_code``."""
        body, date, plain = self._send(path, criteria.params(), {"Store": store_code})
        return Page.from_body(
            body, criteria.page_size, server_time=date, endpoint=path, plain=plain
        )

    def _send(
        self,
        path: str,
        params: list[tuple[str, str]] | None,
        headers: dict[str, str],
        body: Any = None,
    ) -> tuple[Any, datetime | None, bool]:
        """One attempt at ``path``, sent when the shared gate allows it; the gate learns how
        it went. The decoded answer, ACCS's ``Date``, and whether the answer was decoded by
        orjson as plain JSON (:func:`~sync.api.classify.response_decoded`)."""
        url = f"{self._base}{path}"
        with self.gate.slot() as slot:
            self.requests += 1
            sent = time.monotonic()
            try:
                if body is None:
                    response = self._session.get(url, params=params, headers=headers)
                else:  # a POST of a JSON body (eventing subscriptions)
                    response = self._session.post(url, json=body, headers=headers)
            except requests.RequestException as exc:
                self._observer.request(None, time.monotonic() - sent)
                raise raise_for_network(
                    exc, url, setting="API_ENDPOINT", first_contact=not self.answered
                ) from None
            self.answered = True
            self._observer.request(response.status_code, time.monotonic() - sent)
            with response:
                try:
                    body, plain = response_decoded(response)
                except RateLimited as exc:
                    slot.rate_limited(exc.retry_after)
                    raise
                except ApiError:
                    slot.answered(success=False)
                    raise
                slot.answered()
                return body, http_date(response.headers.get("Date")), plain

    def get(self, path: str) -> Any:
        """The decoded answer of a plain ``GET`` under API_ENDPOINT (no searchCriteria, the
        default store view: ``/V1/store/storeViews``), through the same gate, retries and
        observers as the lists. Raises the classified error when it gives up."""
        return self._retry.call(lambda: self._send(path, None, {})[0])

    def post(self, path: str, body: Any) -> Any:
        """The decoded answer of a ``POST`` of ``body`` (JSON) under API_ENDPOINT, through the
        same gate, retries and observers (for idempotent calls only: a retried subscription
        that the first attempt made answers "already exists")."""
        return self._retry.call(lambda: self._send(path, None, {}, body)[0])

    def search(self, criteria: SearchCriteria, store_code: str) -> Page:
        """One page, retried per the policy. Raises the classified error when it gives up."""
        return self._retry.call(lambda: self._get(criteria, store_code))

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page:
        """One page of another ``searchCriteria`` list endpoint (``/V1/categories/list``...),
        through the same gate, retries and observers as products."""
        return self._retry.call(lambda: self._get(criteria, store_code, path))

    def newest(self, store_code: str) -> Newest:
        """The newest ``updated_at`` in the store view right now (ACCS's clock, not ours), and
        how many products it has."""
        criteria = SearchCriteria(
            sorts=(Sort("updated_at", "DESC"), Sort("entity_id", "DESC")), page_size=1
        )
        page = self.search(criteria, store_code)
        for item in page.items:
            stamp = item.get("updated_at") if isinstance(item, dict) else None
            if isinstance(stamp, str) and stamp:
                return Newest(stamp, page.total_count, page.server_time)
        return Newest(None, page.total_count, page.server_time)

    def newest_updated_at(self, store_code: str) -> str | None:
        """The newest ``updated_at`` in the store view right now."""
        return self.newest(store_code).updated_at

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]:
        """The lowest and highest entity id in the store view right now (two tiny requests,
        sent together: one round trip; ``(None, None)`` for an empty store)."""
        with in_background(self._bound, store_code, "ASC", name="accs-sync-bounds") as lowest:
            highest = self._bound(store_code, "DESC")
            return lowest.result(), highest

    def _bound(self, store_code: str, direction: str) -> int | None:
        criteria = SearchCriteria(
            sorts=(Sort("entity_id", direction),), page_size=1, fields=BOUND_FIELDS
        )
        ids = self.search(criteria, store_code).ids()
        return ids[0] if ids else None

    def list_ids(self, criteria: SearchCriteria, store_code: str) -> Page:
        """Like :meth:`search`, but the items carry only ``id``, ``sku`` and ``updated_at``."""
        return self.search(replace(criteria, fields=ID_FIELDS), store_code)

    def count(self, store_code: str) -> int:
        """How many products the store view has right now (one tiny request)."""
        criteria = SearchCriteria(page_size=1, fields="total_count")
        return self.search(criteria, store_code).total_count
