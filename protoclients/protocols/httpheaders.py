"""HTTP headers: validation of caller headers, secret header names, response header parsing.

Everything here is pure (no network): checks run before any connection, and the parsers
read ``Content-Length``, ``Content-Range`` and ``Content-Type`` of a
:class:`requests.Response` strictly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, ProtocolError, clean_server_text

if TYPE_CHECKING:
    import requests

__all__ = [
    "CONTENT_HEADERS",
    "RESERVED_HEADERS",
    "SECRET_HEADERS",
    "UNSATISFIED_RANGE_RE",
    "charset",
    "content_length",
    "header",
    "if_range_validator",
    "is_secret_header",
    "parse_content_range",
    "validate_headers",
]

#: Header names (lower case) never sent to another origin after a redirect, never traced.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "private-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
    }
)
# Header names containing one of these words are treated as secret as well.
_SECRET_WORDS = ("auth", "token", "secret", "key", "passw", "session", "cookie", "signature")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", re.IGNORECASE)
#: ``Content-Range`` of a 416 answer: ``bytes */TOTAL``.
UNSATISFIED_RANGE_RE = re.compile(r"bytes\s+\*/(\d+)\s*", re.IGNORECASE)
#: Headers a caller may not set: protoclients manages framing and ranges itself.
RESERVED_HEADERS = frozenset({"content-length", "transfer-encoding", "range", "if-range"})
#: Headers describing a request body (dropped when a redirect turns the request into a GET).
CONTENT_HEADERS = ("content-type", "content-length", "content-encoding", "transfer-encoding")


def is_secret_header(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether header ``name`` carries a secret (by name, or containing a telling word)."""
    lower = name.strip().lower()
    if lower in SECRET_HEADERS or lower in {e.lower() for e in extra}:
        return True
    return any(word in lower for word in _SECRET_WORDS)


def validate_headers(
    headers: Mapping[str, str] | None, *, reserved: Iterable[str] = ()
) -> dict[str, str]:
    """Check caller-supplied headers before any connection (INP-09).

    Names must be HTTP tokens; values must be strings without CR, LF, NUL or other
    control characters (tab allowed). Values are never echoed in the error message.
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidInput("headers must be a mapping of header name to value")
    refused = {r.lower() for r in reserved}
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
            shown = clean_server_text(str(name), limit=60)
            raise InvalidInput(f"invalid HTTP header name {shown!r}")
        if not isinstance(value, str):
            raise InvalidInput(f"value of header {name} must be a string")
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            raise InvalidInput(
                f"value of header {name} contains a control character (CR, LF, NUL...)"
            )
        if name.lower() in refused:
            hint = " (use resume=True to continue a download)" if "range" in name.lower() else ""
            raise InvalidInput(f"header {name} cannot be set here: protoclients manages it{hint}")
        out[name] = value
    return out


def header(resp: requests.Response, name: str) -> str | None:
    """Response header ``name`` as a string, or ``None``."""
    value = resp.headers.get(name)
    return None if value is None else str(value)


def content_length(resp: requests.Response) -> int | None:
    """The announced body length, or ``None`` (chunked or absent); conflicting → error."""
    if "chunked" in (header(resp, "Transfer-Encoding") or "").lower():
        return None
    raw = header(resp, "Content-Length")
    if raw is None:
        return None
    values = {v.strip() for v in raw.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise ProtocolError(
            f"invalid Content-Length header {clean_server_text(raw, 60)!r}", protocol="http"
        )
    return int(values.pop())


def parse_content_range(value: str | None) -> tuple[int, int, int | None]:
    """``bytes START-END/TOTAL`` → ``(start, end, total or None)``."""
    match = _CONTENT_RANGE_RE.fullmatch(value or "")
    if match is None:
        raise ProtocolError(
            f"invalid or missing Content-Range in a 206 response: "
            f"{clean_server_text(value or '', 80)!r}",
            protocol="http",
        )
    start, end = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if end < start or (total is not None and end >= total):
        raise ProtocolError(f"inconsistent Content-Range {value!r}", protocol="http")
    return start, end, total


def if_range_validator(meta: Mapping[str, Any]) -> str | None:
    """The strong ETag saved with a partial file, else its Last-Modified, else ``None``."""
    etag = meta.get("etag")
    if isinstance(etag, str) and etag and not etag.startswith("W/"):
        return etag
    modified = meta.get("last_modified")
    return modified if isinstance(modified, str) and modified else None


def charset(content_type: str) -> str:
    """The ``charset`` parameter of a ``Content-Type`` value (default ``utf-8``)."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"
