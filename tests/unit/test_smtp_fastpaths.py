"""The fast paths of the SMTP message preparation give exactly what the general code gives:
envelope fields found without splitting the whole header section, the end of the header
section found with plain searches, Bcc fields removed whatever their line ends."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.protocols.smtpdata import (
    ENVELOPE_FIELDS,
    envelope_fields,
    find_head_end,
    raw_fields,
    strip_bcc,
)
from protoclients.protocols.smtpmessage import prepare_message

_PIECES = st.lists(
    st.sampled_from(
        [
            b"From",
            b"to",
            b"TO",
            b"Cc",
            b"bcc",
            b"Resent-",
            b"resent-date",
            b"Message-ID",
            b"Sender",
            b"X-To",
            b":",
            b" ",
            b"\t",
            b"\x0b",
            b"\x0c",
            b"\r\n",
            b"\n",
            b"\r",
            b"a@example.org",
            b"<b@example.org>",
            b",",
            b"\xc3\xa9",
            b"\xff",
        ]
    ),
    max_size=40,
)


def _reference(head: bytes) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in raw_fields(head):
        if name in ENVELOPE_FIELDS:
            found.setdefault(name, []).append(value)
    return found


@given(_PIECES)
@settings(max_examples=1500)
def test_envelope_fields_match_raw_fields(pieces: list[bytes]) -> None:
    head = b"".join(pieces)
    assert envelope_fields(head) == _reference(head)


@pytest.mark.parametrize(
    "head",
    [
        b"From: a@example.org\r\nTo: b@example.org\r\n",
        b" to : x@example.org\r\nFrom:y@example.org\r\n",
        b"Subject: s\r\n to: not a field\r\n\x0bCC\x0c : c@example.org\r\n",
        b"To: a@example.org,\r\n\tb@example.org\r\nX: 1\r\n",
        b"To: a@example.org\nCc: c@example.org\n  , d@example.org",
        b"Resent-Date: now\r\nResent-To: r@example.org\r\nmessage-id: <x@y>\r\n",
        b"To: a@example.org\rBcc: b@example.org\r\n",
        b"",
    ],
)
def test_envelope_fields_examples(head: bytes) -> None:
    assert envelope_fields(head) == _reference(head)


_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")


def _head_end_reference(data: bytes) -> int | None:
    if _LINE_END.match(data) is not None:
        return 0
    match = _BLANK_LINE.search(data)
    if match is None:
        return None
    first_end = _LINE_END.match(data, match.start())
    assert first_end is not None
    return first_end.end()


@given(st.lists(st.sampled_from([b"A: 1", b"x", b"\r", b"\n", b"\r\n", b"\r\n\r\n"]), max_size=30))
@settings(max_examples=1000)
def test_find_head_end_matches_the_general_search(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert find_head_end(data) == _head_end_reference(data)


@pytest.mark.parametrize(
    "head",
    [
        # A bare CR ends a line: the Bcc field after it is a field of its own.
        b"From: a@example.org\r\nTo: b@example.org\rBcc: secret@example.org\r\nSubject: x\r\n",
        # The first line of the section is a field even when it starts with white space.
        b" Bcc: secret@example.org\r\nFrom: a@example.org\r\nTo: b@example.org\r\n",
        b"From: a@example.org\r\n\x0bBCC : secret@example.org\r\nTo: b@example.org\r\n",
    ],
)
def test_bcc_is_never_transmitted(head: bytes) -> None:
    assert b"secret" not in strip_bcc(head)
    message = prepare_message(head + b"\r\nbody\r\n")
    assert "secret@example.org" in message.recipients
    assert message.payload is not None
    assert b"secret" not in message.payload


def test_strip_bcc_untouched_without_bcc() -> None:
    head = b"From: a@example.org\r\nTo: b@example.org\r\n"
    assert strip_bcc(head) is head
