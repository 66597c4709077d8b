"""TLS-08: IMAP tag anomalies around STARTTLS (Ruby net-imap CVE-2026-42246, imaplib
``abort('unexpected tagged response')``) and the post-condition check after every upgrade.

A tagged ``OK`` for the *predicted* STARTTLS tag sent before the command, an unknown tag, a
duplicate completion, an ``OK`` after which the server keeps talking plaintext: abort.  After
every STARTTLS (all protocols) the socket must be an ``SSLSocket`` with a verified peer
certificate and TLS >= 1.2 (:func:`protoclients.tls.check_tls_socket`), before any login.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from protoclients_fixtures import HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp

import protoclients.protocols.ftpsession
import protoclients.protocols.imapsession
import protoclients.protocols.pop3session
import protoclients.protocols.smtp
from protoclients import ClientOptions
from protoclients.errors import CertificateError, ProtocolError, TLSError
from protoclients.tls import check_tls_socket

pytestmark = pytest.mark.timeout(15)

Make = Callable[..., HostileServer]

SESSION_MODULES = {
    "imap": protoclients.protocols.imapsession,
    "pop3": protoclients.protocols.pop3session,
    "smtp": protoclients.protocols.smtp,
    "ftp": protoclients.protocols.ftpsession,
}


def _predicted_ok(turn: h.Turn) -> bytes:
    """CAPABILITY's answer plus an OK for the tag the client will use next (STARTTLS)."""
    match = re.fullmatch(rb"([A-Za-z]*)(\d+)", turn.tag)
    assert match, turn.tag
    following = match.group(1) + str(int(match.group(2)) + 1).encode()
    return (b"* CAPABILITY IMAP4rev1 STARTTLS\r\n" + turn.tag + b" OK done\r\n"
            + following + b" OK Begin TLS now\r\n")


ANOMALIES: dict[str, list[h.Step]] = {
    "predicted-tag-before-command": [
        h.send(hp.greeting("imap")), h.expect(rb"CAPABILITY$"), h.send(_predicted_ok), h.stall(3),
    ],
    "unknown-tag": [*hp.until_starttls("imap"), h.send(b"ZZZZ7 OK Begin TLS now\r\n"),
                    h.stall(3)],
    "duplicate-completion": [
        *hp.until_starttls("imap"),
        h.send(h.tagged(b"OK Begin TLS now\r\n", untagged=b"")),
        h.send(h.tagged(b"OK Begin TLS now\r\n")),
        h.stall(3),
    ],
    "duplicate-completion-one-segment": [
        *hp.until_starttls("imap"),
        h.send(lambda turn: (turn.tag + b" OK Begin TLS now\r\n") * 2),
        h.stall(3),
    ],
    "ok-then-plaintext": [
        *hp.until_starttls("imap"),
        h.send(hp.go_ahead("imap")),
        h.start_tls(handshake=False),
        h.send_later(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] still plaintext\r\n", 0.1),
        h.stall(3),
    ],
}


@pytest.mark.parametrize("case", sorted(ANOMALIES))
def test_TLS_08_imap_tag_anomaly_aborts(case: str, pc_hostile: Make, pc_ca: TestCA) -> None:
    srv = pc_hostile(ANOMALIES[case])
    with pytest.raises((ProtocolError, TLSError)):
        hp.drive("imap", srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(8)
    assert srv.received_tls == b""
    assert hp.problems(srv, "imap") == []
    if case == "predicted-tag-before-command":
        assert not any(b"STARTTLS" in line for line in srv.lines)


def _spy(monkeypatch: pytest.MonkeyPatch, proto: str, fail: bool) -> list[Any]:
    """Record every post-condition check of ``proto``'s session (optionally make it fail)."""
    seen: list[Any] = []

    def checking(sock: object, options: ClientOptions) -> None:
        is_tls = isinstance(sock, ssl.SSLSocket)
        seen.append((type(sock), sock.version() if is_tls else None,  # type: ignore[attr-defined]
                     bool(sock.getpeercert()) if is_tls else False))  # type: ignore[attr-defined]
        if fail:
            raise TLSError("post-condition failed (simulated)")
        check_tls_socket(sock, options)

    monkeypatch.setattr(SESSION_MODULES[proto], "check_tls_socket", checking)
    return seen


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_08_socket_is_checked_after_every_starttls(
    proto: str, pc_hostile: Make, pc_ca: TestCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy(monkeypatch, proto, fail=False)
    srv = pc_hostile([*hp.until_starttls(proto), h.send(hp.go_ahead(proto)), h.start_tls(),
                      *hp.tls_hello(proto), *hp.login_refused(proto, b"no")])
    with pytest.raises(Exception, match=r"(?i)login|credentials|auth"):
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert len(seen) == 1
    kind, version, peer_cert = seen[0]
    assert issubclass(kind, ssl.SSLSocket)
    assert version in {"TLSv1.2", "TLSv1.3"}
    assert peer_cert


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_08_failed_postcondition_aborts_before_login(
    proto: str, pc_hostile: Make, pc_ca: TestCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy(monkeypatch, proto, fail=True)
    srv = pc_hostile([*hp.until_starttls(proto), h.send(hp.go_ahead(proto)), h.start_tls()])
    with pytest.raises(TLSError, match="simulated"):
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(5)
    assert len(seen) == 1
    assert srv.received_tls == b""
    assert hp.problems(srv, proto) == []


def test_TLS_08_check_tls_socket_rejects_plain_and_unverified_sockets(
    pc_hostile: Make, pc_ca: TestCA
) -> None:
    options = ClientOptions(ca_file=pc_ca.ca_file)
    srv = pc_hostile([h.stall(3)], implicit_tls=True, max_connections=3)
    with (
        socket.create_connection((srv.host, srv.port), timeout=5) as plain,
        pytest.raises(TLSError, match="not encrypted"),
    ):
        check_tls_socket(plain, options)
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((srv.host, srv.port), timeout=5)
    with unverified.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        with pytest.raises(CertificateError, match="not verified"):
            check_tls_socket(tls, options)
        check_tls_socket(tls, ClientOptions(insecure=True))  # the explicit opt-out
    raw = socket.create_connection((srv.host, srv.port), timeout=5)
    with pc_ca.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        check_tls_socket(tls, options)
