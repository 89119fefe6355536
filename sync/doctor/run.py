"""Wire the doctor's checks from the settings, with the same builders a run uses
(:mod:`sync.app`), so it meets what a run would meet."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sync.api.auth import AuthAudit, BearerAuth, ImsClientCredentials
from sync.api.cache_crypto import resolve_key
from sync.api.limiter import RequestGate
from sync.api.products import ProductsClient
from sync.api.retry import RetryPolicy
from sync.api.session import TimeoutSession
from sync.api.token_store import MemoryTokenStore
from sync.app import (
    build_accs_session,
    build_ims_session,
    build_token_provider,
    make_url_password,
    register_secrets,
)
from sync.clock import Clock, SystemClock
from sync.doctor.findings import Finding, scrubbed
from sync.doctor.local import database_findings, token_cache_finding
from sync.doctor.remote import (
    accs_findings,
    category,
    check_token,
    probe_resources,
    probe_stores,
    reachable,
    resource_findings,
    skipped_accs,
)
from sync.doctor.secrets import secret_findings
from sync.errors import AccsSyncError, ConfigError, EndpointMissing, PermissionDenied
from sync.redact import SecretFilter, redact_url
from sync.resources import PRODUCTS, RESOURCES
from sync.settings import Settings, load_database_settings, load_settings
from sync.stores import resolve_store_views

__all__ = ["check_settings", "run_check"]

#: Seconds to wait for a database server when the settings that give the timeout are invalid.
_DEFAULT_CONNECT_TIMEOUT = 10


def run_check(
    config_file: str | Path | None, overrides: dict[str, Any], secrets: SecretFilter
) -> list[Finding]:
    """Every finding for the settings from ``config_file``, the environment and ``overrides``.

    Settings that do not validate are one failing ``settings`` finding; the database is still
    checked when ``DATABASE_URL`` alone loads. Every detail has passed through ``secrets``.
    """
    try:
        settings = load_settings(config_file, **overrides)
    except ConfigError as exc:
        findings = [Finding("settings", "fail", "config", exc.message)]
        try:
            url = load_database_settings(config_file, **overrides).database_url
        except ConfigError:
            return scrubbed(findings, secrets.scrub)
        secrets.add(make_url_password(url))
        findings += database_findings(url, connect_timeout=_DEFAULT_CONNECT_TIMEOUT)
        return scrubbed(findings, secrets.scrub)
    return check_settings(settings, secrets)


def check_settings(
    settings: Settings, secrets: SecretFilter, clock: Clock | None = None
) -> list[Finding]:
    """Every finding for valid ``settings``: token, ACCS per store view, database, token
    cache (in that order: the token cache is looked at after a mint may have created it)."""
    register_secrets(settings, secrets)
    clock = clock or SystemClock()
    detail = (
        f"valid: SYNC_STORE_CODES={','.join(settings.sync_store_codes)}; "
        f"SYNC_PAGE_SIZE={settings.sync_page_size}; IMS_AUTH_FLOW={settings.ims_auth_flow}"
    )
    findings = [Finding("settings", "ok", "config", detail)]
    findings += _accs(settings, secrets, clock)
    timeout = max(1, math.ceil(settings.sync_connect_timeout))  # drivers take whole seconds
    findings += database_findings(settings.database_url, connect_timeout=timeout)
    findings.append(_token_cache(settings))
    findings += secret_findings(settings, secrets, clock)
    return scrubbed(findings, secrets.scrub)


def _token_cache(settings: Settings) -> Finding:
    """The token cache finding, with where its key comes from (a malformed or unreadable key
    is a configuration error, said without the key)."""
    try:
        key = resolve_key(settings.sync_token_cache_key, settings.sync_token_cache_key_file)
    except ConfigError as exc:
        return Finding("token cache", "fail", "config", exc.message)
    return token_cache_finding(
        settings.token_cache_path(),
        key=key,
        login=settings.ims_auth_flow == "authorization_code",
    )


def _prover(
    settings: Settings, ims_session: TimeoutSession, clock: Clock, secrets: SecretFilter
) -> ImsClientCredentials | None:
    """A provider for the same credential that caches nothing: its mint proves the secret
    without replacing the cached token other processes use. None for a user's login, whose
    renewal would rotate the stored refresh token."""
    if settings.ims_auth_flow != "client_credentials":
        return None
    prover = build_token_provider(settings, ims_session, clock, secrets)
    prover.store = MemoryTokenStore()
    return prover


def _store_views(settings: Settings, client: ProductsClient) -> tuple[list[Finding], list[str]]:
    """SYNC_STORE_CODES=all: a ``store views`` finding with the list a run would mirror now,
    and the store views to probe (``default`` when ACCS would not say, so the endpoint and the
    organisation are still checked). Otherwise no finding and the configured codes."""
    if not settings.discover_stores:
        return [], list(settings.sync_store_codes)
    try:
        resolved = resolve_store_views(client.get, set)
    except AccsSyncError as exc:
        # A refused ACL or a missing endpoint: only the settings (or the role) can fix it.
        refused = isinstance(exc, (PermissionDenied, EndpointMissing))
        kind = "config" if refused else category(exc)
        return [Finding("store views", "fail", kind, exc.message)], ["default"]
    detail = f"SYNC_STORE_CODES=all: ACCS lists {', '.join(resolved.codes)}"
    if resolved.inactive:
        detail += f" (inactive, not mirrored: {', '.join(resolved.inactive)})"
    return [Finding("store views", "ok", "config", detail)], resolved.codes


def _accs(settings: Settings, secrets: SecretFilter, clock: Clock) -> list[Finding]:
    # A doctor answers in seconds: two attempts, short waits, no long Retry-After.
    retry = RetryPolicy(
        max_attempts=2,
        max_total_wait=5.0,
        max_retry_after=5.0,
        retry_after_name="the longest wait of check",
        initial_backoff=0.5,
        jitter=0.25,
        clock=clock,
    )
    with build_ims_session(settings) as ims_session, build_accs_session(settings) as session:
        audit = AuthAudit()
        provider = build_token_provider(settings, ims_session, clock, secrets, audit)
        found, have_token = check_token(
            provider,
            retry,
            clock,
            token_url=settings.ims_token_url,
            client_id=settings.ims_client_id,
            scopes=settings.scopes,
            cache=settings.token_cache_path(),
            prover=_prover(settings, ims_session, clock, secrets),
        )
        others = [n for n in settings.sync_resources if n in RESOURCES and n != PRODUCTS.name]
        if not have_token:
            reason = "not asked: no token (see above)"
            listed = [Finding("store views", "skip", "config", reason)]
            store_codes = [] if settings.discover_stores else settings.sync_store_codes
            return (
                found
                + listed * settings.discover_stores
                + skipped_accs(store_codes, reason, others)
            )
        session.auth = BearerAuth(provider, origin=settings.api_endpoint, audit=audit)
        # The gate pauses no longer than the retry policy waits: a long Retry-After fails the
        # remaining probes at once instead of holding them in the gate.
        gate = RequestGate(max_pause=retry.max_retry_after, clock=clock)
        client = ProductsClient(session, settings.api_endpoint, retry, gate)
        listed, store_codes = _store_views(settings, client)
        probes = probe_stores(client, store_codes, settings.sync_page_size)
        if reachable(probes):
            resources = resource_findings(probe_resources(client, others, store_codes[0]))
        else:
            reason = "not asked: ACCS did not serve products (see above)"
            resources = [Finding(f"resource {name}", "skip", "config", reason) for name in others]
    return (
        found
        + listed
        + accs_findings(
            probes,
            api_endpoint=redact_url(settings.api_endpoint),
            org_id=settings.ims_org_id,
            page_size=settings.sync_page_size,
        )
        + resources
    )
