"""INP-12 (SMTP, bad user input): internationalised addresses need SMTPUTF8, IDN domains don't.

A recipient ``δοκιμή@παράδειγμα.δοκιμή`` to a server **without** ``SMTPUTF8`` raises
``SMTPUTF8Required`` and nothing is sent after ``EHLO``; **with** it, the envelope goes as
``MAIL FROM:<...> SMTPUTF8`` (+ ``BODY=8BITMIME``) and the server stores the message;
``user@bücher.example`` (IDN domain only) needs no extension: ``xn--bcher-kva.example``.
Server side: the raw commands through a recording relay and the real server's envelopes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from protoclients_fixtures import serve_mail
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc
from protoclients.protocols.smtp import SMTPUTF8Required

pytestmark = pytest.mark.timeout(60)

GREEK = "δοκιμή@παράδειγμα.δοκιμή"
MESSAGE = b"From: bob@example.org\r\nSubject: utf8\r\n\r\nhello\r\n"


@pytest.fixture(params=[False, True], ids=["no-smtputf8", "smtputf8"])
def smtp(request: pytest.FixtureRequest) -> Iterator[tuple[Any, TrafficTap, bool]]:
    with (
        serve_mail(tls=False, smtputf8=request.param) as mail,
        TrafficTap(mail.smtp.host, mail.smtp.port) as tap,
    ):
        yield mail, tap, request.param


def _commands(tap: TrafficTap) -> list[str]:
    return [line for line in tap.client_bytes.decode("utf-8").split("\r\n") if line]


def test_INP_12_non_ascii_local_part(smtp: tuple[Any, TrafficTap, bool]) -> None:
    mail, tap, offered = smtp
    url = tap.url("smtp://127.0.0.1/client.example")
    if not offered:
        with pytest.raises(SMTPUTF8Required) as info:
            pc.send(url, MESSAGE, to=GREEK)
        assert isinstance(info.value, pc.UnsupportedOperation)
        assert "SMTPUTF8" in str(info.value)
        # EHLO, then nothing but the polite goodbye: no MAIL, no RCPT, no DATA.
        verbs = [c.split()[0].upper() for c in _commands(tap)]
        assert verbs[0] == "EHLO" and set(verbs[1:]) <= {"QUIT", "RSET"}
        assert mail.smtp_received == []
        return
    result = pc.send(url, MESSAGE, to=GREEK)
    assert result.details["smtputf8"] is True
    ascii_domain = "παράδειγμα.δοκιμή".encode("idna").decode("ascii")
    wire_rcpt = f"δοκιμή@{ascii_domain}"
    mail_from = next(c for c in _commands(tap) if c.upper().startswith("MAIL FROM:"))
    assert mail_from.startswith("MAIL FROM:<bob@example.org>")
    assert "SMTPUTF8" in mail_from.split()
    assert "BODY=8BITMIME" in mail_from.split()
    assert f"RCPT TO:<{wire_rcpt}>" in _commands(tap)
    [envelope] = mail.smtp_received
    assert envelope.smtputf8 is True
    assert envelope.rcpt_tos == [wire_rcpt]


def test_INP_12_idn_domain_goes_as_a_labels(smtp: tuple[Any, TrafficTap, bool]) -> None:
    mail, tap, _offered = smtp
    result = pc.send(tap.url("smtp://127.0.0.1/"), MESSAGE, to="user@bücher.example")
    assert result.accepted == ["user@xn--bcher-kva.example"]
    assert result.details["smtputf8"] is False
    commands = _commands(tap)
    assert "RCPT TO:<user@xn--bcher-kva.example>" in commands
    mail_from = next(c for c in commands if c.upper().startswith("MAIL FROM:"))
    assert "SMTPUTF8" not in mail_from
    assert tap.client_bytes.isascii()  # no extension needed, nothing non-ASCII on the wire
    assert [e.rcpt_tos for e in mail.smtp_received] == [["user@xn--bcher-kva.example"]]


def test_INP_12_non_ascii_sender_needs_it_too(smtp: tuple[Any, TrafficTap, bool]) -> None:
    mail, tap, offered = smtp
    url = tap.url("smtp://127.0.0.1/")
    if offered:
        pc.send(url, MESSAGE, mail_from="ü@example.org", to="alice@example.org")
        assert mail.smtp_received[0].mail_from == "ü@example.org"
    else:
        with pytest.raises(SMTPUTF8Required):
            pc.send(url, MESSAGE, mail_from="ü@example.org", to="alice@example.org")
        assert not any(c.upper().startswith("MAIL") for c in _commands(tap))
