"""The doctor's questions to IMS and ACCS: a token, then one small search per store view.

:func:`check_token` obtains a token exactly as a run does (the same provider, the same token
cache), so it reports what a run would meet: a token from the cache, a fresh mint, or the
reason IMS refused. :func:`probe_store` sends one ``GET /V1/products`` per store view, asking
only for ids and ``total_count`` at ``SYNC_PAGE_SIZE``; that one answer shows the endpoint
reachable, the organisation accepted, the store code known, the page size accepted and the
product count. A store that caps the page size below ``SYNC_PAGE_SIZE`` gets a second request
at its cap, so its ``total_count`` is still reported. :func:`probe_resources` asks each other
resource in ``SYNC_RESOURCES`` for one item, so a credential whose integration lacks an ACL
resource (Magento refuses it with 401 or 403), or an instance without an endpoint (404), is
reported per resource, as a run would skip it.

:func:`accs_findings` turns the answers into findings without any I/O, so each way a setup can
break is unit-tested from a list of probes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sync.api.auth import ImsClientCredentials
from sync.api.criteria import SearchCriteria, Sort
from sync.api.paging import Page
from sync.api.products import BOUND_FIELDS, ProductsClient
from sync.api.retry import RetryPolicy
from sync.api.token_store import cache_key
from sync.clock import Clock
from sync.doctor.findings import Category, Finding
from sync.errors import (
    AccsSyncError,
    AuthError,
    ConfigError,
    EndpointMissing,
    PageSizeLimited,
    PermissionDenied,
    RetriableApiError,
    ScopeRejected,
    StoreUnknown,
    Unreachable,
)
from sync.redact import redact_url
from sync.resources import PRODUCTS, RESOURCES, Resource

__all__ = [
    "ResourceProbe",
    "StoreProbe",
    "accs_findings",
    "category",
    "check_token",
    "probe_resources",
    "probe_store",
    "probe_stores",
    "reachable",
    "resource_findings",
    "skipped_accs",
]


def check_token(
    provider: ImsClientCredentials,
    retry: RetryPolicy,
    clock: Clock,
    *,
    token_url: str,
    client_id: str,
    scopes: list[str],
    cache: Path | None,
    prover: ImsClientCredentials | None = None,
) -> tuple[list[Finding], bool]:
    """Findings ``token``, ``credentials`` and ``scopes``, and whether a token is in hand.

    ``prover``: a provider for the same credential whose tokens are not cached; when the
    token came from the cache, it mints one to prove the secret and the scopes."""
    before = provider.audit.snapshot()
    started = clock.monotonic()
    try:
        retry.call(provider.get_token)
    except AccsSyncError as exc:
        return _token_failure(exc), False
    seconds = clock.monotonic() - started
    done = provider.audit.since(before)
    where = f"cached in {cache}" if cache else "kept in memory only (SYNC_TOKEN_CACHE=none)"
    client = f"client id {client_id}"
    if done["token_mints"] or done["token_refreshes"]:
        how = "minted" if done["token_mints"] else "renewed with the stored login"
        return [
            Finding("token", "ok", "service", f"{how} in {seconds:.1f}s, {where}"),
            *_accepted(client, provider.flow, scopes),
        ], True
    stored = provider.store.load(cache_key(token_url, client_id, scopes, provider.flow))
    left = (stored.expires_at - clock.now().timestamp()) / 60 if stored else 0.0
    token = Finding("token", "ok", "service", f"from the cache {cache}, expires in {left:.0f}m")
    if prover is None:  # a user's login: a refresh would rotate the stored refresh token
        cached = "not asked again: the token came from the cache (IMS checks them at the next mint)"
        return [
            token,
            Finding("credentials", "ok", "config", f"{client}: {cached}"),
            Finding("scopes", "ok", "config", f"{len(scopes)} in IMS_SCOPES: {cached}"),
        ], True
    try:
        retry.call(prover.get_token)
    except AccsSyncError as exc:
        # The cached token still serves the probes below; the next mint will fail.
        failed = _token_failure(exc, proving=True)
        return [token, *failed[1:]], True
    return [token, *_accepted(f"{client} (a test mint, not cached)", prover.flow, scopes)], True


def _accepted(client: str, flow: str, scopes: list[str]) -> list[Finding]:
    return [
        Finding("credentials", "ok", "config", f"IMS accepted {client} ({flow})"),
        Finding("scopes", "ok", "config", f"IMS granted all {len(scopes)} of IMS_SCOPES"),
    ]


def category(exc: AccsSyncError) -> Category:
    """``config`` for a failure only the settings can fix: what a run exits 2 for, an auth
    refusal, and a host name that is not found (a typo in the URL setting far more often
    than a DNS outage); else ``service``."""
    if exc.exit_code == 2 or isinstance(exc, (AuthError, ConfigError)):
        return "config"
    return "config" if isinstance(exc, Unreachable) and exc.reason == "dns" else "service"


def _token_failure(exc: AccsSyncError, proving: bool = False) -> list[Finding]:
    """Which of token, credentials and scopes failed; the ones behind it are skipped.
    ``proving``: the test mint failed (a cached token is in hand), so a failure to ask IMS
    at all is the credentials' finding."""
    if isinstance(exc, ScopeRejected):
        return [
            Finding("token", "skip", "service", "none issued (see scopes)"),
            Finding("credentials", "ok", "config", "IMS accepted the client id and secret"),
            Finding("scopes", "fail", "config", exc.message),
        ]
    if isinstance(exc, (AuthError, ConfigError)):
        detail = exc.message
        if proving:
            detail += " (the cached token works until it expires; the next mint fails)"
        return [
            Finding("token", "skip", "service", "none issued (see credentials)"),
            Finding("credentials", "fail", "config", detail),
            Finding("scopes", "skip", "config", "not checked: IMS refused the client first"),
        ]
    reason = "not checked: IMS could not be asked"
    if proving:
        detail = f"not proven by a test mint: {exc.message}"
        return [
            Finding("token", "skip", "service", reason),
            Finding("credentials", "fail", category(exc), detail),
            Finding("scopes", "skip", "config", reason),
        ]
    return [
        Finding("token", "fail", category(exc), exc.message),
        Finding("credentials", "skip", "config", reason),
        Finding("scopes", "skip", "config", reason),
    ]


