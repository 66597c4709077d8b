"""Redirect rules of the HTTP client (redirects are followed by protoclients, not requests).

At most :data:`MAX_REDIRECTS` hops, only to ``http``/``https``, never from ``https`` down
to ``http`` unless the caller allows it; the target loses any user info and fragment.
"""

from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit

from ..errors import InvalidURL, ProtocolError, TLSRequiredError, clean_server_text
from ..urls import URL

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "redirect_target"]

#: Most redirects followed for one request.
MAX_REDIRECTS = 10
#: Statuses that redirect (followed when they carry a Location).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def redirect_target(
    current: URL, location: str, allow_downgrade: bool, *, protocol: str = "http"
) -> URL:
    """Where a ``Location`` sent in answer to ``current`` points, if it may be followed."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in location):
        raise ProtocolError(
            "server sent a redirect Location with control characters",
            protocol=protocol,
            url=current,
        )
    absolute = urljoin(
        current.geturl_without_credentials(), quote(location, safe="%/:?#[]@!$&'()*+,;=~")
    )
    scheme = urlsplit(absolute).scheme.lower()
    if scheme not in {"http", "https"}:
        raise ProtocolError(
            f"refusing to follow a redirect to a {clean_server_text(scheme, 20)}: URL "
            "(only http and https are followed)",
            protocol=protocol,
            url=current,
        )
    try:
        target = URL.parse(absolute)
    except InvalidURL:
        raise ProtocolError(
            "server sent an invalid redirect Location", protocol=protocol, url=current
        ) from None
    target = target.replace(username=None, password=None, fragment="")
    if current.scheme == "https" and target.scheme == "http" and not allow_downgrade:
        raise TLSRequiredError(
            f"refusing to follow a redirect from https to plain http ({target}); "
            "pass allow_downgrade=True to allow it",
            protocol=protocol,
            url=current,
        )
    return target
