"""One place that decides what an HTTP answer from ACCS means for the caller.

Retriable (429, 5xx, network, a garbled 2xx), fatal (other 4xx), or auth (401/403): the
retry policy and the pipeline act only on the exception type raised here.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from sync import jsontext
from sync.errors import (
    ApiError,
    AuthError,
    EndpointMissing,
    FatalApiError,
    InvalidResponse,
    OrgRejected,
    PageSizeLimited,
    PermissionDenied,
    RateLimited,
    RedirectRefused,
    RetriableApiError,
    StoreUnknown,
    Unreachable,
)
from sync.redact import escape_control, redact_url

__all__ = [
    "escape_control",
    "magento_message",
    "network_reason",
    "parse_retry_after",
    "raise_for_network",
    "redirect_refused",
    "response_decoded",
    "response_json",
    "unknown_store",
]

_PAGE_SIZE_LIMIT = re.compile(r"Maximum SearchCriteria pageSize is (\d+)")
# Magento's answers for a Store header naming no store view (the first is what ACCS and the
# emulator send; older Magento releases word it the second way).
_UNKNOWN_STORE = re.compile(
    r"(?:the )?store that was requested wasn't found|requested store is not found", re.I
)
#: Magento's AuthorizationException: the integration's role lacks the ACL resource it names
#: (Magento's web API answers it with 401, not 403: ErrorProcessor::maskException).
_NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
#: ACCS's (and its gateway's) refusal of the organisation in ``x-gw-ims-org-id``, e.g. 'The IMS
#: organization "%1" is not authorized to access this instance.'
_ORG_REFUSED = re.compile(r"\borgani[sz]ation\b|\bims[ _-]?org\b", re.I)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def magento_message(body: Any) -> str | None:
    """Render Magento's ``{"message": "... %1 ...", "parameters": ...}`` as plain text."""
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if not isinstance(message, str):
        error = body.get("error")
        description = body.get("error_description")
        if isinstance(error, str):
            text = f"{error}: {description}" if isinstance(description, str) else error
            return escape_control(text)
        return None
    params = body.get("parameters")
    if isinstance(params, list):
        for i, value in enumerate(params, start=1):
            message = message.replace(f"%{i}", str(value))
    elif isinstance(params, dict):
        for key, value in params.items():
            message = message.replace(f"%{key}", str(value))
    return escape_control(message)


def unknown_store(message: str) -> str | None:
    """Magento's words for an unknown store view in ``message``, if that is what it says."""
    match = _UNKNOWN_STORE.search(message)
    return match.group(0) if match else None


def _refused(body: Any) -> tuple[bool, str | None]:
    """Whether ``body`` is Magento's authorization refusal, and the ACL resource it names
    (``parameters.resources``), if any."""
    if not isinstance(body, dict) or body.get("message") != _NOT_AUTHORIZED:
        return False, None
    params = body.get("parameters")
    resources = params.get("resources") if isinstance(params, dict) else None
    return True, escape_control(str(resources)) if resources else None


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _snippet(response: requests.Response) -> str:
    text = response.text[:200].strip().replace("\n", " ")
    if text.lower().startswith(("<!doctype", "<html")):
        return "an HTML page (a proxy or gateway error, not the ACCS API)"
    return repr(text) if text else "an empty body"  # a repr escapes control characters


def response_json(response: requests.Response, now: datetime | None = None) -> Any:
    """Return the decoded JSON of a successful answer, or raise the error it stands for."""
    return response_decoded(response, now)[0]


def response_decoded(response: requests.Response, now: datetime | None = None) -> tuple[Any, bool]:
    """:func:`response_json`, and whether the value is decoded plain
    (:func:`sync.jsontext.decode`)."""
    status = response.status_code
    url = redact_url(response.url or "")
    if 200 <= status < 300:
        try:
            # A page of 300 products is ~600 KB; orjson reads it in half the time, same values.
            return jsontext.decode(response.content)
        except ValueError:
            raise InvalidResponse(
                f"ACCS answered {status} with a body that is not JSON ({_snippet(response)})",
                status=status,
                url=url,
            ) from None
    body = _body(response)
    detail = magento_message(body) or _snippet(response)
    refusal, acl = _refused(body)
    if status in (401, 403) and refusal:
        # A 401 here answers a fresh token (BearerAuth re-sent once): not bad credentials.
        fresh = " even with a fresh token" if status == 401 else ""
        raise PermissionDenied(
            f"ACCS refused access ({status}: {detail}){fresh}: the API credential's "
            f"integration lacks {acl or 'an ACL resource'}.",
            status=status,
            url=url,
            acl=acl,
        )
    if status == 401:
        raise AuthError(
            f"ACCS refused the access token twice (401: {detail}). Check IMS_CLIENT_ID and "
            "IMS_CLIENT_SECRET, that the credential has the commerce.accs scope, and that its "
            "product profile grants access to this Commerce instance.",
            status=status,
            url=url,
        )
    if status in (401, 403) and _ORG_REFUSED.search(detail):
        raise OrgRejected(
            f"ACCS refused the organisation ({status}: {detail}): check IMS_ORG_ID against the "
            "credential in the Adobe Developer Console",
            status=status,
            url=url,
        )
    if status == 403:
        raise PermissionDenied(
            f"ACCS denied access (403: {detail}). Check IMS_ORG_ID and that the API credential's "
            "product profile has permission for the catalog.",
            status=status,
            url=url,
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
        raise RateLimited(f"ACCS rate limit (429: {detail})", retry_after=retry_after, url=url)
    if status >= 500 or status in (408, 425):
        raise RetriableApiError(f"ACCS server error {status}: {detail}", status=status, url=url)
    said = unknown_store(detail) if status in (400, 404) else None
    if said:
        code = (response.request.headers.get("Store") if response.request else None) or "?"
        raise StoreUnknown(
            f"ACCS does not know the store view code {escape_control(str(code))!r} ({status}: "
            f"{said}): check SYNC_STORE_CODES against Stores > Settings > All Stores in the Admin",
            store_code=str(code),
            status=status,
            url=url,
        )
    if status == 404:
        raise EndpointMissing(
            f"ACCS has no such API (404: {detail}) at {url.split('?')[0]}; check API_ENDPOINT "
            "(https://<host>/<tenant-id>, no /V1)",
            status=status,
            url=url,
        )
    if status == 400:
        match = _PAGE_SIZE_LIMIT.search(detail)
        if match:
            raise PageSizeLimited(f"ACCS: {detail}", limit=int(match.group(1)), url=url)
    raise FatalApiError(f"ACCS answered {status}: {detail} ({url})", status=status, url=url)


_NOT_TRANSIENT = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.TooManyRedirects,
)


