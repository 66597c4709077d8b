"""Property tests of modified UTF-7 (RFC 3501 section 5.1.3), protoclients.protocols.imaputf7.

The INP-11 vectors live with the input-validation cases; these are the general laws: every
Unicode name round-trips, the encoding is printable ASCII with ``&`` only opening a shift,
the decoder accepts exactly one spelling per name (decode then encode is the identity) and
refuses everything else with :class:`ModifiedUTF7Error` only.
"""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.protocols.imaputf7 import ModifiedUTF7Error, decode, encode

_SETTINGS = settings(max_examples=120, deadline=None)
_NAMES = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
# Modified-UTF-7-looking text: printable ASCII plus the characters that matter.
_ENCODED_ISH = st.lists(
    st.sampled_from([*"&-,+/AZaz09 .", "&-", "&AP", "&APw-", "&U,BTFw-", "&Jjo!", "~"]),
    max_size=12,
).map("".join)


@_SETTINGS
@given(_NAMES)
def test_properties_utf7_round_trip(name: str) -> None:
    encoded = encode(name)
    assert decode(encoded) == name
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)


@_SETTINGS
@given(_NAMES)
def test_properties_utf7_shape(name: str) -> None:
    """``&`` only opens a shift (``&-`` or ``&<base64>-``); ASCII stays as it is."""
    encoded = encode(name)
    pos = 0
    while True:
        pos = encoded.find("&", pos)
        if pos == -1:
            break
        end = encoded.index("-", pos + 1)
        run = encoded[pos + 1 : end]
        assert set(run) <= set(string.ascii_letters + string.digits + "+,")
        pos = end + 1
    if all(0x20 <= ord(c) <= 0x7E and c != "&" for c in name):
        assert encoded == name


@_SETTINGS
@given(st.one_of(_ENCODED_ISH, st.text(max_size=20)))
def test_properties_utf7_decoder_is_strict_and_canonical(text: str) -> None:
    """Decoding raises ModifiedUTF7Error only; what decodes re-encodes to the same text."""
    try:
        name = decode(text)
    except ModifiedUTF7Error:
        return
    assert encode(name) == text


@_SETTINGS
@given(_NAMES, _NAMES)
def test_properties_utf7_injective(a: str, b: str) -> None:
    if a != b:
        assert encode(a) != encode(b)


@_SETTINGS
@given(st.lists(_NAMES, min_size=1, max_size=4))
def test_properties_utf7_hierarchy(parts: list[str]) -> None:
    """Encoding a path segment by segment equals encoding the joined path ("/" is ASCII)."""
    joined = "/".join(parts)
    assert encode(joined) == "/".join(encode(p) for p in parts)
    assert decode(encode(joined)).split("/") == joined.split("/")
