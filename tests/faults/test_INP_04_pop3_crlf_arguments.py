"""INP-04 (POP3, bad user input): CR/LF/NUL in USER, PASS, APOP, TOP, UIDL, RETR, DELE args.

``USER bob\\r\\nDELE 1``, ``PASS p\\r\\nDELE 1`` and message arguments with CR/LF are refused
before anything is sent (CVE-2025-15367: poplib 3.11.7 sends them; ruby/net-pop #31). The
real POP3 server's command log and the raw bytes on the wire hold no ``DELE``, and every
message is still in the maildrop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from protoclients_fixtures.tap import TrafficTap, leaked

import protoclients as pc
from protoclients.protocols.pop3 import POP3Client

pytestmark = pytest.mark.timeout(60)

INJECTIONS = ["1\r\nDELE 2", "1\nDELE 2", "1\rDELE 2", "1\0", "UIDL=a\r\nDELE 2"]


@pytest.fixture
def mail(pc_mail: Any) -> Iterator[tuple[Any, TrafficTap]]:
    for n in (1, 2, 3):
        pc_mail.store.deliver("alice", f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode())
    with TrafficTap(pc_mail.pop3.host, pc_mail.pop3.port) as tap:
        yield pc_mail, tap


def _no_dele(mail: Any, tap: TrafficTap) -> None:
    assert not any(c.upper().startswith("DELE") for c in mail.pop3.commands)
    assert b"DELE" not in tap.client_bytes.upper()
    assert len(mail.store.messages("alice", "INBOX")) == 3


@pytest.mark.parametrize(
    ("user", "password", "auth"),
    [
        ("alice\r\nDELE 1", "pw", "user"),
        ("alice\nDELE 1", "pw", "user"),
        ("alice\0", "pw", "user"),
        ("alice", "p\r\nDELE 1", "user"),
        ("alice", "p\nDELE 1", "user"),
        ("alice", "p\0DELE 1", "user"),
        ("alice\r\nDELE 1", "pw", "apop"),
        ("alice", "p\r\nDELE 1", "plain"),
    ],
)
def test_INP_04_login_arguments_refused_before_connecting(
    mail: tuple[Any, TrafficTap], user: str, password: str, auth: str
) -> None:
    srv, tap = mail
    with pytest.raises(pc.InvalidInput) as info:
        pc.ls(tap.url("pop3://alice@127.0.0.1/"), username=user, password=password, auth=auth)
    text = str(info.value) + repr(info.value)
    assert "DELE" not in text and "\r" not in text and "\n" not in text
    assert not leaked(text, "alice", password)
    assert tap.connections == []
    assert srv.pop3.commands == []
    _no_dele(srv, tap)


def test_INP_04_message_arguments_refused_on_every_call(mail: tuple[Any, TrafficTap]) -> None:
    srv, tap = mail
    client = pc.connect(tap.url("pop3://alice@127.0.0.1/"), password=srv.users["alice"])
    assert isinstance(client, POP3Client)
    with client:
        assert len(client.ls()) == 3
        commands, wire = list(srv.pop3.commands), tap.client_bytes
        for bad in INJECTIONS:
            calls = [
                lambda b=bad: client.fetch(b),
                lambda b=bad: client.delete(b),
                lambda b=bad: client.ls(b),
                lambda b=bad: client.fetch(uidl=b),
                lambda b=bad: client.delete(uidl=b),
                lambda b=bad: client.top(b),
            ]
            for call in calls:
                with pytest.raises(pc.InvalidInput) as info:
                    call()
                assert "DELE" not in str(info.value)
        for url in ("1%0d%0aDELE%202", "1%0aDELE%202", "UIDL=x%0d%0aDELE%202", "1%00"):
            with pytest.raises(pc.InvalidInput):
                client.fetch(tap.url("pop3://alice@127.0.0.1/") + url)
        # The raw escape hatch refuses too.
        with pytest.raises(ValueError):
            client.raw.putcmd("NOOP\r\nDELE 2")
        assert srv.pop3.commands == commands
        assert tap.client_bytes == wire
        assert len(client.ls()) == 3  # the session is still usable
    _no_dele(srv, tap)
