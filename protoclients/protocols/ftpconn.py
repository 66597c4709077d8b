"""The ftplib connection protoclients drives: ``ftplib.FTP_TLS`` made strict and bounded.

What changes compared with the standard library class:

* **Implicit TLS** (``ftps://``, port 990): the control socket is wrapped right after the
  TCP connect; ftplib only knows explicit ``AUTH TLS``.
* **Verified TLS only**: the caller always passes a context from
  :func:`protoclients.tls.create_context`; ftplib's own default is unverified (gh-91826).
* **Data connections reuse the control connection's TLS session**, as vsftpd
  (``require_ssl_reuse``) and many other servers demand; ftplib's ``ntransfercmd`` does not.
* **Bounded replies**: a reply line is at most :attr:`FTPConnection.maxline` bytes, a
  multi-line reply at most :data:`MAX_REPLY_LINES` lines / :data:`MAX_REPLY_BYTES` bytes,
  and the whole reply must arrive within the timeout (a server dribbling one byte at a time
  cannot hold the client forever). Reply codes must be three digits; NUL is refused.
* **Nothing is trusted from plaintext after AUTH TLS**: bytes the server sent after the
  ``234`` reply and before the handshake are an injection attempt and an error.
* **Strict commands**: CR, LF and NUL in a command line are refused before anything is sent.
* ``REST`` refused by the server raises :class:`RestRefused` so the caller can restart the
  transfer from zero instead of failing.

Only ``protoclients.protocols`` modules import ``ftplib``, ``ssl`` and ``socket``.
"""

# ruff: noqa: S321 - this module is the FTP client; TLS is negotiated here.
from __future__ import annotations

import ftplib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_REPLY_BYTES",
    "MAX_REPLY_LINES",
    "FTPConnection",
    "InjectionError",
    "ReplyTooLarge",
    "RestRefused",
    "parse_257",
]

#: The most lines one (multi-line) reply may have.
MAX_REPLY_LINES = 1000
#: The most bytes one (multi-line) reply may have.
MAX_REPLY_BYTES = 256 * 1024
_RECV_SIZE = 4096


class ReplyTooLarge(ftplib.error_proto):
    """A reply line or a multi-line reply exceeded its bound."""


class InjectionError(ftplib.error_proto):
    """The server sent bytes after its ``AUTH TLS`` go-ahead, before the TLS handshake."""


class RestRefused(ftplib.error_perm):
    """The server refused ``REST`` (it cannot resume)."""


