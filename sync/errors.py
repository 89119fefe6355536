"""The errors accs-sync raises, sorted by what the caller should do about them.

::

    AccsSyncError                  root; every error carries a human message
    ├── ConfigError                bad settings; exit code 2, nothing was touched
    ├── SchemaError                database schema is newer than this code, or broken
    ├── ApiError                   ACCS or IMS answered something we cannot use
    │   ├── RetriableApiError      429, 5xx, network: try again later (tenacity does)
    │   │   ├── RateLimited        429, with the server's Retry-After in seconds
    │   │   └── Unreachable        no HTTP answer: refused, name not found, timeout...;
    │   │                          names the URL setting; given up on sooner when the
    │   │                          endpoint never answered in this process
    │   ├── AuthError              IMS refused credentials or ACCS refused the token twice
    │   │   ├── CredentialsRejected  invalid_client: the client id or secret is wrong; exit 2
    │   │   ├── LoginRequired      no (valid) refresh token: run `accs-sync login`; exit 2
    │   │   └── ScopeRejected      invalid_scope: the credential lacks a scope in IMS_SCOPES;
    │   │                          exit 2
    │   ├── PermissionDenied       403, or a 401 naming an ACL after a fresh token: the
    │   │   │                      organisation, product profile or integration lacks access
    │   │   └── OrgRejected        ACCS refuses the organisation (IMS_ORG_ID); exit 2
    │   ├── RedirectRefused        a 3xx: never followed (credentials stay put); exit 2
    │   └── FatalApiError          4xx that retrying will not fix (bad request, not found)
    │       ├── PageSizeLimited    "Maximum SearchCriteria pageSize is N"; carries N
    │       ├── StoreUnknown       ACCS knows no store view by that code (SYNC_STORE_CODES);
    │       │                      the run skips it and exits 2
    │       └── EndpointMissing    404 for the endpoint itself: a wrong API_ENDPOINT (exit 2),
    │                              or an instance without that API (no inventory API)
    ├── InvalidResponse            a 2xx whose body is not the documented shape
    └── Interrupted                a stop was requested (SIGTERM); work so far is committed

Every error has a ``message`` safe to print: no token, secret or credential is ever put in
one (callers pass URLs through :func:`sync.redact.redact_url`).
"""

from __future__ import annotations

__all__ = [
    "AccsSyncError",
    "ApiError",
    "AuthError",
    "ConfigError",
    "CredentialsRejected",
    "EndpointMissing",
    "FatalApiError",
    "Interrupted",
    "InvalidResponse",
    "LoginRequired",
    "OrgRejected",
    "PageSizeLimited",
    "PermissionDenied",
    "RateLimited",
    "RedirectRefused",
    "RetriableApiError",
    "SchemaError",
    "ScopeRejected",
    "StoreUnknown",
    "Unreachable",
]


class AccsSyncError(Exception):
    """Root of every error accs-sync raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(AccsSyncError):
    """A setting is missing or wrong. ``setting`` names it so the user knows what to fix."""

    exit_code = 2

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class SchemaError(AccsSyncError):
    """The database schema cannot be used by this version of accs-sync."""

    exit_code = 2


class ApiError(AccsSyncError):
    """An HTTP exchange with IMS or ACCS failed."""

    def __init__(self, message: str, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class RetriableApiError(ApiError):
    """Transient: rate limiting, a 5xx or a network failure. Safe to retry."""


class RateLimited(RetriableApiError):
    """HTTP 429. ``retry_after`` is the server's requested pause in seconds, if it sent one."""

    def __init__(
        self, message: str, retry_after: float | None, status: int = 429, url: str | None = None
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.retry_after = retry_after


class AuthError(ApiError):
    """Credentials or token refused. Retrying with the same credentials will not help."""

    exit_code = 1


class CredentialsRejected(AuthError):
    """IMS answered ``invalid_client``: a configuration problem, so the CLI exits 2."""

    exit_code = 2


class LoginRequired(AuthError):
    """The user login (authorization-code flow) is missing, expired or revoked: exit 2."""

    exit_code = 2


class ScopeRejected(AuthError):
    """IMS answered ``invalid_scope``: the credential lacks a scope that ``IMS_SCOPES`` asks for.

    Configuration (exit 2), in a run as in ``accs-sync check``: only the Developer Console or
    ``IMS_SCOPES`` can fix it, so retrying (or Kubernetes restarting the Job) cannot.
    """

    exit_code = 2


class PermissionDenied(ApiError):
    """The token is valid but not allowed to do this: a 403, or Magento's ACL refusal (a 401
    "The consumer isn't authorized to access %resources." that a fresh token gets too).
    ``acl`` is the ACL resource Magento named, when it named one."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        url: str | None = None,
        acl: str | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.acl = acl


class OrgRejected(PermissionDenied):
    """ACCS refuses the organisation itself (``IMS_ORG_ID``, sent as ``x-gw-ims-org-id``):
    every request will be refused alike, so the run stops and the CLI exits 2."""

    exit_code = 2
    setting = "IMS_ORG_ID"


class RedirectRefused(ApiError):
    """IMS or ACCS answered a redirect (3xx). accs-sync follows none: a redirect would carry the
    client secret, a token or the gateway headers to wherever it points. Retrying cannot help
    and only the setting named in ``setting`` can fix it, so the CLI exits 2."""

    exit_code = 2

    def __init__(
        self, message: str, setting: str, status: int | None = None, url: str | None = None
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.setting = setting


class FatalApiError(ApiError):
    """A 4xx (other than 401/403/429) that retrying cannot fix."""


class PageSizeLimited(FatalApiError):
    """The store enforces input limits: ``Maximum SearchCriteria pageSize is N``."""

    def __init__(self, message: str, limit: int, url: str | None = None) -> None:
        super().__init__(message, status=400, url=url)
        self.limit = limit


class StoreUnknown(FatalApiError):
    """ACCS knows no store view ``store_code`` (Magento's "The store that was requested wasn't
    found"): a wrong code in ``SYNC_STORE_CODES``. A run skips that store view, mirrors the
    others, ends ``partial`` and exits 2."""

    exit_code = 2
    setting = "SYNC_STORE_CODES"

    def __init__(
        self, message: str, store_code: str, status: int | None = None, url: str | None = None
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.store_code = store_code


class EndpointMissing(FatalApiError):
    """A 404 for the endpoint itself (not for a store view): no such API at this URL. For
    products that is a wrong ``API_ENDPOINT`` (the run fails, exit 2); for another resource,
    an instance without it (the run skips the resource and ends ``partial``)."""

    exit_code = 2
    setting = "API_ENDPOINT"


class Unreachable(RetriableApiError):
    """No HTTP answer: ``reason`` says which (``refused``, ``dns``, ``timeout``, ``reset``...)
    and ``setting`` names the URL setting that points there. ``first_contact``: the endpoint
    has not answered once in this process, so a refused connection or an unknown name is more
    likely a wrong URL than an outage, and the retry policy gives up sooner."""

    def __init__(
        self,
        message: str,
        reason: str,
        setting: str,
        url: str | None = None,
        first_contact: bool = False,
    ) -> None:
        super().__init__(message, url=url)
        self.reason = reason
        self.setting = setting
        self.first_contact = first_contact


class InvalidResponse(RetriableApiError):
    """A 2xx answer that is not JSON or not the documented shape.

    Retriable because proxies and overloaded gateways produce truncated or HTML bodies; if it
    persists, the retry policy gives up and the run fails without advancing any watermark.
    """


class Interrupted(AccsSyncError):
    """A graceful stop was requested; everything committed so far is kept."""

    exit_code = 0
