"""Self-test of the hostile-server harness (fixtures/hostile.py): recording, TLS, failures."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from protoclients_fixtures import HarnessError, HostileServer, TestCA
from protoclients_fixtures import hostile as h

pytestmark = pytest.mark.timeout(15)


def test_TLS_00_harness_records_plain_and_tls(
    pc_hostile: Callable[..., HostileServer], pc_ca: TestCA
) -> None:
    srv = pc_hostile([
        h.send(b"* OK hi\r\n"),
        h.expect(rb"STARTTLS"),
        h.send(h.tagged(b"OK go\r\n")),
        h.start_tls(),
        h.expect(rb"LOGIN"),
        h.send(h.tagged(b"OK\r\n")),
    ])
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        assert sock.recv(100) == b"* OK hi\r\n"
        sock.sendall(b"A1 STARTTLS\r\n")
        assert sock.recv(100) == b"A1 OK go\r\n"
        with pc_ca.client_context().wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"A2 LOGIN a b\r\n")
            assert tls.recv(100) == b"A2 OK\r\n"
    assert srv.wait(5)
    assert srv.received_plain == b"A1 STARTTLS\r\n"
    assert srv.received_tls == b"A2 LOGIN a b\r\n"
    assert srv.lines == [b"A1 STARTTLS", b"A2 LOGIN a b"]
    assert srv.tls_handshake


def test_TLS_00_harness_records_plaintext_instead_of_handshake(
    pc_hostile: Callable[..., HostileServer],
) -> None:
    srv = pc_hostile([h.send(b"+OK\r\n"), h.expect("STLS"), h.send(b"+OK\r\n"), h.start_tls()])
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.recv(100)
        sock.sendall(b"STLS\r\n")
        sock.recv(100)
        sock.sendall(b"USER alice\r\n")
        sock.recv(100)  # the server gives up on the handshake and closes
    assert srv.wait(5)
    assert b"USER alice" in srv.received_plain
    assert not srv.tls_handshake
    assert srv.tls_errors


def test_TLS_00_harness_reports_unmet_expectation(pc_ca: TestCA) -> None:
    srv = HostileServer([h.expect("FOO", timeout=2)], ca=pc_ca)
    with (
        pytest.raises(HarnessError, match="expected"),
        srv,
        socket.create_connection((srv.host, srv.port), timeout=5) as sock,
    ):
        sock.sendall(b"BAR\r\n")
        sock.recv(10)


def test_TLS_00_harness_responder_and_implicit_tls(pc_ca: TestCA) -> None:
    kwargs: dict[str, Any] = {"ca": pc_ca, "implicit_tls": True}
    with HostileServer.responder(b"+OK hi\r\n", [b"+OK one\r\n", None], **kwargs) as srv:
        raw = socket.create_connection((srv.host, srv.port), timeout=5)
        with pc_ca.client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.recv(100) == b"+OK hi\r\n"
            tls.sendall(b"CAPA\r\n")
            assert tls.recv(100) == b"+OK one\r\n"
            tls.sendall(b"QUIT\r\n")
    assert srv.lines == [b"CAPA", b"QUIT"]
    assert srv.received_plain == b""


def test_TLS_00_harness_failed_handshake_is_recorded(pc_hostile: Callable[..., HostileServer]) -> None:
    srv = pc_hostile([h.send(b"+OK\r\n")], implicit_tls=True)
    raw = socket.create_connection((srv.host, srv.port), timeout=5)
    context = ssl.create_default_context()  # does not trust the test CA
    with pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    raw.close()
    assert srv.wait(5)
    assert not srv.tls_handshake
    assert srv.tls_errors
