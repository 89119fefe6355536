"""The IMS credential settings: which secret (a value, a file, or a file in IMS_SECRETS_DIR),
the refusal of JWT service-account credentials, the secrets to try in order, and where tokens
are cached. :class:`sync.settings.Settings` calls these from its validators and methods.

A secret's value never appears in a message raised here: only setting names and file paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import SecretStr

    from sync.api.ims import ClientSecret
    from sync.settings import Settings

__all__ = [
    "check_credentials",
    "client_secrets",
    "secret_given",
    "secrets_dir_file",
    "token_cache_path",
]

#: (the secret's setting, the setting of the file that may hold it instead), tried in order.
SECRET_SETTINGS = (
    ("ims_client_secret", "ims_client_secret_file"),
    ("ims_client_secret_next", "ims_client_secret_next_file"),
)
#: Set as a value or as a file, never both: the client secrets and the token cache key.
_PAIRED = (*SECRET_SETTINGS, ("sync_token_cache_key", "sync_token_cache_key_file"))


def secret_given(data: Any) -> Any:
    """Before validation: name a missing secret together with the other missing credentials."""
    if not isinstance(data, dict):
        return data
    given = {str(k).lower() for k, v in data.items() if v not in (None, "")}
    if given & {"ims_private_key", "ims_private_key_path", "ims_technical_account_id"}:
        return data  # refused with the JWT explanation in check_credentials
    secrets_dir = Path(str(data.get("ims_secrets_dir") or "/run/secrets"))
    if given & {"ims_client_secret", "ims_client_secret_file"} or any(
        (secrets_dir / name).is_file() for name in ("ims_client_secret", "IMS_CLIENT_SECRET")
    ):
        return data
    missing = [
        name.upper()
        for name in ("ims_client_id", "ims_client_secret", "ims_org_id", "api_endpoint")
        if name == "ims_client_secret" or name not in given
    ]
    verb = "are" if len(missing) > 1 else "is"
    raise ValueError(
        f"{', '.join(missing)} {verb} required: set them in the environment, in .env, or in "
        "the config file (see .env.example); the secret may also come from "
        f"IMS_CLIENT_SECRET_FILE or {secrets_dir}/ims_client_secret"
    )


def _jwt_settings(settings: Settings) -> list[str]:
    """The settings that show a JWT service account credential."""
    return [
        name
        for name, present in (
            ("IMS_PRIVATE_KEY", settings.ims_private_key is not None),
            ("IMS_PRIVATE_KEY_PATH", bool(settings.ims_private_key_path)),
            ("IMS_TECHNICAL_ACCOUNT_ID", bool(settings.ims_technical_account_id)),
            ("IMS_TOKEN_URL", "/ims/exchange/jwt" in settings.ims_token_url),
            (
                "META_SCOPES",
                any(
                    "ims/exchange/jwt" in (v or "")
                    for v in (settings.meta_scopes, settings.ims_meta_scopes, settings.ims_scopes)
                ),
            ),
        )
        if present
    ]


def check_credentials(settings: Settings) -> None:
    """After validation: the credentials make sense together (raises ValueError)."""
    jwt = _jwt_settings(settings)
    if jwt:
        raise ValueError(
            f"{jwt[0]}: this looks like a JWT service account credential "
            f"({', '.join(jwt)}); Adobe stopped accepting JWT credentials on 2025-06-30. "
            "Migrate the project to an OAuth Server-to-Server credential in the Adobe "
            "Developer Console (https://developer.adobe.com/developer-console/docs/guides/"
            "authentication/ServerToServerAuthentication/migration/) and set "
            "IMS_CLIENT_ID and IMS_CLIENT_SECRET from it"
        )
    for plain, file in _PAIRED:
        if getattr(settings, plain) is not None and getattr(settings, file) is not None:
            raise ValueError(
                f"{plain.upper()}: set either {plain.upper()} or {file.upper()}, not both"
            )
    for _, file in _PAIRED:
        path: Path | None = getattr(settings, file)
        if file == "ims_client_secret_next_file" and path is not None and path.parent.is_dir():
            continue  # `accs-sync secret rotate` writes it; until then it may be absent
        if path is not None and not path.is_file():
            raise ValueError(
                f"{file.upper()}: {str(path)!r} is not a readable file; check the path "
                "(and that the secret is mounted into this container)"
            )
    if settings.ims_auth_flow == "authorization_code" and settings.token_cache_path() is None:
        raise ValueError(
            "SYNC_TOKEN_CACHE: IMS_AUTH_FLOW=authorization_code keeps the login's refresh "
            "token in the token cache; set SYNC_TOKEN_CACHE to a file path, not none"
        )
    if settings.ims_client_secret is None and settings.ims_client_secret_file is None:
        if not secrets_dir_file(settings.ims_secrets_dir, "ims_client_secret"):
            raise ValueError(
                "IMS_CLIENT_SECRET is required: set IMS_CLIENT_SECRET or "
                "IMS_CLIENT_SECRET_FILE (or mount it as "
                f"{settings.ims_secrets_dir}/ims_client_secret)"
            )


def secrets_dir_file(secrets_dir: Path, name: str) -> Path | None:
    """``IMS_SECRETS_DIR/<name>`` (or its upper-case spelling) when it exists."""
    for candidate in (name, name.upper()):
        path = secrets_dir / candidate
        if path.is_file():
            return path
    return None


def client_secrets(settings: Settings) -> list[ClientSecret]:
    """The secrets to try, in order; files are re-read at every mint."""
    from sync.api.ims import ClientSecret  # late: requests, which status does not need

    out: list[ClientSecret] = []
    for plain, file in SECRET_SETTINGS:
        value: SecretStr | None = getattr(settings, plain)
        path: Path | None = getattr(settings, file) or (
            None if value else secrets_dir_file(settings.ims_secrets_dir, plain)
        )
        if value is not None:
            out.append(ClientSecret(plain.upper(), value=value))
        elif path is not None:
            out.append(ClientSecret(f"{file.upper()} ({path})", path=path))
    return out


def token_cache_path(value: str | None) -> Path | None:
    """Where tokens are cached across processes (SYNC_TOKEN_CACHE ``value``); None when it
    says none."""
    value = (value or "").strip()
    if value.lower() in ("none", "off", "disabled", "false", "0"):
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "accs-sync" / "tokens.json"
