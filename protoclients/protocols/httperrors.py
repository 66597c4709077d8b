"""The one translation boundary of the HTTP client: failures → protoclients errors.

* :func:`translate` maps requests/urllib3/socket exceptions,
* :func:`status_error` maps an unsuccessful HTTP status,
* :func:`body_error` maps a failure in the middle of a download,
* :func:`reply_text` builds the short, scrubbed server excerpt attached to an error, and
  :func:`secret_strings` lists what must be scrubbed from it.

Messages are built from redacted URLs only; server text is cleaned and scrubbed.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import re
import socket
import ssl
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

import requests
import requests.exceptions as rex
import urllib3.exceptions as u3ex

from ..errors import (
    AuthenticationError,
    CertificateError,
    ConnectionFailed,
    CredentialsNotFound,
    IncompleteTransferError,
    InvalidInput,
    NotFoundError,
    OperationTimeoutError,
    PermissionDeniedError,
    ProtoClientError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    TLSError,
    clean_server_text,
)
from ..tls import tls_error
from ..urls import SENSITIVE_QUERY_KEYS, URL
from .deadlineio import MIN_PROGRESS_BYTES
from .httpheaders import header, is_secret_header
from .httpredirects import REDIRECT_STATUSES

__all__ = [
    "body_error",
    "find_in_chain",
    "reply_text",
    "secret_strings",
    "status_error",
    "translate",
]

_TAG_RE = re.compile(r"<[^>]*>")
_EXCERPT_BYTES = 1024


def find_in_chain(
    exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]
) -> BaseException | None:
    """Search an exception, its causes, contexts, ``reason`` and ``args`` for ``kind``."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, kind):
            return item
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        stack.extend(item.args)
    return None


def translate(exc: BaseException, url: URL, *, protocol: str, wait: float) -> ProtoClientError:
    """A requests/urllib3 exception as a protoclients error (``wait``: the timeout shown)."""
    ctx: dict[str, Any] = {"protocol": protocol, "url": url}
    if isinstance(exc, rex.SSLError | u3ex.SSLError):
        inner = find_in_chain(exc, (ssl.SSLError, ssl.CertificateError))
        if isinstance(inner, ssl.SSLError | ssl.CertificateError):
            return tls_error(inner, **ctx)
        if "Fingerprints did not match" in str(exc):  # urllib3's assert_fingerprint
            return CertificateError(
                "server certificate does not match the pinned SHA-256 fingerprint", **ctx
            )
        return TLSError("TLS handshake failed", **ctx)
    if isinstance(exc, rex.ConnectTimeout):
        return OperationTimeoutError(
            f"connecting to {url.hostport} timed out after {wait:g} s", **ctx
        )
    if isinstance(exc, rex.ReadTimeout | u3ex.ReadTimeoutError):
        return OperationTimeoutError(f"server did not answer within {wait:g} s", **ctx)
    if isinstance(exc, rex.ProxyError):
        return ConnectionFailed("cannot connect through the proxy", **ctx)
    if isinstance(exc, rex.ChunkedEncodingError | u3ex.ProtocolError | u3ex.IncompleteRead):
        return IncompleteTransferError("connection broke during the transfer", **ctx)
    if isinstance(exc, rex.ContentDecodingError | u3ex.DecodeError):
        return ProtocolError("server sent a body that cannot be decoded", **ctx)
    if isinstance(exc, rex.UnrewindableBodyError):  # raised by requests on 307/308
        return ProtocolError(
            "server redirected the upload but its source cannot be read again; "
            "send it to the new location directly",
            **ctx,
        )
    if isinstance(exc, u3ex.UnrewindableBodyError):
        return IncompleteTransferError(
            "the upload had to be retried but its source cannot be read again", **ctx
        )
    if isinstance(exc, rex.ConnectionError):
        # requests reports a read timeout that used up the retries as ConnectionError.
        if find_in_chain(exc, (u3ex.ReadTimeoutError, TimeoutError)) is not None:
            return OperationTimeoutError(f"server did not answer within {wait:g} s", **ctx)
        malformed = _malformed_head(exc, ctx)
        if malformed is not None:
            return malformed
        return ConnectionFailed(_connection_reason(exc, url), **ctx)
    if isinstance(exc, rex.InvalidHeader | rex.InvalidURL | rex.InvalidSchema):
        return InvalidInput(f"request refused by requests: {type(exc).__name__}", **ctx)
    return ProtocolError(f"HTTP request failed ({type(exc).__name__})", **ctx)


def _malformed_head(exc: BaseException, ctx: dict[str, Any]) -> ProtoClientError | None:
    """An oversized or malformed status line / header block (http.client's bounds: 64 KiB
    per line, 100 headers), which urllib3 reports as a broken connection (HOS-01)."""
    if find_in_chain(exc, http.client.RemoteDisconnected) is not None:
        return None
    if find_in_chain(exc, http.client.LineTooLong) is not None:
        return ResponseTooLarge("a response header line is too long", **ctx)
    found = find_in_chain(exc, http.client.HTTPException)
    if found is None or isinstance(found, http.client.IncompleteRead):
        return None
    if "headers" in str(found):
        return ResponseTooLarge("the response has too many header lines", **ctx)
    return ProtocolError(f"malformed response head ({type(found).__name__})", **ctx)


