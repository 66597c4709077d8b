"""The IMAP session under :class:`~protoclients.protocols.imap.IMAPClient`: one connection.

:class:`IMAPSession` connects (implicit TLS, or STARTTLS when asked: required, never a
plaintext fallback), judges the greeting, logs in (``AUTHENTICATE PLAIN``, ``LOGIN`` or
``AUTHENTICATE XOAUTH2``), enables ``UTF8=ACCEPT`` where offered, reconnects after a
connection was dropped, selects mailboxes and runs every operation inside the error
boundary (:mod:`.imaperrors`) with its own timeout.

STARTTLS rules (RFC 3501 / the STARTTLS study behind ``RELIABILITY.md``): a ``PREAUTH``
greeting on a STARTTLS-required connection aborts before anything is sent; a missing
``STARTTLS`` capability or a ``NO``/``BAD`` answer raises
:class:`~protoclients.errors.TLSRequiredError` before any credential is sent; data the
server sends around the go-ahead is refused; after the handshake the socket is checked
(:func:`protoclients.tls.check_tls_socket`) and the capabilities are read again.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..client import Client
from ..credentials import Credentials
from ..errors import (
    AuthenticationError,
    InsecureAuthError,
    InvalidInput,
    NotFoundError,
    ProtocolError,
    TLSRequiredError,
)
from ..options import ClientOptions
from ..tls import check_tls_socket, create_context, plaintext_phase_guard
from ..urls import URL, Secret
from . import imaputf7
from .imapconn import (
    CommandFailed,
    IMAPConnection,
    Limits,
    ProtocolViolation,
    Response,
    Result,
)
from .imaperrors import error_boundary
from .imapparse import parse_values
from .imapquote import Arg, astring, check_text, mailbox_arg
from .imapurl import IMAPTarget, parse_imap_url

__all__ = ["IMAPSession", "Mailbox"]

_MECHANISMS = frozenset({"PLAIN", "LOGIN", "XOAUTH2", "*"})


@dataclass(frozen=True)
class Mailbox:
    """What ``SELECT`` / ``EXAMINE`` told about the selected mailbox."""

    name: str
    readonly: bool
    exists: int
    uidvalidity: int | None
    uidnext: int | None


class IMAPSession(Client):
    """Connection lifecycle, login, TLS, error boundary and mailbox selection.

    Not used on its own: :class:`~protoclients.protocols.imap.IMAPClient` adds the verbs.
    """

    protocol = "imap"

    def __init__(
        self,
        url: str | URL,
        *,
        password: str | Secret | None = None,
        options: ClientOptions | None = None,
        oauth2_token: str | Secret | None = None,
        limits: Limits | None = None,
        utf8: bool = True,
        **option_kwargs: Any,
    ) -> None:
        super().__init__(url, password=password, options=options, **option_kwargs)
        if isinstance(oauth2_token, str):
            oauth2_token = Secret(oauth2_token)
        self._token = oauth2_token
        self.limits = limits or Limits()
        self._want_utf8 = utf8
        self._utf8 = False
        self._conn: IMAPConnection | None = None
        self._secrets: list[str] = []
        # True between connecting and a verified STARTTLS upgrade: what the server says then
        # is unauthenticated and never shown (tls.plaintext_phase_guard).
        self._plaintext_phase = False
        mech = self.url.auth_mechanism
        if mech is not None and mech.upper() not in _MECHANISMS:
            raise InvalidInput(
                f"unsupported IMAP AUTH mechanism {mech!r}; use PLAIN, LOGIN or XOAUTH2",
                protocol="imap",
                url=self.url,
            )

    # -- connection ------------------------------------------------------------------------------

    def _connect(self) -> None:
        with self._errors("connect", self.url):
            self._open()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.logout_quietly(min(self.options.timeout, 5.0))

    def _drop(self) -> None:
        """Forget a connection in an unknown state (the next operation reconnects)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close_socket()

    def _credentials_for_login(self) -> tuple[str, Secret, str]:
        """``(user, secret, mechanism hint)``; the secret is a password or a bearer token."""
        mech = (self.url.auth_mechanism or "").upper()
        if self._token is not None or mech == "XOAUTH2":
            creds = self.credentials(required=self._token is None)
            user = self.options.username or self.url.username or (creds.username if creds else None)
            if not user:
                raise InvalidInput("XOAUTH2 needs a user name (in the URL or username=)")
            token = self._token or (creds.password if creds else None)
            assert token is not None
            return user, token, "XOAUTH2"
        found = self.credentials(required=True)
        assert found is not None
        creds_: Credentials = found
        return creds_.username, creds_.password, mech

    def _open(self) -> None:
        url = self.url
        tls = self.tls_mode
        encrypted = tls in {"implicit", "starttls"}
        user, secret, mech = self._credentials_for_login()
        check_text(user, "user name")
        value = secret.reveal()
        if "\r" in value or "\n" in value or "\0" in value:
            raise InvalidInput("the password contains CR, LF or NUL", protocol="imap")
        self._secrets = [value] if value else []
        # Before any DNS lookup or connect: never a password in clear to a remote host.
        self.ensure_safe_to_send_password(encrypted=encrypted)
        context = create_context(self.options) if encrypted else None
        timeout = self.options.timeout
        self._plaintext_phase = tls == "starttls"
        conn = IMAPConnection(
            url.host,
            url.effective_port,
            context=context,
            implicit_tls=tls == "implicit",
            timeout=timeout,
            limits=self.limits,
            on_trace=self._trace_line if self._tracing() else None,
        )
        self._conn = conn
        try:
            conn.set_timeout(timeout, time.monotonic() + timeout)
            greeting = conn.read_greeting()
            if tls == "implicit":
                check_tls_socket(conn.sock, self.options)
            elif tls == "starttls":
                self._starttls(conn, greeting)
            elif not conn.capabilities:
                conn.capability()
            if greeting.kind != "PREAUTH":
                conn.set_timeout(timeout, time.monotonic() + timeout)
                self._login(conn, user, secret, mech)
            self._enable_utf8(conn)
        except BaseException:
            self._drop()
            raise

    def _tracing(self) -> bool:
        return self.options.trace is not None or self.log.isEnabledFor(10)

    def _starttls(self, conn: IMAPConnection, greeting: Response) -> None:
        url = self.url
        if greeting.kind == "PREAUTH":
            raise TLSRequiredError(
                f"{url.host} greeted with PREAUTH, so STARTTLS is impossible; refusing to use "
                "the connection without TLS",
                protocol="imap",
                url=url,
            )
        try:
            if "STARTTLS" not in conn.capabilities:
                conn.capability()
        except (CommandFailed, ProtocolViolation) as exc:
            raise TLSRequiredError(
                f"{url.host} did not list its capabilities; not continuing without TLS",
                protocol="imap",
                url=url,
                reply=self._scrub(str(exc)),
            ) from None
        if "STARTTLS" not in conn.capabilities:
            raise TLSRequiredError(
                f"{url.host} does not offer STARTTLS; not logging in without TLS",
                protocol="imap",
                url=url,
            )
        try:
            conn.starttls()
        except CommandFailed as exc:
            raise TLSRequiredError(
                f"{url.host} refused STARTTLS; not logging in without TLS",
                protocol="imap",
                url=url,
                reply=self._scrub(exc.reply),
            ) from None
        check_tls_socket(conn.sock, self.options)
        self._plaintext_phase = False
        conn.capability()

    # -- login -----------------------------------------------------------------------------------

    def _login(self, conn: IMAPConnection, user: str, secret: Secret, mech: str) -> None:
        caps = conn.capabilities
        encrypted = conn.is_tls
        if "LOGINDISABLED" in caps and not encrypted:
            raise InsecureAuthError(
                f"{self.url.host} disabled LOGIN on this unencrypted connection "
                "(LOGINDISABLED); use imaps:// or tls='starttls'",
                protocol="imap",
                url=self.url,
            )
        self.ensure_safe_to_send_password(encrypted=encrypted)
        if mech in {"", "*"}:
            if "AUTH=PLAIN" in caps:
                mech = "PLAIN"
            elif "LOGINDISABLED" in caps:
                raise AuthenticationError(
                    "the server offers neither LOGIN nor AUTHENTICATE PLAIN",
                    protocol="imap",
                    url=self.url,
                )
            else:
                mech = "LOGIN"
        elif mech != "LOGIN" and f"AUTH={mech}" not in caps:
            raise AuthenticationError(
                f"the server does not offer AUTH={mech}", protocol="imap", url=self.url
            )
        elif mech == "LOGIN" and "LOGINDISABLED" in caps:
            raise AuthenticationError("the server disabled LOGIN", protocol="imap", url=self.url)
        try:
            if mech == "LOGIN":
                result = conn.command(
                    "LOGIN",
                    astring(user, "user name"),
                    astring(secret.reveal(), "password"),
                    trace=f"LOGIN {user} ***",
                    check=False,
                )
            elif mech == "PLAIN":
                payload = b"\0" + user.encode("utf-8") + b"\0" + secret.reveal().encode("utf-8")
                result = self._sasl(conn, "PLAIN", payload)
            else:
                payload = f"user={user}\x01auth=Bearer {secret.reveal()}\x01\x01".encode()
                result = self._sasl(conn, "XOAUTH2", payload)
        except CommandFailed as exc:
            result = exc.result
        if result.status != "OK":
            raise AuthenticationError(
                f"login failed for user {user!r}",
                protocol="imap",
                url=self.url,
                reply=self._scrub(result.text.decode("utf-8", "replace")),
            )
        conn.state = "AUTH"
        if result.code == "CAPABILITY" and result.code_data:
            conn.set_capabilities(result.code_data)
        else:
            updated = [r for r in result.untagged if r.kind == "CAPABILITY"]
            if updated and isinstance(updated[-1].parts[0], bytes):
                conn.set_capabilities(updated[-1].parts[0])
            else:
                conn.capability()

    def _sasl(self, conn: IMAPConnection, mech: str, payload: bytes) -> Result:
        """``AUTHENTICATE`` with one client response (SASL-IR when offered)."""
        encoded = base64.b64encode(payload)
        if "SASL-IR" in conn.capabilities:
            args: list[Arg] = [mech.encode("ascii"), encoded]
            tag, early, pending = conn.send_command(
                "AUTHENTICATE", args, trace=f"AUTHENTICATE {mech} ***"
            )
        else:
            tag, early, pending = conn.send_command(
                "AUTHENTICATE", [mech.encode("ascii")], trace=f"AUTHENTICATE {mech}"
            )
        if early is not None:
            return early
        sent = "SASL-IR" in conn.capabilities
        rounds = 0
        while True:
            resp = conn.read_response()
            if resp.tag == tag:
                return Result(
                    "AUTHENTICATE", resp.kind, resp.code, resp.code_data, resp.text, pending
                )
            if resp.tag == b"*":
                if resp.kind == "BYE":
                    return Result("AUTHENTICATE", "NO", None, None, resp.text, pending)
                pending.append(resp)
                if len(pending) > 100:
                    raise ProtocolError("too many responses during AUTHENTICATE", protocol="imap")
                continue
            if resp.tag != b"+":
                raise ProtocolError("unexpected response during AUTHENTICATE", protocol="imap")
            rounds += 1
            if rounds > 3:
                raise ProtocolError("the server keeps asking during AUTHENTICATE", protocol="imap")
            if sent:
                # A challenge after the response is an error report (XOAUTH2): answer empty.
                conn._send(b"\r\n", ["(empty response)"], True)
            else:
                conn._send(encoded + b"\r\n", ["***"], True)
                sent = True

    def _enable_utf8(self, conn: IMAPConnection) -> None:
        self._utf8 = False
        if not self._want_utf8 or "UTF8=ACCEPT" not in conn.capabilities:
            return
        if "ENABLE" not in conn.capabilities:
            return
        result = conn.command("ENABLE", b"UTF8=ACCEPT", check=False)
        for resp in result.untagged:
            part = resp.parts[0] if resp.parts else b""
            if (
                resp.kind == "ENABLED"
                and isinstance(part, bytes)
                and b"UTF8=ACCEPT" in part.upper()
            ):
                self._utf8 = True
        if self._utf8:
            conn._mode_utf8()

    # -- operations ------------------------------------------------------------------------------

    def _ensure(self, timeout: float | None) -> IMAPConnection:
        seconds = self.timeout_for(timeout)
        if not self._connected:
            self.connect()
        if self._conn is None:
            self._open()
        assert self._conn is not None
        self._conn.set_timeout(seconds, None)
        return self._conn

    @contextlib.contextmanager
    def _op(
        self, what: str, url: URL, timeout: float | None, *, deadline: bool = True
    ) -> Iterator[IMAPConnection]:
        """Run one operation: connected, with its timeout, errors translated.

        With ``deadline`` every response must be complete within 10 x the timeout (long
        downloads pass ``deadline=False`` and rely on the per-read timeout).
        """
        with self._errors(what, url):
            conn = self._ensure(timeout)
            seconds = self.timeout_for(timeout)
            conn.set_timeout(seconds, time.monotonic() + 10 * seconds if deadline else None)
            try:
                yield conn
            finally:
                if self._conn is conn:
                    with contextlib.suppress(OSError):
                        conn.set_timeout(self.options.timeout, None)

    @property
    def raw(self) -> imaplib.IMAP4:
        """The connected :class:`imaplib.IMAP4` subclass, for what the client does not cover.

        It is logged in; imaplib's own methods work on it (mind gh-91826 and CRLF checks:
        imaplib does neither for you).
        """
        with self._errors("connect", self.url):
            return self._ensure(None)

    def capabilities(self) -> frozenset[str]:
        """The server's capabilities (upper-case), as read after login."""
        return frozenset(self.raw.capabilities)

    # -- errors ----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    def _trace_line(self, line: str) -> None:
        self.trace(self._scrub(line))

    @contextlib.contextmanager
    def _errors(self, what: str, url: URL) -> Iterator[None]:
        """The one place where imaplib / socket / ssl exceptions become protoclients errors."""
        with (
            plaintext_phase_guard(lambda: self._plaintext_phase),
            error_boundary(what, url, scrub=self._scrub, drop=self._drop),
        ):
            yield

    # -- targets and mailboxes -------------------------------------------------------------------

    def _target(self, target: str | URL | None) -> tuple[URL, IMAPTarget]:
        """Resolve a verb's target: a URL, or ``MAILBOX[;UID=n][?SEARCH]`` from the server root.

        ``";UID=5"`` and ``"?UNSEEN"`` apply to the client URL's mailbox.
        """
        if target is None or target == "" or isinstance(target, URL) or "://" in target:
            url = self.resolve(target)
        else:
            check_text(target, "target")
            head, _, query = target.partition("?")
            safe = "/;=!$&'()*+,:@-._~"
            if head.startswith(";") or (not head and query):
                path = self.url.path.split(";", 1)[0].rstrip("/") + quote(head, safe=safe)
            else:
                path = "/" + quote(head.lstrip("/"), safe=safe)
            url = self.resolve(
                self.url.replace(path=path, query=quote(query, safe=safe + '?"[]'), fragment="")
            )
        return url, parse_imap_url(url)

    def _mailbox_arg(self, name: str) -> Arg:
        return mailbox_arg(name, utf8=self._utf8)

    def _decode_name(self, raw: bytes) -> tuple[str, bool]:
        """A mailbox name from the server as Unicode; ``(name, valid)``."""
        if self._utf8:
            try:
                return raw.decode("utf-8"), True
            except UnicodeDecodeError:
                return raw.decode("utf-8", "replace"), False
        text = raw.decode("latin-1")
        try:
            return imaputf7.decode(text), True
        except ValueError:
            return text, False

    def _select(self, conn: IMAPConnection, name: str, *, readonly: bool) -> Mailbox:
        """``EXAMINE`` (read-only) or ``SELECT`` a mailbox; a missing one is NotFoundError."""
        verb = "EXAMINE" if readonly else "SELECT"
        try:
            result = conn.command(verb, self._mailbox_arg(name))
        except CommandFailed as exc:
            conn.state = "AUTH"
            if exc.status == "NO":
                raise NotFoundError(
                    f"cannot open mailbox {name!r}",
                    protocol="imap",
                    url=self.url,
                    reply=self._scrub(exc.reply),
                ) from None
            raise
        exists = 0
        uidvalidity = uidnext = None
        for resp in result.untagged:
            if resp.kind == "EXISTS" and resp.number is not None:
                exists = resp.number
            elif resp.kind == "OK" and resp.code in {"UIDVALIDITY", "UIDNEXT"}:
                data = resp.code_data or b""
                value = int(data) if data.isdigit() and len(data) <= 10 else None
                if resp.code == "UIDVALIDITY":
                    uidvalidity = value
                else:
                    uidnext = value
        conn.state = "SELECTED"
        conn.is_readonly = readonly
        return Mailbox(name, readonly, exists, uidvalidity, uidnext)

    def _check_uidvalidity(self, box: Mailbox, target: IMAPTarget, url: URL) -> None:
        if target.uidvalidity is not None and box.uidvalidity != target.uidvalidity:
            raise NotFoundError(
                f"the UIDs of mailbox {box.name!r} were renumbered (UIDVALIDITY is now "
                f"{box.uidvalidity}, the URL has {target.uidvalidity}): the UID no longer "
                "names the same message",
                protocol="imap",
                url=url,
            )

    @staticmethod
    def _values(resp: Response) -> list[Any]:
        return parse_values(resp.parts)
