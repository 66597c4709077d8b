"""protoclients: one toolbox for HTTP(S), FTP(S), SMTP(S), POP3(S) and IMAP(S).

The same five verbs for every protocol, driven by URLs::

    import protoclients as pc

    pc.fetch("https://example.org/data.csv", dest="data.csv")
    pc.send("ftps://alice@ftp.example.org/in/report.pdf", "report.pdf")
    for entry in pc.ls("ftp://ftp.example.org/pub/"):
        print(entry.name, entry.size)

Importing this package is cheap: protocol modules, ``ssl`` and ``requests`` load only
when a URL of their scheme is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import Client
from .entries import Entry
from .errors import (
    AuthenticationError,
    CertificateError,
    ConnectionFailed,
    CredentialsNotFound,
    DiskFullError,
    IncompleteTransferError,
    InsecureAuthError,
    InvalidInput,
    InvalidURL,
    KeyringUnavailable,
    NotFoundError,
    OperationTimeoutError,
    PermissionDeniedError,
    ProtoClientError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    TLSError,
    TLSRequiredError,
    TransferInProgress,
    UnsupportedOperation,
)
from .facade import connect, delete, fetch, ls, send
from .options import ClientOptions
from .transfer import TransferResult
from .urls import URL, Secret, parse_url

if TYPE_CHECKING:
    from .composer import compose
    from .outbox import Outbox
    from .prober import probe
    from .probereport import ProbeReport

__version__ = "0.1.0"

__all__ = [
    "URL",
    "AuthenticationError",
    "CertificateError",
    "Client",
    "ClientOptions",
    "ConnectionFailed",
    "CredentialsNotFound",
    "DiskFullError",
    "Entry",
    "IncompleteTransferError",
    "InsecureAuthError",
    "InvalidInput",
    "InvalidURL",
    "KeyringUnavailable",
    "NotFoundError",
    "OperationTimeoutError",
    "Outbox",
    "PermissionDeniedError",
    "ProbeReport",
    "ProtoClientError",
    "ProtocolError",
    "ResponseTooLarge",
    "Secret",
    "ServerError",
    "TLSError",
    "TLSRequiredError",
    "TransferInProgress",
    "TransferResult",
    "UnsupportedOperation",
    "__version__",
    "compose",
    "connect",
    "delete",
    "fetch",
    "ls",
    "parse_url",
    "probe",
    "send",
]


def __getattr__(name: str) -> Any:
    # ``compose`` needs the ``email`` package: import it on first use only.
    if name == "compose":
        from .composer import compose

        return compose
    # ``probe`` / ``ProbeReport``: loaded on first use like the protocol modules. (The
    # module is ``prober``: a submodule named ``probe`` would replace this attribute.)
    if name == "probe":
        from .prober import probe

        return probe
    # ``Outbox``: the SMTP outbox (protoclients.outbox), loaded on first use.
    if name == "Outbox":
        from .outbox import Outbox

        return Outbox
    if name == "ProbeReport":
        from .probereport import ProbeReport

        return ProbeReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
