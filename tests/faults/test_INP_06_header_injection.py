"""INP-06 (SMTP / email, bad user input): header values cannot add headers or recipients.

``Subject: hi\\r\\nBcc: evil@x``, display names, custom headers and attachment file names
with CR/LF are refused before sending (CVE-2024-6923, gh-121284, gh-80222, CVE-2025-1795,
CVE-2026-1299; this runs on Python 3.11.7, which lacks ``verify_generated_headers``). Long
values that force folding, encoded words and quoted strings round-trip: the message the real
SMTP server received parses back to exactly the intended headers, and its envelope holds
exactly the intended recipients (Bcc in the envelope, never in the data).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage, Message
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc

pytestmark = pytest.mark.timeout(120)

FROM = "alice@example.org"
INJECTED = ["hi\r\nBcc: evil@x.example", "hi\nBcc: evil@x.example", "hi\rX: y", "a\0b"]


@pytest.fixture
def smtp(pc_mail: Any) -> Iterator[tuple[Any, TrafficTap]]:
    with TrafficTap(pc_mail.smtp.host, pc_mail.smtp.port) as tap:
        yield pc_mail, tap


def _squeeze(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("value", INJECTED)
def test_INP_06_compose_refuses_crlf_in_every_header_value(value: str) -> None:
    attempts: list[dict[str, Any]] = [
        {"subject": value},
        {"to": (value, "bob@example.org")},
        {"to": f"{value} <bob@example.org>"},
        {"cc": (value, "bob@example.org")},
        {"headers": {"X-Custom": value}},
        {"headers": {value: "v"}},
        {"attachments": [(value + ".txt", b"data")]},
        {"message_id": f"<{value}@example.org>"},
    ]
    for extra in attempts:
        kwargs: dict[str, Any] = {"from_": FROM, "to": "bob@example.org", "text": "x\n"}
        kwargs.update(extra)
        with pytest.raises(pc.InvalidInput) as info:
            pc.compose(**kwargs)
        assert "evil" not in str(info.value)
    with pytest.raises(pc.InvalidInput):
        pc.compose(from_=(value, FROM), to="bob@example.org")


@pytest.mark.parametrize("value", INJECTED[:3])
def test_INP_06_hand_built_messages_with_crlf_headers_are_not_sent(
    smtp: tuple[Any, TrafficTap], value: str
) -> None:
    mail, tap = smtp
    for name in ("Subject", "X-Custom", "Comments"):
        msg = Message()  # compat32: accepts the value, serialises it as-is on 3.11.7
        msg["From"] = FROM
        msg["To"] = "alice@example.org"
        msg[name] = value
        msg.set_payload("body\n")
        with pytest.raises(pc.InvalidInput):
            pc.send(tap.url("smtp://127.0.0.1/"), msg)
    assert tap.connections == []
    assert mail.smtp_received == []


_SAFE = st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp", "Cf"))
_TEXT = st.one_of(
    st.text(_SAFE, min_size=1, max_size=60),
    st.lists(st.sampled_from([*'ab "\\,;:<>@()=?üé', "=?utf-8?q?x?="]), max_size=60).map("".join),
    st.text(st.sampled_from("ab c"), min_size=78, max_size=300),  # forces folding
).filter(lambda s: s.strip() != "")
_LOCAL = st.text(st.sampled_from("abcdefghij0123456789+_-"), min_size=1, max_size=12)


@pytest.fixture
def client(smtp: tuple[Any, TrafficTap]) -> Iterator[Any]:
    _, tap = smtp
    with pc.connect(tap.url("smtp://127.0.0.1/")) as connected:
        yield connected


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    subject=_TEXT,
    name=_TEXT,
    value=_TEXT,
    filename=_TEXT.filter(lambda s: "/" not in s and "\\" not in s and len(s) <= 200),
    locals_=st.lists(_LOCAL, min_size=3, max_size=3, unique=True),
)
def test_INP_06_property_server_receives_exactly_the_intended_message(
    smtp: tuple[Any, TrafficTap],
    client: Any,
    subject: str,
    name: str,
    value: str,
    filename: str,
    locals_: list[str],
) -> None:
    mail, _ = smtp
    to = [(name, f"{locals_[0]}@example.org"), f"{locals_[1]}@example.org"]
    bcc = f"{locals_[2]}@example.org"
    msg = pc.compose(
        from_=(name, FROM),
        to=to,
        bcc=bcc,
        subject=subject,
        headers={"X-Value": value},
        text="body\n",
        attachments=[(filename, b"payload\r\n", "application/octet-stream")],
    )
    count = len(mail.smtp_received)
    result = client.send(msg)
    assert len(mail.smtp_received) == count + 1
    envelope = mail.smtp_received[-1]
    intended = [to[0][1], to[1], bcc]
    assert envelope.rcpt_tos == intended
    assert result.accepted == intended
    assert envelope.mail_from == FROM
    assert b"\r\n" in envelope.data and b"\n" not in envelope.data.replace(b"\r\n", b"")
    assert max(len(line) for line in envelope.data.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(envelope.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert sorted(k.lower() for k in parsed) == [
        "content-type",
        "date",
        "from",
        "message-id",
        "mime-version",
        "subject",
        "to",
        "x-value",
    ]
    assert [a.addr_spec for a in parsed["To"].addresses] == [to[0][1], to[1]]
    # The text values survive, white space aside (folding). Text that is itself RFC 2047
    # syntax ("=?utf-8?q?x?=") is decoded by every receiver (CPython's parser too): then
    # only the headers and recipients are compared, which is what matters for injection.
    if "=?" not in subject + name + value:
        assert _squeeze(parsed["Subject"]) == _squeeze(subject)
        assert _squeeze(parsed["X-Value"]) == _squeeze(value)
        assert _squeeze(parsed["To"].addresses[0].display_name) == _squeeze(name)
        assert _squeeze(parsed["From"].addresses[0].display_name) == _squeeze(name)
    assert b"<" + bcc.encode() not in envelope.data and b" " + bcc.encode() not in envelope.data
    attachments = list(parsed.iter_attachments())
    assert len(attachments) == 1
    if "=?" not in filename:
        assert _squeeze(attachments[0].get_filename() or "") == _squeeze(filename)
    assert attachments[0].get_content() == b"payload\r\n"
