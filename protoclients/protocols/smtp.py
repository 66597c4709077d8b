"""SMTP and SMTPS: :class:`SMTPClient`, the ``smtp://`` and ``smtps://`` client.

URLs follow curl's convention: ``smtp[s]://[user[;AUTH=mech]@]host[:port][/ehlo-name]``; the
path is the name sent with ``EHLO`` (default: the machine's host name when it is a fully
qualified name, else the address literal of the local end, e.g. ``[192.0.2.7]``).

``send`` delivers one message (``MAIL FROM`` / ``RCPT TO`` / ``DATA``) and returns an
:class:`SMTPResult` with the recipients the server accepted and refused. The envelope comes
from the message headers (``Bcc`` removed before sending) or from ``mail_from=``, ``to=``,
``cc=``, ``bcc=``; see :mod:`.smtpmessage`. Some recipients refused is a *partial* success
(``result.partial``); all refused raises :class:`RecipientsRefused`. Nothing is reported sent
before the server's ``250`` to the end of the message; losing the connection in between
raises :class:`DeliveryStatusUnknown`.

TLS: ``smtps://`` is implicit TLS (port 465); ``smtp://`` with ``tls="starttls"`` requires
``STARTTLS`` (port 587 or 25): if it is not offered or refused, :class:`TLSRequiredError`
is raised before any credential or message is sent. Certificates are always verified.

AUTH: ``PLAIN`` (preferred), ``LOGIN``, or ``XOAUTH2`` with ``oauth2_token=`` (constructor,
:meth:`SMTPClient.login` or ``send``); ``;AUTH=LOGIN`` in the URL forces a mechanism. A
password or token is never sent over an unencrypted link to a host that is not loopback
unless ``allow_insecure_auth=True``.

The connection opens lazily, at the first operation that needs it (``send``, ``login``,
``ehlo_features``, ``raw``), and is reused for every message sent through the client; a
connection the server closed while idle is reopened once, transparently, before anything of
the next message was sent. Extras: :meth:`SMTPClient.ehlo_features`,
:meth:`SMTPClient.login`, :attr:`SMTPClient.raw` (the connected ``smtplib.SMTP`` subclass).

The rest of the client lives beside this module: :mod:`.smtpconn` (the strict ``smtplib``
connection), :mod:`.smtpmessage` (sources, envelope, serialisation), :mod:`.smtpdata` (the
``DATA`` payload), :mod:`.smtpaddr` (addresses, IDNA, SMTPUTF8) and :mod:`.smtperrors`
(the error boundary and the SMTP error classes).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client import Client
from ..errors import (
    AuthenticationError,
    InvalidInput,
    ProtocolError,
    ServerError,
    UnsupportedOperation,
)
from ..options import ClientOptions
from ..tls import check_tls_socket, create_context, plaintext_phase_guard
from ..transfer import ProgressCallback, TransferResult
from ..urls import URL, Secret
from .smtpaddr import check_ehlo_name, has_control
from .smtpconn import MalformedReply, SMTPConnection, StaleConnection
from .smtperrors import (
    DeliveryStatusUnknown,
    MessageRefused,
    RecipientsRefused,
    SenderRefused,
    SMTPUTF8Required,
    error_boundary,
    reply_text,
)
from .smtpmessage import AddressList, PreparedMessage, prepare_message

__all__ = [
    "DeliveryStatusUnknown",
    "MessageRefused",
    "RecipientsRefused",
    "SMTPClient",
    "SMTPResult",
    "SMTPUTF8Required",
    "SenderRefused",
]

_MECHANISMS = ("PLAIN", "LOGIN", "XOAUTH2")


@dataclass
class SMTPResult(TransferResult):
    """What :meth:`SMTPClient.send` did.

    Attributes (besides those of :class:`~protoclients.transfer.TransferResult`; ``bytes``
    is the size of the ``DATA`` payload sent, ``details["reply"]`` the server's final reply):
        accepted: envelope recipients the server accepted (domains as IDNA A-labels).
        refused: envelope recipients it refused -> ``(reply code, reply text)``.
        message_id: the message's ``Message-ID`` header, if it has one.
        partial: ``True`` when some recipients were refused (the others got the message).
    """

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    message_id: str | None = None
    partial: bool = False


def _ehlo_name_from(url: URL) -> str | None:
    name = url.decoded_path.strip("/")
    return check_ehlo_name(name) if name else None


def _default_ehlo_name(sock: socket.socket | None) -> str:
    host = socket.gethostname()
    if "." in host:
        with contextlib.suppress(InvalidInput):
            return check_ehlo_name(host)
    try:
        address = str(sock.getsockname()[0]) if sock is not None else "127.0.0.1"
    except OSError:
        address = "127.0.0.1"
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _reject_extra(kwargs: dict[str, Any], verb: str) -> None:
    if kwargs:
        raise InvalidInput(
            f"unknown keyword argument(s) for smtp {verb}: {', '.join(sorted(kwargs))}"
        )


class SMTPClient(Client):
    """SMTP / SMTPS client over :mod:`smtplib` (see the module docstring).

    Args:
        url: ``smtp[s]://[user@]host[:port][/ehlo-name]``.
        password: the password for ``AUTH`` (else looked up: URL, environment, keyring,
            netrc).
        oauth2_token: an OAuth2 bearer token: authenticate with ``AUTH XOAUTH2`` as the
            URL's user instead of a password.
        options, option_kwargs: connection options (:class:`~protoclients.ClientOptions`).

    Not thread-safe: use one client per thread.
    """

    protocol = "smtp"

    def __init__(
        self,
        url: str | URL,
        *,
        password: str | Secret | None = None,
        options: ClientOptions | None = None,
        oauth2_token: str | Secret | None = None,
        **option_kwargs: Any,
    ) -> None:
        super().__init__(url, password=password, options=options, **option_kwargs)
        self._ehlo_name = _ehlo_name_from(self.url)
        mechanism = self.url.auth_mechanism
        if mechanism is not None and mechanism.upper() not in _MECHANISMS:
            raise UnsupportedOperation(
                f"AUTH {mechanism} is not supported; use one of {', '.join(_MECHANISMS)}",
                protocol="smtp",
                url=self.url,
            )
        self._token: Secret | None = None
        self._conn: SMTPConnection | None = None
        self._auth_mechanism: str | None = None
        self._needs_reset = False
        self._transactions = 0
        self._secrets: list[str] = []
        # True between connecting and a verified STARTTLS upgrade: what the server says then
        # is unauthenticated and never shown (tls.plaintext_phase_guard).
        self._plaintext_phase = False
        self._shown_url: tuple[URL, str] | None = None
        if oauth2_token is not None:
            self._set_token(oauth2_token)

    # -- connection ------------------------------------------------------------------------

    def _connect(self) -> None:
        # The network connection opens at the first operation; refuse an insecure setup now.
        if self._token is not None or self._explicit_password is not None or self._user():
            self.ensure_safe_to_send_password(encrypted=self.tls_mode != "none")

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        self._forget_session()
        if conn is None:
            return
        try:
            conn.set_timeout(min(self.options.timeout, 5.0))
            conn.docmd("QUIT")
        except (smtplib.SMTPException, OSError, ValueError):
            pass
        finally:
            conn.close()

    def _drop(self) -> None:
        """Close the connection without QUIT (its state is unknown); the next call reconnects."""
        conn, self._conn = self._conn, None
        self._forget_session()
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def _forget_session(self) -> None:
        self._auth_mechanism = None
        self._needs_reset = False
        self._transactions = 0

    def _user(self) -> str | None:
        return self.options.username or self.url.username

    def _set_token(self, token: str | Secret) -> None:
        secret = token if isinstance(token, Secret) else Secret(token)
        if not isinstance(secret.reveal(), str) or not secret.reveal():
            raise InvalidInput("oauth2_token must be a non-empty string", protocol="smtp")
        if has_control(secret.reveal()):
            raise InvalidInput("oauth2_token contains a control character", protocol="smtp")
        if self._token is not None and secret != self._token and self._auth_mechanism:
            raise InvalidInput(
                "this connection is already authenticated; use a new client for another token",
                protocol="smtp",
                url=self.url,
            )
        self.ensure_safe_to_send_password(encrypted=self.tls_mode != "none")
        self._token = secret
        self._remember_secret(secret.reveal())

    def _remember_secret(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.append(base64.b64encode(secret.encode("utf-8")).decode("ascii"))

    def _open(self) -> SMTPConnection:
        url = self.url
        user = self._user()
        creds = None
        if self._token is None:
            creds = self.credentials(required=bool(user))
        elif not user:
            raise InvalidInput(
                "AUTH XOAUTH2 needs the user name in the URL (smtp://user@host/)",
                protocol="smtp",
                url=url,
            )
        if self._token is not None or creds is not None:
            # Before any DNS lookup or connect: never a secret in clear to a remote host.
            self.ensure_safe_to_send_password(encrypted=self.tls_mode != "none")
        if creds is not None:
            self._remember_secret(creds.password.reveal())
            self._remember_secret(f"\0{creds.username}\0{creds.password.reveal()}")
        if self._token is not None and user:
            self._remember_secret(f"user={user}\x01auth=Bearer {self._token.reveal()}\x01\x01")
        tls = self.tls_mode
        self._plaintext_phase = tls == "starttls"
        conn = SMTPConnection(
            context=create_context(self.options) if tls != "none" else None,
            implicit_tls=tls == "implicit",
            timeout=self.options.timeout,
            local_hostname=self._ehlo_name or "localhost",
            # No per-line work when nobody listens (the trace sink or DEBUG logging).
            on_trace=self._trace_line if self._tracing() else None,
        )
        self._conn = conn
        try:
            try:
                code, greeting = conn.connect(url.host, url.effective_port)
            except MalformedReply as exc:
                raise ProtocolError(
                    "unexpected greeting from the server", protocol="smtp", url=url, reply=str(exc)
                ) from None
            self._check_greeting(code, greeting)
            if tls == "implicit":
                check_tls_socket(conn.sock, self.options)
            if self._ehlo_name is None:
                conn.local_hostname = _default_ehlo_name(conn.sock)
            self._hello(conn)
            if tls == "starttls":
                conn.starttls_strict()
                check_tls_socket(conn.sock, self.options)
                self._plaintext_phase = False
                self._hello(conn)
            if self._token is not None or creds is not None:
                self._authenticate(conn, explicit=self._token is not None or bool(user))
        except BaseException:
            self._drop()
            raise
        return conn

    def _check_greeting(self, code: int, greeting: bytes) -> None:
        if code == 220:
            return
        text = self._scrub(reply_text(greeting))
        if 400 <= code < 600:
            raise ServerError(
                "unexpected greeting: the server refused the session",
                protocol="smtp",
                url=self.url,
                reply=f"{code} {text}",
                status=code,
                temporary=code < 500,
            )
        raise ProtocolError(
            "unexpected greeting from the server",
            protocol="smtp",
            url=self.url,
            reply=f"{code} {text}",
        )

    def _hello(self, conn: SMTPConnection) -> None:
        code, reply = conn.ehlo()
        if code == 250:
            return
        code, reply = conn.helo()
        if not 200 <= code < 300:
            raise smtplib.SMTPHeloError(code, reply)

    def _authenticate(self, conn: SMTPConnection, *, explicit: bool) -> None:
        """AUTH with the token (XOAUTH2) or the password (PLAIN, else LOGIN)."""
        user = self._user()
        if self._token is not None:
            assert user is not None
            secret = self._token.reveal()
        else:
            creds = self.credentials(required=True)
            assert creds is not None
            user, secret = creds.username, creds.password.reveal()
            self._remember_secret(secret)
            self._remember_secret(f"\0{user}\0{secret}")
        if has_control(user) or "\0" in secret or "\r" in secret or "\n" in secret:
            raise InvalidInput(
                "the user name or password contains CR, LF, NUL or another control character",
                protocol="smtp",
            )
        offered = conn.esmtp_features.get("auth", "").upper().split()
        if not conn.has_extn("auth"):
            if not explicit:
                return  # credentials found by host alone (netrc) but no AUTH: send without
            hint = (
                ""
                if conn.is_tls
                else "; many servers offer AUTH only over TLS (smtps:// or tls='starttls')"
            )
            raise AuthenticationError(
                f"the server does not offer AUTH{hint}", protocol="smtp", url=self.url
            )
        forced = self.url.auth_mechanism
        if forced is not None:
            order = [forced.upper()]
        elif self._token is not None:
            order = ["XOAUTH2"]
        else:
            order = [m for m in ("PLAIN", "LOGIN") if m in offered]
        if not order or (forced is None and order[0] not in offered):
            raise AuthenticationError(
                f"no usable AUTH mechanism: the server offers {' '.join(offered) or 'none'}; "
                f"protoclients supports {', '.join(_MECHANISMS)}",
                protocol="smtp",
                url=self.url,
            )
        for index, mechanism in enumerate(order):
            with self._errors(f"AUTH {mechanism} as {user!r}", self.url):
                try:
                    conn.authenticate(mechanism, user, secret)
                except smtplib.SMTPAuthenticationError as exc:
                    if exc.smtp_code == 504 and index + 1 < len(order):
                        continue  # advertised but not implemented: try the next one
                    raise
            self._auth_mechanism = mechanism
            return

    def _ensure(self, timeout: float | None) -> SMTPConnection:
        seconds = self.timeout_for(timeout)
        if not self._connected:
            self.connect()
        conn = self._conn
        if conn is None or conn.sock is None:
            self._drop()
            conn = self._open()
        conn.set_timeout(seconds)
        return conn

    def _reopen(self, timeout: float | None) -> SMTPConnection:
        self._drop()
        return self._ensure(timeout)

    @property
    def raw(self) -> SMTPConnection:
        """The connected :class:`smtplib.SMTP` subclass, for what the verbs do not cover."""
        with self._errors("connect", self.url):
            return self._ensure(None)

    def ehlo_features(self, *, timeout: float | None = None) -> dict[str, str]:
        """The server's ``EHLO`` extensions (upper-case names -> parameters), as seen on the
        current connection (after ``STARTTLS`` when it was used), e.g.
        ``{"SIZE": "33554432", "8BITMIME": "", "AUTH": "PLAIN LOGIN", "SMTPUTF8": ""}``."""
        with self._errors("EHLO", self.url):
            conn = self._ensure(timeout)
            return {name.upper(): value.strip() for name, value in conn.esmtp_features.items()}

    def login(
        self, *, oauth2_token: str | Secret | None = None, timeout: float | None = None
    ) -> None:
        """Connect and authenticate now (``send`` does it by itself when needed).

        With ``oauth2_token`` the login is ``AUTH XOAUTH2`` as the URL's user; otherwise
        the password (looked up if not given) with ``PLAIN`` or ``LOGIN``. Raises
        :class:`~protoclients.errors.CredentialsNotFound` when there is no password.
        """
        if oauth2_token is not None:
            self._set_token(oauth2_token)
        with self._errors("login", self.url):
            conn = self._ensure(timeout)
            if self._auth_mechanism is None:
                if self._token is None:
                    self.credentials(required=True)
                    self.ensure_safe_to_send_password(encrypted=self.tls_mode != "none")
                self._authenticate(conn, explicit=True)

    # -- error boundary --------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def _tracing(self) -> bool:
        return self.options.trace is not None or self.log.isEnabledFor(logging.DEBUG)

    def _trace_line(self, line: str) -> None:
        self.trace(self._scrub(line))

    @contextlib.contextmanager
    def _errors(self, what: str, url: URL) -> Iterator[None]:
        """The one place where smtplib / socket / ssl exceptions become protoclients errors."""
        with (
            plaintext_phase_guard(lambda: self._plaintext_phase),
            error_boundary(what, url, scrub=self._scrub, drop=self._drop),
        ):
            yield

    # -- send --------------------------------------------------------------------------------

    def send(
        self,
        source: Any,
        url: str | URL | None = None,
        *,
        mail_from: str | None = None,
        to: AddressList = None,
        cc: AddressList = None,
        bcc: AddressList = None,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        oauth2_token: str | Secret | None = None,
        **kwargs: Any,
    ) -> SMTPResult:
        """Deliver one message: an ``EmailMessage``/``Message``, bytes, a path or a binary
        file object.

        The envelope: ``mail_from`` (``""`` for the null sender ``<>``) else the ``Sender``
        or ``From`` header; ``to``/``cc``/``bcc`` (a string or a list; when any is given,
        they are the whole recipient list) else every ``To``, ``Cc`` and ``Bcc`` address.
        ``Bcc`` headers are never transmitted. ``oauth2_token`` authenticates with
        ``XOAUTH2`` (before the first message of the connection).

        Returns an :class:`SMTPResult`; raises :class:`RecipientsRefused` when every
        recipient was refused, :class:`SMTPUTF8Required` when an address needs SMTPUTF8
        and the server lacks it, :class:`SenderRefused` / :class:`MessageRefused` for other
        refusals (``temporary=True`` for ``4xx``), :class:`DeliveryStatusUnknown` when the
        connection broke after the end of the message and before the server's reply.
        """
        _reject_extra(kwargs, "send")
        target = self._target(url)
        if oauth2_token is not None:
            self._set_token(oauth2_token)
        started = time.perf_counter()
        message = prepare_message(source, mail_from=mail_from, to=to, cc=cc, bcc=bcc)
        try:
            with self._errors("send", target):
                accepted, refused, reply, sent = self._deliver(message, progress, timeout)
        finally:
            message.close()
        path = Path(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else None
        shown = self._shown_url
        if shown is None or shown[0] is not target:  # URLs are immutable: shown once
            shown = self._shown_url = (target, str(target))
        return SMTPResult(
            url=shown[1],
            bytes=sent,
            size=message.size if message.size is not None else sent,
            path=path,
            elapsed=time.perf_counter() - started,
            details={
                "reply": reply,
                "mail_from": message.mail_from,
                "recipients": list(message.recipients),
                "smtputf8": message.smtputf8,
            },
            accepted=accepted,
            refused=refused,
            message_id=message.message_id,
            partial=bool(refused),
        )

    def _target(self, target: str | URL | None) -> URL:
        if target is None:
            return self.url
        resolved = self.resolve(target)
        name = _ehlo_name_from(resolved)
        if name is not None and name != self._ehlo_name:
            raise InvalidInput(
                "this client says EHLO with another name; use a new client for that URL",
                protocol="smtp",
                url=resolved,
            )
        return resolved

    def _mail_options(self, conn: SMTPConnection, message: PreparedMessage) -> list[str]:
        options: list[str] = []
        if message.size is not None and conn.has_extn("size"):
            options.append(f"SIZE={message.size}")
        if message.smtputf8:
            if not conn.has_extn("smtputf8"):
                raise SMTPUTF8Required(
                    "an address has non-ASCII characters before the '@', which needs the "
                    "SMTPUTF8 extension (RFC 6531), and the server does not offer it; "
                    "nothing was sent",
                    protocol="smtp",
                    url=self.url,
                )
            if conn.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            options.append("SMTPUTF8")
        elif conn.has_extn("8bitmime"):
            if message.eight_bit is not False:
                options.append("BODY=8BITMIME")
        elif message.eight_bit:
            raise UnsupportedOperation(
                "the message contains 8-bit data and the server does not offer 8BITMIME; "
                "encode it (quoted-printable or base64) or pass an EmailMessage",
                protocol="smtp",
                url=self.url,
            )
        return options

    def _deliver(
        self,
        message: PreparedMessage,
        progress: ProgressCallback | None,
        timeout: float | None,
    ) -> tuple[list[str], dict[str, tuple[int, str]], str, int]:
        conn = self._ensure(timeout)
        if self._token is not None and self._auth_mechanism is None:
            self._authenticate(conn, explicit=True)
        if self._needs_reset:
            self._needs_reset = False
            if not conn.reset():
                conn = self._reopen(timeout)
        try:
            return self._transaction(conn, message, progress)
        except StaleConnection:
            if self._transactions == 0:
                raise
        # The server closed the idle connection: nothing of this message was accepted yet.
        conn = self._reopen(timeout)
        return self._transaction(conn, message, progress)

    def _transaction(
        self, conn: SMTPConnection, message: PreparedMessage, progress: ProgressCallback | None
    ) -> tuple[list[str], dict[str, tuple[int, str]], str, int]:
        """One ``MAIL``/``RCPT``/``DATA`` transaction, pipelined when the server allows it."""
        options = self._mail_options(conn, message)
        self._needs_reset = True
        pipelined = conn.has_extn("pipelining")
        data_reply: tuple[int, bytes] | None = None
        if pipelined:
            (code, reply), replies, data_reply = conn.pipeline(
                message.mail_from, options, message.recipients
            )
        else:
            code, reply = conn.mail_from(message.mail_from, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, message.mail_from)
        if not pipelined:
            replies = []
            for recipient in message.recipients:
                replies.append(conn.rcpt_to(recipient))
                if replies[-1][0] == 421:
                    raise smtplib.SMTPResponseException(*replies[-1])
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        for recipient, (code, reply) in zip(message.recipients, replies, strict=True):
            if code in {250, 251}:
                accepted.append(recipient)
            else:
                refused[recipient] = (code, self._scrub(reply_text(reply)))
        if not accepted:
            if data_reply is not None and data_reply[0] == 354:
                conn.send_payload([b".\r\n"])  # RFC 2920 3.1: end the empty DATA
            raise smtplib.SMTPRecipientsRefused(
                {rcpt: (code, text.encode()) for rcpt, (code, text) in refused.items()}
            )
        if data_reply is not None and data_reply[0] != 354:
            raise smtplib.SMTPDataError(*data_reply)
        total = message.size
        on_progress: Callable[[int], None] | None = None
        if progress is not None:
            callback = progress

            def on_progress(sent: int) -> None:
                callback(sent, total)

        if data_reply is not None:
            code, reply = conn.send_payload(message.chunks(), on_progress)
        else:
            code, reply = conn.send_data(message.chunks(), on_progress)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        self._needs_reset = False
        self._transactions += 1
        return accepted, refused, f"{code} {self._scrub(reply_text(reply))}", conn.data_bytes
