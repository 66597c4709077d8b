"""Transport failures (TLS, timeout, DNS, broken connection) -> protoclients errors.

The same mapping for every socket-based protocol; each protocol's error boundary handles
its own library's exceptions first and hands the transport ones here.
"""

from __future__ import annotations

import socket
import ssl

from ..errors import ConnectionFailed, OperationTimeoutError, ProtoClientError
from ..tls import tls_error
from ..urls import URL

__all__ = ["transport_error"]


def transport_error(
    exc: ssl.SSLError | ssl.CertificateError | OSError | EOFError,
    what: str,
    *,
    protocol: str,
    url: URL,
) -> ProtoClientError:
    """The protoclients error for a transport-level failure during ``what``."""
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return tls_error(exc, protocol=protocol, url=url)
    if isinstance(exc, TimeoutError):
        return OperationTimeoutError(f"{what} timed out", protocol=protocol, url=url)
    if isinstance(exc, socket.gaierror):
        return ConnectionFailed(
            f"cannot resolve {url.host}: {exc.strerror or exc}", protocol=protocol, url=url
        )
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return ConnectionFailed(
        f"{what} failed: connection to {url.hostport} lost or refused ({reason})",
        protocol=protocol,
        url=url,
    )
