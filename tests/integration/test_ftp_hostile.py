"""FTPClient against a scripted, misbehaving FTP control channel.

Covers malformed and oversized replies (HOS-01, HOS-07), slow servers (HOS-08) and AUTH TLS
tricks (TLS-01 injection, TLS-03/04 refusals, TLS-11a PROT P refused). The scripted server
speaks just enough FTP on 127.0.0.1:0 and records every command line it receives.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import protoclients as pc

pytestmark = pytest.mark.timeout(20)

Reply = bytes | Callable[[socket.socket], socket.socket]

DEFAULTS: dict[str, Reply] = {
    "USER": b"331 password please\r\n",
    "PASS": b"230 logged in\r\n",
    "TYPE": b"200 ok\r\n",
    "FEAT": b"211-Features\r\n SIZE\r\n211 End\r\n",
    "PWD": b'257 "/" is cwd\r\n',
    "PBSZ": b"200 ok\r\n",
    "PROT": b"200 ok\r\n",
    "QUIT": b"221 bye\r\n",
}


class ScriptedFTP:
    """One-connection-at-a-time scripted control channel."""

    def __init__(
        self,
        greeting: bytes | Callable[[socket.socket], None] = b"220 scripted\r\n",
        replies: dict[str, Reply] | None = None,
    ) -> None:
        self.greeting = greeting
        self.replies = {**DEFAULTS, **(replies or {})}
        self.received: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.url = f"ftp://127.0.0.1:{self.port}/"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            with contextlib.suppress(OSError, ssl.SSLError):
                self._session(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _session(self, conn: socket.socket) -> None:
        current = [conn]
        try:
            self._talk(current)
        finally:
            with contextlib.suppress(OSError):
                current[0].close()

    def _talk(self, current: list[socket.socket]) -> None:
        conn = current[0]
        conn.settimeout(10)
        if callable(self.greeting):
            self.greeting(conn)
        else:
            conn.sendall(self.greeting)
        buffer = b""
        while not self.stop.is_set():
            while b"\r\n" not in buffer:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buffer += chunk
            line, _, buffer = buffer.partition(b"\r\n")
            text = line.decode("utf-8", "replace")
            self.received.append(text)
            verb = text.split(" ", 1)[0].upper()
            reply = self.replies.get(verb, b"502 not implemented\r\n")
            if callable(reply):
                conn = current[0] = reply(conn)
            else:
                conn.sendall(reply)
            if verb == "QUIT":
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedFTP]]:
    servers: list[ScriptedFTP] = []

    def make(*args: Any, **kwargs: Any) -> ScriptedFTP:
        server = ScriptedFTP(*args, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _auth_commands(received: list[str]) -> list[str]:
    return [c for c in received if c.split(" ", 1)[0].upper() in {"USER", "PASS"}]


# -- malformed and oversized replies ---------------------------------------------------------------


@pytest.mark.parametrize(
    "greeting",
    [
        b"HTTP/1.1 400 Bad Request\r\n",
        b"2x0 hello\r\n",
        b"220 hi\0there\r\n",
        b"\x16\x03\x01garbage\r\n",
    ],
)
def test_malformed_greeting(scripted: Callable[..., ScriptedFTP], greeting: bytes) -> None:
    server = scripted(greeting)
    with pytest.raises(pc.ProtocolError):
        pc.ls(server.url, timeout=5)
    assert server.received == []


def test_oversized_reply_line(scripted: Callable[..., ScriptedFTP]) -> None:
    server = scripted(b"220 " + b"x" * 10_000 + b"\r\n")
    with pytest.raises(pc.ResponseTooLarge):
        pc.ls(server.url, timeout=5)


def test_endless_continuation(scripted: Callable[..., ScriptedFTP]) -> None:
    def endless(conn: socket.socket) -> None:
        conn.sendall(b"220-welcome\r\n")
        for _ in range(100_000):
            conn.sendall(b"220-more and more\r\n")

    server = scripted(endless)
    started = time.monotonic()
    with pytest.raises(pc.ResponseTooLarge):
        pc.ls(server.url, timeout=5)
    assert time.monotonic() - started < 5


def test_257_without_closing_quote(scripted: Callable[..., ScriptedFTP]) -> None:
    server = scripted(replies={"PWD": b'257 "/unterminated is cwd\r\n'})
    with pytest.raises(pc.ProtocolError):
        pc.ls(server.url, timeout=5)


def test_temporary_greeting(scripted: Callable[..., ScriptedFTP]) -> None:
    server = scripted(b"421 too many users\r\n")
    with pytest.raises(pc.ServerError) as info:
        pc.ls(server.url, timeout=5)
    assert info.value.temporary
    assert info.value.status == 421


# -- slow servers -------------------------------------------------------------------------------------


def test_silent_server_times_out(scripted: Callable[..., ScriptedFTP]) -> None:
    server = scripted(lambda conn: time.sleep(3))
    started = time.monotonic()
    with pytest.raises(pc.OperationTimeoutError):
        pc.ls(server.url, timeout=1)
    assert time.monotonic() - started < 2.5


def test_dribbling_server_is_bounded_by_a_deadline(scripted: Callable[..., ScriptedFTP]) -> None:
    def dribble(conn: socket.socket) -> None:
        for byte in b"220 a greeting sent one byte at a time\r\n":
            conn.sendall(bytes([byte]))
            time.sleep(0.2)

    server = scripted(dribble)
    started = time.monotonic()
    with pytest.raises(pc.OperationTimeoutError):
        pc.ls(server.url, timeout=1)
    # Each recv gets a byte well within 1 s; only the per-reply deadline stops this.
    assert time.monotonic() - started < 2.5


# -- AUTH TLS -----------------------------------------------------------------------------------------------


def test_auth_tls_refused(scripted: Callable[..., ScriptedFTP]) -> None:
    server = scripted(replies={"AUTH": b"534 no TLS here\r\n"})
    with pytest.raises(pc.TLSRequiredError):
        pc.ls("ftp://alice@" + server.url[6:], password="pw", tls="starttls", timeout=5)
    assert server.received == ["AUTH TLS"]


def test_injection_after_auth_tls(scripted: Callable[..., ScriptedFTP]) -> None:
    server = scripted(replies={"AUTH": b"234 go ahead\r\n230 logged in\r\n"})
    with pytest.raises(pc.ProtocolError) as info:
        pc.ls("ftp://alice@" + server.url[6:], password="pw", tls="starttls", timeout=5)
    assert not isinstance(info.value, pc.ResponseTooLarge)
    assert _auth_commands(server.received) == []


def test_prot_p_refused(scripted: Callable[..., ScriptedFTP], pc_ca: Any) -> None:
    context = pc_ca.server_context()

    def starttls(conn: socket.socket) -> socket.socket:
        conn.sendall(b"234 go ahead\r\n")
        return context.wrap_socket(conn, server_side=True)

    server = scripted(replies={"AUTH": starttls, "PROT": b"536 PROT P refused\r\n"})
    with pytest.raises(pc.TLSRequiredError):
        pc.ls(
            "ftp://alice@" + server.url[6:],
            password="pw",
            tls="starttls",
            ca_file=pc_ca.ca_file,
            timeout=5,
        )
    assert "PROT P" in server.received
    assert not any(c.startswith(("PASV", "EPSV", "MLSD", "LIST", "RETR")) for c in server.received)


def test_starttls_certificate_failure_sends_no_credentials(
    scripted: Callable[..., ScriptedFTP], pc_ca: Any
) -> None:
    context = pc_ca.server_context()

    def starttls(conn: socket.socket) -> socket.socket:
        conn.sendall(b"234 go ahead\r\n")
        return context.wrap_socket(conn, server_side=True)

    server = scripted(replies={"AUTH": starttls})
    with pytest.raises(pc.CertificateError):
        pc.ls("ftp://alice@" + server.url[6:], password="pw", tls="starttls", timeout=5)
    assert _auth_commands(server.received) == []


# -- data channel -------------------------------------------------------------------------------------


class DataChannel:
    """PASV + RETR handlers: send ``payload`` on the data connection, then stall (or close)."""

    def __init__(self, payload: bytes, stall: float = 0.0) -> None:
        self.payload = payload
        self.stall = stall
        self.listener: socket.socket | None = None

    def pasv(self, conn: socket.socket) -> socket.socket:
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        conn.sendall(f"227 Entering Passive Mode (127,0,0,1,{port >> 8},{port & 255})\r\n".encode())
        return conn

    def retr(self, conn: socket.socket) -> socket.socket:
        assert self.listener is not None
        conn.sendall(b"150 here it comes\r\n")
        self.listener.settimeout(5)
        data, _ = self.listener.accept()
        self.listener.close()
        with contextlib.suppress(OSError):
            data.sendall(self.payload)
            time.sleep(self.stall)
        data.close()
        conn.sendall(b"226 done\r\n")
        return conn


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "recv_into"])
def test_stalled_download_times_out_and_keeps_part(
    scripted: Callable[..., ScriptedFTP], tmp_path: Any, splice: bool
) -> None:
    channel = DataChannel(b"x" * 50_000, stall=3.0)
    server = scripted(
        replies={"SIZE": b"213 100000\r\n", "PASV": channel.pasv, "RETR": channel.retr}
    )
    dest = tmp_path / "f.bin"
    started = time.monotonic()
    with pc.connect(server.url, timeout=1) as client:
        client.use_splice = splice  # type: ignore[attr-defined]
        with pytest.raises(pc.OperationTimeoutError):
            client.fetch("f.bin", dest)
    assert time.monotonic() - started < 2.5
    assert not dest.exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 50_000


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "recv_into"])
def test_size_10_then_much_more_is_cut_off(
    scripted: Callable[..., ScriptedFTP], tmp_path: Any, splice: bool
) -> None:
    channel = DataChannel(b"y" * 2_000_000)
    server = scripted(replies={"SIZE": b"213 10\r\n", "PASV": channel.pasv, "RETR": channel.retr})
    dest = tmp_path / "f.bin"
    with pc.connect(server.url, timeout=5) as client:
        client.use_splice = splice  # type: ignore[attr-defined]
        with pytest.raises(pc.IncompleteTransferError):
            client.fetch("f.bin", dest)
    assert list(tmp_path.iterdir()) == []


def test_short_transfer_with_226_is_an_error(scripted: Callable[..., ScriptedFTP]) -> None:
    channel = DataChannel(b"z" * 1000)
    server = scripted(replies={"SIZE": b"213 5000\r\n", "PASV": channel.pasv, "RETR": channel.retr})
    with pytest.raises(pc.IncompleteTransferError):
        pc.fetch(server.url + "f.bin", timeout=5)


def test_endless_listing_is_bounded(scripted: Callable[..., ScriptedFTP]) -> None:
    line = b"-rw-r--r-- 1 u g 5 Jan  3  2020 file\r\n"
    channel = DataChannel(line * 100_000)  # 3.8 MB of listing
    server = scripted(replies={"PASV": channel.pasv, "LIST": channel.retr})
    with pc.connect(server.url, timeout=5) as client:
        client.max_listing_bytes = 1_000_000  # type: ignore[attr-defined]
        with pytest.raises(pc.ResponseTooLarge):
            client.ls()


def test_listing_entry_count_is_bounded(scripted: Callable[..., ScriptedFTP]) -> None:
    channel = DataChannel(b"-rw-r--r-- 1 u g 5 Jan  3  2020 f\r\n" * 2000)
    server = scripted(replies={"PASV": channel.pasv, "LIST": channel.retr})
    with pc.connect(server.url, timeout=5) as client:
        client.max_listing_entries = 1000  # type: ignore[attr-defined]
        with pytest.raises(pc.ResponseTooLarge):
            client.ls()


def test_oversized_listing_line(scripted: Callable[..., ScriptedFTP]) -> None:
    channel = DataChannel(b"x" * 20_000)
    server = scripted(replies={"PASV": channel.pasv, "LIST": channel.retr})
    with pytest.raises(pc.ResponseTooLarge):
        pc.ls(server.url, timeout=5)


def test_pasv_address_is_ignored(scripted: Callable[..., ScriptedFTP]) -> None:
    channel = DataChannel(b"-rw-r--r-- 1 u g 5 Jan  3  2020 f\r\n")

    def pasv_elsewhere(conn: socket.socket) -> socket.socket:
        channel.listener = socket.create_server(("127.0.0.1", 0))
        port = channel.listener.getsockname()[1]
        # Points at another host: the client must connect to the control peer instead.
        conn.sendall(f"227 Entering Passive Mode (10,9,8,7,{port >> 8},{port & 255})\r\n".encode())
        return conn

    server = scripted(replies={"PASV": pasv_elsewhere, "LIST": channel.retr})
    assert [e.name for e in pc.ls(server.url, timeout=5)] == ["f"]