class _ReplyReader:
    """Reads reply lines from the control socket with a byte bound and a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def pending(self) -> bool:
        """Whether bytes were received that no reply has consumed yet."""
        return bool(self.buffer)

    def readline(self, limit: int, deadline: float, per_recv: float | None) -> bytes:
        """One line including its ``\\n`` (or what arrived before EOF: ``b""`` at EOF)."""
        while True:
            end = self.buffer.find(b"\n", 0, limit + 1)
            if end != -1:
                line = bytes(self.buffer[: end + 1])
                del self.buffer[: end + 1]
                return line
            if len(self.buffer) > limit:
                raise ReplyTooLarge(f"reply line longer than {limit} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server did not finish its reply in time")
            self.sock.settimeout(remaining if per_recv is None else min(remaining, per_recv))
            chunk = self.sock.recv(_RECV_SIZE)
            if not chunk:
                line = bytes(self.buffer)
                self.buffer.clear()
                return line
            self.buffer += chunk

    def close(self) -> None:
        """Nothing to release: the socket is closed by its owner."""


def parse_257(reply: str) -> str:
    """The path in a ``257`` reply (``257 "/a ""quoted"" dir" created``).

    A reply without the closing quote is a protocol error (curl CVE-2017-1000254).
    """
    if not reply.startswith("257"):
        raise ftplib.error_reply(reply)
    start = reply.find('"')
    if start == -1:
        raise ftplib.error_proto(f"257 reply without a quoted path: {reply[:80]}")
    out: list[str] = []
    pos = start + 1
    while pos < len(reply):
        char = reply[pos]
        if char == '"':
            if reply[pos + 1 : pos + 2] == '"':
                out.append('"')
                pos += 2
                continue
            return "".join(out)
        out.append(char)
        pos += 1
    raise ftplib.error_proto("257 reply without the closing quote")


class FTPConnection(ftplib.FTP_TLS):
    """``ftplib.FTP_TLS`` with implicit TLS, TLS session reuse and bounded replies.

    Args:
        context: the (verified) TLS context, or ``None`` for plain FTP.
        implicit_tls: wrap the control connection in TLS straight after connecting.
        timeout: seconds for connecting, for each reply and for each data-socket wait.
        on_trace: receives ``"> COMMAND"`` and ``"< reply"`` lines (``PASS`` masked).
    """

    maxline = 8192

    def __init__(
        self,
        *,
        context: ssl.SSLContext | None,
        implicit_tls: bool = False,
        timeout: float = 30.0,
        on_trace: Callable[[str], None] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        ftplib.FTP.__init__(self, timeout=timeout, encoding=encoding)
        self.tls_context = context
        if context is not None:
            self.context = context
        self.keyfile = None
        self.certfile = None
        self._prot_p = False
        self.implicit_tls = implicit_tls
        self.on_trace = on_trace
        self._reader: _ReplyReader | None = None
        self.host = ""
        self.port = 0

    # -- connection ----------------------------------------------------------------

    def connect(
        self, host: str = "", port: int = 0, timeout: float = -999, source_address: Any = None
    ) -> str:
        """Connect (and, for implicit TLS, do the handshake); return the greeting."""
        if host:
            self.host = host
        if port > 0:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        if source_address is not None:
            self.source_address = source_address
        sock = socket.create_connection(
            (self.host, self.port), self.timeout, source_address=self.source_address
        )
        try:
            self.af = sock.family
            if self.implicit_tls:
                if self.tls_context is None:
                    raise ValueError("implicit TLS needs a TLS context")
                sock = self.tls_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self._attach(sock)
        self.welcome = self.getresp()
        return self.welcome

    def _attach(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = _ReplyReader(sock)
        self.file = self._reader  # type: ignore[assignment]  # ftplib's close() releases it

    def auth(self) -> str:
        """``AUTH TLS`` and the handshake; anything the server sent early is refused."""
        if isinstance(self.sock, ssl.SSLSocket):
            raise ValueError("already using TLS")
        if self.tls_context is None:
            raise ValueError("AUTH TLS needs a TLS context")
        assert self._reader is not None
        if self._reader.pending():
            raise InjectionError("the server sent unsolicited data before AUTH TLS")
        resp = self.sendcmd("AUTH TLS")
        if not resp.startswith("234"):
            raise ftplib.error_reply(resp)
        if self._reader.pending():
            raise InjectionError(
                "the server sent data after its AUTH TLS reply, before the TLS handshake"
            )
        sock = self._control()
        sock.settimeout(self.timeout)
        self._attach(self.tls_context.wrap_socket(sock, server_hostname=self.host))
        return resp

    def _control(self) -> socket.socket:
        if self.sock is None:
            raise EOFError("not connected")
        return self.sock

    @property
    def is_tls(self) -> bool:
        """Whether the control connection is TLS."""
        return isinstance(self.sock, ssl.SSLSocket)

    # -- lines ------------------------------------------------------------------------

    def putline(self, line: str) -> None:
        """Send one command line; CR, LF and NUL are refused (nothing is sent)."""
        if "\r" in line or "\n" in line or "\0" in line:
            raise ValueError("a command line must not contain CR, LF or NUL")
        if self.on_trace is not None:
            shown = "PASS ***" if line[:5].upper() == "PASS " else line
            self.on_trace("> " + shown)
        data = line.encode(self.encoding, "surrogateescape") + b"\r\n"
        sock = self._control()
        sock.settimeout(self.timeout)
        sock.sendall(data)

    def _readline(self, deadline: float) -> str:
        assert self._reader is not None
        raw = self._reader.readline(self.maxline, deadline, self.timeout)
        if not raw:
            raise EOFError("the server closed the connection")
        if b"\0" in raw:
            raise ftplib.error_proto("reply contains a NUL byte")
        text = raw.decode(self.encoding, "replace")
        if text.endswith("\r\n"):
            return text[:-2]
        return text[:-1] if text[-1:] in "\r\n" else text

    def getline(self) -> str:
        """One reply line, within the timeout."""
        return self._readline(time.monotonic() + (self.timeout or 30.0))

    def getmultiline(self) -> str:
        """One complete reply (lines joined with ``\\n``), bounded in size and time."""
        deadline = time.monotonic() + (self.timeout or 30.0)
        first = self._readline(deadline)
        code = first[:3]
        if not (len(code) == 3 and code.isdigit() and first[3:4] in {"", " ", "-"}):
            raise ftplib.error_proto(f"malformed reply: {first[:80]!r}")
        lines = [first]
        size = len(first)
        if first[3:4] == "-":
            while True:
                line = self._readline(deadline)
                lines.append(line)
                size += len(line) + 1
                if len(lines) > MAX_REPLY_LINES or size > MAX_REPLY_BYTES:
                    raise ReplyTooLarge("multi-line reply is too long")
                if line[:3] == code and line[3:4] != "-":
                    break
        reply = "\n".join(lines)
        if self.on_trace is not None:
            for line in lines:
                self.on_trace("< " + line)
        return reply

    # -- data connections --------------------------------------------------------------

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        """Open the data connection for ``cmd`` (TLS with session reuse under ``PROT P``).

        Passive mode connects to the control connection's peer whatever address the
        server names in its ``227`` reply; ``EPSV`` is used on IPv6.
        """
        conn: socket.socket | None = None
        listener: socket.socket | None = None
        try:
            if self.passiveserver:
                host, port = self.makepasv()
                conn = socket.create_connection(
                    (host, port), self.timeout, source_address=self.source_address
                )
            else:
                listener = self.makeport()
            if rest is not None:
                try:
                    resp = self.sendcmd(f"REST {rest}")
                except ftplib.error_perm as exc:
                    raise RestRefused(*exc.args) from None
                if not resp.startswith("350"):
                    raise RestRefused(resp)
            resp = self.sendcmd(cmd)
            if resp[:1] == "2":
                # Some servers send a 2xx before the 1xx; skip it (as ftplib does).
                resp = self.getresp()
            if resp[:1] != "1":
                raise ftplib.error_reply(resp)
            if listener is not None:
                conn, _addr = listener.accept()
            assert conn is not None
            conn.settimeout(self.timeout)
            if self._prot_p:
                assert self.tls_context is not None
                session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
                conn = self.tls_context.wrap_socket(
                    conn, server_hostname=self.host, session=session
                )
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        finally:
            if listener is not None:
                listener.close()
        size = ftplib.parse150(resp) if resp.startswith("150") else None
        return conn, size

    def makeport(self) -> socket.socket:
        """Active mode: listen on the control connection's local address."""
        host = self._control().getsockname()[0]
        sock = socket.create_server((host, 0), family=self.af, backlog=1)
        sock.settimeout(self.timeout)
        port = sock.getsockname()[1]
        if self.af == socket.AF_INET:
            self.sendport(host, port)
        else:
            self.sendeprt(host, port)
        return sock

    def close_data(self, conn: socket.socket, *, clean: bool) -> None:
        """Close a data socket; after a complete transfer, shut TLS down properly."""
        try:
            if clean and isinstance(conn, ssl.SSLSocket):
                conn.unwrap()
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def set_timeout(self, timeout: float) -> None:
        """Use ``timeout`` for the next replies and data connections."""
        self.timeout = timeout
        if self.sock is not None:
            self.sock.settimeout(timeout)
