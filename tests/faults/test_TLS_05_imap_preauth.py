"""TLS-05: ``* PREAUTH`` greeting on a STARTTLS-required IMAP account (Trojita
CVE-2014-2567, Thunderbird CVE-2020-12398, Mutt CVE-2020-14093, fetchmail CVE-2021-39272,
EAST ``P_*``, curl test 846).

A PREAUTH session can never be upgraded (STARTTLS is only valid before authentication), so
the client must abort before SELECT/APPEND/FETCH: nothing of the user's mail or drafts
reaches the server, and no command at all is sent.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from protoclients_fixtures import HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp

import protoclients
from protoclients.errors import TLSRequiredError

pytestmark = pytest.mark.timeout(15)

Make = Callable[..., HostileServer]

GREETINGS = {
    "with-starttls-capability": b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] welcome alice\r\n",
    "without-capability": b"* PREAUTH IMAP4rev1 server logged in as alice\r\n",
    "with-alert": b"* PREAUTH [ALERT] \x1b]8;;http://evil\x07click here\x1b]8;;\x07\r\n",
}
#: Answers for whatever a broken client might send next (never expected to be used).
TEMPTATIONS = [
    h.tagged(b"OK STARTTLS done\r\n"),
    h.tagged(b"OK [READ-WRITE] selected\r\n", untagged=b"* 1 EXISTS\r\n"),
    h.tagged(b"OK done\r\n"),
]


@pytest.mark.parametrize("greeting", sorted(GREETINGS))
@pytest.mark.parametrize("verb", ["ls", "fetch", "send", "connect"])
def test_TLS_05_preauth_on_starttls_account_aborts(
    greeting: str, verb: str, pc_hostile: Make, pc_ca: TestCA
) -> None:
    srv = pc_hostile([h.send(GREETINGS[greeting]), h.respond(TEMPTATIONS, line_timeout=2)])
    url = srv.url("imap", user=hp.USER, path="/INBOX")
    options = {"tls": "starttls", "ca_file": pc_ca.ca_file, "password": hp.PASSWORD,
               "timeout": 5, "retries": 0}
    with pytest.raises(TLSRequiredError, match="PREAUTH") as info:
        if verb == "ls":
            protoclients.ls(url, **options)
        elif verb == "fetch":
            protoclients.fetch(url + ";UID=1", **options)
        elif verb == "send":  # APPEND a draft
            protoclients.send(url, hp.MESSAGE, **options)
        else:
            with protoclients.connect(url, **options) as client:
                client.ls()
    assert srv.wait(5)
    assert srv.lines == []  # not even a CAPABILITY or LOGOUT in plaintext
    assert b"hostile test" not in srv.received
    assert hp.problems(srv, "imap") == []
    assert "evil" not in str(info.value) and "\x1b" not in str(info.value)
