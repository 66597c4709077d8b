"""The FTP error boundary: ``ftplib`` / ``ssl`` / ``OSError`` -> protoclients errors.

:func:`error_boundary` is the one place where exceptions from the FTP connection become
:class:`~protoclients.errors.ProtoClientError` subclasses; every client operation runs
inside it. Reply codes decide first (``530``/``532`` authentication, ``4xx`` temporary,
``550``/``553`` refused); what the codes leave open is settled by the reply's words and,
for a vague ``550`` ("Failed to open file."), by asking the server whether the path exists.

The boundary knows nothing about the client's state: it gets three callables, to scrub the
password out of server text, to drop a connection left in an unknown state, and to probe
whether a path exists.
"""

from __future__ import annotations

import contextlib
import ftplib
import ssl
from collections.abc import Callable, Iterator

from ..errors import (
    AuthenticationError,
    InvalidInput,
    NotFoundError,
    PermissionDeniedError,
    ProtoClientError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
)
from ..urls import URL
from .ftpconn import InjectionError, ReplyTooLarge
from .neterrors import transport_error

__all__ = ["error_boundary", "is_unsupported", "perm_error", "reply_code"]

#: Masks secrets in server text (replies echo what they were sent).
Scrub = Callable[[str], str]
#: Whether the path of a URL exists on the server (``None``: cannot be found out).
ProbeExists = Callable[[URL], bool | None]

_NOT_FOUND_WORDS = ("not found", "no such", "does not exist", "doesn't exist", "not exist")
#: Operations on a path that must exist: an ambiguous 550 there is checked for "not found".
_NEEDS_EXISTING = frozenset({"download", "delete", "size", "modified", "list", "rename"})
_PERMISSION_WORDS = ("permission", "denied", "not allowed", "privilege", "forbidden", "access")
_UNSUPPORTED_WORDS = ("not understood", "not implemented", "unknown command", "unrecognized")


def reply_code(exc: BaseException) -> int | None:
    """The three-digit reply code an ``ftplib`` error starts with, or ``None``."""
    text = str(exc.args[0]) if exc.args else ""
    head = text[:3]
    return int(head) if len(head) == 3 and head.isdigit() else None


def is_unsupported(exc: BaseException) -> bool:
    """Whether an error reply means "this command is not implemented here"."""
    code = reply_code(exc)
    text = str(exc).lower()
    return code in {500, 502, 504} or any(word in text for word in _UNSUPPORTED_WORDS)


@contextlib.contextmanager
def error_boundary(
    what: str,
    url: URL,
    *,
    scrub: Scrub,
    drop: Callable[[], None],
    probe_exists: ProbeExists,
) -> Iterator[None]:
    """Translate what the ``with`` block raises into protoclients errors.

    ``what`` names the operation in messages (``"download"``, ``"list"``...). ``drop`` is
    called for failures that leave the connection in an unknown state (timeouts, lost
    connections, malformed replies, TLS errors); error replies leave it usable.
    """
    try:
        yield
    except ProtoClientError:
        raise
    except ftplib.error_perm as exc:
        raise perm_error(what, url, exc, scrub=scrub, probe_exists=probe_exists) from None
    except ftplib.error_temp as exc:
        reply = scrub(str(exc))
        raise ServerError(
            f"{what} failed (temporary server error)",
            protocol="ftp",
            url=url,
            reply=reply,
            status=reply_code(exc),
            temporary=True,
        ) from None
    except ReplyTooLarge as exc:
        drop()
        raise ResponseTooLarge(f"{what} failed: {exc}", protocol="ftp", url=url) from None
    except InjectionError as exc:
        drop()
        raise ProtocolError(str(exc), protocol="ftp", url=url) from None
    except (ftplib.error_reply, ftplib.error_proto) as exc:
        drop()
        raise ProtocolError(
            f"{what} failed: unexpected reply from the server",
            protocol="ftp",
            url=url,
            reply=scrub(str(exc)),
        ) from None
    except (ssl.SSLError, ssl.CertificateError, OSError, EOFError) as exc:
        drop()
        raise transport_error(exc, what, protocol="ftp", url=url) from None
    except ValueError as exc:
        # FTPConnection.putline refuses CR/LF/NUL; callers check first, this is a backstop.
        raise InvalidInput(f"{what} failed: {exc}", protocol="ftp", url=url) from None


def perm_error(
    what: str, url: URL, exc: BaseException, *, scrub: Scrub, probe_exists: ProbeExists
) -> ProtoClientError:
    """The error for a permanent (``5xx``) reply to ``what`` on ``url``.

    A ``550`` is :class:`~protoclients.errors.NotFoundError` when the reply says so, or when
    it is vague, the operation needs an existing path and ``probe_exists`` says there is
    none; else :class:`~protoclients.errors.PermissionDeniedError` (as is ``553``).
    """
    code = reply_code(exc)
    reply = scrub(str(exc))
    lower = reply.lower()
    if code in {530, 532}:
        return AuthenticationError(
            f"{what} failed: not logged in or not allowed",
            protocol="ftp",
            url=url,
            reply=reply,
        )
    if code == 550 and (
        any(word in lower for word in _NOT_FOUND_WORDS)
        or (
            what in _NEEDS_EXISTING
            and not any(word in lower for word in _PERMISSION_WORDS)
            and probe_exists(url) is False
        )
    ):
        return NotFoundError(f"{what} failed: not found", protocol="ftp", url=url, reply=reply)
    if code in {550, 553}:
        return PermissionDeniedError(
            f"{what} failed: refused by the server", protocol="ftp", url=url, reply=reply
        )
    return ServerError(f"{what} failed", protocol="ftp", url=url, reply=reply, status=code)
