"""The SMTP DATA payload (INP-08, SMTP smuggling): CRLF only, dot-stuffing, bounded lines,
chunk-boundary safety; and raw header sections (Bcc stripping byte for byte)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.errors import InvalidInput
from protoclients.protocols.smtpdata import (
    MAX_LINE,
    DataEncoder,
    LineTooLong,
    encode_message,
    find_head_end,
    raw_fields,
    strip_bcc,
)
from protoclients.protocols.smtpmessage import prepare_message


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        (b"A\n.\nB", b"A\r\n..\r\nB\r\n.\r\n"),
        (b"A\r.\r\nB", b"A\r\n..\r\nB\r\n.\r\n"),
        (b"A\r\n.\r\nB", b"A\r\n..\r\nB\r\n.\r\n"),
        (b"A\rB\nC\r\n", b"A\r\nB\r\nC\r\n.\r\n"),
        (b".starts with a dot", b"..starts with a dot\r\n.\r\n"),
        (b"..two", b"...two\r\n.\r\n"),
        (b"end\r", b"end\r\n.\r\n"),
        (b"x\n\n.\n", b"x\r\n\r\n..\r\n.\r\n"),
        (b"", b".\r\n"),
        (b"\r\n", b"\r\n.\r\n"),
        (b"A\r\n.\nmail from:<x>\r\n", b"A\r\n..\r\nmail from:<x>\r\n.\r\n"),
        (b"A\n.\r\nB", b"A\r\n..\r\nB\r\n.\r\n"),
    ],
)
def test_encoding(data: bytes, wire: bytes) -> None:
    assert encode_message(data) == wire


def _unstuff(payload: bytes) -> bytes:
    """What a correct server stores: lines with one leading dot removed, up to the end."""
    assert payload.endswith(b".\r\n")
    body = payload[:-3]
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def _normalise(data: bytes) -> bytes:
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    if text and not text.endswith(b"\r\n"):
        text += b"\r\n"
    return text


_PIECES = st.lists(
    st.sampled_from([b"A", b"b", b".", b"\r", b"\n", b"\r\n", b"\r\n.\r\n", b"\n.\n", b"\xff"]),
    max_size=60,
)


@given(_PIECES, st.lists(st.integers(min_value=0, max_value=200), max_size=6))
@settings(max_examples=400)
def test_payload_is_unambiguous_and_split_invariant(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    payload = encode_message(data)
    # No bare CR or LF on the wire.
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", payload) is None
    # The end-of-data sequence appears once, at the end (no smuggling of a second message).
    if payload != b".\r\n":
        assert payload.find(b"\r\n.\r\n") == len(payload) - 5
        assert not payload.startswith(b".\r\n")
    # A correct server recovers the message (with normalised line ends) exactly.
    assert _unstuff(payload) == _normalise(data)
    # Chunk boundaries do not change anything (CR at the end of a chunk, dot at the start).
    encoder = DataEncoder()
    out = []
    last = 0
    for cut in sorted(cuts):
        out.append(encoder.feed(data[last:cut]))
        last = max(last, cut)
    out.append(encoder.feed(data[last:]))
    out.append(encoder.finish())
    assert b"".join(out) == payload
    assert encoder.size == len(payload)
    assert encoder.eight_bit == (b"\xff" in data)


def test_line_limit_exact_and_over() -> None:
    assert encode_message(b"x" * MAX_LINE + b"\r\n")
    assert encode_message(b"." + b"x" * (MAX_LINE - 1))
    with pytest.raises(LineTooLong):
        encode_message(b"x" * (MAX_LINE + 1))
    with pytest.raises(LineTooLong):
        encode_message(b"short\r\n" + b"y" * (MAX_LINE + 1) + b"\r\nshort\r\n")
    with pytest.raises(LineTooLong):
        encode_message(b"a\nb\n" + b"z" * 5000 + b"\n")


def test_line_limit_across_chunks() -> None:
    encoder = DataEncoder()
    encoder.feed(b"head\r\n" + b"x" * 600)
    with pytest.raises(LineTooLong):
        encoder.feed(b"x" * 400 + b"\r\n")
    encoder = DataEncoder()
    encoder.feed(b"x" * 600)
    encoder.feed(b"x" * 398 + b"\r")
    encoder.feed(b"\nnext")
    assert encoder.finish() == b"\r\n.\r\n"


def test_raw_bytes_with_long_line_refused_before_sending() -> None:
    raw = b"From: a@example.org\r\nTo: b@example.org\r\n\r\n" + b"x" * 2000 + b"\r\n"
    with pytest.raises(InvalidInput, match="998"):
        prepare_message(raw)


def test_email_message_with_long_line_is_reencoded() -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.org"
    line = "word " * 400
    msg.set_content(line + "\n", cte="8bit")
    prepared = prepare_message(msg)
    assert prepared.payload is not None
    assert max(len(x) for x in prepared.payload.split(b"\r\n")) <= MAX_LINE
    from email import message_from_bytes, policy

    parsed = message_from_bytes(_unstuff(prepared.payload), policy=policy.default)
    assert parsed.get_content().replace("\r\n", "\n") == line + "\n"


def test_head_end_and_fields() -> None:
    assert find_head_end(b"A: 1\r\nB: 2\r\n\r\nbody") == len(b"A: 1\r\nB: 2\r\n")
    assert find_head_end(b"A: 1\nB: 2\n\nbody") == len(b"A: 1\nB: 2\n")
    assert find_head_end(b"A: 1\rB: 2\r\rbody") == len(b"A: 1\rB: 2\r")
    assert find_head_end(b"\r\nbody") == 0
    assert find_head_end(b"A: 1\r\nB: 2\r\n") is None
    assert raw_fields(b"Subject: a\r\n  folded\r\nTo: x@y\r\n") == [
        ("subject", "a  folded"),
        ("to", "x@y"),
    ]


def test_strip_bcc_keeps_everything_else() -> None:
    head = (
        b"From: a@example.org\r\n"
        b"BCC: x@example.org,\r\n\ty@example.org\r\n"
        b"X-Bcc-Like: stays\r\n"
        b"Resent-Bcc: z@example.org\r\n"
        b"Cc: c@example.org\r\n"
    )
    assert strip_bcc(head) == (b"From: a@example.org\r\nX-Bcc-Like: stays\r\nCc: c@example.org\r\n")
    untouched = b"From: a@example.org\nTo: b@example.org\n"
    assert strip_bcc(untouched) is untouched


_HEADERISH = st.lists(
    st.sampled_from(
        [
            b"From: a@example.org\r\n",
            b"To: b@example.org, C <c@example.org>\n",
            b"Bcc: hidden@example.org\r\n",
            b"Cc: =?utf-8?q?x?= <d@example.org>\r\n",
            b'To: "q, r" <e@example.org>\r\n',
            b" folded continuation\r\n",
            b"Subject: \xff\xfe bad bytes\r\n",
            b"To: <>\r\n",
            b"Sender: (comment) f@example.org\r\n",
            b"\r\n",
            b"\n",
            b"body line\r\n",
            b".\r\n",
            b"\r",
            b"To: \x00@example.org\r\n",
            b"To: g@example.org\r\nBcc: h@example.org\r\n",
        ]
    ),
    max_size=12,
)


@given(_HEADERISH, st.booleans())
@settings(max_examples=300, deadline=None)
def test_any_raw_message_is_refused_cleanly_or_sent_safely(
    parts: list[bytes], explicit: bool
) -> None:
    data = b"".join(parts)
    envelope = {"mail_from": "s@example.org", "to": "t@example.org"} if explicit else {}
    try:
        prepared = prepare_message(data, **envelope)  # type: ignore[arg-type]
    except InvalidInput:
        assert not explicit
        return
    payload = prepared.payload
    assert payload is not None
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", payload) is None
    assert payload == b".\r\n" or payload.find(b"\r\n.\r\n") == len(payload) - 5
    # The header section ends at the first empty line (at once if the message starts so).
    head_end = 0 if payload.startswith(b"\r\n") else payload.find(b"\r\n\r\n")
    head = payload if head_end == -1 else payload[:head_end]
    assert not re.search(rb"(?im)^(resent-)?bcc:", head)
    for rcpt in prepared.recipients:
        assert not any(ch in rcpt for ch in "\r\n\0<> ")
