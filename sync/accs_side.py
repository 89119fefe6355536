"""The ACCS side of an app (session, request gate, retry policy, client), which a backfill
builds and starts first.

A backfill's paging waits for its products' probes (the newest ``updated_at``, the lowest and
the highest id of the store view, sent together: one round trip), and the probes wait only for
the IMS token. :func:`start_accs` needs only the settings and the started
:class:`~sync.tokens.Tokens`: ``accs-sync backfill`` calls it right after
:func:`~sync.tokens.start_tokens`, and with ``probe_store`` it sends those probes at once, on
threads of their own, while the engine is imported, the schema checked and the run lock taken.
:func:`sync.app.build_app` then takes the built side, and the store view's full pass takes the
answers (:class:`ProbedCatalog`) instead of asking again. At 500 ms a request, that is the
imports and schema work (a third of a second) off the time before paging starts.

Only a concurrent backfill probes ahead: it always runs a full pass, which needs the id bounds
(and the newest, unless it resumes a checkpoint: then that one request is spent for nothing); a
sequential one asks no bounds, and resumed asks nothing before its next page; a ``sync`` may be
incremental and need no probe at all. Asking earlier is safe: a newest ``updated_at``
read earlier is older or equal (the next incremental run reads more, never less), and a product
created after the bounds were read lands in the last id range, which has no end. The probes are
the pass's: their requests and retries reach the run's metrics once they listen (the
:class:`~sync.observe.Relay`), and a failed probe is raised where the pass asks for it, as if it
had asked then.

Like :mod:`sync.tokens`, this imports the HTTP client and the API layer, not the engine.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sync.api.auth import BearerAuth
from sync.api.criteria import SearchCriteria
from sync.api.limiter import RequestGate
from sync.api.paging import Page
from sync.api.products import Newest, ProductsClient
from sync.api.retry import RetryPolicy
from sync.api.session import TimeoutSession, build_session
from sync.clock import Clock
from sync.observe import Relay

if TYPE_CHECKING:
    from sync.settings import Settings
    from sync.tokens import Tokens

__all__ = ["AccsSide", "ProbedCatalog", "build_accs_session", "start_accs"]

T = TypeVar("T")
Bounds = tuple[int | None, int | None]


@dataclass
class AccsSide:
    """What talks to ACCS: the session, the client over it, and the relay its events go
    through until the app's observers listen (:meth:`~sync.observe.Relay.attach`)."""

    session: TimeoutSession
    client: ProductsClient
    relay: Relay
    #: The client, or the client answering the probes sent ahead (:class:`ProbedCatalog`).
    catalog: ProductsClient | ProbedCatalog


def build_accs_session(settings: Settings, pool_size: int = 8) -> TimeoutSession:
    """The session for ACCS: the settings' timeouts and body cap, and the gateway's identifying
    headers (the caller attaches the bearer auth). A redirect is an error naming API_ENDPOINT."""
    return build_session(
        connect_timeout=settings.sync_connect_timeout,
        read_timeout=settings.sync_http_timeout,
        headers={"x-api-key": settings.ims_client_id, "x-gw-ims-org-id": settings.ims_org_id},
        pool_size=pool_size,
        setting="API_ENDPOINT",
        max_response_bytes=settings.sync_max_response_bytes,
    )


def start_accs(
    settings: Settings,
    tokens: Tokens,
    clock: Clock,
    stop_event: threading.Event,
    *,
    probe_store: str | None = None,
) -> AccsSide:
    """The ACCS side of an app over ``tokens``; with ``probe_store`` the products' probes of
    that store view are sent now (see the module docstring)."""
    relay = Relay()
    retry = RetryPolicy.for_workers(
        settings.sync_concurrency,
        max_attempts=settings.sync_max_attempts,
        max_total_wait=settings.sync_max_retry_seconds,
        max_retry_after=settings.sync_max_retry_after,
        clock=clock,
        stop_event=stop_event,
        observer=relay,
    )
    # Every worker and the incremental read-ahead keep a connection alive.
    session = build_accs_session(settings, pool_size=max(8, settings.sync_concurrency + 2))
    session.auth = BearerAuth(tokens.provider, origin=settings.api_endpoint, audit=tokens.audit)
    gate = RequestGate(
        max_concurrency=settings.sync_concurrency,
        max_rps=settings.sync_max_rps,
        clock=clock,
        stop_event=stop_event,
        max_pause=settings.sync_max_retry_after,
    )
    client = ProductsClient(session, settings.api_endpoint, retry, gate, observer=relay)
    if probe_store is None:
        return AccsSide(session, client, relay, client)
    return AccsSide(session, client, relay, ProbedCatalog.start(client, probe_store))


class ProbedCatalog:
    """``client``, except that the first ``newest`` and ``id_bounds`` of ``store_code`` are
    answered by the probes sent when it was made; every other call is the client's."""

    def __init__(
        self,
        client: ProductsClient,
        store_code: str,
        newest: Future[Newest],
        bounds: Future[Bounds] | None,
    ) -> None:
        self.client = client
        self.store_code = store_code
        self._lock = threading.Lock()
        self._ahead: dict[str, Future[Newest] | Future[Bounds] | None] = {
            "newest": newest,
            "id_bounds": bounds,
        }

    @classmethod
    def start(cls, client: ProductsClient, store_code: str) -> ProbedCatalog:
        """Send the probes of ``store_code`` now: the newest and the id bounds (what a
        concurrent full pass asks at its start)."""
        newest = _spawn(client.newest, store_code, name="accs-sync-probe-newest")
        bounds = _spawn(client.id_bounds, store_code, name="accs-sync-probe-bounds")
        return cls(client, store_code, newest, bounds)

    def _take(self, name: str, store_code: str) -> Future[T] | None:
        if store_code != self.store_code:
            return None
        with self._lock:
            return self._ahead.pop(name, None)  # type: ignore[return-value]

    def newest(self, store_code: str) -> Newest:
        ahead: Future[Newest] | None = self._take("newest", store_code)
        return ahead.result() if ahead is not None else self.client.newest(store_code)

    def id_bounds(self, store_code: str) -> Bounds:
        ahead: Future[Bounds] | None = self._take("id_bounds", store_code)
        return ahead.result() if ahead is not None else self.client.id_bounds(store_code)

    def search(self, criteria: SearchCriteria, store_code: str) -> Page:
        return self.client.search(criteria, store_code)

    def list_ids(self, criteria: SearchCriteria, store_code: str) -> Page:
        return self.client.list_ids(criteria, store_code)

    def count(self, store_code: str) -> int:
        return self.client.count(store_code)


def _spawn(call: Callable[[str], T], arg: str, *, name: str) -> Future[T]:
    """``call(arg)`` on a daemon thread named ``name``, in a copy of the caller's context; its
    outcome in the future. A daemon: a probe nobody waits for (the run failed before its pass)
    never holds up the process's exit."""
    future: Future[T] = Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            future.set_result(call(arg))
        except BaseException as exc:  # noqa: BLE001 - raised where the pass asks for it
            future.set_exception(exc)

    threading.Thread(
        target=contextvars.copy_context().run, args=(run,), name=name, daemon=True
    ).start()
    return future
