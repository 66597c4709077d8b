"""The smtplib connection protoclients drives: ``smtplib.SMTP`` made strict and bounded.

What changes compared with the standard library class:

* **Implicit TLS** (``smtps://``, port 465) and ``STARTTLS`` both use the caller's context,
  always from :func:`protoclients.tls.create_context`; smtplib's own default is unverified
  (gh-91826).
* **STARTTLS injection is refused**: bytes the server sent after its ``220`` go-ahead and
  before the handshake (``220 go\\r\\n250-x\\r\\n250 AUTH PLAIN\\r\\n`` in one segment) raise
  :class:`InjectionError`; smtplib silently discards or, worse, keeps them. Everything learnt
  before the upgrade is forgotten.
* **Bounded replies**: a reply line is at most :data:`MAX_LINE` bytes, a multi-line reply at
  most :data:`MAX_REPLY_LINES` lines / :data:`MAX_REPLY_BYTES` bytes, and the whole reply
  must arrive within the timeout (a server dribbling one byte at a time cannot hold the
  client). A reply that does not start with three digits is :class:`MalformedReply`.
* **Strict commands**: CR, LF and NUL in a command line are refused before anything is sent.
  ``MAIL FROM``/``RCPT TO`` take addresses already validated by :mod:`.smtpaddr` and put
  them between ``<`` and ``>`` as they are (smtplib's ``quoteaddr`` re-parses and rewrites).
* **AUTH PLAIN, LOGIN and XOAUTH2** with UTF-8 user names and passwords (smtplib's
  ``auth()`` encodes as ASCII); the trace shows ``AUTH PLAIN ***`` and ``***`` for
  every line of the exchange, never the secret or its base64.
* **DATA streams** the already-encoded payload (see :mod:`.smtpdata`); if producing the
  payload fails halfway the connection is closed *without* the final ``.``, so the server
  discards the partial message. Losing the connection after the final ``.`` and before
  the reply raises :class:`FinalReplyLost` ("delivery status unknown").

Only ``protoclients.protocols`` modules import ``smtplib``, ``ssl`` and ``socket``.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "MAX_LINE",
    "MAX_REPLY_BYTES",
    "MAX_REPLY_LINES",
    "FinalReplyLost",
    "InjectionError",
    "MalformedReply",
    "ReplyTooLarge",
    "SMTPConnection",
    "StaleConnection",
    "StartTLSRefused",
]

#: Longest reply line accepted (as smtplib's ``_MAXLINE``).
MAX_LINE = 8192
#: Most lines one multi-line reply may have.
MAX_REPLY_LINES = 1000
#: Most bytes one multi-line reply may have.
MAX_REPLY_BYTES = 256 * 1024
#: Most challenges one AUTH exchange may have.
MAX_AUTH_STEPS = 5
_RECV_SIZE = 16384
_SEPARATORS = frozenset({b" ", b"-", b"\r", b"\n"})


class MalformedReply(smtplib.SMTPException):
    """The server's reply does not start with a three-digit code, or contains NUL."""


class ReplyTooLarge(smtplib.SMTPException):
    """A reply line or a multi-line reply exceeded its bound."""


class InjectionError(smtplib.SMTPException):
    """The server sent data after its ``STARTTLS`` go-ahead, before the TLS handshake."""


class StartTLSRefused(smtplib.SMTPResponseException):
    """The server does not offer ``STARTTLS`` or answered it with something else than 220."""


class StaleConnection(smtplib.SMTPResponseException):
    """The first reply of a transaction shows the server had closed the connection (end of
    file: code -1, or ``421``). Nothing of the message was accepted, so it can be sent again
    on a new connection."""


