"""INP-02 (IMAP, bad user input): mailbox names and search values cannot inject commands.

A mailbox ``INBOX\\r\\nA999 DELETE Archive``, a search value taken from a received message
(``"\\r\\nX1 STORE 1:* +FLAGS (\\Deleted)\\r\\nX2 EXPUNGE``) and ``imap://h/INBOX%0D%0A...`` are
refused before anything is sent (CVE-2025-15366: imaplib 3.11.7 injects). Values that can be
quoted (quotes, backslashes, parentheses) are quoted or sent as literals: the real IMAP
server receives exactly one command for the call, and no ``STORE``/``EXPUNGE``/``DELETE``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc
from protoclients.protocols.imap import IMAPClient

pytestmark = pytest.mark.timeout(60)

HOSTILE = '"\r\nX1 STORE 1:* +FLAGS (\\Deleted)\r\nX2 EXPUNGE'
MAILBOX = "INBOX\r\nA999 DELETE Archive"
DANGEROUS = ("STORE", "EXPUNGE", "DELETE", "COPY", "MOVE")


def _message(n: int, subject: str = "hello") -> bytes:
    return (
        f"From: s{n}@example.org\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <{n}@test>\r\n\r\nbody {n}\r\n"
    ).encode()


@pytest.fixture
def setup(pc_mail: Any) -> Iterator[tuple[Any, TrafficTap, IMAPClient]]:
    store = pc_mail.store
    store.create_mailbox("alice", "Archive")
    store.deliver("alice", _message(1), mailbox="Archive")
    # The hostile text arrives inside a message: an encoded-word decodes to CRLF + commands.
    word = base64.b64encode(HOSTILE.encode()).decode()
    store.deliver("alice", _message(2, f"=?utf-8?b?{word}?="))
    store.deliver("alice", _message(3))
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        client = pc.connect(tap.url("imap://alice@127.0.0.1/"), password=pc_mail.users["alice"])
        assert isinstance(client, IMAPClient)
        with client:
            client.ls("INBOX")
            yield pc_mail, tap, client


def _verbs(commands: list[str]) -> list[str]:
    """``A0001 UID SEARCH ...`` -> ``UID SEARCH``; ``A2 EXAMINE INBOX`` -> ``EXAMINE``."""
    out = []
    for line in commands:
        words = line.split()
        if len(words) >= 2:
            verb = words[1].upper()
            if verb == "UID" and len(words) >= 3:
                verb += " " + words[2].upper()
            out.append(verb)
    return out


def _assert_untouched(mail: Any, tap: TrafficTap) -> None:
    for verb in _verbs(mail.imap.commands):
        assert not any(word in verb for word in DANGEROUS), mail.imap.commands
    sent = tap.client_bytes.upper()
    assert b"A999" not in sent and b"X1 STORE" not in sent and b"X2 EXPUNGE" not in sent
    assert mail.store.has_mailbox("alice", "Archive")
    assert len(mail.store.messages("alice", "INBOX")) == 2
    assert len(mail.store.messages("alice", "Archive")) == 1
    assert all("\\Deleted" not in m.flags for m in mail.store.messages("alice", "INBOX"))


def test_INP_02_crlf_mailbox_name_refused_on_every_call(
    setup: tuple[Any, TrafficTap, IMAPClient],
) -> None:
    mail, tap, client = setup
    before_cmds, before_bytes = list(mail.imap.commands), tap.client_bytes
    calls = [
        lambda: client.ls(MAILBOX),
        lambda: client.fetch(MAILBOX + ";UID=1"),
        lambda: client.send(b"Subject: x\r\n\r\nx\r\n", MAILBOX),
        lambda: client.search(MAILBOX, "ALL"),
        lambda: client.create_mailbox(MAILBOX),
        lambda: client.rename_mailbox("Archive", MAILBOX),
        lambda: client.delete_mailbox(MAILBOX),
        lambda: client.status(MAILBOX),
        lambda: client.copy(1, "INBOX", MAILBOX),
        lambda: client.move(1, "INBOX", MAILBOX),
        lambda: client.set_flags(1, "\\Seen", MAILBOX),
    ]
    for call in calls:
        with pytest.raises(pc.InvalidInput) as info:
            call()
        text = str(info.value)
        assert "A999" not in text and "\r" not in text and "\n" not in text
    assert mail.imap.commands == before_cmds
    assert tap.client_bytes == before_bytes
    _assert_untouched(mail, tap)


def test_INP_02_crlf_in_url_refused_before_connecting(pc_mail: Any) -> None:
    pc_mail.store.create_mailbox("alice", "Archive")
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        for path in ("INBOX%0D%0AA999%20DELETE%20Archive", "INBOX%0aA999%20DELETE%20Archive"):
            with pytest.raises(pc.InvalidURL):
                pc.ls(tap.url("imap://alice@127.0.0.1/") + path, password=pc_mail.users["alice"])
        with pytest.raises(pc.InvalidURL):
            pc.ls(
                tap.url("imap://alice@127.0.0.1/") + "INBOX?HEADER%20X%20%22%0d%0aX2%20EXPUNGE",
                password=pc_mail.users["alice"],
            )
        assert tap.connections == []
    assert pc_mail.imap.commands == []
    assert pc_mail.store.has_mailbox("alice", "Archive")


def test_INP_02_search_value_from_a_received_message(
    setup: tuple[Any, TrafficTap, IMAPClient],
) -> None:
    mail, tap, client = setup
    entries = client.ls("INBOX")
    subject = next(e.details["subject"] for e in entries if e.details["message_id"] == "<2@test>")
    assert "\r\n" in subject  # the received header decodes to CRLF + commands
    before = len(mail.imap.commands)
    bytes_before = tap.client_bytes
    for criteria in (["HEADER", "Subject", subject], ["SUBJECT", subject], f"TEXT {subject}"):
        with pytest.raises(pc.InvalidInput) as info:
            client.search("INBOX", criteria)
        assert "EXPUNGE" not in str(info.value)
    assert len(mail.imap.commands) == before
    assert tap.client_bytes == bytes_before
    _assert_untouched(mail, tap)


def _commands(wire: bytes) -> list[list[bytes]]:
    """Split client bytes into commands: each a list of line pieces and literal payloads."""
    commands: list[list[bytes]] = []
    pos = 0
    current: list[bytes] = []
    while pos < len(wire):
        end = wire.index(b"\r\n", pos)
        line = wire[pos:end]
        pos = end + 2
        current.append(line)
        match = re.search(rb"\{([0-9]+)\+?\}$", line)
        if match:
            size = int(match.group(1))
            current.append(wire[pos : pos + size])
            pos += size
            continue
        commands.append(current)
        current = []
    assert current == [], "a command was left unfinished on the wire"
    return commands


#: RFC 3501 ATOM-CHAR: any CHAR except the atom-specials ( ) { SP CTL % * " \\ ].
_ATOM = re.compile(rb'[^(){ %*"\\\]\x00-\x1f\x7f-\xff]+')


def _unquote(arg: bytes) -> bytes:
    """The value of an IMAP quoted string that must span all of ``arg``."""
    assert arg[:1] == b'"' and arg[-1:] == b'"' and len(arg) >= 2, arg
    out = bytearray()
    i = 1
    while i < len(arg) - 1:
        char = arg[i : i + 1]
        if char == b"\\":
            assert arg[i + 1 : i + 2] in (b"\\", b'"'), arg
            out += arg[i + 1 : i + 2]
            i += 2
        else:
            assert char != b'"', f"unescaped quote inside {arg!r}"
            out += char
            i += 1
    assert i == len(arg) - 1, f"quoted string ends early in {arg!r}"
    return bytes(out)


def _search_once(mail: Any, tap: TrafficTap, client: IMAPClient, key: str, value: str) -> None:
    """Search for ``value``: exactly one UID SEARCH goes out, carrying ``value`` intact."""
    before_cmds = len(mail.imap.commands)
    before = len(tap.client_bytes)
    try:
        client.search("INBOX", [key, value])
    except pc.ProtocolError:
        # The test server's search parser (Twisted's) mishandles an escaped backslash
        # before a closing quote; the wire check below still proves the quoting.
        assert "\\" in value
    wire = tap.client_bytes[before:]
    searches = [c for c in _commands(wire) if b" UID SEARCH " in c[0].upper()]
    assert len(searches) == 1, wire
    [command] = searches
    if len(command) == 1:  # the value was quoted (or an atom) on the command line
        head = command[0]
        arg = head.split(key.encode() + b" ", 1)[1]
        if arg.startswith(b'"'):
            assert _unquote(arg).decode("utf-8") == value
        else:
            assert arg.decode("ascii") == value and _ATOM.fullmatch(arg)
    else:  # sent as a literal: the exact bytes, after a {n} announcement
        assert len(command) == 3 and command[2] == b"", command
        assert command[1] == value.encode("utf-8")
    new = _verbs(mail.imap.commands[before_cmds:])
    assert new.count("UID SEARCH") == 1
    assert set(new) <= {"UID SEARCH", "EXAMINE", "CAPABILITY", "LOGIN", "AUTHENTICATE"}
    _assert_untouched(mail, tap)


@pytest.mark.parametrize(
    "value",
    [
        'x" ALL) UID STORE 1:* +FLAGS (\\Deleted',
        '\\" OR ALL \\',
        "{5}",
        "a (b) * % ]",
        'Grüße \\ "quoted"',
        "plainatom",
    ],
)
def test_INP_02_quotable_values_go_as_one_command(
    setup: tuple[Any, TrafficTap, IMAPClient], value: str
) -> None:
    mail, tap, client = setup
    _search_once(mail, tap, client, "SUBJECT", value)
    _search_once(mail, tap, client, "TEXT", value)


_NASTY = st.text(
    alphabet=st.sampled_from([*list('aZ09 "\\(){}*%]\r\n\x00'), "ü", "台"]), min_size=1, max_size=30
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_NASTY)
def test_INP_02_property_one_command_or_refused(
    setup: tuple[Any, TrafficTap, IMAPClient], value: str
) -> None:
    mail, tap, client = setup
    if any(c in value for c in "\r\n\0"):
        before = len(mail.imap.commands)
        sent = tap.client_bytes
        with pytest.raises(pc.InvalidInput):
            client.search("INBOX", ["SUBJECT", value])
        with pytest.raises(pc.InvalidInput):
            client.status(value)
        assert len(mail.imap.commands) == before
        assert tap.client_bytes == sent
        _assert_untouched(mail, tap)
    else:
        _search_once(mail, tap, client, "SUBJECT", value)
