"""Modified UTF-7 (RFC 3501 5.1.3): the INP-11 vectors, rejection of invalid forms, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protoclients.protocols.imaputf7 import ModifiedUTF7Error, decode, encode

VECTORS = [
    ("Entwürfe", "Entw&APw-rfe"),
    ("台北/日本語", "&U,BTFw-/&ZeVnLIqe-"),
    ("a&b", "a&-b"),
    ("☺!", "&Jjo-!"),
    ("INBOX", "INBOX"),
    ("", ""),
    ("&", "&-"),
    ("😀", "&2D3eAA-"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
]


@pytest.mark.parametrize(("text", "encoded"), VECTORS)
def test_vectors(text: str, encoded: str) -> None:
    assert encode(text) == encoded
    assert decode(encoded) == text


@pytest.mark.parametrize(
    "bad",
    [
        "&Jjo!",  # run without its closing '-'
        "&U,BTFw-&ZeVnLIqe-",  # two adjacent runs (non-canonical)
        "&AGE-",  # a run encoding printable ASCII
        "&Jjp-",  # non-zero leftover bits
        "&",
        "&2D0-",  # lone surrogate
        "é",  # raw 8-bit character
        "a\tb",  # control character
        "&A-",  # one base64 character: not a whole UTF-16 unit
        "&Jj/-",  # '/' is not in the modified alphabet
    ],
)
def test_decoder_rejects_invalid(bad: str) -> None:
    with pytest.raises(ModifiedUTF7Error):
        decode(bad)


def test_error_is_a_value_error() -> None:
    assert issubclass(ModifiedUTF7Error, ValueError)


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40))
def test_round_trip(text: str) -> None:
    encoded = encode(text)
    assert encoded.isascii()
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert decode(encoded) == text


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30))
def test_decoder_never_crashes_on_ascii(text: str) -> None:
    try:
        decoded = decode(text)
    except ModifiedUTF7Error:
        return
    assert encode(decoded) == text  # whatever is accepted is canonical
