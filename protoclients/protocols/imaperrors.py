"""The IMAP error boundary: imaplib, :mod:`.imapconn`, ``ssl`` and ``OSError`` errors to
protoclients errors.

:func:`error_boundary` is the one place where exceptions from the IMAP connection become
:class:`~protoclients.errors.ProtoClientError` subclasses; every client operation runs
inside it. Response codes decide first (RFC 5530: ``[NONEXISTENT]``, ``[TRYCREATE]`` ->
not found; ``[AUTHENTICATIONFAILED]`` -> authentication; ``[NOPERM]`` -> permission;
``[UNAVAILABLE]``/``[INUSE]`` -> temporary server error), then the reply's words.
Failures that leave the connection in an unknown state (timeouts, lost connections,
malformed or oversized responses, TLS errors, ``BYE``) drop it; ``NO``/``BAD`` keep it.
"""

from __future__ import annotations

import contextlib
import imaplib
import ssl
from collections.abc import Callable, Iterator

from ..errors import (
    AuthenticationError,
    ConnectionFailed,
    InvalidInput,
    NotFoundError,
    PermissionDeniedError,
    ProtoClientError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    UnsupportedOperation,
)
from ..urls import URL
from .imapconn import (
    BadGreeting,
    CommandFailed,
    ConnectionLost,
    Injection,
    ProtocolViolation,
    ServerBye,
    TooLarge,
)
from .neterrors import transport_error

__all__ = ["command_error", "error_boundary"]

Scrub = Callable[[str], str]

_NOT_FOUND_CODES = frozenset({"NONEXISTENT", "TRYCREATE"})
_AUTH_CODES = frozenset({"AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED"})
_PERMISSION_CODES = frozenset({"NOPERM", "READ-ONLY", "PRIVACYREQUIRED"})
_TEMPORARY_CODES = frozenset({"UNAVAILABLE", "INUSE", "SERVERBUG", "LIMIT", "OVERQUOTA"})
_NOT_FOUND_WORDS = (
    "not found",
    "no such",
    "does not exist",
    "doesn't exist",
    "not exist",
    "unknown mailbox",
    "mailbox doesn",
    "nonexistent",
)


def command_error(what: str, url: URL, exc: CommandFailed, scrub: Scrub) -> ProtoClientError:
    """The protoclients error for a ``NO``/``BAD`` answer to ``what``."""
    reply = scrub(exc.reply)
    code = exc.code or ""
    lower = reply.lower()
    if exc.status == "BAD":
        return ProtocolError(
            f"{what} failed: the server rejected the command as malformed",
            protocol="imap",
            url=url,
            reply=reply,
        )
    if code in _AUTH_CODES:
        return AuthenticationError(
            f"{what} failed: not allowed", protocol="imap", url=url, reply=reply
        )
    if code in _NOT_FOUND_CODES or (not code and any(w in lower for w in _NOT_FOUND_WORDS)):
        return NotFoundError(f"{what} failed: not found", protocol="imap", url=url, reply=reply)
    if code in _PERMISSION_CODES:
        return PermissionDeniedError(
            f"{what} failed: refused by the server", protocol="imap", url=url, reply=reply
        )
    return ServerError(
        f"{what} failed",
        protocol="imap",
        url=url,
        reply=reply,
        temporary=code in _TEMPORARY_CODES,
    )


@contextlib.contextmanager
def error_boundary(
    what: str, url: URL, *, scrub: Scrub, drop: Callable[[], None]
) -> Iterator[None]:
    """Translate what the ``with`` block raises into protoclients errors.

    ``what`` names the operation in messages (``"fetch"``, ``"list"``...); ``drop`` is called
    when the connection must not be used again.
    """
    try:
        yield
    except ProtoClientError as exc:
        if not isinstance(
            exc, (InvalidInput, NotFoundError, PermissionDeniedError, UnsupportedOperation)
        ):
            drop()
        raise
    except CommandFailed as exc:
        raise command_error(what, url, exc, scrub) from None
    except TooLarge as exc:
        drop()
        raise ResponseTooLarge(f"{what} failed: {exc}", protocol="imap", url=url) from None
    except BadGreeting as exc:
        drop()
        text = scrub(exc.text.decode("utf-8", "replace"))
        raise ProtocolError(f"{what} failed: {exc}", protocol="imap", url=url, reply=text) from None
    except Injection as exc:
        drop()
        raise ProtocolError(f"{what} failed: {exc}", protocol="imap", url=url) from None
    except ServerBye as exc:
        drop()
        raise ConnectionFailed(
            f"{what} failed: the server closed the connection (BYE)",
            protocol="imap",
            url=url,
            reply=scrub(str(exc)),
        ) from None
    except ConnectionLost as exc:
        drop()
        raise ConnectionFailed(
            f"{what} failed: connection to {url.hostport} lost ({exc})", protocol="imap", url=url
        ) from None
    except ProtocolViolation as exc:
        drop()
        raise ProtocolError(f"{what} failed: {scrub(str(exc))}", protocol="imap", url=url) from None
    except imaplib.IMAP4.readonly as exc:
        raise PermissionDeniedError(
            f"{what} failed: the mailbox is read-only",
            protocol="imap",
            url=url,
            reply=scrub(str(exc)),
        ) from None
    except imaplib.IMAP4.abort as exc:
        drop()
        raise ProtocolError(
            f"{what} failed", protocol="imap", url=url, reply=scrub(str(exc))
        ) from None
    except imaplib.IMAP4.error as exc:
        raise ProtocolError(
            f"{what} failed", protocol="imap", url=url, reply=scrub(str(exc))
        ) from None
    except (ssl.SSLError, ssl.CertificateError, OSError, EOFError) as exc:
        drop()
        raise transport_error(exc, what, protocol="imap", url=url) from None