def status_error(
    resp: requests.Response,
    url: URL,
    *,
    protocol: str,
    reply: str,
    creds: Any,
    creds_apply: bool,
) -> ProtoClientError:
    """The error for an unsuccessful status; ``creds_apply``: ``url`` is the creds' origin."""
    status = resp.status_code
    ctx: dict[str, Any] = {"protocol": protocol, "url": url, "reply": reply}
    if status == 401:
        challenge = clean_server_text(header(resp, "WWW-Authenticate") or "", 80)
        if creds is not None and creds_apply:
            return AuthenticationError(
                f"the server rejected the credentials for user {creds.username!r} "
                f"(from {creds.source})",
                **ctx,
            )
        how = (
            "the server requires authentication"
            + (f" ({challenge})" if challenge else "")
            + "; put the user name in the URL (http(s)://USER@host/...) and give the "
            "password with password=..., the PROTOCLIENTS_PASSWORD environment variable, "
            "the keyring (protoclients auth set) or ~/.netrc (mode 600)"
        )
        return CredentialsNotFound(how, **ctx)
    if status == 407:
        return AuthenticationError("the proxy requires authentication", **ctx)
    if status == 403:
        return PermissionDeniedError("permission denied (HTTP 403)", **ctx)
    if status in {404, 410}:
        return NotFoundError(f"not found (HTTP {status})", **ctx)
    if status >= 500:
        return ServerError(
            f"server error (HTTP {status})",
            status=status,
            temporary=status in {502, 503, 504},
            **ctx,
        )
    if status in REDIRECT_STATUSES:
        return ProtocolError(f"redirect (HTTP {status}) without a Location header", **ctx)
    if 400 <= status < 500:
        return ServerError(
            f"request refused (HTTP {status})",
            status=status,
            temporary=status in {408, 429},
            **ctx,
        )
    return ProtocolError(f"unexpected HTTP status {status}", **ctx)


def body_error(
    exc: BaseException,
    received: int,
    expected: int | None,
    url: URL,
    *,
    protocol: str,
    wait: float,
) -> ProtoClientError:
    """A failure while a download body was being read (``received`` bytes were saved)."""
    of = f" of {expected}" if expected is not None else ""
    if find_in_chain(exc, (TimeoutError, u3ex.TimeoutError)) is not None:
        return OperationTimeoutError(
            f"the server stopped sending (no data for {wait:g} s, or under "
            f"{MIN_PROGRESS_BYTES} bytes in that time); {received}{of} bytes were saved",
            protocol=protocol,
            url=url,
        )
    return IncompleteTransferError(
        f"connection broke ({type(exc).__name__}); {received}{of} bytes were saved",
        protocol=protocol,
        url=url,
    )


def reply_text(resp: requests.Response, secrets: Iterable[str]) -> str:
    """Status line plus a short, tag-stripped, secret-scrubbed excerpt of the body."""
    text = f"{resp.status_code} {resp.reason or ''}".strip()
    excerpt = b""
    with contextlib.suppress(Exception):
        excerpt = resp.raw.read(_EXCERPT_BYTES, decode_content=True) or b""
    body = excerpt.decode("utf-8", errors="replace")
    body = " ".join(_TAG_RE.sub(" ", body).split())
    if body:
        text += ": " + body
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def secret_strings(
    url: URL, headers: Mapping[str, str], secret_names: Iterable[str], creds: Any
) -> list[str]:
    """Strings that must never appear in an error message (scrubbed from server text)."""
    secrets: list[str] = []
    names = tuple(secret_names)
    for name, value in headers.items():
        if is_secret_header(name, names) and len(value) >= 4:
            secrets.append(value)
    for item in url.query.split("&"):
        key, eq, value = item.partition("=")
        if eq and unquote(key).lower() in SENSITIVE_QUERY_KEYS and len(value) >= 4:
            secrets.extend({value, unquote(value)})
    if creds is not None:
        password = creds.password.reveal()
        if len(password) >= 4:
            secrets.append(password)
        token = base64.b64encode(f"{creds.username}:{password}".encode()).decode("ascii")
        secrets.append(token)
    return sorted(secrets, key=len, reverse=True)


def _connection_reason(exc: BaseException, url: URL) -> str:
    where = url.hostport
    if find_in_chain(exc, ConnectionRefusedError) is not None:
        return f"cannot connect to {where}: connection refused"
    if find_in_chain(exc, socket.gaierror) is not None:
        return f"cannot connect to {where}: host name not found"
    if find_in_chain(exc, http.client.RemoteDisconnected) is not None:
        return f"{where} closed the connection without answering"
    if find_in_chain(exc, ConnectionResetError) is not None:
        return f"{where} reset the connection"
    inner = find_in_chain(exc, OSError)
    if isinstance(inner, OSError) and inner.strerror:
        return f"cannot connect to {where}: {inner.strerror}"
    return f"cannot connect to {where}"
