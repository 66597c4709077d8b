"""Response parsing: heads, literal announcements (hostile sizes), values, FETCH/LIST/SEARCH."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protoclients.protocols.imapparse import (
    LiteralTooLarge,
    MalformedResponse,
    Streamed,
    fetch_items,
    literal_size,
    parse_esearch,
    parse_head,
    parse_internaldate,
    parse_list,
    parse_search,
    parse_status,
    parse_uid_set,
    parse_values,
)

CAP = 1000


@pytest.mark.parametrize(
    ("line", "size"),
    [
        (b"* 1 FETCH (BODY[] {5}", 5),
        (b"x {0}", 0),
        (b"* OK done", None),
        (b'* LIST () "/" foo}', None),
    ],
)
def test_literal_size(line: bytes, size: int | None) -> None:
    assert literal_size(line, CAP) == size


@pytest.mark.parametrize("line", [b"x {50000000000}", b"x {99999999999999999999}", b"x {1001}"])
def test_literal_over_cap_is_refused_before_allocation(line: bytes) -> None:
    with pytest.raises(LiteralTooLarge):
        literal_size(line, CAP)


@pytest.mark.parametrize(
    "line", [b"x {-1}", b"x {}", b"x {abc}", b"x {1+}", b"x {" + b"9" * 21 + b"}"]
)
def test_malformed_literal(line: bytes) -> None:
    with pytest.raises(MalformedResponse):
        literal_size(line, CAP)


def test_heads() -> None:
    r = parse_head(b"A12 OK [APPENDUID 38505 3955] APPEND completed")
    assert (r.tag, r.kind, r.code, r.code_data, r.text) == (
        b"A12",
        "OK",
        "APPENDUID",
        b"38505 3955",
        b"APPEND completed",
    )
    r = parse_head(b"* 23 EXISTS")
    assert (r.tag, r.kind, r.number) == (b"*", "EXISTS", 23)
    r = parse_head(b"* NO [NONEXISTENT] no such mailbox")
    assert (r.kind, r.code) == ("NO", "NONEXISTENT")
    assert parse_head(b"+ idling").kind == "+"
    assert parse_head(b"+").text == b""
    r = parse_head(b"* CAPABILITY IMAP4rev1 IDLE")
    assert r.parts == [b"IMAP4rev1 IDLE"]
    for bad in [b"HTTP/1.1 400 Bad", b"", b"*", b"A1 MAYBE x", b"+x", b"\x00\x01"]:
        with pytest.raises(MalformedResponse):
            parse_head(bad)


def test_values_and_fetch_items() -> None:
    parts: list[bytes | Streamed] = [
        b'(UID 101 FLAGS (\\Seen $x) RFC822.SIZE 192 INTERNALDATE "01-Jan-1970 00:00:00 +0000" '
        b"BODY[HEADER.FIELDS (DATE FROM)] ",
        b"From: x\r\n\r\n",
        b" BODY[]<0> ",
        Streamed(10),
        b")",
    ]
    items = fetch_items(parse_values(parts))
    assert items["UID"] == b"101"
    assert items["FLAGS"] == [b"\\Seen", b"$x"]
    assert items["BODY[HEADER.FIELDS (DATE FROM)]"] == b"From: x\r\n\r\n"
    assert items["BODY[]<0>"] == Streamed(10)
    assert parse_values([b'NIL "a \\"b\\"" (x (y))']) == [None, b'a "b"', [b"x", [b"y"]]]


@pytest.mark.parametrize("bad", [b"(a", b"a)", b'"open', b"(" * 40 + b")" * 40, b"a {"])
def test_malformed_values(bad: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_values([bad])


def test_list_search_status() -> None:
    assert parse_list(parse_values([b'(\\HasNoChildren \\Sent) "/" "Sent Items"'])) == (
        ["\\HasNoChildren", "\\Sent"],
        "/",
        b"Sent Items",
    )
    assert parse_list(parse_values([b"(\\Noselect) NIL ", b"lit", b""])) == (
        ["\\Noselect"],
        None,
        b"lit",
    )
    with pytest.raises(MalformedResponse):
        parse_list(parse_values([b"foo"]))
    assert parse_search([b"1 5 9"]) == [1, 5, 9]
    assert parse_search([b""]) == []
    assert parse_search([b"2 3 (MODSEQ 917162500)"]) == [2, 3]
    with pytest.raises(MalformedResponse):
        parse_search([b"1 x"])
    assert parse_esearch([b'(TAG "A3") UID ALL 1:3,7']) == [1, 2, 3, 7]
    assert parse_status(parse_values([b"INBOX (MESSAGES 3 UIDNEXT 9)"])) == (
        b"INBOX",
        {"MESSAGES": 3, "UIDNEXT": 9},
    )


def test_uid_sets() -> None:
    assert parse_uid_set(b"3:5,9") == [3, 4, 5, 9]
    assert parse_uid_set("5:3") == [5, 4, 3]
    with pytest.raises(MalformedResponse):
        parse_uid_set(b"1:*")
    with pytest.raises(LiteralTooLarge):
        parse_uid_set(b"1:4000000000", limit=1000)


def test_internaldate() -> None:
    d = parse_internaldate(b"17-Jul-1996 02:44:25 -0700")
    assert d is not None
    assert (d.year, d.month, d.day, d.hour) == (1996, 7, 17, 2)
    assert d.utcoffset() == timedelta(hours=-7)
    assert parse_internaldate(b" 1-Jan-2026 00:00:00 +0000") is not None
    assert parse_internaldate(b"31-Feb-2026 00:00:00 +0000") is None
    assert parse_internaldate(b"garbage") is None
    assert parse_internaldate(None) is None


@given(st.binary(max_size=200))
def test_fuzz_never_crashes_unexpectedly(data: bytes) -> None:
    for func in (
        lambda: parse_head(data),
        lambda: parse_values([data]),
        lambda: literal_size(data, CAP),
    ):
        with contextlib.suppress(MalformedResponse):
            func()
