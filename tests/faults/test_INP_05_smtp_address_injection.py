"""INP-05 (SMTP, bad user input): envelope addresses and EHLO names are validated, not rewritten.

``MAIL FROM`` ``a@b>\\r\\nRCPT TO:<evil@x>``, ``RCPT`` ``x@y\\r\\nDATA``, addresses with
``<``/``>``/spaces and an EHLO name with CRLF raise ``InvalidInput`` (no silent rewriting to
``a@b``: bpo-43124, ``smtplib.quoteaddr``). The real SMTP server behind a recording relay
receives only the intended commands: nothing at all for a refused call, exactly
``EHLO``/``MAIL``/``RCPT``/``DATA`` for a good one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc

pytestmark = pytest.mark.timeout(60)

MESSAGE = b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
BAD_ADDRESSES = [
    "a@b>\r\nRCPT TO:<evil@x>",
    "a@b.example>\r\nRCPT TO:<evil@x.example>",
    "x@y\r\nDATA",
    "x@y\nDATA",
    "x@y\rDATA",
    "x\0@y.example",
    "<a@b.example>",
    "a@b.example>",
    "Evil <evil@x.example>",
    "a b@c.example",
    "a@b.example RCPT TO:<evil@x.example>",
    "a@b.example,evil@x.example",
]


@pytest.fixture
def smtp(pc_mail: Any) -> Iterator[tuple[Any, TrafficTap]]:
    with TrafficTap(pc_mail.smtp.host, pc_mail.smtp.port) as tap:
        yield pc_mail, tap


def _nothing_evil(mail: Any, tap: TrafficTap) -> None:
    wire = tap.client_bytes.lower()
    assert b"evil" not in wire
    assert all("evil" not in r for env in mail.smtp_received for r in env.rcpt_tos)


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_INP_05_bad_sender_refused_before_anything_is_sent(
    smtp: tuple[Any, TrafficTap], address: str
) -> None:
    mail, tap = smtp
    with pytest.raises(pc.InvalidInput) as info:
        pc.send(tap.url("smtp://127.0.0.1/"), MESSAGE, mail_from=address, to="alice@example.org")
    assert "\r" not in str(info.value) and "\n" not in str(info.value)
    assert tap.connections == []
    assert mail.smtp_received == []
    _nothing_evil(mail, tap)


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_INP_05_bad_recipient_refused_before_anything_is_sent(
    smtp: tuple[Any, TrafficTap], address: str
) -> None:
    mail, tap = smtp
    for to in (address, ["alice@example.org", address]):
        with pytest.raises(pc.InvalidInput):
            pc.send(tap.url("smtp://127.0.0.1/"), MESSAGE, to=to)
        with pytest.raises(pc.InvalidInput):
            pc.send(tap.url("smtp://127.0.0.1/"), MESSAGE, to="alice@example.org", bcc=to)
    assert tap.connections == []
    assert mail.smtp_received == []
    _nothing_evil(mail, tap)


@pytest.mark.parametrize(
    "header",
    [
        b"To: alice@example.org, <evil@x.example\r\n",
        b"To: alice@example.org\r\n RCPT TO:<evil@x.example>\r\n",
        b'Bcc: "x" <a@b.example>\r\n\tRCPT TO:<evil@x.example>\r\n',
    ],
)
def test_INP_05_envelope_from_hostile_headers_is_refused(
    smtp: tuple[Any, TrafficTap], header: bytes
) -> None:
    mail, tap = smtp
    raw = b"From: bob@example.org\r\n" + header + b"Subject: x\r\n\r\nbody\r\n"
    with pytest.raises(pc.InvalidInput):
        pc.send(tap.url("smtp://127.0.0.1/"), raw)
    assert tap.connections == []
    _nothing_evil(mail, tap)


@pytest.mark.parametrize("name", ["client%0d%0aRCPT%20TO:%3Cevil@x%3E", "a%0ab", "a%00"])
def test_INP_05_ehlo_name_with_crlf_refused(smtp: tuple[Any, TrafficTap], name: str) -> None:
    mail, tap = smtp
    with pytest.raises(pc.InvalidInput):
        pc.send(tap.url("smtp://127.0.0.1/") + name, MESSAGE)
    assert tap.connections == []
    _nothing_evil(mail, tap)


def test_INP_05_good_envelope_sends_exactly_the_intended_commands(
    smtp: tuple[Any, TrafficTap],
) -> None:
    mail, tap = smtp
    url = tap.url("smtp://127.0.0.1/client.example")
    with pc.connect(url) as client:
        result = client.send(MESSAGE, mail_from="bob@example.org", to="alice@example.org")
        with pytest.raises(pc.InvalidInput):
            client.send(MESSAGE, mail_from="a@b>\r\nRCPT TO:<evil@x>", to="alice@example.org")
        with pytest.raises(pc.InvalidInput):
            client.send(MESSAGE, to=["alice@example.org", "x@y\r\nDATA"])
    assert result.accepted == ["alice@example.org"]
    lines = tap.client_lines()
    assert lines[0].upper() == "EHLO CLIENT.EXAMPLE"
    end = lines.index(".")  # the end of the one message; QUIT follows
    assert [line.upper() for line in lines[end + 1 :]] == ["QUIT"]
    envelope = [c for c in lines[:end] if c.upper().startswith(("MAIL", "RCPT", "DATA", "BDAT"))]
    assert len(envelope) == 3
    assert envelope[0].startswith("MAIL FROM:<bob@example.org>")
    assert envelope[1] == "RCPT TO:<alice@example.org>"
    assert envelope[2] == "DATA"
    assert [e.rcpt_tos for e in mail.smtp_received] == [["alice@example.org"]]
    assert mail.smtp_received[0].mail_from == "bob@example.org"
    _nothing_evil(mail, tap)
