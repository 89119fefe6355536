"""Settings, read once at start-up from the environment, a ``.env`` file and a TOML file.

Names follow Adobe's guide (``IMS_CLIENT_ID``, ``IMS_CLIENT_SECRET``, ``IMS_ORG_ID``,
``API_ENDPOINT``); everything about the sync itself is ``SYNC_``-prefixed. Precedence, highest
first: environment, ``.env``, secrets directory, the TOML file (``--config`` or
``ACCS_SYNC_CONFIG``), defaults.

Validation problems become one :class:`~sync.errors.ConfigError` whose message names the
setting and says what to do; a secret's value never appears in it. The checks of single
values live in :mod:`sync.settings_checks`, the credential rules in :mod:`sync.settings_secrets`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sync import settings_checks as checks
from sync import settings_secrets as credentials
from sync.errors import ConfigError
from sync.events.config import EventSettings, extra_scopes
from sync.models import DEFAULT_MAX_ITEM_BYTES
from sync.resources import resource_names
from sync.setting_names import check_toml_names, typo_hint
from sync.setting_names import environment_typos as _environment_typos
from sync.stores import ALL_STORES

if TYPE_CHECKING:
    from sync.api.ims import ClientSecret

__all__ = [
    "DEFAULT_SCOPES",
    "DEFAULT_TOKEN_URL",
    "DatabaseSettings",
    "Settings",
    "environment_typos",
    "load_settings",
    "setting_names",
]

DEFAULT_TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"  # noqa: S105 - a URL
DEFAULT_SCOPES = (
    "openid,AdobeID,email,profile,additional_info.roles,"
    "additional_info.projectedProductContext,commerce.accs"
)
#: Magento rejects larger pages with "Maximum SearchCriteria pageSize is 300" on stores with
#: input limits enabled, which ACCS has.
MAX_PAGE_SIZE = 300


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
    #: text for people, json (one object per line) for log collectors; every command's logs.
    sync_log_format: Literal["text", "json"] = "text"
    #: The least severe log line written; above INFO, the commands' summaries are quiet too.
    sync_log_level: str = "INFO"

    @field_validator("sync_log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text not in ("text", "json"):
            raise ValueError("SYNC_LOG_FORMAT must be text or json")
        return text

    @field_validator("sync_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("SYNC_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

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


class Settings(DatabaseSettings, EventSettings):
    """Everything a sync needs. Field names are the lower-case setting names."""

    # Adobe IMS / ACCS, named as in Adobe's guide.
    ims_client_id: str = Field(min_length=1)
    # Exactly one of the secret and the secret file (or a file in IMS_SECRETS_DIR).
    ims_client_secret: SecretStr | None = None
    ims_client_secret_file: Path | None = None
    # Tried when IMS answers invalid_client to the first secret (rotation without downtime).
    ims_client_secret_next: SecretStr | None = None
    ims_client_secret_next_file: Path | None = None
    # Docker/Kubernetes secrets directory: files named ims_client_secret / ims_client_secret_next.
    ims_secrets_dir: Path = Path("/run/secrets")
    ims_org_id: str = Field(min_length=1)
    #: Accept plain http:// for API_ENDPOINT, IMS_TOKEN_URL and IMS_AUTHORIZE_URL on another
    #: host (a test server such as the emulator in docker compose's demo). Declared before
    #: those fields: their validators read it. Never for a real tenant.
    sync_allow_insecure_http: bool = False
    api_endpoint: str
    ims_token_url: str = DEFAULT_TOKEN_URL
    ims_scopes: str = DEFAULT_SCOPES
    # client_credentials: OAuth Server-to-Server; authorization_code: a user, via `accs-sync login`.
    ims_auth_flow: Literal["client_credentials", "authorization_code"] = "client_credentials"
    ims_authorize_url: str | None = None  # default: <IMS_TOKEN_URL origin>/ims/authorize/v2
    # `accs-sync logout`; default: <IMS_TOKEN_URL origin>/ims/revoke
    ims_revoke_url: str | None = None
    ims_redirect_port: int = Field(default=8765, ge=0, le=65535)
    ims_login_timeout: float = Field(default=300.0, gt=0)
    # `secret rotate` and check's secret ages, via the I/O Management API (docs/security.md).
    ims_credential_id: Annotated[str | None, AfterValidator(checks.credential_id)] = None
    io_management_api_url: str = checks.DEFAULT_IO_URL
    sync_secret_max_age_days: int = Field(default=90, ge=1, le=3650)
    # Cross-process token cache: a file path, or "none" (default: the user's cache directory).
    sync_token_cache: str | None = None
    # The token cache's encryption key (sync.api.cache_crypto): the value or a file holding it;
    # neither: the OS keyring when the keyring extra is installed, else a plain cache.
    sync_token_cache_key: SecretStr | None = None
    sync_token_cache_key_file: Path | None = None
    # Recognised only to refuse them: JWT service accounts stopped working on 2025-06-30.
    ims_private_key: SecretStr | None = Field(default=None, repr=False)
    ims_private_key_path: str | None = None
    ims_technical_account_id: str | None = None
    ims_meta_scopes: str | None = None
    meta_scopes: str | None = None

    sync_page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    #: The store views to mirror, or ``all``: those ACCS lists at the start of each run.
    sync_store_codes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["default"])
    sync_lookback_seconds: int = Field(default=300, ge=0, le=86400)
    #: What a run mirrors, in order (sync.resources): products, categories, source items, ...
    sync_resources: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(resource_names())
    )
    #: The daemon's source-items runs (stock changes do not move any updated_at); "off": none.
    sync_source_items_schedule: str = "15m"
    sync_schedule: str = "15m"
    #: The id listing + content reconciliation; nightly at 03:00 UTC; "off" disables it.
    sync_reconcile_schedule: str = "0 3 * * *"
    sync_misfire_grace_seconds: int = Field(default=300, ge=1)
    sync_http_timeout: float = Field(default=60.0, gt=0)
    sync_connect_timeout: float = Field(default=10.0, gt=0)
    sync_max_attempts: int = Field(default=8, ge=1, le=100)
    sync_max_retry_seconds: float = Field(default=900.0, gt=0)
    sync_max_retry_after: float = Field(default=300.0, gt=0)
    #: Id ranges paged at the same time in a full pass (1: one page after another).
    sync_concurrency: int = Field(default=4, ge=1, le=32)
    #: A cap on ACCS requests per second for the whole process (unset: learnt from 429s).
    sync_max_rps: float | None = Field(default=None, gt=0, le=1000)
    #: Off a terminal, a progress line this often during a run (0: none).
    sync_progress_seconds: float = Field(default=30.0, ge=0)
    #: The daemon serves /metrics, /livez and /readyz on this port (unset: no HTTP server).
    sync_http_port: int | None = Field(default=None, ge=0, le=65535)
    #: ... on this address; 127.0.0.1 unless set (0.0.0.0 in a container).
    sync_http_host: str = "127.0.0.1"
    #: Cron-style runs add their metrics to this file (node_exporter's textfile collector).
    sync_metrics_file: Path | None = None
    #: The largest answer body (decompressed) read from IMS or ACCS; a larger one is an error.
    sync_max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: An item whose JSON text is larger is rejected (sync_rejects) instead of written.
    sync_max_item_bytes: int = Field(default=DEFAULT_MAX_ITEM_BYTES, ge=1024, le=256 * 1024 * 1024)
    #: How long a page's transaction is retried while the database does not answer (a lost
    #: connection, a failover, a restart, a deadlock); past it the run stops at a page boundary.
    sync_db_retry_seconds: float = Field(default=60.0, gt=0, le=86400)

    @field_validator(
        "ims_client_secret", "ims_client_secret_next", "sync_token_cache_key", mode="before"
    )
    @classmethod
    def _strip_secret(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @model_validator(mode="before")
    @classmethod
    def _secret_given(cls, data: Any) -> Any:
        """Name a missing secret together with the other missing credentials."""
        return credentials.secret_given(data)

    @model_validator(mode="after")
    def _credentials(self) -> Settings:
        credentials.check_credentials(self)
        return self

    def client_secrets(self) -> list[ClientSecret]:
        """The secrets to try, in order; files are re-read at every mint."""
        return credentials.client_secrets(self)

    def token_cache_path(self) -> Path | None:
        """Where tokens are cached across processes; None when SYNC_TOKEN_CACHE=none."""
        return credentials.token_cache_path(self.sync_token_cache)

    @property
    def authorize_url(self) -> str:
        return self.ims_authorize_url or checks.on_origin(self.ims_token_url, "/ims/authorize/v2")

    @property
    def revoke_url(self) -> str:
        """IMS_REVOKE_URL, else IMS_TOKEN_URL's origin + ``/ims/revoke`` (Adobe's by default)."""
        return self.ims_revoke_url or checks.on_origin(self.ims_token_url, "/ims/revoke")

    @field_validator("*", mode="before")
    @classmethod
    def _finite(cls, value: Any, info: ValidationInfo) -> Any:
        """Every float setting (and an int listed in settings_checks' limits) is finite and at
        most its bound."""
        name = info.field_name
        if name is None:
            return value
        annotation = cls.model_fields[name].annotation
        return checks.finite(name, value, annotation in (float, float | None))

    @field_validator("ims_client_id", "ims_org_id")
    @classmethod
    def _header_safe(cls, value: str, info: ValidationInfo) -> str:
        # Both are sent as HTTP headers (x-api-key, x-gw-ims-org-id): a line break would end
        # the header, and requests refuses to send it.
        return checks.no_control(value, str(info.field_name).upper())

    @field_validator("api_endpoint", "io_management_api_url")
    @classmethod
    def _api_endpoint(cls, value: str, info: ValidationInfo) -> str:
        insecure = checks.allow_insecure(info.data)
        if info.field_name == "io_management_api_url":
            return checks.io_management_url(value, insecure=insecure)
        return checks.api_endpoint(value, insecure=insecure)

    @field_validator("ims_token_url")
    @classmethod
    def _token_url(cls, value: str, info: ValidationInfo) -> str:
        return checks.require_https(
            value.strip(), "IMS_TOKEN_URL", allow_insecure=checks.allow_insecure(info.data)
        )

    @field_validator("ims_authorize_url", "ims_revoke_url")
    @classmethod
    def _authorize_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        name = (info.field_name or "").upper()
        return checks.require_https(
            value.strip(), name, allow_insecure=checks.allow_insecure(info.data)
        )

    @field_validator("ims_scopes")
    @classmethod
    def _scopes(cls, value: str) -> str:
        return checks.scopes(value)

    @field_validator("sync_store_codes", mode="before")
    @classmethod
    def _store_codes(cls, value: Any) -> Any:
        return checks.store_codes(value)

    @field_validator("sync_resources", mode="before")
    @classmethod
    def _resources(cls, value: Any) -> Any:
        return checks.parse_resources(value, "SYNC_RESOURCES")

    @field_validator("sync_source_items_schedule")
    @classmethod
    def _source_items_schedule(cls, value: str) -> str:
        from sync.scheduler import DISABLED, parse_schedule

        if value.strip().lower() not in DISABLED:
            parse_schedule(value, "SYNC_SOURCE_ITEMS_SCHEDULE")
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

    @property
    def discover_stores(self) -> bool:
        """``SYNC_STORE_CODES=all``: each run mirrors the store views ACCS lists then
        (:mod:`sync.stores`), not a fixed list."""
        return self.sync_store_codes == [ALL_STORES]

    def insecure_urls(self) -> list[str]:
        """The URL settings that use plain http:// to another host (SYNC_ALLOW_INSECURE_HTTP)."""
        urls = {
            "API_ENDPOINT": self.api_endpoint,
            "IMS_TOKEN_URL": self.ims_token_url,
            "IMS_AUTHORIZE_URL": self.authorize_url,
            "IO_MANAGEMENT_API_URL": self.io_management_api_url,
            "IMS_REVOKE_URL": self.revoke_url,
        }
        return [name for name, url in urls.items() if checks.is_insecure_url(url)]

    @property
    def scopes(self) -> list[str]:
        return extra_scopes(self.ims_scopes.split(","), self.io_events_scopes)

    #: How long a run that finds another run holding the database's run lock waits for it
    #: before exiting 3 (0: not at all). Covers a sync meeting another short run; a sync that
    #: meets a long reconcile exits 3, which the Kubernetes CronJobs do not count as failed.
    sync_lock_wait_seconds: float = Field(default=300.0, ge=0, le=86400)


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
        check_toml_names(path, setting_names())
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
            message = (
                f"{', '.join(missing)} are required: set them in the environment, in .env, or in "
                "the config file (see .env.example)"
            )
            setting = missing[0]
        else:
            first = errors[0]
            loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
            message = checks.describe(dict(first))
            setting = loc[0].upper() if loc else re.split(r"[:, ]", message, maxsplit=1)[0]
        raise ConfigError(message + typo_hint(message, setting_names()), setting=setting) from None
    except ValueError as exc:  # e.g. a TOML syntax error
        raise ConfigError(f"cannot read settings: {exc}") from None


def setting_names() -> list[str]:
    """Every setting's name, in upper case as written in the environment."""
    return [name.upper() for name in Settings.model_fields]


def environment_typos(
    environ: Mapping[str, str] | None = None, env_file: Path = Path(".env")
) -> list[str]:
    """A warning for each ``SYNC_*`` / ``IMS_*`` name in the environment (``environ``, default
    this process's) or in ``env_file`` that is no setting but close to one; see
    :func:`sync.setting_names.environment_typos`."""
    return _environment_typos(setting_names(), environ, env_file)