@dataclass(frozen=True)
class StoreProbe:
    """What ACCS answered for one store view: a page, or the error. ``cap`` is the store's
    pageSize limit when it refused ``SYNC_PAGE_SIZE``."""

    store_code: str
    page: Page | None = None
    error: AccsSyncError | None = None
    cap: int | None = None


def probe_store(client: ProductsClient, store_code: str, page_size: int) -> StoreProbe:
    """One search in ``store_code``: ids only, a unique sort, ``SYNC_PAGE_SIZE`` items."""
    criteria = SearchCriteria(
        sorts=(Sort("entity_id", "ASC"),), page_size=page_size, fields=BOUND_FIELDS
    )
    try:
        return StoreProbe(store_code, page=client.search(criteria, store_code))
    except PageSizeLimited as exc:
        if not 0 < exc.limit < page_size:
            return StoreProbe(store_code, error=exc)
        capped = replace(criteria, page_size=exc.limit)
        try:
            page = client.search(capped, store_code)
        except AccsSyncError as again:
            return StoreProbe(store_code, error=again, cap=exc.limit)
        return StoreProbe(store_code, page=page, cap=exc.limit)
    except AccsSyncError as exc:
        return StoreProbe(store_code, error=exc)


def probe_stores(
    client: ProductsClient, store_codes: Sequence[str], page_size: int
) -> list[StoreProbe]:
    """:func:`probe_store` for each store view. Once ACCS gave no HTTP answer at all (a
    network error), the other store views are not asked: each would wait out the same
    timeouts, and the answer would be the same."""
    probes: list[StoreProbe] = []
    for code in store_codes:
        last = probes[-1] if probes else None
        if (
            last is not None
            and isinstance(last.error, RetriableApiError)
            and last.error.status is None
        ):
            probes.append(replace(last, store_code=code))
        else:
            probes.append(probe_store(client, code, page_size))
    return probes


@dataclass(frozen=True)
class ResourceProbe:
    """What ACCS answered when asked for one item of a resource: its ``total_count``, or the
    error."""

    resource: Resource
    total: int | None = None
    error: AccsSyncError | None = None


def probe_resources(
    client: ProductsClient, names: Sequence[str], store_code: str
) -> list[ResourceProbe]:
    """One one-item request to each resource in ``names`` other than products (whose store
    probes ask already), in the store view ``store_code``."""
    probes = []
    for name in names:
        resource = RESOURCES.get(name)
        if resource is None or resource is PRODUCTS:
            continue
        try:
            page = client.list(resource.path, SearchCriteria(page_size=1), store_code)
        except AccsSyncError as exc:
            probes.append(ResourceProbe(resource, error=exc))
        else:
            probes.append(ResourceProbe(resource, total=page.total_count))
    return probes


