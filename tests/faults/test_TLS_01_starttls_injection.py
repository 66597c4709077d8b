"""TLS-01: data injected around the STARTTLS go-ahead (curl CVE-2021-22947, Mutt
CVE-2020-14954, Thunderbird CVE-2021-29969, EAST ``*/Buffering/B_*``).

The go-ahead reply and forged data arrive in one segment, or the forged data arrives 300 ms
later, before the handshake.  The client must abort (same segment: before the handshake;
late: the handshake breaks), never parse the forged data, send nothing after STARTTLS in
plaintext and no credential anywhere.  Also rule 3: after a normal upgrade the client
forgets what the plaintext phase advertised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from protoclients_fixtures import HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp

from protoclients.errors import ProtocolError, TLSError

pytestmark = pytest.mark.timeout(15)

#: The catalogue's forged data, sent right behind the go-ahead.
FORGED: dict[str, Any] = {
    "imap": h.tagged(b"OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN XINJ\r\n"),
    "pop3": b"+OK\r\n+OK 99 9999\r\n",
    "smtp": b"220 go\r\n250-x\r\n250 AUTH PLAIN\r\n",
    "ftp": b"234 ok\r\n230 logged in\r\n",
}
#: Forged data alone (sent as a second segment after the normal go-ahead).
LATE: dict[str, bytes] = {
    "imap": b"* CAPABILITY IMAP4rev1 AUTH=PLAIN XINJ\r\n",
    "pop3": b"+OK 99 9999\r\n",
    "smtp": b"250-x\r\n250 AUTH PLAIN\r\n",
    "ftp": b"230 logged in\r\n",
}

Make = Callable[..., HostileServer]


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_01_injection_in_the_go_ahead_segment(proto: str, pc_hostile: Make, pc_ca: TestCA) -> None:
    srv = pc_hostile([*hp.until_starttls(proto), h.send(FORGED[proto]), h.start_tls()])
    with pytest.raises(ProtocolError, match=r"(?i)after|inject|unsolicited") as info:
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(5)
    assert "XINJ" not in str(info.value) and "99 9999" not in str(info.value)
    assert not srv.tls_handshake  # aborted before the handshake
    assert hp.problems(srv, proto, starttls_last=True) == []


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_01_injection_in_a_late_second_segment(proto: str, pc_hostile: Make, pc_ca: TestCA) -> None:
    srv = pc_hostile([
        *hp.until_starttls(proto),
        h.send(hp.go_ahead(proto)),
        h.send_later(LATE[proto], 0.3),
        h.start_tls(),
    ])
    with pytest.raises((ProtocolError, TLSError)):
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(5)
    assert srv.received_tls == b""
    assert hp.problems(srv, proto, starttls_last=True) == []


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_TLS_01_injection_pipelined_before_the_starttls_command(
    proto: str, pc_hostile: Make, pc_ca: TestCA
) -> None:
    # Forged data glued to the capability answer, before the client even asks for TLS.
    extra = {"imap": b"* OK [ALERT] injected\r\n", "pop3": b"+OK injected\r\n",
             "smtp": b"250 injected\r\n"}[proto]
    steps = hp.until_starttls(proto, trailer=extra)
    srv = pc_hostile([*steps[:-1], h.stall(3)])
    with pytest.raises(ProtocolError, match=r"(?i)unsolicited|inject"):
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(5)
    assert not srv.tls_handshake
    assert not any(b"STARTTLS" in line or b"STLS" in line for line in srv.lines)
    assert hp.problems(srv, proto) == []


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_01_plaintext_capabilities_are_forgotten_after_tls(
    proto: str, pc_hostile: Make, pc_ca: TestCA
) -> None:
    # Plaintext advertised AUTH PLAIN / SASL-IR; over TLS only the basic login is offered.
    # A client that kept the plaintext capabilities would use the wrong mechanism.
    srv = pc_hostile([
        *hp.until_starttls(proto),
        h.send(hp.go_ahead(proto)),
        h.start_tls(),
        *hp.tls_hello(proto),
        *hp.login_refused(proto, b"wrong password"),
    ])
    with pytest.raises(Exception, match=r"(?i)login|credentials|auth"):
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(5)
    assert srv.tls_handshake
    tls_lines = srv.connections[0].tls_lines
    assert hp.auth_commands(tls_lines), tls_lines
    assert not hp.auth_commands(srv.plain_lines)
    assert not any(b"AUTHENTICATE PLAIN" in line or b"AUTH PLAIN" in line for line in tls_lines)
