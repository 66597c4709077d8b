"""TLS-03: STARTTLS required but not offered (curl CVE-2021-22946 + tests 984-986, mailsuite
GHSA-3588-2mr7-vrcm, EAST ``D_*``).

Capabilities without ``STARTTLS``/``STLS``, an EHLO without ``STARTTLS``, ``AUTH TLS`` answered
``500``, ``CAPABILITY`` answered ``BAD``, ``CAPA`` answered ``-ERR``: the client raises
:class:`TLSRequiredError` naming the host, exits non-zero, and the server sees no login and no
MAIL/RETR/SELECT.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from protoclients_fixtures import HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp

from protoclients.errors import TLSRequiredError

pytestmark = pytest.mark.timeout(15)

Make = Callable[..., HostileServer]

CASES: dict[str, list[h.Step]] = {
    "imap-caps-without-starttls": hp.until_starttls("imap", offer=False),
    "imap-capability-bad": [
        h.send(hp.greeting("imap")),
        h.expect(rb"CAPABILITY"),
        h.send(h.tagged(b"BAD unknown command\r\n")),
    ],
    "imap-capability-no": [
        h.send(hp.greeting("imap")),
        h.expect(rb"CAPABILITY"),
        h.send(h.tagged(b"NO not now\r\n")),
    ],
    "imap-greeting-caps-without-starttls": [
        h.send(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
        # The client may ask again (the greeting's list is optional); same answer.
        h.respond([h.tagged(b"OK done\r\n", untagged=b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")]),
    ],
    "pop3-capa-without-stls": hp.until_starttls("pop3", offer=False),
    "pop3-capa-err": [h.send(hp.greeting("pop3")), h.expect(rb"^CAPA$"), h.send(b"-ERR no\r\n")],
    "smtp-ehlo-without-starttls": hp.until_starttls("smtp", offer=False),
    "smtp-ehlo-refused-helo-ok": [
        h.send(hp.greeting("smtp")),
        h.expect(rb"^EHLO "),
        h.send(b"500 what?\r\n"),
        h.expect(rb"^HELO "),
        h.send(b"250 hostile.test\r\n"),
    ],
    "ftp-auth-tls-500": [
        h.send(hp.greeting("ftp")),
        h.expect(rb"^AUTH TLS$"),
        h.send(b"500 AUTH not understood\r\n"),
    ],
    "ftp-auth-tls-502": [
        h.send(hp.greeting("ftp")),
        h.expect(rb"^AUTH TLS$"),
        h.send(b"502 not implemented\r\n"),
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_TLS_03_starttls_not_offered_is_fatal(case: str, pc_hostile: Make, pc_ca: TestCA) -> None:
    proto = case.split("-", 1)[0]
    srv = pc_hostile(CASES[case])
    with pytest.raises(TLSRequiredError) as info:
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(5)
    error = info.value
    assert srv.host in str(error)
    assert error.exit_code != 0
    assert not srv.tls_handshake
    assert hp.problems(srv, proto) == []


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_03_command_line_exit_code(proto: str, pc_hostile: Make, pc_ca: TestCA) -> None:
    # The exit code the CLI uses comes from the error class: TLS failures are 4.
    srv = pc_hostile(hp.until_starttls(proto, offer=False)
                     if proto != "ftp" else CASES["ftp-auth-tls-500"])
    with pytest.raises(TLSRequiredError) as info:
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert info.value.exit_code == 4
    assert srv.wait(5)
    assert hp.problems(srv, proto) == []
