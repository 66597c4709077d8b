"""INP-11 (IMAP, bad user input): non-ASCII mailbox names in modified UTF-7, strictly.

``Entwürfe``, ``台北/日本語``, ``a&b`` and ``☺!`` go out as ``Entw&APw-rfe``,
``&U,BTFw-/&ZeVnLIqe-``, ``a&-b`` and ``&Jjo-!`` (RFC 3501 5.1.3; imaplib raises
``UnicodeEncodeError`` for ``Entwürfe``) — checked on the wire and by the real IMAP server,
which decodes and stores exactly the intended names and lists them back. A scripted server
that lists ``~peter/mail/&U,BTFw-/&ZeVnLIqe-`` (valid), ``&Jjo!`` (unterminated) and
``&U,BTFw-&ZeVnLIqe-`` (two adjacent shifts: not canonical) gets the valid one decoded and
the two invalid ones flagged, never guessed. With ``UTF8=ACCEPT`` enabled (RFC 6855) the
names go as UTF-8. The codec's own round-trip properties are in ``test_properties_utf7.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc

pytestmark = pytest.mark.timeout(60)

VECTORS = {
    "Entwürfe": b"Entw&APw-rfe",
    "台北/日本語": b"&U,BTFw-/&ZeVnLIqe-",
    "a&b": b"a&-b",
    "☺!": b"&Jjo-!",
}


@pytest.mark.parametrize("name", list(VECTORS))
def test_INP_11_names_are_encoded_on_the_wire_and_understood_by_the_server(
    pc_mail: Any, name: str
) -> None:
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        url = tap.url("imap://alice@127.0.0.1/")
        with pc.connect(url, password=pc_mail.users["alice"]) as client:
            client.create_mailbox(name)
            client.send(b"Subject: x\r\n\r\nbody\r\n", name)
            listed = {e.name: e for e in client.ls()}
            assert name in listed and not listed[name].details.get("invalid_name")
            [message] = client.ls(name)
            assert client.status(name)["MESSAGES"] == 1
            assert message.url == listed[name].url + ";UID=" + message.name
    encoded = VECTORS[name]
    wire = tap.client_bytes
    assert b"CREATE " + encoded in wire or b'CREATE "' + encoded + b'"' in wire
    assert name.encode("utf-8") not in wire  # never raw UTF-8 without UTF8=ACCEPT
    # The server decoded the wire form to exactly the intended name.
    assert name in pc_mail.store.mailboxes("alice")
    assert len(pc_mail.store.messages("alice", name)) == 1


def _list_script(names: list[bytes], caps: bytes = b"IMAP4rev1") -> list[Any]:
    listing = b"".join(b'* LIST () "/" "' + n + b'"\r\n' for n in names)
    return [
        h.send(b"* OK [CAPABILITY " + caps + b"] scripted\r\n"),
        h.expect(rb"^\S+ LOGIN "),
        h.send(h.tagged(b"OK [CAPABILITY " + caps + b"] in\r\n")),
        h.expect(rb'^\S+ LIST "" "\*"'),
        h.send(h.tagged(b"OK done\r\n", listing)),
        h.expect(rb"^\S+ LOGOUT", timeout=5),
        h.send(h.tagged(b"OK bye\r\n", b"* BYE\r\n")),
    ]


def test_INP_11_server_names_decoded_strictly(
    pc_hostile: Callable[..., HostileServer],
) -> None:
    srv = pc_hostile(
        _list_script([b"~peter/mail/&U,BTFw-/&ZeVnLIqe-", b"&Jjo!", b"&U,BTFw-&ZeVnLIqe-"])
    )
    entries = pc.ls(srv.url("imap", user="alice"), password="pw")
    assert srv.wait(5)
    by_raw = {e.details.get("raw_name", e.name): e for e in entries}
    valid = by_raw["~peter/mail/台北/日本語"]
    assert not valid.details.get("invalid_name")
    for raw in ("&Jjo!", "&U,BTFw-&ZeVnLIqe-"):
        entry = by_raw[raw]
        assert entry.details["invalid_name"] is True
        assert entry.name == raw  # shown as received, not guessed
    # The client sent exactly LOGIN, LIST, LOGOUT: nothing acted on the odd names.
    verbs = [line.split()[1].upper() for line in srv.lines]
    assert verbs == [b"LOGIN", b"LIST", b"LOGOUT"]


def test_INP_11_utf8_accept_sends_utf8(pc_hostile: Callable[..., HostileServer]) -> None:
    caps = b"IMAP4rev1 ENABLE UTF8=ACCEPT"
    srv = pc_hostile(
        [
            h.send(b"* OK [CAPABILITY " + caps + b"] scripted\r\n"),
            h.expect(rb"^\S+ LOGIN "),
            h.send(h.tagged(b"OK [CAPABILITY " + caps + b"] in\r\n")),
            h.expect(rb"^\S+ ENABLE UTF8=ACCEPT"),
            h.send(h.tagged(b"OK enabled\r\n", b"* ENABLED UTF8=ACCEPT\r\n")),
            h.expect(rb"^\S+ CREATE "),
            h.send(h.tagged(b"OK created\r\n")),
            h.expect(rb"^\S+ LOGOUT"),
            h.send(h.tagged(b"OK bye\r\n", b"* BYE\r\n")),
        ]
    )
    with pc.connect(srv.url("imap", user="alice"), password="pw") as client:
        client.create_mailbox("Entwürfe")
    assert srv.wait(5)
    create = next(line for line in srv.lines if b" CREATE " in line)
    assert create.split(b" ", 2)[2] in ('"Entwürfe"'.encode(), "Entwürfe".encode())


_NAME = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Co", "Cn"), blacklist_characters='/"\\*%'
    ),
    min_size=1,
    max_size=15,
).filter(lambda s: s.strip() == s and s.upper() != "INBOX")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=_NAME)
def test_INP_11_property_server_round_trip(pc_mail: Any, name: str) -> None:
    url = pc_mail.imap_url.replace("://", "://alice@", 1)
    with pc.connect(url, password=pc_mail.users["alice"]) as client:
        if name not in pc_mail.store.mailboxes("alice"):
            client.create_mailbox(name)
        names = [e.name for e in client.ls()]
    assert name in names
    assert name in pc_mail.store.mailboxes("alice")
