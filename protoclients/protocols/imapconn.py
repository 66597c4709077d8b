"""The imaplib connection protoclients drives: ``imaplib.IMAP4`` made strict and bounded.

:class:`IMAPConnection` keeps imaplib's socket handling, tag generation and state (so
:attr:`IMAPClient.raw <protoclients.protocols.imap.IMAPClient.raw>` stays a usable
``imaplib.IMAP4``), and replaces its response machinery, which stores every untagged
response without limit and reads literals of any announced size (gh-119511):

* **Verified TLS only**: implicit TLS (``imaps://``) wraps the socket right after the TCP
  connect; STARTTLS is done here, never with imaplib's unverified default context
  (gh-91826). Bytes the server sent before STARTTLS or after its go-ahead are an injection
  attempt (:class:`Injection`); afterwards the caller re-reads the capabilities.
* **Bounded reading**: lines (:attr:`Limits.max_line`), literals (announced sizes checked
  before allocation; data literals are streamed to a sink in chunks), values per response,
  untagged responses per command; a command's responses must arrive before its deadline.
* **Strict tags**: a tagged response for a tag that is not the command's own is an error
  (no response can complete a command before it was sent).
* **Commands from checked arguments** (:mod:`.imapquote`): literals are sent with
  ``LITERAL+`` when offered, else after the server's continuation.

Errors are imaplib's classes (``IMAP4.error`` / ``IMAP4.abort``) specialised here; the
client's error boundary (:mod:`.imaperrors`) translates them.
"""

from __future__ import annotations

import contextlib
import imaplib
import random
import re
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .deadlineio import DeadlineIO, ProgressWatch, open_reader
from .imapparse import (
    LiteralTooLarge,
    MalformedResponse,
    Response,
    Streamed,
    literal_size,
    parse_head,
)
from .imapquote import Arg, Literal

__all__ = [
    "BadGreeting",
    "ChunkWriter",
    "CommandFailed",
    "ConnectionLost",
    "IMAPConnection",
    "Injection",
    "Limits",
    "ProtocolViolation",
    "Response",
    "Result",
    "ServerBye",
    "StreamLiteral",
    "TooLarge",
]

#: Receives the bytes of a streamed literal, chunk by chunk.
ChunkWriter = Callable[[memoryview], None]
#: Decides where a literal goes: ``(response so far, size)`` -> a writer, or ``None`` to keep it.
StreamChooser = Callable[[Response, int], "ChunkWriter | None"]

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what the server may send.

    Attributes:
        max_line: longest response line (without literals).
        max_literal: largest literal streamed to a sink (a message body).
        max_small_literal: largest literal kept in memory (names, headers, strings).
        max_response: most bytes one response may hold in memory (lines + kept literals).
        max_untagged: most untagged responses one ordinary command may produce.
    """

    max_line: int = 1024 * 1024
    max_literal: int = 256 * 1024 * 1024
    max_small_literal: int = 1024 * 1024
    max_response: int = 16 * 1024 * 1024
    max_untagged: int = 5000


@dataclass(frozen=True)
class StreamLiteral:
    """A literal argument sent from an iterator of chunks (``size`` bytes in all)."""

    size: int
    chunks: Callable[[], Iterator[bytes]]


class ProtocolViolation(imaplib.IMAP4.abort):
    """The server sent something malformed or unexpected; the connection is unusable."""


class TooLarge(ProtocolViolation):
    """A line, literal, response or response count exceeded its bound."""


class Injection(ProtocolViolation):
    """The server sent data around STARTTLS that must not be there (injection attempt)."""


class BadGreeting(ProtocolViolation):
    """The server's first line is not ``* OK`` / ``* PREAUTH`` (``text``: that line)."""

    def __init__(self, reason: str, text: bytes) -> None:
        super().__init__(f"unexpected greeting from the server ({reason})")
        self.text = text


class ConnectionLost(imaplib.IMAP4.abort):
    """The server closed the connection."""


class ServerBye(imaplib.IMAP4.abort):
    """The server said ``* BYE`` (it is closing the connection)."""

    def __init__(self, text: bytes) -> None:
        super().__init__(text.decode("utf-8", "replace"))
        self.text = text


