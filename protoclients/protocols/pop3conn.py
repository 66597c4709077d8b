"""The poplib connection protoclients drives: ``poplib.POP3`` made strict and bounded.

What changes compared with the standard library class:

* **Verified TLS only**: implicit TLS (``pop3s``) and ``STLS`` use the context the caller
  passes (always from :func:`protoclients.tls.create_context`); poplib's own default is
  unverified (gh-91826).
* **Bounded reading**: poplib reads the whole of a multi-line response into a list (a
  hostile server can make it hold hundreds of megabytes) and lines of at most 2048 bytes
  (too short for real mail). Here a status line is at most :attr:`max_status_line` bytes, a
  line of a multi-line response at most :attr:`max_line` bytes, a whole response at most
  the limit the caller gives, and every response must arrive before a deadline (a server
  dribbling one byte at a time cannot hold the client forever).
* **Streaming**: :meth:`POP3Connection.stream` hands a multi-line response (un-dot-stuffed)
  to a callback chunk by chunk, so a message goes to disk without ever being whole in
  memory; a response that ends without its terminating ``.`` line is
  :class:`TruncatedReply`, never a short message.
* **Strict replies**: the greeting and every status line must start with ``+OK`` (or
  ``-ERR``, raised as :class:`ErrReply`); NUL bytes are refused.
* **Nothing is trusted from plaintext after STLS**: bytes the server sent after its ``+OK``
  to ``STLS`` and before the handshake are an injection attempt (:class:`InjectionError`).
* **Strict commands**: CR, LF and NUL in a command line are refused before anything is sent.
* **APOP** takes the timestamp strictly from the greeting (``<...>`` of printable characters).
* ``AUTH PLAIN`` (RFC 5034) is available as :meth:`POP3Connection.auth_plain`.

Only ``protoclients.protocols`` modules import ``poplib``, ``ssl`` and ``socket``.
"""

from __future__ import annotations

import base64
import poplib
import re
import socket
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

from .deadlineio import ProgressWatch
from .pop3parse import apop_digest, apop_timestamp, parse_capa

__all__ = [
    "MAX_LINE",
    "MAX_STATUS_LINE",
    "BadGreeting",
    "ErrReply",
    "InjectionError",
    "LineReader",
    "POP3Connection",
    "ReplyTooLarge",
    "TruncatedReply",
    "UnsafeCommand",
]

#: The longest status line (``+OK ...`` / ``-ERR ...``) accepted. RFC 1939 says 512.
MAX_STATUS_LINE = 8 * 1024
#: The longest line of a multi-line response (a message) accepted. RFC 5322 says 998 + CRLF,
#: but real mail has longer lines; poplib's 2048 rejects some of it.
MAX_LINE = 64 * 1024
_RECV_SIZE = 256 * 1024
_CRLF = b"\r\n"
_OK = re.compile(rb"\+OK(?:[ \t]|$)")

#: Receives each chunk of un-dot-stuffed response data.
Write = Callable[[bytearray], None]


class ErrReply(poplib.error_proto):
    """The server answered ``-ERR``; ``args[0]`` is the reply line (bytes)."""

    @property
    def text(self) -> str:
        """The reply line as text."""
        value = self.args[0] if self.args else b""
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ReplyTooLarge(poplib.error_proto):
    """A line or a whole response exceeded its bound."""


class TruncatedReply(poplib.error_proto):
    """The connection closed before the terminating ``.`` line of a multi-line response."""


class InjectionError(poplib.error_proto):
    """The server sent bytes after its ``+OK`` to ``STLS``, before the TLS handshake."""


class BadGreeting(poplib.error_proto):
    """The server's first line is not ``+OK ...``; ``args[0]`` is that line (bytes)."""


class UnsafeCommand(ValueError):
    """A command line would contain CR, LF or NUL (command injection); nothing was sent."""


def _find_terminator(buf: bytearray, start: int, stop: int) -> int:
    """Where the terminating ``.`` line begins in ``buf[start:stop]`` (at a line start), or -1."""
    if buf.startswith(b".\r\n", start) or buf.startswith(b".\n", start):
        return start
    crlf = buf.find(b"\n.\r\n", start, stop)
    # The bare-LF form is searched only up to the CRLF hit: with pipelining the buffer may
    # hold many messages, and scanning all of it for every message would be quadratic.
    bare = buf.find(b"\n.\n", start, stop if crlf == -1 else crlf)
    hit = bare if bare != -1 else crlf
    return hit + 1 if hit != -1 else -1


