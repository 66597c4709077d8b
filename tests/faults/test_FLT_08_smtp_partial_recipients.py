"""FLT-08 (SMTP, fault): three recipients, the second ``RCPT`` refused with ``550``.

The real SMTP server (unknown recipients refused) gets ``alice``, ``nobody`` and ``carol``:
``send`` returns a *partial* result (``partial=True``, ``accepted`` = alice and carol,
``refused`` = nobody with ``550`` and the server's text); the message went once to the two
accepted mailboxes (one ``DATA`` on the wire). Retrying with ``to=result.refused`` does not
send it to the accepted recipients again. All recipients refused: ``RecipientsRefused`` and
no ``DATA`` at all. (The command line maps a partial result to its own exit code.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from protoclients_fixtures import serve_mail
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc
from protoclients.protocols.smtp import RecipientsRefused

pytestmark = pytest.mark.timeout(60)

MESSAGE = b"From: bob@example.org\r\nSubject: s\r\n\r\nbody\r\n"
TO = ["alice@example.org", "nobody@example.org", "carol@example.org"]


@pytest.fixture
def smtp() -> Iterator[tuple[Any, TrafficTap]]:
    with serve_mail(tls=False, auto_create=False) as mail:
        mail.store.add_user("carol", "carol-pw")
        with TrafficTap(mail.smtp.host, mail.smtp.port) as tap:
            yield mail, tap


def _lines(tap: TrafficTap) -> list[str]:
    return [line.upper() for line in tap.client_lines()]


def test_FLT_08_partial_result_per_recipient(smtp: tuple[Any, TrafficTap]) -> None:
    mail, tap = smtp
    result = pc.send(tap.url("smtp://127.0.0.1/"), MESSAGE, to=TO)
    assert result.partial is True
    assert result.accepted == ["alice@example.org", "carol@example.org"]
    assert list(result.refused) == ["nobody@example.org"]
    code, text = result.refused["nobody@example.org"]
    assert code == 550 and "User unknown" in text
    lines = _lines(tap)
    assert [line for line in lines if line.startswith("RCPT")] == [
        f"RCPT TO:<{address.upper()}>" for address in TO
    ]
    assert lines.count("DATA") == 1
    [envelope] = mail.smtp_received
    assert envelope.rcpt_tos == ["alice@example.org", "carol@example.org"]
    assert len(mail.store.messages("alice")) == 1 and len(mail.store.messages("carol")) == 1

    # Retrying only the refused recipient never re-sends to the accepted ones.
    with pytest.raises(RecipientsRefused) as info:
        pc.send(tap.url("smtp://127.0.0.1/"), MESSAGE, to=list(result.refused))
    assert info.value.refused["nobody@example.org"][0] == 550
    assert info.value.status == 550 and not info.value.temporary
    assert len(mail.smtp_received) == 1
    assert len(mail.store.messages("alice")) == 1 and len(mail.store.messages("carol")) == 1


def test_FLT_08_all_refused_sends_no_data(smtp: tuple[Any, TrafficTap]) -> None:
    mail, tap = smtp
    with pytest.raises(RecipientsRefused) as info:
        pc.send(tap.url("smtp://127.0.0.1/"), MESSAGE, to=["x@example.org", "y@example.org"])
    assert set(info.value.refused) == {"x@example.org", "y@example.org"}
    assert "DATA" not in _lines(tap)
    assert mail.smtp_received == []


def test_FLT_08_partial_on_a_reused_connection(smtp: tuple[Any, TrafficTap]) -> None:
    mail, tap = smtp
    with pc.connect(tap.url("smtp://127.0.0.1/")) as client:
        first = client.send(MESSAGE, to=TO)
        second = client.send(MESSAGE, to=["carol@example.org"])
    assert first.partial and not second.partial
    assert [e.rcpt_tos for e in mail.smtp_received] == [
        ["alice@example.org", "carol@example.org"],
        ["carol@example.org"],
    ]
    assert len(tap.connections) == 1
    assert _lines(tap).count("DATA") == 2
