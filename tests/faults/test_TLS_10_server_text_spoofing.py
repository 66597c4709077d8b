"""TLS-10: ``[ALERT]`` and error texts with ANSI/OSC sequences, ``\\r`` and "re-enter your
password at ..." (EAST ``UI Spoofing/greeting/*/01_alert``).

Sent in the plaintext phase of a STARTTLS session, such text comes from whoever is on the
path: it is never shown (not in the error, its reply, its repr, nor in warnings).  Sent
inside TLS, it is shown labelled as the server's text with control characters escaped.
Trace lines (opt-in debugging) never carry raw control characters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from protoclients_fixtures import HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp

from protoclients.errors import AuthenticationError, ProtoClientError

pytestmark = pytest.mark.timeout(15)

Make = Callable[..., HostileServer]

EVIL = (b"[ALERT] \x1b]8;;http://evil.example\x07Please re-enter your password at "
        b"http://evil.example\x1b]8;;\x07\r\x1b[2K")
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x00")

#: Plaintext-phase scripts that end the session before TLS, each carrying EVIL.
PLAINTEXT: dict[str, list[h.Step]] = {
    "imap-greeting-alert-no-starttls": [
        h.send(b"* OK " + EVIL + b" ready\r\n"),
        h.expect(rb"CAPABILITY$"),
        h.send(h.tagged(b"OK " + EVIL + b"\r\n", untagged=b"* CAPABILITY IMAP4rev1\r\n")),
    ],
    "imap-capability-bad": [
        h.send(hp.greeting("imap")), h.expect(rb"CAPABILITY$"),
        h.send(h.tagged(b"BAD " + EVIL + b"\r\n")),
    ],
    "imap-starttls-no": [*hp.until_starttls("imap"), h.send(h.tagged(b"NO " + EVIL + b"\r\n"))],
    "imap-bye-after-capability": [
        h.send(hp.greeting("imap")), h.expect(rb"CAPABILITY$"), h.send(b"* BYE " + EVIL + b"\r\n"),
    ],
    "pop3-greeting-alert-no-stls": [
        h.send(b"+OK " + EVIL + b"\r\n"), h.expect(rb"^CAPA$"), h.send(b"+OK\r\nUSER\r\n.\r\n"),
    ],
    "pop3-capa-err": [h.send(hp.greeting("pop3")), h.expect(rb"^CAPA$"),
                      h.send(b"-ERR " + EVIL + b"\r\n")],
    "pop3-stls-err": [*hp.until_starttls("pop3"), h.send(b"-ERR " + EVIL + b"\r\n")],
    "smtp-greeting-no-starttls": [
        h.send(b"220 " + EVIL + b"\r\n"), h.expect(rb"^EHLO "),
        h.send(b"250-" + EVIL + b"\r\n250 AUTH PLAIN\r\n"),
    ],
    "smtp-greeting-554": [h.send(b"554 " + EVIL + b"\r\n"), h.stall(2)],
    "smtp-starttls-454": [*hp.until_starttls("smtp"), h.send(b"454 " + EVIL + b"\r\n")],
    "ftp-greeting-421": [h.send(b"421 " + EVIL + b"\r\n"), h.stall(2)],
    "ftp-auth-tls-534": [*hp.until_starttls("ftp"), h.send(b"534 " + EVIL + b"\r\n")],
}


def _no_raw_controls(lines: list[str]) -> list[str]:
    return [line for line in lines if any(ch in line for ch in RAW_CONTROLS)]


@pytest.mark.parametrize("case", sorted(PLAINTEXT))
def test_TLS_10_plaintext_phase_text_is_never_shown(
    case: str, pc_hostile: Make, pc_ca: TestCA, caplog: pytest.LogCaptureFixture
) -> None:
    proto = case.split("-", 1)[0]
    srv = pc_hostile(PLAINTEXT[case])
    trace: list[str] = []
    with caplog.at_level(logging.INFO), pytest.raises(ProtoClientError) as info:
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file, trace=trace.append)
    error = info.value
    for shown in (str(error), repr(error), error.reply or "", error.message):
        assert "evil" not in shown and "re-enter" not in shown, shown
        assert not any(ch in shown for ch in RAW_CONTROLS), repr(shown)
    assert error.reply is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [w for w in warnings if "evil" in w], warnings
    assert _no_raw_controls(trace) == [], trace
    assert srv.wait(5)
    assert hp.problems(srv, proto) == []


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_TLS_10_tls_phase_text_is_shown_escaped_and_labelled(
    proto: str, mode: str, pc_hostile: Make, pc_ca: TestCA
) -> None:
    trace: list[str] = []
    if mode == "starttls":
        srv = pc_hostile([*hp.until_starttls(proto), h.send(hp.go_ahead(proto)), h.start_tls(),
                          *hp.tls_hello(proto), *hp.login_refused(proto, EVIL)])
        options = {"tls": "starttls"}
        scheme = proto
    else:
        srv = pc_hostile([*hp.implicit_hello(proto), *hp.login_refused(proto, EVIL)],
                         implicit_tls=True)
        options = {}
        scheme = proto + "s"
    with pytest.raises(AuthenticationError) as info:
        hp.drive(proto, srv, scheme=scheme, ca_file=pc_ca.ca_file, trace=trace.append, **options)
    error = info.value
    text = str(error)
    assert error.reply is not None and "re-enter your password" in error.reply
    assert "server said: " in text  # labelled as the server's words
    assert "\\x1b]8;;http://evil.example\\x07" in text  # visible, inert
    assert not any(ch in text for ch in RAW_CONTROLS), repr(text)
    assert not any(ch in repr(error) for ch in RAW_CONTROLS)
    assert _no_raw_controls(trace) == [], trace