@dataclass
class Result:
    """The outcome of one command: its tagged status and the untagged responses kept."""

    name: str
    status: str
    code: str | None
    code_data: bytes | None
    text: bytes
    untagged: list[Response]

    @property
    def ok(self) -> bool:
        """Whether the server answered ``OK``."""
        return self.status == "OK"


class CommandFailed(imaplib.IMAP4.error):
    """A command was answered ``NO`` or ``BAD``."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.status = result.status
        self.code = result.code
        self.command = result.name
        text = result.text.decode("utf-8", "replace")
        code = f"[{result.code}] " if result.code else ""
        super().__init__(f"{result.name} {result.status}: {code}{text}")

    @property
    def reply(self) -> str:
        """The server's text, with its response code."""
        return str(self.args[0]) if self.args else ""


class IMAPConnection(imaplib.IMAP4):
    """``imaplib.IMAP4`` with verified TLS, bounded responses and checked commands.

    Args:
        host, port: where to connect.
        context: the (verified) TLS context, or ``None`` for a plain connection.
        implicit_tls: wrap the socket in TLS straight after connecting (``imaps://``).
        timeout: seconds for connecting and for each network wait.
        limits: response bounds.
        on_trace: receives ``"> ..."`` / ``"< ..."`` lines (commands as given in ``trace=``).
        buffer_size: read buffer of the socket file (large: bulk downloads read through it).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext | None,
        implicit_tls: bool,
        timeout: float,
        limits: Limits | None = None,
        on_trace: Callable[[str], None] | None = None,
        buffer_size: int = 256 * 1024,
    ) -> None:
        self.tls_context = context
        self.implicit_tls = implicit_tls
        self.limits = limits or Limits()
        self.on_trace = on_trace
        self.buffer_size = buffer_size
        self.op_timeout = timeout
        self.deadline: float | None = None
        self.raw_io: DeadlineIO | None = None
        self.greeting: Response | None = None
        self.capabilities: tuple[str, ...] = ()
        imaplib.IMAP4.__init__(self, host, port, timeout)

    # -- socket -----------------------------------------------------------------------------

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout)
        if not self.implicit_tls:
            return sock
        if self.tls_context is None:
            sock.close()
            raise ValueError("implicit TLS needs a TLS context")
        try:
            return self.tls_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def open(self, host: str = "", port: int = 143, timeout: Any = None) -> None:
        """Connect (and, for implicit TLS, handshake); the greeting is read separately."""
        self.host = host
        self.port = port
        self.sock = self._create_socket(timeout)
        self._attach_reader()

    def _attach_reader(self) -> None:
        """A large-buffered reader on the socket (imaplib's ``file`` is the same object)."""
        self.reader, self.raw_io = open_reader(self.sock, self.op_timeout, self.buffer_size)
        self.file = self.reader

    def _connect(self) -> None:
        # imaplib reads the greeting and sends CAPABILITY here; protoclients does both itself
        # (read_greeting) so that a PREAUTH or BYE greeting is judged before anything is sent.
        tagpre: bytes = imaplib.Int2AP(random.randint(4096, 65535))  # noqa: S311
        self.tag_prefix = tagpre
        self.tagpre = tagpre  # type: ignore[assignment]
        pattern = re.compile(rb"(?P<tag>" + tagpre + rb"\d+) (?P<type>[A-Z]+) (?P<data>.*)")
        self.tagre = pattern  # type: ignore[assignment]
        self._cmd_log_len = 10
        self._cmd_log_idx = 0
        self._cmd_log: dict[int, Any] = {}

    @property
    def is_tls(self) -> bool:
        """Whether the connection is TLS."""
        return isinstance(self.sock, ssl.SSLSocket)

    def set_timeout(self, timeout: float, deadline: float | None = None) -> None:
        """Use ``timeout`` for each network wait and ``deadline`` (monotonic) for responses."""
        self.op_timeout = timeout
        self.deadline = deadline
        if self.sock is not None:
            self.sock.settimeout(timeout)

    def data_pending(self) -> bool:
        """Whether the server has sent bytes that no response has consumed (without blocking)."""
        sock = self.sock
        try:
            sock.setblocking(False)
            try:
                data = self.reader.peek(1)
            except (BlockingIOError, ssl.SSLWantReadError):
                data = b""
        finally:
            sock.settimeout(self.op_timeout)
        return bool(data)

    def wait_readable(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for data from the server."""
        if self.data_pending():
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        readable, _, _ = select.select([self.sock], [], [], max(timeout, 0.0))
        return bool(readable)

    # -- reading --------------------------------------------------------------------------------

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeoutError("the server did not finish its response in time")

    def _bound_reads(self, *, line: bool) -> None:
        """Bound the socket reads that follow (see :mod:`.deadlineio`).

        A response line must arrive whole within one timeout (and by the operation's
        deadline, if it has one). Literal data must arrive by the deadline or, without one
        (long downloads), keep up the minimum progress: a per-read timeout alone does not
        stop a server dribbling one byte at a time.
        """
        raw = self.raw_io
        if raw is None:
            return
        raw.per_recv = self.op_timeout
        if line:
            line_deadline = time.monotonic() + self.op_timeout
            if self.deadline is not None:
                line_deadline = min(line_deadline, self.deadline)
            raw.deadline, raw.watch = line_deadline, None
        elif self.deadline is not None:
            raw.deadline, raw.watch = self.deadline, None
        else:
            raw.deadline, raw.watch = None, ProgressWatch(self.op_timeout)

    def read_line(self) -> bytes:
        """One response line without its CRLF; bounded; EOF and bare LF are errors."""
        self._check_deadline()
        self._bound_reads(line=True)
        limit = self.limits.max_line
        line = self.reader.readline(limit + 3)
        if not line.endswith(b"\r\n"):
            if len(line) > limit:
                raise TooLarge(f"response line longer than {limit} bytes")
            if not line or not line.endswith(b"\n"):
                raise ConnectionLost("the server closed the connection")
            raise ProtocolViolation("response line not terminated by CRLF")
        if b"\0" in line:
            raise ProtocolViolation("response line contains a NUL byte")
        line = line[:-2]
        if self.on_trace is not None:
            shown = line if len(line) <= 300 else line[:300] + b"..."
            self.on_trace("< " + shown.decode("utf-8", "replace"))
        return line

    def read_literal(self, size: int) -> bytes:
        """Read a literal kept in memory (``size`` already checked against its cap)."""
        if size == 0:
            return b""
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        self._bound_reads(line=False)
        while got < size:
            self._check_deadline()
            n = self.reader.readinto(view[got : got + _CHUNK])
            if not n:
                raise ConnectionLost("the server closed the connection inside a literal")
            got += n
        return bytes(buf)

    def stream_literal(self, size: int, write: ChunkWriter) -> None:
        """Pass a literal of ``size`` bytes to ``write`` in chunks (memory stays flat)."""
        buf = bytearray(min(size, _CHUNK) or 1)
        view = memoryview(buf)
        remaining = size
        self._bound_reads(line=False)
        while remaining:
            n = self.reader.readinto(view[: min(remaining, _CHUNK)])
            if not n:
                raise ConnectionLost("the server closed the connection inside a literal")
            write(view[:n])
            remaining -= n

    def read_response(self, stream: StreamChooser | None = None) -> Response:
        """Read one response, its literals included (bounded; see :class:`Limits`).

        ``stream`` may send a literal to a writer instead of memory: it is called with the
        response read so far and the literal's size, and returns a writer or ``None``.
        """
        return self.continue_response(self.read_line(), stream)

    def continue_response(self, line: bytes, stream: StreamChooser | None = None) -> Response:
        """Finish reading the response whose first line (without CRLF) is ``line``."""
        try:
            resp = parse_head(line)
        except MalformedResponse as exc:
            raise ProtocolViolation(f"{exc}: {line[:100]!r}") from None
        if resp.is_status or resp.kind == "+":
            return resp
        total = len(line)
        limits = self.limits
        while True:
            last = resp.parts[-1]
            assert isinstance(last, bytes)
            cap = limits.max_literal if stream is not None else limits.max_small_literal
            try:
                size = literal_size(last, cap)
            except LiteralTooLarge as exc:
                raise TooLarge(str(exc)) from None
            except MalformedResponse as exc:
                raise ProtocolViolation(str(exc)) from None
            if size is None:
                return resp
            resp.parts[-1] = last[: last.rfind(b"{")]
            writer = stream(resp, size) if stream is not None else None
            if writer is not None:
                self.stream_literal(size, writer)
                resp.parts.append(Streamed(size))
            else:
                if size > limits.max_small_literal:
                    raise TooLarge(
                        f"the server announced a literal of {size} bytes where at most "
                        f"{limits.max_small_literal} are expected"
                    )
                total += size
                if total > limits.max_response:
                    raise TooLarge(f"response larger than {limits.max_response} bytes")
                resp.parts.append(self.read_literal(size))
            next_line = self.read_line()
            total += len(next_line)
            if total > limits.max_response:
                raise TooLarge(f"response larger than {limits.max_response} bytes")
            resp.parts.append(next_line)

    def read_greeting(self) -> Response:
        """Read the server greeting: ``* OK`` or ``* PREAUTH``; anything else (``* BYE``
        included) is :class:`BadGreeting` carrying the server's line."""
        self._check_deadline()
        self._bound_reads(line=True)
        limit = self.limits.max_line
        raw = self.reader.readline(limit + 3)
        if self.on_trace is not None and raw:
            self.on_trace("< " + raw[:300].rstrip(b"\r\n").decode("utf-8", "replace"))
        if not raw.endswith(b"\r\n") or b"\0" in raw:
            reason = "the server closed the connection" if not raw else "not a complete line"
            raise BadGreeting(reason, raw[:limit])
        try:
            resp = self.continue_response(raw[:-2])
        except (ProtocolViolation, ConnectionLost):
            raise BadGreeting("not an IMAP greeting", raw) from None
        if resp.tag != b"*" or resp.kind not in {"OK", "PREAUTH"}:
            raise BadGreeting(resp.kind if resp.kind == "BYE" else "not an IMAP greeting", raw)
        self.greeting = resp
        self.welcome = b"* " + resp.kind.encode() + b" " + resp.text
        self.state = "AUTH" if resp.kind == "PREAUTH" else "NONAUTH"
        if resp.code == "CAPABILITY" and resp.code_data:
            self.set_capabilities(resp.code_data)
        return resp

    def set_capabilities(self, data: bytes) -> None:
        """Record a capability list (upper-case), for this class and imaplib alike."""
        self.capabilities = tuple(data.decode("ascii", "replace").upper().split())
        self.PROTOCOL_VERSION = "IMAP4REV1"

    # -- commands -------------------------------------------------------------------------------

    def _tag(self) -> bytes:
        tag = self.tag_prefix + str(self.tagnum).encode("ascii")
        self.tagnum += 1
        return tag

    def _literal_plus(self, size: int) -> bool:
        caps = self.capabilities
        return "LITERAL+" in caps or ("LITERAL-" in caps and size <= 4096)

    def send_command(
        self,
        name: str,
        args: Sequence[Arg | StreamLiteral] = (),
        *,
        trace: str | None = None,
    ) -> tuple[bytes, Result | None, list[Response]]:
        """Send a command; return ``(tag, early result or None, untagged read meanwhile)``.

        A synchronizing literal waits for the server's ``+``; if the server answers the
        command instead (``NO``/``BAD``), that answer is the early result.
        """
        tag = self._tag()
        pending: list[Response] = []
        line = bytearray(tag + b" " + name.encode("ascii"))
        shown = [tag.decode() + " " + (trace or name)]
        for arg in args:
            if isinstance(arg, (Literal, StreamLiteral)):
                size = len(arg.data) if isinstance(arg, Literal) else arg.size
                if trace is None:
                    shown.append(f"{{{size}}}")
                if self._literal_plus(size):
                    line += b" {%d+}\r\n" % size
                else:
                    line += b" {%d}\r\n" % size
                    self._send(line, shown, trace is not None)
                    line = bytearray()
                    shown = []
                    early = self._await_continuation(tag, name, pending)
                    if early is not None:
                        return tag, early, pending
                if isinstance(arg, Literal):
                    line += arg.data
                else:
                    self._send(line, shown, trace is not None)
                    line = bytearray()
                    shown = []
                    self._send_stream(arg)
            else:
                line += b" " + arg
                if trace is None:
                    shown.append(arg.decode("utf-8", "replace"))
        line += b"\r\n"
        self._send(line, shown, trace is not None)
        return tag, None, pending

    def _send_stream(self, literal: StreamLiteral) -> None:
        sent = 0
        for chunk in literal.chunks():
            sent += len(chunk)
            if sent > literal.size:
                break
            self.sock.sendall(chunk)
        if sent != literal.size:
            # The literal's size is already announced: the connection cannot be saved.
            raise ConnectionLost("the data to upload changed size while it was being sent")

    def _send(self, data: bytes | bytearray, shown: list[str], fixed: bool) -> None:
        if self.on_trace is not None and shown:
            self.on_trace("> " + (shown[0] if fixed else " ".join(shown)))
        self.sock.sendall(data)

    def _await_continuation(self, tag: bytes, name: str, pending: list[Response]) -> Result | None:
        while True:
            resp = self.read_response()
            if resp.tag == b"+":
                return None
            if resp.tag == b"*":
                self._untagged(resp, pending, self.limits.max_untagged)
                continue
            if resp.tag != tag:
                raise ProtocolViolation("tagged response for a command that was not sent")
            return self._result(name, resp, pending)

    @staticmethod
    def _result(name: str, resp: Response, untagged: list[Response]) -> Result:
        return Result(name, resp.kind, resp.code, resp.code_data, resp.text, untagged)

    def _untagged(self, resp: Response, store: list[Response], limit: int) -> None:
        if resp.kind == "BYE":
            raise ServerBye(resp.text)
        store.append(resp)
        if len(store) > limit:
            raise TooLarge(f"more than {limit} untagged responses to one command")

    def complete(
        self,
        tag: bytes,
        name: str,
        untagged: list[Response] | None = None,
        *,
        max_untagged: int | None = None,
        on_untagged: Callable[[Response], bool] | None = None,
        stream: StreamChooser | None = None,
        expect_bye: bool = False,
    ) -> Result:
        """Read responses until the tagged completion of ``tag``.

        ``on_untagged`` may consume an untagged response (return ``True``) instead of
        keeping it; kept ones count against ``max_untagged``.
        """
        store = untagged if untagged is not None else []
        limit = max_untagged if max_untagged is not None else self.limits.max_untagged
        consumed = 0
        while True:
            resp = self.read_response(stream)
            if resp.tag == b"*":
                if resp.kind == "BYE" and expect_bye:
                    continue
                if on_untagged is not None and resp.kind != "BYE" and on_untagged(resp):
                    consumed += 1
                    if consumed + len(store) > limit:
                        raise TooLarge(f"more than {limit} untagged responses to one command")
                    continue
                self._untagged(resp, store, limit)
                continue
            if resp.tag == b"+":
                raise ProtocolViolation(f"unexpected continuation request during {name}")
            if resp.tag != tag:
                raise ProtocolViolation(
                    f"tagged response for a command that was not sent (during {name})"
                )
            return self._result(name, resp, store)

    def command(
        self,
        name: str,
        *args: Arg | StreamLiteral,
        trace: str | None = None,
        check: bool = True,
        max_untagged: int | None = None,
        on_untagged: Callable[[Response], bool] | None = None,
        stream: StreamChooser | None = None,
    ) -> Result:
        """Run one command to completion; ``NO``/``BAD`` raise :class:`CommandFailed`."""
        tag, early, pending = self.send_command(name, args, trace=trace)
        if early is not None:
            result = early
        else:
            result = self.complete(
                tag,
                name,
                pending,
                max_untagged=max_untagged,
                on_untagged=on_untagged,
                stream=stream,
                expect_bye=name == "LOGOUT",
            )
        if check and not result.ok:
            raise CommandFailed(result)
        return result

    def capability(self) -> Any:
        """Ask for the capabilities again (after STARTTLS or login) and record them."""
        result = self.command("CAPABILITY")
        for resp in result.untagged:
            if resp.kind == "CAPABILITY" and isinstance(resp.parts[0], bytes):
                self.set_capabilities(resp.parts[0])
                return "OK", [resp.parts[0]]
        if result.code == "CAPABILITY" and result.code_data:
            self.set_capabilities(result.code_data)
            return "OK", [result.code_data]
        raise ProtocolViolation("no CAPABILITY response from the server")

    # -- STARTTLS --------------------------------------------------------------------------------

    def starttls(self, ssl_context: Any = None) -> Any:
        """Upgrade to TLS with ``ssl_context`` (required; never imaplib's unverified default).

        Raises :class:`CommandFailed` if refused and :class:`Injection` if the server sent
        anything it should not have around the go-ahead. The caller must re-read the
        capabilities afterwards (everything learned before is forgotten here).
        """
        context = ssl_context or self.tls_context
        if context is None:
            raise ValueError("STARTTLS needs a TLS context")
        if self.is_tls:
            raise ProtocolViolation("TLS is already established")
        if self.data_pending():
            raise Injection("the server sent unsolicited data before STARTTLS")
        result = self.command("STARTTLS", check=False, max_untagged=10)
        if not result.ok:
            raise CommandFailed(result)
        if self.data_pending():
            raise Injection(
                "the server sent data after its STARTTLS go-ahead, before the TLS handshake"
            )
        old_reader = self.reader
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self._attach_reader()
        with contextlib.suppress(OSError):
            old_reader.close()
        self._tls_established = True
        self.capabilities = ()
        return "OK", [result.text]

    # -- IDLE ------------------------------------------------------------------------------------

    def idle(
        self, timeout: float, done: Callable[[Response], bool], max_untagged: int
    ) -> tuple[Result, list[Response]]:
        """``IDLE`` until ``done(response)`` is true for an untagged response or ``timeout``
        seconds pass; then ``DONE``. Returns the completion and the untagged responses."""
        tag, early, pending = self.send_command("IDLE")
        if early is not None:
            raise CommandFailed(early)
        saved_deadline = self.deadline
        self.deadline = None
        try:
            while True:
                resp = self.read_response()
                if resp.tag == b"+":
                    break
                if resp.tag == b"*":
                    self._untagged(resp, pending, max_untagged)
                    continue
                if resp.tag == tag:
                    raise CommandFailed(self._result("IDLE", resp, pending))
                raise ProtocolViolation("tagged response for a command that was not sent")
            # Untagged data that arrived before the continuation (RFC 3501 allows it) counts:
            # mail delivered at that moment must not be missed.
            events: list[Response] = list(pending)
            already = any(done(resp) for resp in events)
            end = time.monotonic() + timeout
            while not already:
                remaining = end - time.monotonic()
                if remaining <= 0 or not self.wait_readable(remaining):
                    break
                resp = self.read_response()
                if resp.tag != b"*":
                    raise ProtocolViolation("unexpected response during IDLE")
                self._untagged(resp, events, max_untagged)
                if done(resp):
                    break
            self._send(b"DONE\r\n", ["DONE"], True)
            self.deadline = time.monotonic() + self.op_timeout
            result = self.complete(tag, "IDLE", events, max_untagged=max_untagged)
        finally:
            self.deadline = saved_deadline
        return result, events

    # -- closing ---------------------------------------------------------------------------------

    def logout_quietly(self, timeout: float) -> None:
        """Send LOGOUT (best effort, bounded) and close the socket."""
        try:
            self.set_timeout(timeout, time.monotonic() + timeout)
            self.command("LOGOUT", check=False, max_untagged=100)
        except (imaplib.IMAP4.error, OSError, ValueError):
            pass
        finally:
            self.close_socket()

    def close_socket(self) -> None:
        """Close the socket without any protocol exchange."""
        self.state = "LOGOUT"
        with contextlib.suppress(OSError, AttributeError):
            self.file.close()
        with contextlib.suppress(OSError, AttributeError):
            self.sock.close()
