"""Property tests of the POP3 response parsers (protoclients.protocols.pop3parse).

Scan and unique-id listings generated from ``{number: size}`` / ``{number: uidl}`` maps
parse back to the same maps; duplicates (a message listed twice, two messages sharing a
unique id — which would make "download then delete" unsafe) are refused; the entry bound
holds; any bytes raise :class:`MalformedResponse` only; ``eml_name`` is a safe, one-to-one
file name.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.protocols.pop3parse import (
    MalformedResponse,
    apop_timestamp,
    eml_name,
    parse_capa,
    parse_scan_listing,
    parse_stat,
    parse_uidl_listing,
)

_SETTINGS = settings(max_examples=100, deadline=None)
_UIDL = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=70
)


@_SETTINGS
@given(st.dictionaries(st.integers(1, 2**31 - 1), st.integers(0, 2**50), max_size=30))
def test_properties_pop3parse_scan_round_trip(sizes: dict[int, int]) -> None:
    lines = [b"%d %d" % item for item in sizes.items()]
    assert parse_scan_listing(lines, max_entries=100) == sizes


@_SETTINGS
@given(st.dictionaries(st.integers(1, 2**31 - 1), _UIDL, max_size=30))
def test_properties_pop3parse_uidl_round_trip(uidls: dict[int, str]) -> None:
    lines = [f"{n} {u}".encode() for n, u in uidls.items()]
    if len(set(uidls.values())) < len(uidls):
        with pytest.raises(MalformedResponse):
            parse_uidl_listing(lines, max_entries=100)
        return
    assert parse_uidl_listing(lines, max_entries=100) == uidls


@_SETTINGS
@given(st.lists(st.integers(1, 50), min_size=2, max_size=10))
def test_properties_pop3parse_duplicates_refused(numbers: list[int]) -> None:
    lines = [b"%d 10" % n for n in numbers]
    if len(set(numbers)) < len(numbers):
        with pytest.raises(MalformedResponse):
            parse_scan_listing(lines, max_entries=100)
    else:
        assert len(parse_scan_listing(lines, max_entries=100)) == len(numbers)


@_SETTINGS
@given(st.integers(0, 40), st.integers(0, 40))
def test_properties_pop3parse_entry_bound(count: int, limit: int) -> None:
    lines = [b"%d 1" % (n + 1) for n in range(count)]
    if count > limit:
        with pytest.raises(MalformedResponse):
            parse_scan_listing(lines, max_entries=limit)
    else:
        assert len(parse_scan_listing(lines, max_entries=limit)) == count


_LINEISH = st.lists(
    st.sampled_from(
        [b"1", b"0", b" ", b"-1", b"99999999999999999999", b"+OK", b"x", b"\t", b"\xff", b"2"]
    ),
    max_size=8,
).map(b"".join)


@_SETTINGS
@given(st.lists(st.one_of(_LINEISH, st.binary(max_size=20)), max_size=5))
def test_properties_pop3parse_total(lines: list[bytes]) -> None:
    for parse in (parse_scan_listing, parse_uidl_listing):
        try:
            result = parse(lines, 10)
        except MalformedResponse:
            continue
        assert all(1 <= n < 2**31 for n in result)
    for line in lines:
        try:
            count, size = parse_stat(line)
        except MalformedResponse:
            continue
        assert count >= 0 and size >= 0
        apop_timestamp(line)
    assert isinstance(parse_capa(lines), dict)


@_SETTINGS
@given(_UIDL, _UIDL, st.integers(1, 1000))
def test_properties_pop3parse_eml_name(a: str, b: str, number: int) -> None:
    name = eml_name(number, a)
    assert name.endswith(".eml") and len(name) <= 255
    assert "/" not in name and "\0" not in name and not name.startswith(".")
    if a != b:
        assert eml_name(number, b) != name