class LineReader:
    """Reads lines and multi-line responses from a socket, bounded in size and time."""

    def __init__(self, sock: socket.socket, recv_timeout: float | None) -> None:
        self.sock = sock
        self.recv_timeout = recv_timeout
        self.buffer = bytearray()
        self.pos = 0

    def pending(self) -> bool:
        """Whether bytes were received that no response has consumed yet."""
        return len(self.buffer) > self.pos

    def _fill(self, deadline: float, watch: ProgressWatch | None = None) -> bool:
        """Receive more bytes (counted by ``watch``); ``False`` at end of file."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the server did not finish its response in time")
        timeout = remaining if self.recv_timeout is None else min(remaining, self.recv_timeout)
        self.sock.settimeout(timeout)
        data = self.sock.recv(_RECV_SIZE)
        if not data:
            return False
        if watch is not None:
            watch.add(len(data))
        if self.pos:
            del self.buffer[: self.pos]
            self.pos = 0
        self.buffer += data
        return True

    def readline(self, limit: int, deadline: float) -> bytes:
        """One line including its ``\\n``; what arrived before EOF (``b""`` at EOF)."""
        while True:
            buf, pos = self.buffer, self.pos
            end = buf.find(b"\n", pos, pos + limit)
            if end != -1:
                self.pos = end + 1
                return bytes(buf[pos : end + 1])
            if len(buf) - pos >= limit:
                raise ReplyTooLarge(f"response line longer than {limit} bytes")
            if not self._fill(deadline):
                rest = bytes(self.buffer[self.pos :])
                self.pos = len(self.buffer)
                return rest

    def read_multiline(
        self, write: Write, *, max_total: int, max_line: int, deadline: float
    ) -> int:
        """Read a multi-line response body up to its ``.`` line; return the bytes written.

        Data goes to ``write`` in chunks (whole lines, dot-stuffing removed, line endings as
        received). Raises :class:`ReplyTooLarge` past ``max_line`` bytes in one line or
        ``max_total`` in all, :class:`TruncatedReply` at EOF before the ``.`` line, and
        :class:`TimeoutError` past ``deadline`` or when the data stops making progress
        (fewer than :data:`~.deadlineio.MIN_PROGRESS_BYTES` per timeout: a server dribbling
        a message is cut off long before the size-scaled deadline).
        """
        total = 0
        watch = None if self.recv_timeout is None else ProgressWatch(self.recv_timeout)
        while True:
            buf, pos = self.buffer, self.pos
            last_nl = buf.rfind(b"\n", pos)
            if last_nl == -1:
                if len(buf) - pos > max_line:
                    raise ReplyTooLarge(f"line longer than {max_line} bytes")
                if not self._fill(deadline, watch):
                    raise TruncatedReply(
                        "the connection closed before the end of the response "
                        "(no terminating '.' line)"
                    )
                continue
            stop = last_nl + 1
            term = _find_terminator(buf, pos, stop)
            end = stop if term == -1 else term
            if end > pos:
                chunk = buf[pos:end]
                if len(chunk) > max_line + 1 and max(map(len, chunk.split(b"\n"))) > max_line:
                    raise ReplyTooLarge(f"line longer than {max_line} bytes")
                # RFC 1939 section 3: a line starting with "." had one "." prepended.
                if chunk[:1] == b".":
                    del chunk[:1]
                chunk = chunk.replace(b"\n.", b"\n")
                total += len(chunk)
                if total > max_total:
                    raise ReplyTooLarge(f"response larger than {max_total} bytes")
                write(chunk)
            if term != -1:
                self.pos = buf.index(b"\n", term) + 1
                return total
            self.pos = stop

    def close(self) -> None:
        """Nothing to release: the socket is closed by its owner."""


class POP3Connection(poplib.POP3):
    """``poplib.POP3`` with verified implicit TLS / STLS, bounded reads and strict commands.

    Args:
        host, port: where to connect.
        timeout: seconds for connecting, for each socket wait and for each status line.
        context: the (verified) TLS context, or ``None`` for plain POP3 without STLS.
        implicit_tls: wrap the socket in TLS straight after connecting (``pop3s``).
        on_trace: receives ``"> COMMAND"`` and ``"< reply"`` lines (secrets masked).
        max_response_bytes: bound of a multi-line response read by the poplib-style
            methods (``retr``, ``list``, ``uidl``, ``capa``...).
        min_rate: bytes per second a long response must at least arrive at (it sets the
            deadline of a multi-line response on top of four times the timeout).
    """

    encoding = "utf-8"
    max_status_line = MAX_STATUS_LINE
    max_line = MAX_LINE

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float,
        context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        on_trace: Callable[[str], None] | None = None,
        max_response_bytes: int = 64 * 1024 * 1024,
        min_rate: float = 32 * 1024,
    ) -> None:
        # poplib.POP3.__init__ is not called: it connects and reads the greeting unbounded.
        self.host = host
        self.port = port
        self.timeout = timeout
        self.context = context
        self.on_trace = on_trace
        self.max_response_bytes = max_response_bytes
        self.min_rate = min_rate
        self._debugging = 0
        self._tls_established = False
        self._mask_next = False
        self.sock: Any = None
        self.file: Any = None
        self._reader: LineReader | None = None
        self.welcome = b""
        sys.audit("poplib.connect", self, host, port)
        sock = socket.create_connection((host, port), timeout)
        try:
            if implicit_tls:
                if context is None:
                    raise ValueError("implicit TLS needs a TLS context")
                sock = context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self._attach(sock)
        try:
            self.welcome = self._read_greeting()
        except BaseException:
            self.close()
            raise

    def _attach(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = LineReader(sock, self.timeout)
        self.file = self._reader  # poplib's close() releases it

    @property
    def reader(self) -> LineReader:
        """The reader of the current socket."""
        if self._reader is None:
            raise EOFError("not connected")
        return self._reader

    @property
    def is_tls(self) -> bool:
        """Whether the connection is TLS (implicit or after ``STLS``)."""
        return isinstance(self.sock, ssl.SSLSocket)

    @property
    def has_apop(self) -> bool:
        """Whether the greeting carries the timestamp APOP needs."""
        return apop_timestamp(self.welcome) is not None

    def set_timeout(self, timeout: float) -> None:
        """Use ``timeout`` for the next socket waits and status lines."""
        self.timeout = timeout
        if self._reader is not None:
            self._reader.recv_timeout = timeout

    def deadline(self, max_bytes: int) -> float:
        """The deadline of a multi-line response of at most ``max_bytes`` bytes."""
        return time.monotonic() + 4 * self.timeout + max_bytes / self.min_rate

    def close(self) -> None:
        """Close the connection without assuming anything about it."""
        self._reader = None
        try:
            super().close()
        except OSError:
            sock, self.sock = self.sock, None
            if sock is not None:
                sock.close()

    # -- lines -----------------------------------------------------------------------------

    def _read_greeting(self) -> bytes:
        try:
            line, _ = self._getline()
        except ReplyTooLarge:
            raise
        except poplib.error_proto as exc:  # a NUL byte
            raise BadGreeting(b"(a line with a NUL byte)") from exc
        self._trace_reply(line)
        if not _OK.match(line):
            raise BadGreeting(line)
        return line

    def _trace_reply(self, line: bytes) -> None:
        if self.on_trace is not None:
            self.on_trace("< " + line.decode("utf-8", "replace"))

    def _shown(self, line: str) -> str:
        if self._mask_next:
            return "***"
        words = line.split(" ")
        verb = words[0].upper()
        if verb == "PASS":
            return "PASS ***"
        if verb == "APOP" and len(words) > 1:
            return f"APOP {words[1]} ***"
        if verb == "AUTH" and len(words) > 2:
            return f"AUTH {words[1]} ***"
        return line

    def _putline(self, line: bytes) -> None:
        if b"\r" in line or b"\n" in line or b"\0" in line:
            raise UnsafeCommand("a POP3 command line must not contain CR, LF or NUL")
        sys.audit("poplib.putline", self, line)
        sock = self.sock
        if sock is None:
            raise EOFError("not connected")
        sock.settimeout(self.timeout)
        sock.sendall(line + _CRLF)

    def _putcmd(self, line: str) -> None:
        if self.on_trace is not None:
            self.on_trace("> " + self._shown(line))
        self._putline(line.encode(self.encoding))

    def putcmd(self, line: str) -> None:
        """Send one command line (CR, LF and NUL refused; secrets masked in the trace)."""
        self._putcmd(line)

    def send_commands(self, lines: list[str]) -> None:
        """Send several command lines in one write (RFC 2449 ``PIPELINING``)."""
        data = []
        for line in lines:
            raw = line.encode(self.encoding)
            if b"\r" in raw or b"\n" in raw or b"\0" in raw:
                raise UnsafeCommand("a POP3 command line must not contain CR, LF or NUL")
            if self.on_trace is not None:
                self.on_trace("> " + self._shown(line))
            data.append(raw + _CRLF)
        sock = self.sock
        if sock is None:
            raise EOFError("not connected")
        sock.settimeout(self.timeout)
        sock.sendall(b"".join(data))

    def _getline(self) -> tuple[bytes, int]:
        raw = self.reader.readline(self.max_status_line, time.monotonic() + self.timeout)
        if not raw:
            raise EOFError("the server closed the connection")
        if b"\0" in raw:
            raise poplib.error_proto("response line contains a NUL byte")
        octets = len(raw)
        if raw.endswith(_CRLF):
            return raw[:-2], octets
        if raw.endswith(b"\n"):
            return raw[:-1], octets
        return raw, octets

    def _getresp(self) -> bytes:
        line, _ = self._getline()
        self._trace_reply(line)
        if _OK.match(line):
            return line
        if line.startswith(b"-ERR"):
            raise ErrReply(line)
        raise poplib.error_proto(line)

    def _getlongresp(self) -> tuple[bytes, list[bytes], int]:
        resp = self._getresp()
        data = bytearray()
        limit = self.max_response_bytes
        self.reader.read_multiline(
            data.extend, max_total=limit, max_line=self.max_line, deadline=self.deadline(limit)
        )
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        result = [bytes(line[:-1]) if line.endswith(b"\r") else bytes(line) for line in lines]
        return resp, result, len(data)

    def _shortcmd(self, line: str) -> bytes:
        self._putcmd(line)
        return self._getresp()

    def _longcmd(self, line: str) -> tuple[bytes, list[bytes], int]:
        self._putcmd(line)
        return self._getlongresp()

    def read_response(self) -> bytes:
        """Read one status line (``+OK``; ``-ERR`` raises :class:`ErrReply`)."""
        return self._getresp()

    def read_body(self, write: Write, *, max_total: int, deadline: float) -> int:
        """Stream the body of a multi-line response (after its ``+OK``) into ``write``."""
        return self.reader.read_multiline(
            write, max_total=max_total, max_line=self.max_line, deadline=deadline
        )

    def stream(self, command: str, write: Write, *, max_total: int) -> tuple[bytes, int]:
        """Send ``command`` (``RETR n``, ``TOP n 0``...) and stream its multi-line answer.

        Returns the status line and the number of bytes written.
        """
        self._putcmd(command)
        resp = self._getresp()
        total = self.read_body(write, max_total=max_total, deadline=self.deadline(max_total))
        return resp, total

    # -- commands --------------------------------------------------------------------------

    def capa(self) -> dict[str, list[str]]:
        """``CAPA`` (RFC 2449) as ``{"NAME": [args...]}``; ``-ERR`` raises :class:`ErrReply`."""
        _, lines, _ = self._longcmd("CAPA")
        return parse_capa(lines)

    def apop(self, user: str, password: str) -> bytes:
        """Log in with ``APOP`` (needs the greeting's timestamp)."""
        timestamp = apop_timestamp(self.welcome)
        if timestamp is None:
            raise poplib.error_proto("-ERR APOP not supported by server")
        return self._shortcmd(f"APOP {user} {apop_digest(timestamp, password)}")

    def auth_plain(self, user: str, password: str) -> bytes:
        """Log in with ``AUTH PLAIN`` (RFC 5034): the command, then the response to ``+``."""
        token = base64.b64encode(
            b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")
        ).decode("ascii")
        self._putcmd("AUTH PLAIN")
        line, _ = self._getline()
        self._trace_reply(line)
        if line.startswith(b"-ERR"):
            raise ErrReply(line)
        if not (line == b"+" or line.startswith(b"+ ")):
            raise poplib.error_proto(line)
        self._mask_next = True
        try:
            self._putcmd(token)
        finally:
            self._mask_next = False
        return self._getresp()

    def stls(self, context: ssl.SSLContext | None = None) -> bytes:
        """``STLS`` and the handshake; bytes the server sent early are refused.

        Unlike poplib this does not send ``CAPA`` first (the caller has, and decides).
        """
        if self.is_tls:
            raise poplib.error_proto("-ERR TLS session already established")
        context = context or self.context
        if context is None:
            raise ValueError("STLS needs a TLS context")
        if self.reader.pending():
            raise InjectionError("the server sent unsolicited data before STLS")
        resp = self._shortcmd("STLS")
        if self.reader.pending():
            raise InjectionError(
                "the server sent data after its +OK to STLS, before the TLS handshake"
            )
        sock = self.sock
        sock.settimeout(self.timeout)
        self._reader = None
        self._attach(context.wrap_socket(sock, server_hostname=self.host))
        self._tls_established = True
        return resp
