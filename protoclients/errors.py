"""The protoclients error hierarchy.

Every failure that protoclients reports is a :class:`ProtoClientError`. Each
error carries the protocol, the URL with its password removed and, where the
server said something, the server's reply (control characters escaped and
truncated, so a hostile server cannot paint the user's terminal).

The translation from library exceptions (``ftplib.error_perm``,
``requests.ConnectionError`` ...) into this hierarchy happens at one boundary in
each protocol module, never in the callers.
"""

from __future__ import annotations

import builtins
from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "CertificateError",
    "ConnectionFailed",
    "CredentialsNotFound",
    "DiskFullError",
    "IncompleteTransferError",
    "InsecureAuthError",
    "InvalidInput",
    "InvalidURL",
    "KeyringUnavailable",
    "NotFoundError",
    "OperationTimeoutError",
    "PermissionDeniedError",
    "ProtoClientError",
    "ProtocolError",
    "ResponseTooLarge",
    "ServerError",
    "TLSError",
    "TLSRequiredError",
    "TransferInProgress",
    "UnsupportedOperation",
    "clean_server_text",
]

_MAX_REPLY = 300


def clean_server_text(text: str | bytes | None, limit: int = _MAX_REPLY) -> str | None:
    """Make server-supplied text safe to show: escape control characters, truncate.

    ANSI/OSC escape sequences, carriage returns and NULs are shown as ``\\xNN``
    escapes so that a server reply can never move the cursor, create a hyperlink
    or hide text on the user's terminal.
    """
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.strip()
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\n":
            out.append(" | ")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    cleaned = "".join(out)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 3] + "..."
    return cleaned


class ProtoClientError(Exception):
    """Base class of every error raised by protoclients.

    Attributes:
        message: what went wrong, in one line.
        protocol: ``"http"``, ``"ftp"``, ... or ``None`` when no protocol was involved.
        url: the URL being worked on, with its password removed, or ``None``.
        reply: the server's reply (escaped, truncated), or ``None``.
    """

    #: Exit code the command line uses for this class of error.
    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str,
        *,
        protocol: str | None = None,
        url: object = None,
        reply: str | bytes | None = None,
    ) -> None:
        self.message = message
        self.protocol = protocol
        # ``url`` may be a protoclients URL (whose str() is already redacted) or a string.
        self.url = None if url is None else _redacted_url_text(url)
        self.reply = clean_server_text(reply)
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        if self.url:
            text += f" ({self.url})"
        if self.reply:
            text += f"; server said: {self.reply}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


def _redacted_url_text(url: object) -> str:
    if isinstance(url, str):
        # A plain string may still hold userinfo: parse it to redact, tolerate junk.
        from .urls import _rough_redact

        return _rough_redact(url)
    return str(url)


class ConnectionFailed(ProtoClientError):
    """The server could not be reached, or the connection broke."""

    exit_code = 3


class TLSError(ConnectionFailed):
    """The TLS handshake or TLS negotiation failed."""

    exit_code = 4


class CertificateError(TLSError):
    """The server's certificate could not be verified (unknown CA, expired, wrong name)."""

    exit_code = 4


class TLSRequiredError(TLSError):
    """TLS was required but the server did not offer it or the upgrade failed."""

    exit_code = 4


class AuthenticationError(ProtoClientError):
    """The server rejected the credentials."""

    exit_code = 5


class CredentialsNotFound(AuthenticationError):
    """No credentials were found for a URL that needs them."""

    exit_code = 5


class KeyringUnavailable(CredentialsNotFound):
    """The keyring has no usable backend (typical on headless Linux)."""

    exit_code = 5


class InsecureAuthError(AuthenticationError):
    """A password would have been sent over an unencrypted link, which is refused."""

    exit_code = 5


class NotFoundError(ProtoClientError):
    """The remote file, directory, mailbox or message does not exist."""

    exit_code = 6


class PermissionDeniedError(ProtoClientError):
    """The server refused the operation for lack of permission."""

    exit_code = 7


class OperationTimeoutError(ProtoClientError, builtins.TimeoutError):
    """An operation did not finish within its deadline."""

    exit_code = 8


class IncompleteTransferError(ProtoClientError):
    """A transfer ended early or its size did not match what the server announced."""

    exit_code = 9


class ProtocolError(ProtoClientError):
    """The server said something unexpected or malformed."""

    exit_code = 10


class ResponseTooLarge(ProtocolError):
    """A response exceeded a configured bound (line length, body size, entry count)."""

    exit_code = 10


class ServerError(ProtoClientError):
    """The server reported an error of its own (HTTP 5xx, FTP 4xx/5xx without a better class).

    ``status`` holds the numeric status/reply code when the protocol has one.
    ``temporary`` tells whether the server said retrying later may succeed.
    """

    exit_code = 11

    def __init__(
        self,
        message: str,
        *,
        protocol: str | None = None,
        url: object = None,
        reply: str | bytes | None = None,
        status: int | None = None,
        temporary: bool = False,
    ) -> None:
        super().__init__(message, protocol=protocol, url=url, reply=reply)
        self.status = status
        self.temporary = temporary


class UnsupportedOperation(ProtoClientError):
    """The verb or option does not exist for this protocol."""

    exit_code = 12


class InvalidInput(ProtoClientError, ValueError):
    """Bad input from the caller (option value, path, header...), rejected before any I/O."""

    exit_code = 2


class InvalidURL(InvalidInput):
    """The URL is malformed or unsafe."""

    exit_code = 2


class DiskFullError(ProtoClientError):
    """The local disk is full or the file size limit was reached; nothing was kept."""

    exit_code = 13


class TransferInProgress(ProtoClientError):
    """Another process is already downloading to the same destination."""

    exit_code = 14