class FinalReplyLost(smtplib.SMTPServerDisconnected):
    """The connection broke (or timed out) after the end of the message, before the reply."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _ReplyReader:
    """Reads reply lines from the socket with a byte bound and a deadline."""

    __slots__ = ("buffer", "shortened", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.shortened = False

    def pending(self) -> bool:
        """Whether bytes were received that no reply has consumed yet."""
        return bool(self.buffer)

    def readline(self, deadline: float, timeout: float) -> bytes:
        """One line including its ``\\n`` (or what arrived before EOF: ``b""`` at EOF).

        The socket's own timeout is ``timeout``; it is shortened to what is left until
        ``deadline`` only once part of that time has been used (saving two system calls per
        reply in the usual case) and restored afterwards.
        """
        buffer = self.buffer
        while True:
            end = buffer.find(b"\n", 0, MAX_LINE + 1)
            if end != -1:
                line = bytes(buffer[: end + 1])
                del buffer[: end + 1]
                return line
            if len(buffer) > MAX_LINE:
                raise ReplyTooLarge(f"reply line longer than {MAX_LINE} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server did not finish its reply in time")
            if remaining < timeout - 0.05:
                self.sock.settimeout(remaining)
                self.shortened = True
            elif self.shortened:
                self.sock.settimeout(timeout)
                self.shortened = False
            chunk = self.sock.recv(_RECV_SIZE)
            if not chunk:
                line = bytes(buffer)
                buffer.clear()
                return line
            buffer += chunk

    def restore(self, timeout: float) -> None:
        """Give the socket back its own timeout if :meth:`readline` shortened it."""
        if self.shortened:
            self.sock.settimeout(timeout)
            self.shortened = False


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class SMTPConnection(smtplib.SMTP):
    """``smtplib.SMTP`` with implicit TLS, strict STARTTLS, bounded replies and safe AUTH.

    Args:
        context: the (verified) TLS context, or ``None`` for plain SMTP.
        implicit_tls: wrap the connection in TLS straight after connecting.
        timeout: seconds for connecting and for each reply.
        local_hostname: the (validated) name sent with ``EHLO``/``HELO``.
        on_trace: receives ``"> COMMAND"`` and ``"< reply"`` lines, secrets masked.
    """

    def __init__(
        self,
        *,
        context: ssl.SSLContext | None,
        implicit_tls: bool = False,
        timeout: float = 30.0,
        local_hostname: str,
        on_trace: Callable[[str], None] | None = None,
    ) -> None:
        smtplib.SMTP.__init__(self, local_hostname=local_hostname, timeout=timeout)
        self.tls_context = context
        self.implicit_tls = implicit_tls
        self.on_trace = on_trace
        self.sock: socket.socket | None = None
        self.file = None
        self._reader: _ReplyReader | None = None
        #: Bytes of payload sent by the last :meth:`send_data`.
        self.data_bytes = 0

    # -- connection ----------------------------------------------------------------

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: object = None
    ) -> tuple[int, bytes]:
        """Connect (and, for implicit TLS, do the handshake); return the greeting reply."""
        self._host = host
        sock = socket.create_connection((host, port), self.timeout)
        try:
            # Each write is a whole command or payload, so Nagle would only add delay.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.implicit_tls:
                if self.tls_context is None:
                    raise ValueError("implicit TLS needs a TLS context")
                sock = self.tls_context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self._attach(sock)
        return self.getreply()

    def _attach(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = _ReplyReader(sock)

    @property
    def is_tls(self) -> bool:
        """Whether the connection is TLS."""
        return isinstance(self.sock, ssl.SSLSocket)

    def set_timeout(self, timeout: float) -> None:
        """Use ``timeout`` for the next replies and writes."""
        if timeout == self.timeout and self.sock is not None and self.sock.gettimeout() == timeout:
            return
        self.timeout = timeout
        if self.sock is not None:
            self.sock.settimeout(timeout)

    def starttls_strict(self) -> tuple[int, bytes]:
        """``STARTTLS`` and the handshake; refuses early data; forgets the EHLO state."""
        if self.is_tls:
            raise ValueError("already using TLS")
        if self.tls_context is None:
            raise ValueError("STARTTLS needs a TLS context")
        if not self.has_extn("starttls"):
            raise StartTLSRefused(-1, b"STARTTLS is not offered in the EHLO reply")
        assert self._reader is not None
        if self._reader.pending():
            raise InjectionError("the server sent unsolicited data before STARTTLS")
        code, reply = self.docmd("STARTTLS")
        if code != 220:
            raise StartTLSRefused(code, reply)
        assert self.sock is not None
        if self._reader.pending():
            raise InjectionError(
                "the server sent data after its STARTTLS reply, before the TLS handshake"
            )
        self.sock.settimeout(self.timeout)
        self._attach(self.tls_context.wrap_socket(self.sock, server_hostname=self._host))
        # RFC 3207 4.2: discard everything learnt from the server before TLS.
        self.helo_resp = None
        self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        return code, reply

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """Always the strict upgrade with the connection's own (verified) context."""
        if args or kwargs:
            raise ValueError("the TLS context is fixed when the connection is created")
        return self.starttls_strict()

    def close(self) -> None:
        """Close the connection (no QUIT)."""
        self._reader = None
        self.file = None
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    # -- lines -----------------------------------------------------------------------

    def putcmd(self, cmd: str, args: str = "") -> None:
        """Send one command line; CR, LF and NUL are refused (nothing is sent)."""
        line = f"{cmd} {args}" if args else cmd
        if "\r" in line or "\n" in line or "\0" in line:
            raise ValueError("a command line must not contain CR, LF or NUL")
        if self.on_trace is not None:
            self.on_trace("> " + self._shown(cmd, args))
        self.send(line + "\r\n")

    def _shown(self, cmd: str, args: str) -> str:
        if cmd.upper() == "AUTH":
            mechanism, _, initial = args.partition(" ")
            return f"AUTH {mechanism} ***" if initial else f"AUTH {mechanism}"
        return f"{cmd} {args}" if args else cmd

    def getreply(self) -> tuple[int, bytes]:
        """One complete reply as ``(code, text)``: lines after the code joined with ``\\n``.

        Bounded in line length, line count, size and time; EOF raises
        ``SMTPServerDisconnected``.
        """
        reader = self._reader
        if reader is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        buffer = reader.buffer
        on_trace = self.on_trace
        end = buffer.find(b"\n", 0, MAX_LINE + 1)
        if end > 3 and buffer[3] == 0x20 and on_trace is None and not reader.shortened:
            # The usual case: a one-line reply "ddd text", already received.
            raw = bytes(buffer[: end + 1])
            code = raw[:3]
            if code.isdigit() and b"\0" not in raw:
                del buffer[: end + 1]
                return int(code), raw[4:].strip(b" \t\r\n")
        timeout = self.timeout if self.timeout else 30.0
        deadline = time.monotonic() + timeout
        lines: list[bytes] = []
        size = 0
        code = b""
        while True:
            end = buffer.find(b"\n", 0, MAX_LINE + 1)
            if end != -1:
                # The usual case (pipelined replies come in one segment): already buffered.
                raw = bytes(buffer[: end + 1])
                del buffer[: end + 1]
            else:
                try:
                    raw = reader.readline(deadline, timeout)
                except (ConnectionError, ssl.SSLError) as exc:
                    self.close()
                    raise smtplib.SMTPServerDisconnected(
                        f"connection lost while waiting for a reply ({type(exc).__name__})"
                    ) from None
                if raw[-1:] != b"\n":
                    self.close()
                    raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
            this_code = raw[:3]
            sep = raw[3:4]
            if sep not in _SEPARATORS or not this_code.isdigit() or b"\0" in raw:
                raise MalformedReply(f"malformed reply: {raw[:80]!r}")
            if code and this_code != code:
                raise MalformedReply("multi-line reply changes its code")
            code = this_code
            lines.append(raw[4:].strip(b" \t\r\n"))
            if on_trace is not None:
                on_trace("< " + raw.rstrip(b"\r\n").decode("utf-8", "replace"))
            if sep != b"-":
                break
            size += len(raw)
            if len(lines) >= MAX_REPLY_LINES or size > MAX_REPLY_BYTES:
                raise ReplyTooLarge("multi-line reply is too long")
        reader.restore(timeout)
        return int(code), lines[0] if len(lines) == 1 else b"\n".join(lines)

    # -- AUTH ----------------------------------------------------------------------------

    def authenticate(self, mechanism: str, user: str, secret: str) -> tuple[int, bytes]:
        """``AUTH`` with ``PLAIN``, ``LOGIN`` or ``XOAUTH2`` (``secret`` = bearer token).

        Returns the final ``235`` reply; anything else raises ``SMTPAuthenticationError``
        (its text may echo what was sent: callers scrub it).
        """
        mechanism = mechanism.upper()
        if mechanism == "PLAIN":
            initial = _b64(f"\0{user}\0{secret}")
            code, reply = self._auth_command("PLAIN", initial)
            steps = 0
            while code == 334 and steps < MAX_AUTH_STEPS:
                # The server ignored the initial response and asks for it (empty challenge).
                steps += 1
                code, reply = self._auth_line(initial)
        elif mechanism == "LOGIN":
            code, reply = self._auth_command("LOGIN", "")
            answers = [_b64(user), _b64(secret)]
            steps = 0
            while code == 334 and steps < MAX_AUTH_STEPS:
                answer = answers[min(steps, 1)]
                if steps < 2:
                    challenge = _decode_challenge(reply).lower()
                    if challenge.startswith("pass"):
                        answer = answers[1]
                    elif challenge.startswith("user"):
                        answer = answers[0]
                steps += 1
                code, reply = self._auth_line(answer)
        elif mechanism == "XOAUTH2":
            initial = _b64(f"user={user}\x01auth=Bearer {secret}\x01\x01")
            code, reply = self._auth_command("XOAUTH2", initial)
            if code == 334:
                # RFC-less Google convention: the 334 carries a JSON error; answer empty.
                code, reply = self._auth_line("")
        else:
            raise smtplib.SMTPNotSupportedError(f"AUTH {mechanism} is not supported")
        if code == 235:
            return code, reply
        raise smtplib.SMTPAuthenticationError(code, reply)

    def _auth_command(self, mechanism: str, initial: str) -> tuple[int, bytes]:
        self.putcmd("AUTH", f"{mechanism} {initial}" if initial else mechanism)
        return self.getreply()

    def _auth_line(self, answer: str) -> tuple[int, bytes]:
        if "\r" in answer or "\n" in answer:
            raise ValueError("an AUTH answer must not contain CR or LF")
        if self.on_trace is not None:
            self.on_trace("> ***")
        self.send(answer + "\r\n")
        return self.getreply()

    # -- the mail transaction ---------------------------------------------------------------

    def mail_from(self, address: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        """``MAIL FROM:<address> options`` (``address`` already validated; ``""`` = null).

        Raises :class:`StaleConnection` if the reply shows the server had closed the
        connection (end of file or ``421``).
        """
        self.putcmd(*self._mail_command(address, options))
        return self._first_reply()

    def _mail_command(self, address: str, options: Sequence[str]) -> tuple[str, str]:
        if any(opt.upper() == "SMTPUTF8" for opt in options):
            self.command_encoding = "utf-8"
        params = "".join(" " + opt for opt in options)
        return "MAIL", f"FROM:<{address}>{params}"

    def _first_reply(self) -> tuple[int, bytes]:
        try:
            code, reply = self.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            raise StaleConnection(-1, str(exc).encode()) from None
        if code == 421:
            self.close()
            raise StaleConnection(code, reply)
        return code, reply

    def rcpt_to(self, address: str) -> tuple[int, bytes]:
        """``RCPT TO:<address>`` (``address`` already validated)."""
        self.putcmd("RCPT", f"TO:<{address}>")
        return self.getreply()

    def pipeline(
        self, address: str, options: Sequence[str], recipients: Sequence[str]
    ) -> tuple[tuple[int, bytes], list[tuple[int, bytes]], tuple[int, bytes]]:
        """RFC 2920 ``PIPELINING``: ``MAIL FROM``, every ``RCPT TO`` and ``DATA`` in one
        write, then their replies in order: ``(mail, [rcpt...], data)``.

        The caller checks the replies; when ``data`` is ``354`` it must send the payload
        (or just ``.CRLF`` if every recipient was refused) with :meth:`send_payload`.
        """
        lines = [
            " ".join(self._mail_command(address, options)),
            *(f"RCPT TO:<{rcpt}>" for rcpt in recipients),
            "DATA",
        ]
        for line in lines:
            if "\r" in line or "\n" in line or "\0" in line:
                raise ValueError("a command line must not contain CR, LF or NUL")
            if self.on_trace is not None:
                self.on_trace("> " + line)
        self.send("".join(line + "\r\n" for line in lines))
        mail = self._first_reply()
        rcpts = []
        for _ in recipients:
            reply = self.getreply()
            if reply[0] == 421:
                self.close()
                raise smtplib.SMTPResponseException(*reply)
            rcpts.append(reply)
        return mail, rcpts, self.getreply()

    def send_data(
        self,
        payload: Iterable[bytes],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[int, bytes]:
        """``DATA``, then the payload with :meth:`send_payload`; returns the final reply.

        Raises ``SMTPDataError`` if ``DATA`` is not answered with 354.
        """
        code, reply = self.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        return self.send_payload(payload, progress)

    def send_payload(
        self,
        payload: Iterable[bytes],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[int, bytes]:
        """Send the encoded payload (which ends with ``.CRLF``) after a 354; return the reply.

        If iterating ``payload`` fails, the connection is closed before the final ``.`` is
        sent (the server then discards the message) and the error propagates. A lost
        connection or a timeout while waiting for the final reply raises
        :class:`FinalReplyLost`.
        """
        sock = self.sock
        if sock is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        sent = 0
        self.data_bytes = 0
        try:
            for chunk in payload:
                if chunk:
                    sock.sendall(chunk)
                    sent += len(chunk)
                    self.data_bytes = sent
                    if progress is not None:
                        progress(sent)
        except OSError:
            self.close()
            raise smtplib.SMTPServerDisconnected(
                "connection lost while sending the message"
            ) from None
        except BaseException:
            self.close()
            raise
        if self.on_trace is not None:
            self.on_trace(f"> [message: {sent} bytes, ending with <CRLF>.<CRLF>]")
        try:
            return self.getreply()
        except TimeoutError:
            self.close()
            raise FinalReplyLost("no reply after the end of the message", timed_out=True) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise FinalReplyLost(str(exc)) from None

    def reset(self) -> bool:
        """``RSET``, ignoring its result; ``False`` if the connection is gone."""
        self.command_encoding = "ascii"
        try:
            self.docmd("RSET")
        except (smtplib.SMTPException, OSError):
            self.close()
            return False
        return True


def _decode_challenge(reply: bytes) -> str:
    try:
        return base64.b64decode(reply, validate=False).decode("utf-8", "replace")
    except ValueError:
        return ""
