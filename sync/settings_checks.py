"""Checks of single setting values, shared by :mod:`sync.settings`' validators: URLs (https
only, unless a loopback emulator), control characters, finite numbers, store view codes and
resource lists, and the one-line wording of a validation error.

Each raises ``ValueError`` with a message that names the setting and says what to do; pydantic
turns it into the :class:`~sync.errors.ConfigError` the user sees.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from sync.names import RESOURCE_NAMES
from sync.redact import CONTROL, escape_control, redact_url
from sync.stores import ALL_STORES, invalid_store_codes

__all__ = [
    "DEFAULT_IO_URL",
    "allow_insecure",
    "api_endpoint",
    "base_url",
    "credential_id",
    "describe",
    "finite",
    "io_management_url",
    "is_insecure_url",
    "is_loopback_url",
    "no_control",
    "on_origin",
    "parse_resources",
    "require_https",
    "scopes",
    "store_codes",
]


def is_loopback_url(url: str) -> bool:
    """True when ``url`` points at this machine (where plain http is acceptable)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_insecure_url(url: str) -> bool:
    """True for a plain ``http://`` URL to another machine (credentials would cross in clear)."""
    return urlsplit(url).scheme == "http" and not is_loopback_url(url)


#: Upper bounds of numeric settings (seconds, but requests per second for SYNC_MAX_RPS): past
#: them a value is a mistake, and infinite or huge ones overflow the clocks and sockets they
#: reach. A float setting not listed here gets _FLOAT_MAX.
_FLOAT_LIMITS = {
    "sync_http_timeout": 3600.0,
    "sync_connect_timeout": 600.0,
    "ims_login_timeout": 86400.0,
    "sync_max_retry_seconds": 86400.0,
    "sync_max_retry_after": 86400.0,
    "sync_progress_seconds": 86400.0,
    "sync_max_rps": 1000.0,
    # An int, but APScheduler turns it into a timedelta, which overflows on a huge one.
    "sync_misfire_grace_seconds": 86400.0,
}
_FLOAT_MAX = 1e9


def no_control(value: str, setting: str) -> str:
    found = sorted(set(CONTROL.findall(value)))
    if found:
        raise ValueError(
            f"{setting} contains control characters ({escape_control(''.join(found))}); "
            "remove them (a line break copied with the value, say)"
        )
    return value


def require_https(url: str, setting: str, *, allow_insecure: bool = False) -> str:
    no_control(url, setting)
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ValueError(
            f"{setting} must not carry a user name or password (user@host); IMS and ACCS "
            "credentials come from IMS_CLIENT_ID and IMS_CLIENT_SECRET"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{setting} must be an absolute https:// URL, got {redact_url(url)!r}")
    if is_insecure_url(url) and not allow_insecure:
        raise ValueError(
            f"{setting} must use https:// (plain http is only allowed for a loopback emulator, "
            "or for a test server with SYNC_ALLOW_INSECURE_HTTP=true)"
        )
    return url.rstrip("/")


def allow_insecure(data: dict[str, Any]) -> bool:
    """Whether SYNC_ALLOW_INSECURE_HTTP is on, from the fields validated so far."""
    # Declared before the URL fields, so it is already validated when they are.
    return bool(data.get("sync_allow_insecure_http", False))


def finite(name: str, value: Any, is_float: bool) -> Any:
    """``value`` of the setting ``name`` when it is a finite number at most its bound (see
    _FLOAT_LIMITS); ``is_float``: the field is a float (an int listed there is checked too)."""
    if value is None or isinstance(value, bool):
        return value
    if name not in _FLOAT_LIMITS and not is_float:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value  # pydantic says it is not a number
    setting = name.upper()
    if not math.isfinite(number):
        raise ValueError(f"{setting} must be a finite number, not {number}")
    limit = _FLOAT_LIMITS.get(name, _FLOAT_MAX)
    if number > limit:
        raise ValueError(f"{setting} must be at most {limit:g}, not {number:g}")
    return value


#: The Adobe I/O Management API (client secrets): IO_MANAGEMENT_API_URL's default.
DEFAULT_IO_URL = "https://api.adobe.io"


def on_origin(url: str, path: str) -> str:
    """``path`` on ``url``'s scheme, host and port (IMS's other endpoints beside its token's)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{path}"


def base_url(value: str, setting: str, example: str, *, insecure: bool) -> str:
    """A base URL other paths are appended to: https (see :func:`require_https`), no query or
    fragment, no ``.``/``..`` segments (they would move the paths appended to it)."""
    url = require_https(value.strip(), setting, allow_insecure=insecure)
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(
            f"{setting} must be the base URL only, without ?query or #fragment: {example}"
        )
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        raise ValueError(
            f"{setting} must not contain . or .. path segments; write the path as it is: {example}"
        )
    return url


def io_management_url(value: str, *, insecure: bool) -> str:
    """IO_MANAGEMENT_API_URL: the base URL /console/organizations/... is added to."""
    return base_url(value, "IO_MANAGEMENT_API_URL", DEFAULT_IO_URL, insecure=insecure)


def api_endpoint(value: str, *, insecure: bool) -> str:
    """API_ENDPOINT as accs-sync needs it: the tenant's base URL, which /V1/... is added to."""
    example = "https://<region>.api.commerce.adobe.com/<tenant-id>"
    url = base_url(value, "API_ENDPOINT", example, insecure=insecure)
    path = urlsplit(url).path.strip("/")
    if not path:
        raise ValueError(
            "API_ENDPOINT must include the tenant id, "
            "e.g. https://na1.api.commerce.adobe.com/<tenant-id>"
        )
    if path.endswith("V1") or "/V1/" in f"/{path}/":
        raise ValueError("API_ENDPOINT must stop at the tenant id; accs-sync adds /V1/... itself")
    return url


#: One URL path segment, as IMS_CREDENTIAL_ID is put into the I/O Management API's paths.
_PATH_SEGMENT = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}")


