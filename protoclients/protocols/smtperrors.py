"""SMTP errors and the SMTP error boundary: ``smtplib`` / ``ssl`` / ``OSError`` -> protoclients.

:func:`error_boundary` is the one place where exceptions from the SMTP connection become
:class:`~protoclients.errors.ProtoClientError` subclasses; every client operation runs
inside it. Reply codes decide: ``4xx`` is temporary (``temporary=True``), ``530`` means the
server wants authentication, ``535`` that it refused the credentials.

The SMTP-specific classes defined here are re-exported by :mod:`protoclients.protocols.smtp`.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Callable, Iterator

from ..errors import (
    AuthenticationError,
    ConnectionFailed,
    IncompleteTransferError,
    InvalidInput,
    ProtoClientError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    TLSRequiredError,
    UnsupportedOperation,
)
from ..urls import URL
from .neterrors import transport_error
from .smtpconn import (
    FinalReplyLost,
    InjectionError,
    MalformedReply,
    ReplyTooLarge,
    StaleConnection,
    StartTLSRefused,
)
from .smtpdata import LineTooLong

__all__ = [
    "AUTH_HINT",
    "DeliveryStatusUnknown",
    "MessageRefused",
    "RecipientsRefused",
    "SMTPUTF8Required",
    "SenderRefused",
    "error_boundary",
    "reply_text",
]

#: Masks secrets in server text (replies may echo what they were sent).
Scrub = Callable[[str], str]

AUTH_HINT = (
    "the server requires authentication: put the user name in the URL "
    "(smtp://user@host/) and give the password (password=..., PROTOCLIENTS_PASSWORD, "
    "the keyring or ~/.netrc) or an OAuth2 bearer token (oauth2_token=...)"
)


class SMTPUTF8Required(UnsupportedOperation):
    """An address has a non-ASCII local part but the server does not offer ``SMTPUTF8``.

    Nothing was sent after ``EHLO`` (no ``MAIL FROM``). Use an ASCII address, or a server
    that supports RFC 6531.
    """


class SenderRefused(ServerError):
    """The server refused ``MAIL FROM`` (``status`` = reply code; ``4xx`` temporary)."""


class RecipientsRefused(ServerError):
    """The server refused every recipient; nothing was sent.

    ``refused`` maps each envelope address to the server's ``(code, text)``.
    """

    def __init__(
        self,
        message: str,
        *,
        refused: dict[str, tuple[int, str]],
        protocol: str | None = "smtp",
        url: object = None,
    ) -> None:
        codes = [code for code, _ in refused.values()]
        first = next(iter(refused.items()), None)
        reply = f"{first[1][0]} {first[1][1]}" if first else None
        super().__init__(
            message,
            protocol=protocol,
            url=url,
            reply=reply,
            status=codes[0] if codes else None,
            temporary=bool(codes) and all(400 <= code < 500 for code in codes),
        )
        self.refused = refused


class MessageRefused(ServerError):
    """The server refused the message at ``DATA`` or after its end (``status`` = reply code)."""


class DeliveryStatusUnknown(IncompleteTransferError):
    """The connection broke after the end of the message, before the server's reply.

    The message may or may not have been delivered: sending it again may deliver it twice
    (at-least-once), not sending it may lose it.
    """


def reply_text(reply: bytes | str) -> str:
    """A server reply as text (``\\n`` between lines)."""
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return reply


def _response(exc: smtplib.SMTPResponseException, scrub: Scrub) -> tuple[int, str]:
    return exc.smtp_code, scrub(reply_text(exc.smtp_error))


@contextlib.contextmanager
def error_boundary(
    what: str, url: URL, *, scrub: Scrub, drop: Callable[[], None]
) -> Iterator[None]:
    """Translate what the ``with`` block raises into protoclients errors.

    ``what`` names the operation in messages. ``drop`` is called for failures that leave
    the connection unusable or in an unknown state (lost connection, timeout, malformed
    reply, TLS error, 421); refusals leave it usable.
    """
    try:
        yield
    except ProtoClientError:
        raise
    except FinalReplyLost as exc:
        drop()
        cause = "timed out waiting for" if exc.timed_out else "connection lost before"
        raise DeliveryStatusUnknown(
            f"{what}: {cause} the server's reply to the end of the message; delivery status "
            "unknown (the message may have been delivered; sending it again may duplicate it)",
            protocol="smtp",
            url=url,
        ) from None
    except smtplib.SMTPServerDisconnected as exc:
        drop()
        raise ConnectionFailed(
            f"{what} failed: connection to {url.hostport} lost ({scrub(str(exc))})",
            protocol="smtp",
            url=url,
        ) from None
    except StaleConnection as exc:
        drop()
        code, text = _response(exc, scrub)
        if code == 421:
            raise ServerError(
                f"{what}: the server is closing the connection (service not available)",
                protocol="smtp",
                url=url,
                reply=f"{code} {text}",
                status=code,
                temporary=True,
            ) from None
        raise ConnectionFailed(
            f"{what} failed: the server closed the connection ({text})", protocol="smtp", url=url
        ) from None
    except StartTLSRefused as exc:
        drop()
        code, text = _response(exc, scrub)
        raise TLSRequiredError(
            f"{url.host} did not upgrade to TLS (STARTTLS); not continuing without TLS",
            protocol="smtp",
            url=url,
            reply=f"{code} {text}" if code > 0 else text,
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        code, text = _response(exc, scrub)
        if 400 <= code < 500:
            raise ServerError(
                f"{what}: authentication failed temporarily",
                protocol="smtp",
                url=url,
                reply=f"{code} {text}",
                status=code,
                temporary=True,
            ) from None
        raise AuthenticationError(
            f"{what}: the server rejected the credentials",
            protocol="smtp",
            url=url,
            reply=f"{code} {text}",
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        code, text = _response(exc, scrub)
        raise _refusal(SenderRefused, f"{what}: sender refused", url, code, text, drop) from None
    except smtplib.SMTPDataError as exc:
        code, text = _response(exc, scrub)
        raise _refusal(MessageRefused, f"{what}: message refused", url, code, text, drop) from None
    except smtplib.SMTPResponseException as exc:
        code, text = _response(exc, scrub)
        raise _refusal(ServerError, f"{what} failed", url, code, text, drop) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = {
            str(addr): (int(code), scrub(reply_text(text)))
            for addr, (code, text) in exc.recipients.items()
        }
        raise RecipientsRefused(
            f"{what}: the server refused every recipient; nothing was sent",
            refused=refused,
            url=url,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise UnsupportedOperation(f"{what}: {scrub(str(exc))}", protocol="smtp", url=url) from None
    except InjectionError as exc:
        drop()
        raise ProtocolError(str(exc), protocol="smtp", url=url) from None
    except ReplyTooLarge as exc:
        drop()
        raise ResponseTooLarge(f"{what} failed: {exc}", protocol="smtp", url=url) from None
    except (MalformedReply, smtplib.SMTPException) as exc:
        drop()
        raise ProtocolError(
            f"{what} failed: unexpected reply from the server",
            protocol="smtp",
            url=url,
            reply=scrub(str(exc)),
        ) from None
    except (ssl.SSLError, ssl.CertificateError, OSError, EOFError) as exc:
        drop()
        raise transport_error(exc, what, protocol="smtp", url=url) from None
    except LineTooLong as exc:
        drop()
        raise InvalidInput(
            f"{what}: {exc}; the connection was closed before the end of the message, so "
            "nothing was delivered (encode long lines as quoted-printable or base64)",
            protocol="smtp",
            url=url,
        ) from None
    except ValueError as exc:
        # SMTPConnection.putcmd refuses CR/LF/NUL; callers check first, this is a backstop.
        raise InvalidInput(f"{what} failed: {exc}", protocol="smtp", url=url) from None


def _refusal(
    cls: type[ServerError],
    message: str,
    url: URL,
    code: int,
    text: str,
    drop: Callable[[], None],
) -> ProtoClientError:
    if code == 421:
        drop()
    if code == 530:
        return AuthenticationError(
            f"{message}: {AUTH_HINT}", protocol="smtp", url=url, reply=f"{code} {text}"
        )
    return cls(
        message,
        protocol="smtp",
        url=url,
        reply=f"{code} {text}",
        status=code,
        temporary=400 <= code < 500,
    )
