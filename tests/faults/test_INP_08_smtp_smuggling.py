"""INP-08 (SMTP, bad user input): message bodies cannot end the DATA early (SMTP smuggling).

Bodies given as ``str`` (``compose(text=...)``) and as ``bytes`` with ``A\\n.\\nB``,
``A\\r.\\r\\nB``, ``A\\r\\n.\\r\\nB``, bare CR, bare LF and ``\\n.\\r\\n`` + a second envelope
(CVE-2023-51764/-51765/-51766) go out with CRLF line ends only and leading dots doubled; a
line longer than 998 octets is encoded (``str`` bodies) or refused without delivering
anything (``bytes``). Server side: the recording relay shows one ``DATA`` payload without a
bare CR or LF and exactly one end-of-data line, and the real SMTP server stored exactly one
message with the original content, and no second envelope.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc

pytestmark = pytest.mark.timeout(120)

HEAD = b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: smuggling\r\n\r\n"
SMUGGLE = b"\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nevil\r\n"
BODIES = {
    "lf-dot-lf": b"A\n.\nB\n",
    "cr-dot-crlf": b"A\r.\r\nB\r\n",
    "crlf-dot-crlf": b"A\r\n.\r\nB\r\n",
    "bare-cr": b"A\rB\r",
    "bare-lf": b"A\nB\n",
    "lf-dot-crlf-smuggle": b"A\n.\r\n" + SMUGGLE,
    "cr-dot-cr-smuggle": b"A\r.\r" + SMUGGLE,
    "crlf-dot-lf-smuggle": b"A\r\n.\n" + SMUGGLE,
    "leading-dots": b".\r\n..\r\n.x\r\n",
    "no-final-newline": b"A\r\n.",
}


def _normalise(body: bytes) -> bytes:
    """What the body means with every CRLF, bare CR and bare LF as one line end."""
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", body)
    return text if text.endswith(b"\r\n") else text + b"\r\n"


@pytest.fixture
def smtp(pc_mail: Any) -> Iterator[tuple[Any, TrafficTap]]:
    with TrafficTap(pc_mail.smtp.host, pc_mail.smtp.port) as tap:
        yield pc_mail, tap


def _payloads(wire: bytes) -> list[bytes]:
    """The DATA payloads on the wire: from after each ``DATA`` command to the end-of-data
    line, included (the scan resumes after it, so a body line ``DATA`` is not a command)."""
    payloads = []
    pos = 0
    while True:
        match = re.compile(rb"(?im)^DATA\r\n").search(wire, pos)
        if match is None:
            return payloads
        start = match.end()
        end = wire.find(b"\r\n.\r\n", start - 2)
        assert end != -1, "no end-of-data line"
        payloads.append(b".\r\n" if end == start - 2 else wire[start : end + 5])
        pos = end + 5


def _check_wire(payload: bytes) -> None:
    body = payload[:-3]  # without the terminating ".\r\n"
    assert payload.endswith(b"\r\n.\r\n") or payload == b".\r\n"
    assert b"\r" not in body.replace(b"\r\n", b""), "bare CR on the wire"
    assert b"\n" not in body.replace(b"\r\n", b""), "bare LF on the wire"
    for line in body.split(b"\r\n"):
        assert line != b".", "an end-of-data line inside the payload"
        assert len(line) <= 998


@pytest.mark.parametrize("name", list(BODIES))
def test_INP_08_bytes_bodies_are_normalised_and_dot_stuffed(
    smtp: tuple[Any, TrafficTap], name: str
) -> None:
    mail, tap = smtp
    body = BODIES[name]
    result = pc.send(tap.url("smtp://127.0.0.1/"), HEAD + body)
    assert result.accepted == ["alice@example.org"]
    [payload] = _payloads(tap.client_bytes)
    _check_wire(payload)
    # Exactly one envelope, from the headers; the smuggled one never became a transaction.
    assert len(mail.smtp_received) == 1
    envelope = mail.smtp_received[0]
    assert envelope.mail_from == "bob@example.org"
    assert envelope.rcpt_tos == ["alice@example.org"]
    assert envelope.data == HEAD + _normalise(body)
    assert [m.data for m in mail.store.messages("alice")] == [HEAD + _normalise(body)]
    commands = tap.client_bytes.replace(payload, b"").split(b"\r\n")
    assert sum(1 for line in commands if line.upper().startswith(b"MAIL FROM")) == 1


@pytest.mark.parametrize("name", list(BODIES))
def test_INP_08_str_bodies_go_as_one_message_with_the_same_text(
    smtp: tuple[Any, TrafficTap], name: str
) -> None:
    mail, tap = smtp
    text = BODIES[name].decode("ascii")
    msg = pc.compose(from_="bob@example.org", to="alice@example.org", subject="s", text=text)
    pc.send(tap.url("smtp://127.0.0.1/"), msg)
    [payload] = _payloads(tap.client_bytes)
    _check_wire(payload)
    assert len(mail.smtp_received) == 1
    parsed = email.message_from_bytes(mail.smtp_received[0].data, policy=email.policy.default)
    received = parsed.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]
    expected = _normalise(BODIES[name]).decode("ascii").replace("\r\n", "\n")
    assert received == expected


def test_INP_08_overlong_lines(smtp: tuple[Any, TrafficTap]) -> None:
    mail, tap = smtp
    long_line = "x" * 5000
    msg = pc.compose(from_="bob@example.org", to="alice@example.org", text=long_line + "\n")
    pc.send(tap.url("smtp://127.0.0.1/"), msg)  # encoded (quoted-printable or base64)
    [payload] = _payloads(tap.client_bytes)
    _check_wire(payload)
    parsed = email.message_from_bytes(mail.smtp_received[0].data, policy=email.policy.default)
    content = parsed.get_content()  # type: ignore[attr-defined]
    assert content.replace("\r\n", "\n") == long_line + "\n"

    # Raw bytes cannot be re-encoded: refused, the DATA is abandoned, nothing delivered.
    before = len(mail.smtp_received)
    with pytest.raises(pc.InvalidInput) as info:
        pc.send(tap.url("smtp://127.0.0.1/"), HEAD + b"y" * 999 + b"\r\n")
    assert "998" in str(info.value) or "long" in str(info.value)
    assert len(mail.smtp_received) == before
    assert len(mail.store.messages("alice")) == before
    assert b"y" * 999 not in tap.client_bytes  # not even partly sent as one line


_PIECES = st.sampled_from(
    [b"A", b".", b"..", b"\r", b"\n", b"\r\n", b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"MAIL FROM:<e@x>"]
)


@pytest.fixture
def client(smtp: tuple[Any, TrafficTap]) -> Iterator[Any]:
    _, tap = smtp
    with pc.connect(tap.url("smtp://127.0.0.1/")) as connected:
        yield connected


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=st.lists(_PIECES, max_size=20))
def test_INP_08_property_one_message_with_the_original_content(
    smtp: tuple[Any, TrafficTap], client: Any, pieces: list[bytes]
) -> None:
    mail, tap = smtp
    body = b"".join(pieces)
    start = len(tap.client_bytes)
    count = len(mail.smtp_received)
    client.send(HEAD + body)
    payloads = _payloads(tap.client_bytes[start:])
    assert len(payloads) == 1
    _check_wire(payloads[0])
    assert len(mail.smtp_received) == count + 1
    assert mail.smtp_received[-1].data == HEAD + (_normalise(body) if body else b"")
