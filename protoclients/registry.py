"""The scheme registry: scheme -> protocol client class, default port and TLS mode.

Protocol modules are imported only when a URL of their scheme is used, so
``import protoclients`` stays cheap. Adding a protocol is one module plus one
:func:`register_scheme` call (or one line in ``_BUILTIN``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .errors import InvalidURL, UnsupportedOperation

if TYPE_CHECKING:
    from .client import Client

__all__ = ["SchemeInfo", "TLSMode", "client_class", "lookup_scheme", "register_scheme", "schemes"]

#: ``"implicit"``: TLS from the first byte; ``"starttls"``: plain connection upgraded
#: in-band (FTP ``AUTH TLS``, SMTP/IMAP ``STARTTLS``, POP3 ``STLS``), required;
#: ``"none"``: no TLS.
TLSMode = Literal["implicit", "starttls", "none"]
TLS_MODES: tuple[TLSMode, ...] = ("implicit", "starttls", "none")


@dataclass(frozen=True)
class SchemeInfo:
    """What protoclients knows about one URL scheme."""

    scheme: str
    protocol: str
    module: str
    class_name: str
    default_port: int
    tls: TLSMode

    def load(self) -> type[Client]:
        """Import the protocol module and return its client class."""
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            if exc.name == self.module:
                raise UnsupportedOperation(
                    f"the {self.protocol.upper()} client is not available in this version",
                    protocol=self.protocol,
                ) from None
            raise
        cls: type[Client] = getattr(module, self.class_name)
        return cls


_BUILTIN = [
    SchemeInfo("http", "http", "protoclients.protocols.http", "HTTPClient", 80, "none"),
    SchemeInfo("https", "http", "protoclients.protocols.http", "HTTPClient", 443, "implicit"),
    SchemeInfo("ftp", "ftp", "protoclients.protocols.ftp", "FTPClient", 21, "none"),
    SchemeInfo("ftps", "ftp", "protoclients.protocols.ftp", "FTPClient", 990, "implicit"),
    SchemeInfo("smtp", "smtp", "protoclients.protocols.smtp", "SMTPClient", 25, "none"),
    SchemeInfo("smtps", "smtp", "protoclients.protocols.smtp", "SMTPClient", 465, "implicit"),
    SchemeInfo("pop3", "pop3", "protoclients.protocols.pop3", "POP3Client", 110, "none"),
    SchemeInfo("pop3s", "pop3", "protoclients.protocols.pop3", "POP3Client", 995, "implicit"),
    SchemeInfo("imap", "imap", "protoclients.protocols.imap", "IMAPClient", 143, "none"),
    SchemeInfo("imaps", "imap", "protoclients.protocols.imap", "IMAPClient", 993, "implicit"),
]
_REGISTRY: dict[str, SchemeInfo] = {info.scheme: info for info in _BUILTIN}


def register_scheme(info: SchemeInfo) -> None:
    """Register (or replace) a scheme."""
    _REGISTRY[info.scheme.lower()] = info


def schemes() -> list[SchemeInfo]:
    """All registered schemes, in registration order."""
    return list(_REGISTRY.values())


def lookup_scheme(scheme: str, *, required: bool = True) -> SchemeInfo | None:
    """Return the :class:`SchemeInfo` for ``scheme``.

    With ``required=True`` (the default) an unknown scheme raises
    :class:`~protoclients.errors.InvalidURL` naming the supported ones.
    """
    info = _REGISTRY.get(scheme.lower())
    if info is None and required:
        known = ", ".join(sorted(_REGISTRY))
        raise InvalidURL(f"unsupported URL scheme {scheme!r}; supported: {known}")
    return info


def client_class(scheme: str) -> type[Client]:
    """The client class that handles ``scheme`` (imports its module on first use)."""
    info = lookup_scheme(scheme)
    assert info is not None
    return info.load()
