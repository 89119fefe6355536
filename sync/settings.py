"""Settings, read once at start-up from the environment, a ``.env`` file and a TOML file.

Names follow Adobe's guide (``IMS_CLIENT_ID``, ``IMS_CLIENT_SECRET``, ``IMS_ORG_ID``,
``API_ENDPOINT``); everything about the sync itself is ``SYNC_``-prefixed. Precedence, highest
first: environment, ``.env``, secrets directory, the TOML file (``--config`` or
``ACCS_SYNC_CONFIG``), defaults.

Validation problems become one :class:`~sync.errors.ConfigError` whose message names the
setting and says what to do; a secret's value never appears in it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sync.errors import ConfigError

__all__ = [
    "DEFAULT_SCOPES",
    "DEFAULT_TOKEN_URL",
    "DatabaseSettings",
    "Settings",
    "is_loopback_url",
    "load_settings",
]

DEFAULT_TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"  # noqa: S105 - a URL
DEFAULT_SCOPES = (
    "openid,AdobeID,email,profile,additional_info.roles,"
    "additional_info.projectedProductContext,commerce.accs"
)
#: Magento rejects larger pages with "Maximum SearchCriteria pageSize is 300" on stores with
#: input limits enabled, which ACCS has.
MAX_PAGE_SIZE = 300


def is_loopback_url(url: str) -> bool:
    """True when ``url`` points at this machine (where plain http is acceptable)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _require_https(url: str, setting: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{setting} must be an absolute https:// URL, got {url!r}")
    if parts.scheme != "https" and not is_loopback_url(url):
        raise ValueError(
            f"{setting} must use https:// (plain http is only allowed for a loopback emulator)"
        )
    return url.rstrip("/")


class DatabaseSettings(BaseSettings):
    """What commands that only touch the database (``migrate``, ``status``) need."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # Kubernetes secrets and .env files often carry a trailing newline: never send it.
        str_strip_whitespace=True,
    )

    # repr=False: a server URL may hold a password.
    database_url: str = Field(default="sqlite:///accs-sync.db", repr=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is set per load (see load_settings); without one this source is empty.
        toml = TomlConfigSettingsSource(settings_cls)
        return (init_settings, env_settings, dotenv_settings, file_secret_settings, toml)


class Settings(DatabaseSettings):
    """Everything a sync needs. Field names are the lower-case setting names."""

    # Adobe IMS / ACCS, named as in Adobe's guide.
    ims_client_id: str = Field(min_length=1)
    ims_client_secret: SecretStr
    ims_org_id: str = Field(min_length=1)
    api_endpoint: str
    ims_token_url: str = DEFAULT_TOKEN_URL
    ims_scopes: str = DEFAULT_SCOPES

    sync_page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    sync_store_codes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["default"])
    sync_lookback_seconds: int = Field(default=300, ge=0, le=86400)
    sync_schedule: str = "15m"
    #: The id listing + content reconciliation; nightly at 03:00 UTC; "off" disables it.
    sync_reconcile_schedule: str = "0 3 * * *"
    sync_misfire_grace_seconds: int = Field(default=300, ge=1)
    sync_http_timeout: float = Field(default=60.0, gt=0)
    sync_connect_timeout: float = Field(default=10.0, gt=0)
    sync_max_attempts: int = Field(default=8, ge=1, le=100)
    sync_max_retry_seconds: float = Field(default=900.0, gt=0)
    sync_max_retry_after: float = Field(default=300.0, gt=0)
    sync_log_level: str = "INFO"

    @field_validator("ims_client_secret", mode="before")
    @classmethod
    def _strip_secret(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("api_endpoint")
    @classmethod
    def _api_endpoint(cls, value: str) -> str:
        url = _require_https(value.strip(), "API_ENDPOINT")
        path = urlsplit(url).path.strip("/")
        if not path:
            raise ValueError(
                "API_ENDPOINT must include the tenant id, "
                "e.g. https://na1.api.commerce.adobe.com/<tenant-id>"
            )
        if path.endswith("V1") or "/V1/" in f"/{path}/":
            raise ValueError(
                "API_ENDPOINT must stop at the tenant id; accs-sync adds /V1/... itself"
            )
        return url

    @field_validator("ims_token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return _require_https(value.strip(), "IMS_TOKEN_URL")

    @field_validator("ims_scopes")
    @classmethod
    def _scopes(cls, value: str) -> str:
        scopes = [s.strip() for s in value.replace(" ", ",").split(",") if s.strip()]
        if not scopes:
            raise ValueError("IMS_SCOPES must list at least one scope")
        return ",".join(scopes)

    @field_validator("sync_store_codes", mode="before")
    @classmethod
    def _store_codes(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if isinstance(value, list):
            codes = [str(v).strip() for v in value if str(v).strip()]
            if not codes:
                raise ValueError("SYNC_STORE_CODES must name at least one store view code")
            bad = [c for c in codes if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", c)]
            if bad:
                raise ValueError(f"SYNC_STORE_CODES has invalid store view codes: {', '.join(bad)}")
            return list(dict.fromkeys(codes))
        return value

    @field_validator("sync_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from sync.scheduler import parse_schedule  # late: scheduler imports APScheduler

        parse_schedule(value)
        return value.strip()

    @field_validator("sync_reconcile_schedule")
    @classmethod
    def _reconcile_schedule(cls, value: str) -> str:
        from sync.scheduler import DISABLED, parse_schedule

        value = value.strip()
        if value.lower() not in DISABLED:
            parse_schedule(value, "SYNC_RECONCILE_SCHEDULE")
        return value

    @field_validator("sync_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("SYNC_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def scopes(self) -> list[str]:
        return self.ims_scopes.split(",")


def _describe(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
    name = (loc[0] if loc else "settings").upper()
    kind = error.get("type", "")
    if kind == "missing":
        return (
            f"{name} is required: set it in the environment, in .env, or in the config file "
            "(see .env.example)"
        )
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    if message.startswith(name):
        return message
    return f"{name}: {message}"


S = TypeVar("S", bound=DatabaseSettings)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Everything a sync needs; raises one :class:`ConfigError` naming what is wrong."""
    return _load(Settings, config_file, overrides)


def load_database_settings(
    config_file: str | Path | None = None, **overrides: Any
) -> DatabaseSettings:
    """Only what database commands (``migrate``, ``status``) need: no credentials required."""
    return _load(DatabaseSettings, config_file, overrides)


def _load(cls: type[S], config_file: str | Path | None, overrides: dict[str, Any]) -> S:
    """Read and validate settings; raise one :class:`ConfigError` naming what is wrong."""
    path = config_file or os.environ.get("ACCS_SYNC_CONFIG") or None
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"config file {str(path)!r} does not exist (--config / ACCS_SYNC_CONFIG)",
                setting="ACCS_SYNC_CONFIG",
            )
    settings_cls = cls
    if path is not None:
        # A subclass carries the chosen file; the class itself stays untouched.
        settings_cls = type(
            cls.__name__, (cls,), {"model_config": {**cls.model_config, "toml_file": path}}
        )
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        missing = [
            str(e["loc"][0]).upper() for e in errors if e.get("type") == "missing" and e.get("loc")
        ]
        if len(missing) > 1:
            raise ConfigError(
                f"{', '.join(missing)} are required: set them in the environment, in .env, or in "
                "the config file (see .env.example)",
                setting=missing[0],
            ) from None
        first = errors[0]
        loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
        raise ConfigError(
            _describe(dict(first)), setting=(loc[0].upper() if loc else None)
        ) from None
    except ValueError as exc:  # e.g. a TOML syntax error
        raise ConfigError(f"cannot read settings: {exc}") from None
