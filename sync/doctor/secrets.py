"""``check``'s client secret findings: each secret of ``IMS_CREDENTIAL_ID``, its age and last
use, and a warning past ``SYNC_SECRET_MAX_AGE_DAYS`` (Adobe recommends regular rotation).

Only warnings: a sync does not need the I/O Management API, so a credential whose project
lacks it (or an API that does not answer) never fails ``check``.
"""

from __future__ import annotations

from datetime import datetime

from sync.api.secrets_api import SecretInfo
from sync.clock import Clock
from sync.doctor.findings import Finding
from sync.errors import AccsSyncError
from sync.redact import SecretFilter
from sync.rotate_app import open_secrets_api
from sync.settings import Settings

__all__ = ["secret_findings"]


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never used"
    return f"last used {value:%Y-%m-%d %H:%M}Z ({max(0, (now - value).days)} days ago)"


def _finding(secret: SecretInfo, now: datetime, max_days: int, count: int) -> Finding:
    age = max(0, (now - secret.created).days)  # a clock ahead of ours is not a negative age
    detail = f"created {age} days ago ({secret.created:%Y-%m-%d}Z), {_when(secret.last_used, now)}"
    name = f"client secret {secret.uuid}"
    if age > max_days:
        return Finding(
            name,
            "warn",
            "config",
            f"{detail}: older than SYNC_SECRET_MAX_AGE_DAYS={max_days}; run `accs-sync secret "
            f"rotate`{' --delete-idle' if count > 1 else ''} (see docs/security.md)",
        )
    return Finding(name, "ok", "config", detail)


def secret_findings(settings: Settings, secrets: SecretFilter, clock: Clock) -> list[Finding]:
    """Nothing unless IMS_CREDENTIAL_ID is set; else one finding per secret (or a warning
    that they cannot be listed)."""
    if not settings.ims_credential_id:
        return []
    try:
        with open_secrets_api(settings, clock, secrets) as (api, _):
            listed = api.list()
    except AccsSyncError as exc:
        return [
            Finding(
                "client secrets",
                "warn",
                "config",
                f"cannot list the secrets of IMS_CREDENTIAL_ID: {exc.message}",
            )
        ]
    now = clock.now()
    max_days = settings.sync_secret_max_age_days
    return [_finding(secret, now, max_days, len(listed)) for secret in listed]