def credential_id(value: str | None) -> str | None:
    """IMS_CREDENTIAL_ID: one path segment of the I/O Management API's URLs, or unset."""
    value = no_control((value or "").strip(), "IMS_CREDENTIAL_ID")
    if value and not _PATH_SEGMENT.fullmatch(value):
        raise ValueError(
            "IMS_CREDENTIAL_ID must be the credential's id from the Developer Console "
            "(letters, digits, '-', '_' and '.', not '.' or '..')"
        )
    return value or None


def scopes(value: str) -> str:
    """IMS_SCOPES, separated by commas or spaces -> one comma-separated list."""
    found = [s.strip() for s in value.replace(" ", ",").split(",") if s.strip()]
    if not found:
        raise ValueError("IMS_SCOPES must list at least one scope")
    return ",".join(found)


def store_codes(value: Any) -> Any:
    """SYNC_STORE_CODES (text or a list) -> the codes, once each, or ``[all]``."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list):
        return value
    codes = [str(v).strip() for v in value if str(v).strip()]
    if not codes:
        raise ValueError("SYNC_STORE_CODES must name at least one store view code")
    if any(c.lower() == ALL_STORES for c in codes):
        if len(codes) > 1:
            raise ValueError(
                f"SYNC_STORE_CODES={escape_control(','.join(codes))}: all (every store "
                "view ACCS lists, asked at each run) stands alone; set either all or "
                "a list of store view codes"
            )
        return [ALL_STORES]
    bad = invalid_store_codes(codes)
    if bad:
        raise ValueError(
            "SYNC_STORE_CODES has invalid store view codes: "
            f"{escape_control(', '.join(bad))} (letters, digits and _ only)"
        )
    return list(dict.fromkeys(codes))


def parse_resources(value: Any, setting: str) -> Any:
    """``"products,categories"`` (or a list) -> the known resource names, in order, once each."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return value
    names = [str(v).strip().lower() for v in value if str(v).strip()]
    if not names:
        raise ValueError(f"{setting} must name at least one of {', '.join(RESOURCE_NAMES)}")
    unknown = [n for n in names if n not in RESOURCE_NAMES]
    if unknown:
        raise ValueError(
            f"{setting} has unknown resources: {', '.join(unknown)} "
            f"(known: {', '.join(RESOURCE_NAMES)})"
        )
    return list(dict.fromkeys(names))


def describe(error: dict[str, Any]) -> str:
    """One pydantic error as the line a user reads: the setting's name, then what is wrong."""
    loc = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
    if not loc:  # a whole-model check: its message starts with the setting's name
        return str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    name = loc[0].upper()
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