def resource_findings(probes: Sequence[ResourceProbe]) -> list[Finding]:
    """``resource <name>`` per probe: readable, refused (the ACL to grant), or missing."""
    findings = []
    for probe in probes:
        name, error = probe.resource.name, probe.error
        label = f"resource {name}"
        leave_out = f"or leave {name} out of SYNC_RESOURCES (runs skip it and end partial)"
        if error is None:
            findings.append(Finding(label, "ok", "config", f"readable ({probe.total} items)"))
        elif isinstance(error, PermissionDenied):
            acl = error.acl or probe.resource.acl
            detail = (
                f"ACCS refused access ({error.status}): grant the API credential's integration "
                f"the ACL resource {acl}, {leave_out}"
            )
            findings.append(Finding(label, "fail", "config", detail))
        elif isinstance(error, EndpointMissing):
            detail = f"this instance has no {probe.resource.path} (404): {leave_out}"
            findings.append(Finding(label, "fail", "config", detail))
        else:
            findings.append(Finding(label, "fail", category(error), error.message))
    return findings


def skipped_accs(
    store_codes: Sequence[str], reason: str, resources: Sequence[str] = ()
) -> list[Finding]:
    """The ACCS findings when there is nothing to ask ACCS with (no token)."""
    return [
        Finding("endpoint", "skip", "service", reason),
        Finding("org id", "skip", "config", reason),
        *(Finding(f"store {code}", "skip", "config", reason) for code in store_codes),
        *(Finding(f"resource {name}", "skip", "config", reason) for name in resources),
    ]


def reachable(probes: Sequence[StoreProbe]) -> bool:
    """Whether a store probe shows ACCS answering this credential (a page, or a refusal of
    products' ACL only): worth asking the other resources."""
    return any(
        p.page is not None or (isinstance(p.error, PermissionDenied) and p.error.acl)
        for p in probes
    )


def _no_api(error: AccsSyncError | None) -> bool:
    """A 404 that is not about the store: no ACCS API at that path (a wrong tenant id)."""
    return isinstance(error, EndpointMissing)


def accs_findings(
    probes: Sequence[StoreProbe], *, api_endpoint: str, org_id: str, page_size: int
) -> list[Finding]:
    """``endpoint``, ``org id`` and, per store view, ``store``, ``page size`` and
    ``total_count``. A failure every store shares is reported once (on the endpoint or the
    org id) and the stores are skipped, instead of repeating it per store."""
    codes = [p.store_code for p in probes]
    errors = [p.error for p in probes]
    first = errors[0] if errors else None
    if first is not None and all(isinstance(e, RetriableApiError) for e in errors):
        return [
            Finding("endpoint", "fail", category(first), first.message),
            *skipped_accs(codes, "ACCS did not answer (see endpoint)")[1:],
        ]
    if first is not None and all(_no_api(e) for e in errors):
        detail = first.message
        if "API_ENDPOINT" not in detail:
            detail += ": check API_ENDPOINT (https://<host>/<tenant-id>, no /V1)"
        return [
            Finding("endpoint", "fail", "config", detail),
            *skipped_accs(codes, "no ACCS API at API_ENDPOINT (see endpoint)")[1:],
        ]
    findings = [Finding("endpoint", "ok", "service", f"{redact_url(api_endpoint)} answered")]
    if first is not None and all(isinstance(e, PermissionDenied) and not e.acl for e in errors):
        findings.append(Finding("org id", "fail", "config", first.message))
        reason = "ACCS refused the organisation (see org id)"
        return findings + [Finding(f"store {c}", "skip", "config", reason) for c in codes]
    findings.append(Finding("org id", "ok", "config", f"ACCS accepted IMS_ORG_ID {org_id}"))
    for probe in probes:
        findings.extend(_store_findings(probe, page_size))
    return findings


def _store_findings(probe: StoreProbe, page_size: int) -> list[Finding]:
    code, error, page = probe.store_code, probe.error, probe.page
    if page is None:
        assert error is not None
        config = isinstance(error, (PermissionDenied, StoreUnknown)) or category(error) == "config"
        return [Finding(f"store {code}", "fail", "config" if config else "service", error.message)]
    findings = [Finding(f"store {code}", "ok", "config", "known to ACCS")]
    name = f"page size {code}"
    if probe.cap is not None:
        detail = (
            f"the store caps pageSize at {probe.cap}, below SYNC_PAGE_SIZE={page_size}: "
            f"runs will use {probe.cap} automatically"
        )
        findings.append(Finding(name, "warn", "config", detail))
    elif len(page.items) < min(page_size, page.total_count):
        detail = (
            f"asked for {page_size}, got {len(page.items)} of {page.total_count}: the store "
            "shortens pages without saying so (runs still page to the end)"
        )
        findings.append(Finding(name, "warn", "config", detail))
    else:
        findings.append(Finding(name, "ok", "config", f"{page_size} (SYNC_PAGE_SIZE) accepted"))
    count = f"{page.total_count} products"
    findings.append(Finding(f"total_count {code}", "ok", "service", count))
    return findings
