"""The POP3 error boundary: ``poplib`` / ``ssl`` / ``OSError`` -> protoclients errors.

:func:`error_boundary` is the one place where exceptions from the POP3 connection become
:class:`~protoclients.errors.ProtoClientError` subclasses; every client operation runs
inside it. POP3 has no reply codes, only ``+OK`` / ``-ERR`` and the optional RFC 2449
response codes in brackets, so an ``-ERR`` is classified by the phase it came in (during
login it is an authentication failure), by its response code (``[IN-USE]``, ``[SYS/TEMP]``,
``[LOGIN-DELAY]`` are temporary; ``[AUTH]`` is a credentials problem) and by its words
("no such message").

The boundary knows nothing about the client's state: it gets a callable that masks the
password in server text and one that drops a connection left in an unknown state.
"""

from __future__ import annotations

import contextlib
import errno
import poplib
import ssl
from collections.abc import Callable, Iterator

from ..errors import (
    AuthenticationError,
    DiskFullError,
    IncompleteTransferError,
    InvalidInput,
    NotFoundError,
    ProtoClientError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
)
from ..urls import URL
from .neterrors import transport_error
from .pop3conn import (
    BadGreeting,
    ErrReply,
    InjectionError,
    ReplyTooLarge,
    TruncatedReply,
    UnsafeCommand,
)
from .pop3parse import MalformedResponse

__all__ = ["Scrub", "error_boundary", "local_file_error", "reply_error"]

#: Masks secrets in server text (replies may echo what they were sent).
Scrub = Callable[[str], str]

_TEMPORARY_CODES = ("[IN-USE]", "[SYS/TEMP]", "[LOGIN-DELAY]")
_NOT_FOUND_WORDS = (
    "no such message",
    "no such msg",
    "no message",
    "does not exist",
    "doesn't exist",
    "not exist",
    "not found",
    "already deleted",
    "marked as deleted",
    "deleted message",
    "invalid message",
    "bad message number",
    "unknown message",
)
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _text(exc: BaseException) -> str:
    value = exc.args[0] if exc.args else ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def reply_error(what: str, url: URL, reply: str, *, auth: bool) -> ProtoClientError:
    """The error for an ``-ERR`` reply to ``what`` (``auth``: during login)."""
    upper = reply.upper()
    for code in _TEMPORARY_CODES:
        if code in upper:
            return ServerError(
                f"{what} failed: the server says try again later {code}",
                protocol="pop3",
                url=url,
                reply=reply,
                temporary=True,
            )
    if auth or "[AUTH]" in upper:
        return AuthenticationError(
            f"{what} failed: the server rejected the credentials",
            protocol="pop3",
            url=url,
            reply=reply,
        )
    lower = reply.lower()
    if any(word in lower for word in _NOT_FOUND_WORDS):
        return NotFoundError(
            f"{what} failed: no such message", protocol="pop3", url=url, reply=reply
        )
    return ServerError(f"{what} failed", protocol="pop3", url=url, reply=reply)


def local_file_error(exc: BaseException, name: str) -> ProtoClientError:
    """The error for a local file that could not be written (the server is not involved)."""
    if isinstance(exc, ProtoClientError):
        return exc
    strerror = getattr(exc, "strerror", None)
    if getattr(exc, "errno", None) in _DISK_FULL:
        return DiskFullError(f"disk full while writing {name}: {strerror}; nothing was kept")
    reason = strerror or type(exc).__name__
    return ProtoClientError(f"cannot write the local file {name}: {reason}", protocol="pop3")


@contextlib.contextmanager
def error_boundary(
    what: str,
    url: URL,
    *,
    scrub: Scrub,
    drop: Callable[[], None],
    auth: bool = False,
) -> Iterator[None]:
    """Translate what the ``with`` block raises into protoclients errors.

    ``what`` names the operation in messages (``"login"``, ``"fetch"``...); ``auth`` makes
    an ``-ERR`` an :class:`~protoclients.errors.AuthenticationError`. ``drop`` is called for
    failures that leave the connection in an unknown state (timeouts, lost connections,
    malformed or oversized responses, TLS errors); an ``-ERR`` leaves it usable.
    """
    try:
        yield
    except ProtoClientError:
        raise
    except ErrReply as exc:
        raise reply_error(what, url, scrub(exc.text), auth=auth) from None
    except BadGreeting as exc:
        drop()
        raise ProtocolError(
            "unexpected greeting from the server (not a POP3 server?)",
            protocol="pop3",
            url=url,
            reply=scrub(_text(exc)),
        ) from None
    except ReplyTooLarge as exc:
        drop()
        raise ResponseTooLarge(f"{what} failed: {exc}", protocol="pop3", url=url) from None
    except TruncatedReply as exc:
        drop()
        raise IncompleteTransferError(f"{what} failed: {exc}", protocol="pop3", url=url) from None
    except InjectionError as exc:
        drop()
        raise ProtocolError(str(exc), protocol="pop3", url=url) from None
    except MalformedResponse as exc:
        drop()
        raise ProtocolError(
            f"{what} failed: malformed response from the server: {exc}", protocol="pop3", url=url
        ) from None
    except poplib.error_proto as exc:
        drop()
        raise ProtocolError(
            f"{what} failed: unexpected reply from the server",
            protocol="pop3",
            url=url,
            reply=scrub(_text(exc)),
        ) from None
    except UnsafeCommand as exc:
        # Callers check arguments first; this is the backstop. Nothing was sent.
        raise InvalidInput(f"{what} failed: {exc}", protocol="pop3", url=url) from None
    except (ssl.SSLError, ssl.CertificateError, OSError, EOFError) as exc:
        drop()
        raise transport_error(exc, what, protocol="pop3", url=url) from None
