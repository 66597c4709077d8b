"""The HTTP part of :func:`protoclients.probe`: one ``GET``, its status line and headers.

The probe talks to the server directly with :mod:`http.client` (no proxy, no retries, no
redirects followed: a redirect's ``Location`` is reported), because it must see the very
TLS socket it reports on. Only the status line and headers are read; the connection is
closed before the body. ``http.client`` bounds header lines and their number.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from ..errors import ProtocolError
from ..tls import tls_error
from .neterrors import transport_error

if TYPE_CHECKING:
    from ..client import Client
    from ..prober import ProbeTarget
    from ..probereport import ProbeReport

__all__ = ["COMMAND", "login_capabilities", "probe_server"]

#: HTTP has no capability command (and no login step to probe).
COMMAND = None


def _path(target: ProbeTarget) -> str:
    url = target.url
    path = url.path or "/"
    return f"{path}?{url.query}" if url.query else path


def probe_server(report: ProbeReport, target: ProbeTarget) -> None:
    """Fill ``report`` from one ``GET`` of the URL (status line and headers only)."""
    from .. import __version__
    from ..probereport import HTTPInfo

    url = target.url
    conn: http.client.HTTPConnection
    if target.tls_mode == "implicit":
        conn = http.client.HTTPSConnection(
            url.host, target.port, timeout=target.timeout, context=target.context
        )
    else:
        conn = http.client.HTTPConnection(url.host, target.port, timeout=target.timeout)
    path = _path(target)
    try:
        conn.connect()
        if target.tls_mode == "implicit":
            target.record_tls(report, conn.sock, "implicit")
        target.trace(f"> GET {path} HTTP/1.1")
        conn.request(
            "GET",
            path,
            headers={
                "User-Agent": f"protoclients/{__version__}",
                "Accept": "*/*",
                "Connection": "close",
            },
        )
        resp = conn.getresponse()
        version = "HTTP/1.0" if resp.version == 10 else "HTTP/1.1"
        target.trace(f"< {version} {resp.status} {resp.reason}")
        location = resp.getheader("Location")
        report.http = HTTPInfo(
            status=resp.status,
            reason=resp.reason,
            version=version,
            server=resp.getheader("Server"),
            location=urljoin(url.geturl_without_credentials(), location) if location else None,
            content_type=resp.getheader("Content-Type"),
            hsts=resp.getheader("Strict-Transport-Security"),
        )
        if target.tls_mode == "none":
            report.notes.append("no TLS: plain http:// (probe the https:// URL to see TLS)")
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise tls_error(exc, protocol="http", url=url) from None
    except http.client.HTTPException as exc:
        raise ProtocolError(
            f"the server's answer is not valid HTTP ({type(exc).__name__})",
            protocol="http",
            url=url,
        ) from None
    except (OSError, EOFError) as exc:
        raise transport_error(exc, "probe", protocol="http", url=url) from None
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def login_capabilities(client: Client) -> tuple[dict[str, str] | None, str | None]:
    """HTTP has no login step: never called (``COMMAND`` is ``None``)."""
    raise NotImplementedError
