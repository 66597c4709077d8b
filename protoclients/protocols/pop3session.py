"""The POP3 session under :class:`~protoclients.protocols.pop3.POP3Client`: one connection.

:class:`POP3Session` connects (implicit TLS, or ``STLS`` when asked: never a plaintext
fallback), logs in (``USER``/``PASS``, ``APOP`` or ``AUTH PLAIN``), reconnects after a
connection was dropped, and runs every operation inside the error boundary
(:mod:`.pop3errors`) with its own timeout. It caches what one session learns about the
mailbox (the scan listing, the unique ids: both stay valid until ``QUIT``) and holds the
extras that are thin wrappers of one command (``stat``, ``uidl``, ``capabilities``,
``top``, ``undelete_all``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ..client import Client
from ..errors import (
    InvalidInput,
    NotFoundError,
    ResponseTooLarge,
    ServerError,
    TLSRequiredError,
    UnsupportedOperation,
    clean_server_text,
)
from ..options import ClientOptions
from ..tls import check_tls_socket, create_context, plaintext_phase_guard
from ..urls import URL, Secret
from .pop3conn import ErrReply, POP3Connection
from .pop3errors import error_boundary
from .pop3parse import (
    MalformedResponse,
    parse_scan_line,
    parse_scan_listing,
    parse_stat,
    parse_uidl_line,
    parse_uidl_listing,
)
from .pop3urls import MessageRef, check_arg, check_uidl, message_ref

__all__ = ["AUTH_MECHANISMS", "POP3Session"]

log = logging.getLogger("protoclients.pop3")

#: Accepted spellings of the login mechanism (``;AUTH=`` in the URL or ``auth=``) -> mechanism.
AUTH_MECHANISMS = {
    "user": "user",
    "+user": "user",
    "apop": "apop",
    "+apop": "apop",
    "plain": "plain",
    "*": "any",
    "any": "any",
}


class POP3Session(Client):
    """Connection lifecycle, login, error boundary and per-session caches of the POP3 client.

    Not used on its own: :class:`~protoclients.protocols.pop3.POP3Client` adds the verbs.
    """

    protocol = "pop3"

    #: The largest message ``fetch`` accepts (``max_message_size=`` changes it).
    max_message_size = 256 * 1024 * 1024
    #: Most messages a listing may have.
    max_listing_entries = 1_000_000
    #: Most bytes a ``LIST``/``UIDL``/``CAPA`` response may have.
    max_listing_bytes = 64 * 1024 * 1024
    #: A long response must arrive at least this fast (bytes/s), on top of 4 x the timeout.
    min_transfer_rate = 32 * 1024
    #: How many commands are sent ahead when the server offers ``PIPELINING``.
    pipeline_window = 32

    def __init__(
        self,
        url: str | URL,
        *,
        password: str | Secret | None = None,
        options: ClientOptions | None = None,
        auth: str | None = None,
        max_message_size: int | None = None,
        **option_kwargs: Any,
    ) -> None:
        super().__init__(url, password=password, options=options, **option_kwargs)
        message_ref(self.url)  # validate the path now, not at the first verb
        spelled = auth if auth is not None else self.url.auth_mechanism
        self.auth = "user" if spelled is None else AUTH_MECHANISMS.get(spelled.lower(), "")
        if not self.auth:
            raise UnsupportedOperation(
                f"POP3 login mechanism {spelled!r} is not supported; use USER (default), "
                "+APOP, PLAIN or *",
                protocol="pop3",
                url=self.url,
            )
        if max_message_size is not None:
            if max_message_size <= 0:
                raise InvalidInput("max_message_size must be positive")
            self.max_message_size = max_message_size
        self._pop: POP3Connection | None = None
        self._secret_text: str | None = None
        # True between connecting and a verified STLS upgrade: what the server says then is
        # unauthenticated and never shown (tls.plaintext_phase_guard).
        self._plaintext_phase = False
        #: The mechanism the last login used (``"user"``, ``"apop"`` or ``"plain"``).
        self.login_mechanism: str | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._caps: dict[str, list[str]] | None = None
        self._caps_read = False
        self._sizes: dict[int, int] | None = None
        self._uidls: dict[int, str] | None = None
        self._uidls_read = False
        self.greeting = ""

    # -- connection ----------------------------------------------------------------------

    def _connect(self) -> None:
        with self._errors("connect", self.url):
            self._open()

    def _close(self) -> None:
        pop, self._pop = self._pop, None
        self._reset_state()
        if pop is None:
            return
        try:
            pop.set_timeout(min(self.options.timeout, 5.0))
            pop.quit()
        except ErrReply as exc:
            log.warning(
                "QUIT failed; messages marked for deletion may not have been deleted: %s",
                clean_server_text(self._scrub(exc.text)),
            )
        except Exception:  # the connection is going away whatever went wrong
            log.debug("QUIT failed; connection closed")
        finally:
            pop.close()

    def _drop(self) -> None:
        """Close without QUIT (its state is unknown; deletions are rolled back by the server)."""
        pop, self._pop = self._pop, None
        self._reset_state()
        if pop is not None:
            with contextlib.suppress(OSError):
                pop.close()

    def _open(self) -> None:
        url = self.url
        # POP3 has no anonymous login: a user name and password are always needed.
        creds = self.credentials(required=True)
        assert creds is not None
        tls = self.tls_mode
        encrypted = tls in {"implicit", "starttls"}
        # Before any DNS lookup or connect: never a password (or an APOP digest, which is
        # open to offline guessing) in clear to a remote host.
        self.ensure_safe_to_send_password(encrypted=encrypted)
        user = check_arg(creds.username, "user name")
        password = creds.password.reveal()
        if "\r" in password or "\n" in password or "\0" in password:
            raise InvalidInput("the password contains CR, LF or NUL", protocol="pop3")
        self._secret_text = password or None
        context = create_context(self.options) if encrypted else None
        self._plaintext_phase = tls == "starttls"
        pop = POP3Connection(
            url.host,
            url.effective_port,
            timeout=self.options.timeout,
            context=context,
            implicit_tls=tls == "implicit",
            on_trace=self._trace_line if self._tracing() else None,
            max_response_bytes=self.max_listing_bytes,
            min_rate=self.min_transfer_rate,
        )
        self._pop = pop
        try:
            self.greeting = pop.welcome.decode("utf-8", "replace")
            if tls == "implicit":
                check_tls_socket(pop.sock, self.options)
            elif tls == "starttls":
                self._starttls(pop)
            with self._errors("login", url, auth=True):
                self._login(pop, user, password)
            # Capabilities may change after login (RFC 2449): read them again when needed.
            self._caps, self._caps_read = None, False
        except BaseException:
            self._drop()
            raise

    def _starttls(self, pop: POP3Connection) -> None:
        """``CAPA``, ``STLS``, handshake, checks, ``CAPA`` again; any deviation is fatal."""
        url = self.url
        try:
            caps = pop.capa()
        except ErrReply as exc:
            raise TLSRequiredError(
                f"{url.host} does not answer CAPA, so it cannot offer STLS; "
                "not logging in without TLS",
                protocol="pop3",
                url=url,
                reply=self._scrub(exc.text),
            ) from None
        if "STLS" not in caps:
            raise TLSRequiredError(
                f"{url.host} does not offer STLS; not logging in without TLS",
                protocol="pop3",
                url=url,
            )
        try:
            pop.stls()
        except ErrReply as exc:
            raise TLSRequiredError(
                f"{url.host} refused STLS; not logging in without TLS",
                protocol="pop3",
                url=url,
                reply=self._scrub(exc.text),
            ) from None
        check_tls_socket(pop.sock, self.options)
        self._plaintext_phase = False
        # Forget what plaintext said: capabilities are read again over TLS.
        self._caps, self._caps_read = self._read_caps(pop), True

    def _read_caps(self, pop: POP3Connection) -> dict[str, list[str]] | None:
        try:
            return pop.capa()
        except ErrReply:
            return None

    def _choose_mechanism(self, pop: POP3Connection) -> str:
        """The login mechanism: as asked, or (``*``) the best one the server offers."""
        if self.auth in {"apop", "plain"}:
            return self.auth
        if self.auth == "user":
            # USER/PASS (RFC 2384's default), unless capabilities already read (after STLS)
            # say the server has no USER but has SASL PLAIN. No extra round trip for CAPA.
            caps = self._caps if self._caps_read else None
            sasl = {m.upper() for m in (caps or {}).get("SASL", [])}
            if caps is not None and "USER" not in caps and "PLAIN" in sasl:
                return "plain"
            return "user"
        caps = self._capabilities(pop)
        sasl = {m.upper() for m in (caps or {}).get("SASL", [])}
        if "PLAIN" in sasl:
            return "plain"
        if caps is not None and "USER" not in caps and pop.has_apop:
            return "apop"
        return "user"

    def _login(self, pop: POP3Connection, user: str, password: str) -> None:
        mechanism = self._choose_mechanism(pop)
        if mechanism == "apop":
            if not pop.has_apop:
                raise UnsupportedOperation(
                    f"{self.url.host} does not offer APOP (no timestamp in its greeting)",
                    protocol="pop3",
                    url=self.url,
                )
            pop.apop(user, password)
        elif mechanism == "plain":
            pop.auth_plain(user, password)
        else:
            pop.user(user)
            pop.pass_(password)
        self.login_mechanism = mechanism

    def _ensure(self, timeout: float | None) -> POP3Connection:
        seconds = self.timeout_for(timeout)
        if not self._connected:
            self.connect()
        if self._pop is None:
            self._open()
        assert self._pop is not None
        self._pop.set_timeout(seconds)
        return self._pop

    @contextlib.contextmanager
    def _op(self, what: str, url: URL, timeout: float | None) -> Iterator[POP3Connection]:
        """Run one operation: connected, with its timeout, errors translated."""
        with self._errors(what, url):
            pop = self._ensure(timeout)
            try:
                yield pop
            finally:
                if self._pop is pop and timeout is not None:
                    pop.set_timeout(self.options.timeout)

    def _commit(self) -> None:
        """``QUIT``: the server deletes the messages marked with ``DELE``. The next call
        reconnects. An ``-ERR`` means some were not deleted (RFC 1939 section 6)."""
        pop, self._pop = self._pop, None
        self._reset_state()
        if pop is None:
            return
        try:
            pop.quit()
        except ErrReply as exc:
            raise ServerError(
                "QUIT failed: the server may not have deleted the messages marked for deletion",
                protocol="pop3",
                url=self.url,
                reply=self._scrub(exc.text),
            ) from None
        finally:
            pop.close()

    @property
    def raw(self) -> POP3Connection:
        """The connected :class:`poplib.POP3` subclass, for what the verbs do not cover.

        Its command lines are still checked for CR/LF/NUL and its responses still bounded.
        """
        with self._errors("connect", self.url):
            return self._ensure(None)

    # -- error boundary --------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._secret_text and self._secret_text in text:
            text = text.replace(self._secret_text, "***")
        return text

    def _tracing(self) -> bool:
        return self.options.trace is not None or self.log.isEnabledFor(logging.DEBUG)

    def _trace_line(self, line: str) -> None:
        self.trace(clean_server_text(self._scrub(line), limit=1000) or "")

    @contextlib.contextmanager
    def _errors(self, what: str, url: URL, *, auth: bool = False) -> Iterator[None]:
        """The one place where poplib / socket / ssl exceptions become protoclients errors."""
        with (
            plaintext_phase_guard(lambda: self._plaintext_phase),
            error_boundary(what, url, scrub=self._scrub, drop=self._drop, auth=auth),
        ):
            yield

    # -- what one session knows -----------------------------------------------------------------

    def _capabilities(self, pop: POP3Connection) -> dict[str, list[str]] | None:
        """The ``CAPA`` answer after login (``None``: the server has no ``CAPA``)."""
        if not self._caps_read:
            self._caps, self._caps_read = self._read_caps(pop), True
        return self._caps

    def _scan(self, pop: POP3Connection) -> dict[int, int]:
        """``{number: size}`` of every message (``LIST``), cached for the session."""
        if self._sizes is None:
            count, _ = self._stat(pop)
            if count > self.max_listing_entries:
                raise ResponseTooLarge(
                    f"the mailbox has {count} messages, more than max_listing_entries="
                    f"{self.max_listing_entries}",
                    protocol="pop3",
                    url=self.url,
                )
            _, lines, _ = pop.list()
            self._sizes = parse_scan_listing(lines, self.max_listing_entries)
        return self._sizes

    def _uidl_map(self, pop: POP3Connection) -> dict[int, str] | None:
        """``{number: uidl}`` (``UIDL``), cached; ``None`` when the server has no ``UIDL``."""
        if not self._uidls_read:
            try:
                _, lines, _ = pop.uidl()
            except ErrReply:
                self._uidls = None
            else:
                self._uidls = parse_uidl_listing(lines, self.max_listing_entries)
            self._uidls_read = True
        return self._uidls

    def _stat(self, pop: POP3Connection) -> tuple[int, int]:
        return parse_stat(pop._shortcmd("STAT"))

    def _size_of(self, pop: POP3Connection, number: int) -> int:
        """The size of message ``number`` (``LIST n``); :class:`NotFoundError` if none."""
        if self._sizes is not None:
            if number not in self._sizes:
                raise self._not_found(MessageRef(number=number))
            return self._sizes[number]
        try:
            resp = pop._shortcmd(f"LIST {number}")
        except ErrReply as exc:
            raise self._not_found(MessageRef(number=number), exc.text) from None
        found, size = parse_scan_line(resp[3:])
        if found != number:
            raise MalformedResponse(f"LIST {number} answered for message {found}")
        return size

    def _uidl_of(self, pop: POP3Connection, number: int) -> str | None:
        """The unique id of message ``number`` (``UIDL n``), or ``None`` without ``UIDL``."""
        if self._uidls_read:
            return None if self._uidls is None else self._uidls.get(number)
        try:
            resp = pop._shortcmd(f"UIDL {number}")
        except ErrReply:
            return None
        found, uidl = parse_uidl_line(resp[3:])
        if found != number:
            raise MalformedResponse(f"UIDL {number} answered for message {found}")
        return uidl

    def _number_for(self, pop: POP3Connection, ref: MessageRef) -> int:
        """The message number of ``ref`` in this session (a UIDL is looked up)."""
        if ref.number is not None:
            return ref.number
        assert ref.uidl is not None
        uidls = self._uidl_map(pop)
        if uidls is None:
            raise UnsupportedOperation(
                f"{self.url.host} does not support UIDL; name the message by number",
                protocol="pop3",
                url=self.url,
            )
        for number, uidl in uidls.items():
            if uidl == ref.uidl:
                return number
        raise self._not_found(ref)

    def _not_found(self, ref: MessageRef, reply: str | None = None) -> NotFoundError:
        return NotFoundError(
            f"no such message: {ref}",
            protocol="pop3",
            url=self.url,
            reply=None if reply is None else self._scrub(reply),
        )

    def _dele(self, pop: POP3Connection, number: int) -> None:
        """``DELE n``; the session's caches forget the message."""
        pop.dele(number)
        if self._sizes is not None:
            self._sizes.pop(number, None)
        if self._uidls is not None:
            self._uidls.pop(number, None)

    def _message_arg(self, message: int | str | URL) -> MessageRef:
        """A message given as a number, ``"3"``, ``"UIDL=..."`` or a message URL."""
        if isinstance(message, bool):
            raise InvalidInput("a message is a number, 'UIDL=<id>' or a URL")
        if isinstance(message, int):
            if message < 1:
                raise InvalidInput("message numbers start at 1", protocol="pop3")
            return MessageRef(number=message)
        url = self._message_url(message)
        ref = message_ref(url)
        if ref is None:
            raise InvalidInput("name a message: a number or UIDL=<id>", protocol="pop3", url=url)
        return ref

    def _message_url(self, target: str | URL | None) -> URL:
        """``target`` resolved against the mailbox: ``"3"``, ``"/UIDL=x"``, a URL, ``None``."""
        if target is None:
            return self.url
        if isinstance(target, str) and "://" not in target:
            check_arg(target, "message")
            return self.resolve(self.url.replace(path="/", query="", fragment="").join(target))
        return self.resolve(target)

    # -- extras -------------------------------------------------------------------------------

    def capabilities(self, *, timeout: float | None = None) -> dict[str, list[str]]:
        """The server's ``CAPA`` answer as ``{"NAME": [args...]}`` (``{}`` without CAPA)."""
        with self._op("capabilities", self.url, timeout) as pop:
            return dict(self._capabilities(pop) or {})

    def stat(self, *, timeout: float | None = None) -> tuple[int, int]:
        """``STAT``: ``(number of messages, total size in bytes)``."""
        with self._op("stat", self.url, timeout) as pop:
            return self._stat(pop)

    def uidl(self, *, timeout: float | None = None) -> dict[int, str]:
        """``UIDL``: ``{message number: unique id}`` (``{}`` when the server has no UIDL)."""
        with self._op("uidl", self.url, timeout) as pop:
            return dict(self._uidl_map(pop) or {})

    def top(
        self, message: int | str | URL, lines: int = 0, *, timeout: float | None = None
    ) -> bytes:
        """``TOP n lines``: the headers and the first ``lines`` lines of the body, as bytes.

        ``message`` is a number, ``"UIDL=<id>"`` or a message URL. Bounded like ``fetch``.
        """
        ref = self._message_arg(message)
        if isinstance(lines, bool) or not isinstance(lines, int) or lines < 0:
            raise InvalidInput("lines must be a number >= 0", protocol="pop3")
        with self._op("top", self.url, timeout) as pop:
            number = self._number_for(pop, ref)
            size = self._size_of(pop, number)
            data = bytearray()
            limit = min(self.max_message_size, 2 * size + 64 * 1024, self.options.max_memory)
            pop.stream(f"TOP {number} {lines}", data.extend, max_total=limit)
            return bytes(data)

    def undelete_all(self, *, timeout: float | None = None) -> None:
        """``RSET``: unmark every message marked for deletion in this session."""
        with self._op("undelete", self.url, timeout) as pop:
            pop.rset()
            self._sizes = None
            self._uidls, self._uidls_read = None, False

    def noop(self, *, timeout: float | None = None) -> None:
        """``NOOP``: keep the connection alive (and check it still is)."""
        with self._op("noop", self.url, timeout) as pop:
            pop.noop()

    def _check_uidl_kw(self, uidl: str | None) -> str | None:
        return None if uidl is None else check_uidl(uidl)
