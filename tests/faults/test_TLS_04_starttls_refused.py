"""TLS-04: STARTTLS refused or mangled (EAST ``O_1..O_4``, CVE-2016-0772, striptls
StripWithError / StripWithInvalidResponseCode).

IMAP ``BAD``, ``NO``, ``+ continue``, an unknown status word; SMTP ``454``, ``501``, ``500``,
``220`` followed by plaintext; POP3 ``-ERR`` or garbage; FTP ``534``, ``431``, ``500``: the
client aborts, never falls back to plaintext, never retries in plaintext.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from protoclients_fixtures import HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp

from protoclients.errors import (
    ConnectionFailed,
    OperationTimeoutError,
    ProtocolError,
    TLSError,
)

pytestmark = pytest.mark.timeout(15)

Make = Callable[..., HostileServer]

#: (protocol, answer to the STARTTLS command)
ANSWERS: dict[str, tuple[str, h.Data]] = {
    "imap-bad": ("imap", h.tagged(b"BAD STARTTLS not now\r\n")),
    "imap-no": ("imap", h.tagged(b"NO [UNAVAILABLE] TLS is down\r\n")),
    "imap-continue": ("imap", b"+ continue\r\n"),
    "imap-unknown-status": ("imap", h.tagged(b"MAYBE Begin TLS\r\n")),
    "imap-untagged-only": ("imap", b"* OK Begin TLS\r\n"),
    "pop3-err": ("pop3", b"-ERR TLS not available\r\n"),
    "pop3-garbage": ("pop3", b"220 Begin TLS\r\n"),
    "smtp-454": ("smtp", b"454 4.7.0 TLS not available\r\n"),
    "smtp-501": ("smtp", b"501 5.5.4 Syntax error\r\n"),
    "smtp-500": ("smtp", b"500 5.5.1 Unknown command\r\n"),
    "smtp-garbage": ("smtp", b"go ahead\r\n"),
    "ftp-534": ("ftp", b"534 TLS not allowed\r\n"),
    "ftp-431": ("ftp", b"431 Unable to accept security mechanism\r\n"),
    "ftp-500": ("ftp", b"500 AUTH not understood\r\n"),
    "ftp-334": ("ftp", b"334 ADAT please\r\n"),
}


@pytest.mark.parametrize("case", sorted(ANSWERS))
def test_TLS_04_starttls_refused_or_mangled(case: str, pc_hostile: Make, pc_ca: TestCA) -> None:
    proto, answer = ANSWERS[case]
    srv = pc_hostile([*hp.until_starttls(proto), h.send(answer), h.stall(3)])
    # An untagged "OK" is no answer: the client waits for the tagged one until its timeout.
    with pytest.raises((TLSError, ProtocolError, OperationTimeoutError)) as info:
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file, retries=2, timeout=2)
    assert srv.wait(8)
    assert not srv.tls_handshake
    assert not isinstance(info.value, TLSError) or info.value.exit_code == 4
    assert hp.problems(srv, proto, starttls_last=True, connections=3) == []


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_04_go_ahead_then_plaintext(proto: str, pc_hostile: Make, pc_ca: TestCA) -> None:
    # "220 go ahead", then the server keeps talking plaintext instead of a handshake.
    plaintext = {"imap": b"* OK still plaintext\r\n", "pop3": b"+OK still plaintext\r\n",
                 "smtp": b"250 still plaintext\r\n", "ftp": b"230 still plaintext\r\n"}[proto]
    srv = pc_hostile([
        *hp.until_starttls(proto),
        h.send(hp.go_ahead(proto)),
        h.start_tls(handshake=False),
        h.send_later(plaintext, 0.1),
        h.stall(3),
    ])
    with pytest.raises((TLSError, ProtocolError)):
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(8)
    assert not srv.tls_handshake
    # What the client sent after the go-ahead is its TLS ClientHello, never a command.
    assert hp.problems(srv, proto) == []
    after = srv.received_plain.split(b"\r\n")[-1]
    assert after[:1] in (b"", b"\x16"), after[:40]


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_04_connection_closed_at_starttls(proto: str, pc_hostile: Make, pc_ca: TestCA) -> None:
    # With retries allowed, a retry is fine only if it again insists on TLS.
    srv = pc_hostile([*hp.until_starttls(proto), h.close()])
    with pytest.raises(ConnectionFailed):
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file, retries=2)
    assert srv.wait(5)
    assert hp.problems(srv, proto, starttls_last=True, connections=3) == []