def raise_for_network(
    exc: requests.RequestException, url: str, *, setting: str, first_contact: bool = False
) -> ApiError:
    """The error for a request that got no HTTP answer, saying which failure it was (connection
    refused, host name not found, TLS, timeout) and naming ``setting``, the URL setting that
    points there. Only the URL's origin and path are quoted, never its query.

    Refused connections, unknown names, timeouts and broken transfers are retriable
    (:class:`~sync.errors.Unreachable`; ``first_contact`` says the endpoint has not answered
    in this process, see :mod:`sync.api.retry`). A malformed header or URL, a redirect loop or
    a failed TLS verification fail the same way every time, so they are fatal at once.
    """
    safe = redact_url(url)
    where = f"{setting} ({safe.split('?')[0]})"
    kind = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        return FatalApiError(
            f"TLS failed talking to {where}: {_root_text(exc)}; check the host in {setting}, "
            "and if a proxy re-signs traffic, point REQUESTS_CA_BUNDLE at its CA certificate",
            url=safe,
        )
    if isinstance(exc, _NOT_TRANSIENT):
        reason = str(exc).splitlines()[0][:200] if str(exc) else kind
        return FatalApiError(
            f"request to {safe} cannot be sent ({kind}: {escape_control(reason)}); check "
            "IMS_CLIENT_ID, IMS_ORG_ID, API_ENDPOINT and IMS_TOKEN_URL for stray characters",
            url=safe,
        )
    reason = network_reason(exc)
    host = urlsplit(safe).netloc.rpartition("@")[2] or "?"
    text = {
        "dns": f"the host name in {where} was not found (DNS: {_root_text(exc)}); check "
        f"{setting} for a typo",
        "refused": f"connection refused by {host}: nothing listens there; check {where} "
        "(host and port) and that the service is up",
        "timeout": f"no answer from {where} in time ({kind}); check {setting}, the network "
        "path and proxies (SYNC_CONNECT_TIMEOUT, SYNC_HTTP_TIMEOUT)",
    }.get(reason, f"the connection to {where} failed ({kind}: {_root_text(exc)})")
    return Unreachable(text, reason=reason, setting=setting, url=safe, first_contact=first_contact)


_DNS_WORDS = re.compile(
    r"Name or service not known|nodename nor servname|getaddrinfo failed|"
    r"Temporary failure in name resolution|No address associated with hostname|"
    r"Failed to resolve",
    re.I,
)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: requests wraps urllib3's MaxRetryError, which holds the
    connection error (``reason``), which wraps the socket's error."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo and len(seen) < 12:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [*item.args[:1], getattr(item, "reason", None), item.__cause__, item.__context__]
    return seen


def network_reason(exc: BaseException) -> str:
    """``dns``, ``refused``, ``timeout``, ``reset`` or ``other``: what kept a request from an
    HTTP answer."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)
    if any(
        isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError" for e in chain
    ) or _DNS_WORDS.search(text):
        return "dns"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return "refused"
    if any(isinstance(e, (requests.exceptions.Timeout, TimeoutError)) for e in chain):
        return "timeout"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "reset by peer" in text:
        return "reset"
    return "other"


def _root_text(exc: BaseException) -> str:
    """The innermost reason, short and escaped (urllib3 repeats the pool and the URL)."""
    text = str(_chain(exc)[-1]) or type(exc).__name__
    match = re.search(r"\[Errno [^\]]*\][^)'\"]*|certificate verify failed[^)'\"]*", text)
    return escape_control((match.group(0) if match else text).strip())[:160]


_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def redirect_refused(response: requests.Response, setting: str) -> RedirectRefused:
    """The error for a 3xx answer (:mod:`sync.api.session` follows none): where it pointed,
    redacted and with control characters escaped, and the setting to correct."""
    status = response.status_code
    source = redact_url(response.url or "")
    location = response.headers.get("Location")
    if location:
        target = redact_url(urljoin(response.url or "", location))
        target = _UNPRINTABLE.sub(lambda m: quote(m.group(), safe=""), target)
        host = urlsplit(target).netloc.rpartition("@")[2] or "the same host"
        where = f"a redirect to {host} ({target})"
    else:
        where = "a redirect without a Location"
    return RedirectRefused(
        f"{setting} ({source}) answered {status}, {where}; accs-sync follows no redirect, "
        "so the client secret, tokens and gateway headers never leave the configured host: "
        f"set {setting} to the URL that answers itself",
        setting=setting,
        status=status,
        url=source,
    )
