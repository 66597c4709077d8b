"""Property tests of the IMAP response parser and argument quoting.

* :func:`parse_values` reads back any value tree (atoms, quoted strings with escapes, NIL,
  nested lists, literals) serialised the way a server sends it.
* :func:`parse_head` classifies generated tagged/untagged/continuation lines exactly, and any
  other bytes raise :class:`MalformedResponse` only.
* :func:`literal_size` enforces its cap before allocation, for every size.
* ``parse_uid_set(compress_uids(uids)) == uids``.
* :func:`astring` (what goes on a command line) is read back as the same value by an
  independent RFC 3501 ``astring`` reader, and is never a bare ``NIL``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.errors import InvalidInput
from protoclients.protocols.imapparse import (
    LiteralTooLarge,
    MalformedResponse,
    Streamed,
    literal_size,
    parse_head,
    parse_uid_set,
    parse_values,
)
from protoclients.protocols.imapquote import Literal, astring, compress_uids

_SETTINGS = settings(max_examples=100, deadline=None)
_ATOM = (
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-+:<>!#$&'*,/;=?@^_`|~",
        min_size=1,
        max_size=10,
    )
    .map(str.encode)
    .filter(lambda a: a.upper() != b"NIL")
)
_QUOTED = st.binary(max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b)


def _leaf() -> st.SearchStrategy[Any]:
    return st.one_of(
        _ATOM.map(lambda a: ("atom", a)),
        _QUOTED.map(lambda q: ("quoted", q)),
        st.just(("nil", None)),
    )


_TREE = st.recursive(_leaf(), lambda inner: st.lists(inner, max_size=4), max_leaves=20)


def _serialise(node: Any) -> bytes:
    if isinstance(node, list):
        return b"(" + b" ".join(_serialise(n) for n in node) + b")"
    kind, value = node
    if kind == "atom":
        return bytes(value)
    if kind == "nil":
        return b"NIL"
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _expected(node: Any) -> Any:
    if isinstance(node, list):
        return [_expected(n) for n in node]
    return node[1]


@_SETTINGS
@given(st.lists(_TREE, max_size=5))
def test_properties_imapparse_values_round_trip(nodes: list[Any]) -> None:
    text = b" ".join(_serialise(n) for n in nodes)
    assert parse_values([text]) == [_expected(n) for n in nodes]


@_SETTINGS
@given(
    before=st.lists(_ATOM, max_size=3),
    literal=st.binary(max_size=40),
    after=st.lists(_ATOM, max_size=3),
    streamed=st.booleans(),
)
def test_properties_imapparse_literal_in_list(
    before: list[bytes], literal: bytes, after: list[bytes], streamed: bool
) -> None:
    """``(a b {n}\\r\\n<bytes> c)``: the literal is one value, whatever bytes it holds."""
    head = b"(" + b"".join(a + b" " for a in before)
    tail = b"".join(b" " + a for a in after) + b")"
    piece: bytes | Streamed = Streamed(len(literal)) if streamed else literal
    values = parse_values([head, piece, tail])
    assert values == [[*before, piece, *after]]


_TAG = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8).map(
    str.encode
)
_TEXT = (
    st.binary(max_size=40)
    .filter(lambda t: b"\r" not in t and b"\n" not in t)
    .map(lambda t: t.lstrip(b"["))
)
_CODE = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=12).filter(
    lambda c: c[0] != "-"
)


@_SETTINGS
@given(
    tag=_TAG,
    status=st.sampled_from([b"OK", b"NO", b"BAD"]),
    code=st.one_of(st.none(), _CODE),
    data=st.one_of(st.none(), st.text(alphabet="0123456789 ABC", min_size=1, max_size=20)),
    text=_TEXT,
)
def test_properties_imapparse_tagged_head(
    tag: bytes, status: bytes, code: str | None, data: str | None, text: bytes
) -> None:
    line = tag + b" " + status + b" "
    if code is not None:
        line += b"[" + code.encode() + (b" " + data.encode() if data else b"") + b"] "
    line += text
    resp = parse_head(line)
    assert resp.tag == tag
    assert resp.kind == status.decode()
    assert resp.code == code
    if code is not None:
        assert resp.code_data == (data.encode() if data else None)
        assert resp.text == text
    assert resp.is_status


@_SETTINGS
@given(st.binary(max_size=80))
def test_properties_imapparse_head_total(line: bytes) -> None:
    try:
        resp = parse_head(line)
    except MalformedResponse:
        return
    assert resp.tag in (b"*", b"+") or resp.kind in {"OK", "NO", "BAD"}
    if resp.number is not None:
        assert 0 <= resp.number < 10**10


@_SETTINGS
@given(size=st.integers(0, 10**25), cap=st.integers(0, 10**12), prefix=_TEXT)
def test_properties_imapparse_literal_cap(size: int, cap: int, prefix: bytes) -> None:
    line = prefix + b" {" + str(size).encode() + b"}"
    try:
        got = literal_size(line, cap)
    except LiteralTooLarge:
        assert size > cap
        return
    except MalformedResponse:
        assert len(str(size)) > 20
        return
    assert got == size <= cap


@_SETTINGS
@given(st.binary(max_size=30))
def test_properties_imapparse_literal_size_total(line: bytes) -> None:
    try:
        got = literal_size(line, 1000)
    except MalformedResponse:
        return
    assert got is None or 0 <= got <= 1000


@_SETTINGS
@given(st.sets(st.integers(1, 2**32 - 1), min_size=1, max_size=60))
def test_properties_imapparse_uid_set_round_trip(uids: set[int]) -> None:
    ordered = sorted(uids)
    assert parse_uid_set(compress_uids(ordered)) == ordered


# An independent reader of an RFC 3501 astring (atom or quoted string), as a server parses it.
_RFC_ATOM = re.compile(rb"[^\x00-\x20\x7f-\xff(){%*\"\\\]]+")


def _read_astring(arg: bytes) -> bytes:
    if arg.startswith(b'"'):
        assert arg.endswith(b'"') and len(arg) >= 2
        body = arg[1:-1]
        out = bytearray()
        pos = 0
        while pos < len(body):
            if body[pos : pos + 1] == b"\\":
                assert body[pos + 1 : pos + 2] in (b"\\", b'"')
                out += body[pos + 1 : pos + 2]
                pos += 2
            else:
                assert body[pos : pos + 1] != b'"'
                out += body[pos : pos + 1]
                pos += 1
        return bytes(out)
    assert _RFC_ATOM.fullmatch(arg), arg
    assert arg.upper() != b"NIL"
    return arg


@_SETTINGS
@given(st.one_of(st.text(max_size=30), st.binary(max_size=30)))
def test_properties_imapparse_astring_reads_back(value: str | bytes) -> None:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if b"\r" in raw or b"\n" in raw or b"\0" in raw:
        with pytest.raises(InvalidInput) as info:
            astring(value)
        assert raw.decode("utf-8", "replace") not in str(info.value) or not raw.strip()
        return
    arg = astring(value)
    if isinstance(arg, Literal):
        assert arg.data == raw
    else:
        assert b"\r" not in arg and b"\n" not in arg
        assert _read_astring(arg) == raw
