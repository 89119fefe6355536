"""Wiring for the client secret commands: the I/O Management API client and its own token,
and the provers :mod:`sync.rotate` mints with, built from the settings as a run builds its own
(:mod:`sync.app`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic import SecretStr

from sync.api.audit import AuthAudit, AuthEvent
from sync.api.auth import BearerAuth, ImsClientCredentials
from sync.api.ims import ClientSecret
from sync.api.secrets_api import SecretsApi, management_scopes
from sync.api.session import build_session
from sync.api.token_store import MemoryTokenStore
from sync.app import build_ims_session, build_token_provider, build_token_store
from sync.clock import Clock
from sync.errors import AccsSyncError, ConfigError
from sync.redact import SecretFilter
from sync.rotate import RotateOptions, Rotation, RotationReport, SecretTargets
from sync.settings import Settings

__all__ = ["open_secrets_api", "record_rotation", "rotate_secret", "secret_targets"]

log = logging.getLogger(__name__)


def secret_targets(settings: Settings) -> SecretTargets:
    """The next file, and the primary secret's file unless IMS_CLIENT_SECRET is a value."""
    first = settings.client_secrets()[0]  # a file (IMS_CLIENT_SECRET_FILE or mounted) or not
    return SecretTargets(next_file=settings.ims_client_secret_next_file, primary_file=first.path)


def _credential_id(settings: Settings) -> str:
    if not settings.ims_credential_id:
        raise ConfigError(
            "IMS_CREDENTIAL_ID is not set: give the id of the OAuth Server-to-Server credential "
            "(Adobe Developer Console > project > credential) whose secrets to manage",
            setting="IMS_CREDENTIAL_ID",
        )
    return settings.ims_credential_id


@contextmanager
def open_secrets_api(
    settings: Settings, clock: Clock, secrets: SecretFilter, audit: AuthAudit | None = None
) -> Iterator[tuple[SecretsApi, Callable[[SecretStr | None], None]]]:
    """The API client (its token: the management scopes, cached under their own key) and a
    prover: mint a REST token with a given secret (None: the configured ones), caching nothing.
    ``audit`` keeps the mints of both."""
    credential = _credential_id(settings)
    for value in (settings.ims_client_secret, settings.ims_client_secret_next):
        secrets.add(value.get_secret_value() if value is not None else None)
    timeout = (settings.sync_connect_timeout, settings.sync_http_timeout)
    with (
        build_ims_session(settings) as ims_session,
        build_session(
            connect_timeout=settings.sync_connect_timeout,
            read_timeout=settings.sync_http_timeout,
            headers={"x-api-key": settings.ims_client_id},
            pool_size=2,
            setting="IO_MANAGEMENT_API_URL",
            max_response_bytes=settings.sync_max_response_bytes,
        ) as session,
    ):
        manager = ImsClientCredentials(
            session=ims_session,
            token_url=settings.ims_token_url,
            client_id=settings.ims_client_id,
            client_secret=settings.client_secrets(),
            scopes=management_scopes(settings.scopes),
            clock=clock,
            timeout=timeout,
            on_mint=secrets.add,
            store=build_token_store(settings),
            audit=audit,
        )
        session.auth = BearerAuth(manager, origin=settings.io_management_api_url)
        api = SecretsApi(
            session, settings.io_management_api_url, settings.ims_org_id, credential, timeout
        )

        def prove(secret: SecretStr | None) -> None:
            if secret is None:
                prover = build_token_provider(settings, ims_session, clock, secrets, audit)
            else:
                prover = ImsClientCredentials(
                    session=ims_session,
                    token_url=settings.ims_token_url,
                    client_id=settings.ims_client_id,
                    client_secret=[ClientSecret("the new client secret", value=secret)],
                    scopes=settings.scopes,
                    clock=clock,
                    timeout=timeout,
                    on_mint=secrets.add,
                    audit=audit,
                )
            prover.store = MemoryTokenStore()  # a proof: the cached token others use stays
            prover.get_token()

        yield api, prove


def rotate_secret(
    settings: Settings,
    options: RotateOptions,
    *,
    clock: Clock,
    secrets: SecretFilter,
    emit: Callable[[str], None],
    audit: AuthAudit | None = None,
) -> RotationReport:
    """Run ``accs-sync secret rotate`` (see :mod:`sync.rotate`); ``audit`` keeps its mints."""
    if settings.ims_auth_flow != "client_credentials":
        raise ConfigError(
            "secret rotate rotates an OAuth Server-to-Server credential's secret, which "
            "IMS_AUTH_FLOW=client_credentials uses; this configuration signs in as a user",
            setting="IMS_AUTH_FLOW",
        )
    with open_secrets_api(settings, clock, secrets, audit) as (api, prove):
        rotation = Rotation(
            api,
            secret_targets(settings),
            options,
            prove=prove,
            clock=clock,
            on_secret=secrets.add,
            emit=emit,
        )
        return rotation.run()


def record_rotation(
    settings: Settings,
    report: RotationReport,
    secrets: SecretFilter,
    clock: Clock,
    audit: AuthAudit | None = None,
) -> None:
    """The rotation's mints (``audit``) and one ``rotation`` row in the auth audit
    (``sync_auth_events``): the outcome and the secrets by uuid, scrubbed once more. A database
    that cannot take them is a warning: the rotation itself is what matters (its report says
    everything)."""
    from sqlalchemy.exc import SQLAlchemyError

    from sync.db.auth_events import record_auth_events
    from sync.db.engine import make_engine
    from sync.db.faults import describe
    from sync.db.migrate import ensure_schema

    events = audit.drain() if audit is not None else []
    events.append(AuthEvent("rotation", secrets.scrub(report.summary()), clock.now()))
    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        record_auth_events(engine, events)
    except (SQLAlchemyError, AccsSyncError) as exc:
        reason = describe(exc, secrets.scrub) if isinstance(exc, SQLAlchemyError) else exc.message
        log.warning("the rotation is not in the auth audit (sync_auth_events): %s", reason)
    finally:
        engine.dispose()
