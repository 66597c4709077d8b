"""Property tests of the FTP listing parsers (protoclients.protocols.ftplisting).

Listings are generated from their parts (Unix ``ls -l`` lines, DOS/IIS lines, ``MLSD``
facts) and parsed back: name, kind and size come back exactly. Arbitrary lines never
raise, and no entry is ever named ``.``, ``..`` or holds a ``/`` (a hostile listing cannot
point an entry outside the listed directory). The entry bound raises ``OverflowError``.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.protocols.ftplisting import (
    ListingParser,
    parse_list_line,
    parse_mlsd_line,
    parse_mlsx_time,
)

_SETTINGS = settings(max_examples=100, deadline=None)
_NOW = datetime(2024, 6, 15, 12, 0)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
# A file name as servers print it: no control characters, no "/", no leading/trailing space,
# not "." or "..", and (for links) no " -> ".
_NAME = (
    st.text(
        alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="/"),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(lambda n: n not in {"", ".", ".."} and " -> " not in n and n == n.strip())
)
_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)
_PERMS = st.text(alphabet="rwx-", min_size=9, max_size=9)


@_SETTINGS
@given(
    kind=st.sampled_from(["-", "d", "l"]),
    perms=_PERMS,
    links=st.integers(1, 999),
    owner=_WORD,
    group=_WORD,
    size=st.integers(0, 2**48),
    month=st.sampled_from(_MONTHS),
    day=st.integers(1, 28),
    year_or_time=st.one_of(
        st.integers(1970, 2023).map(str),
        st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]}:{t[1]:02d}"),
    ),
    name=_NAME,
    target=_NAME,
)
def test_properties_ftplisting_unix_round_trip(
    kind: str,
    perms: str,
    links: int,
    owner: str,
    group: str,
    size: int,
    month: str,
    day: int,
    year_or_time: str,
    name: str,
    target: str,
) -> None:
    shown = f"{name} -> {target}" if kind == "l" else name
    line = f"{kind}{perms} {links:>3} {owner:<8} {group:<8} {size:>12} {month} {day:>2} {year_or_time:>5} {shown}"
    entry = parse_list_line(line, now=_NOW)
    assert entry is not None
    assert entry.name == name
    assert entry.kind == {"-": "file", "d": "dir", "l": "link"}[kind]
    assert entry.size == size
    assert entry.details["owner"] == owner
    if kind == "l":
        assert entry.details["target"] == target
    assert entry.modified is not None
    assert entry.modified <= datetime(_NOW.year, 12, 31, 23, 59)


@_SETTINGS
@given(
    month=st.integers(1, 12),
    day=st.integers(1, 28),
    year=st.integers(0, 99),
    hour=st.integers(1, 12),
    minute=st.integers(0, 59),
    ampm=st.sampled_from(["AM", "PM"]),
    size=st.one_of(st.none(), st.integers(0, 2**40)),
    name=_NAME,
)
def test_properties_ftplisting_dos_round_trip(
    month: int, day: int, year: int, hour: int, minute: int, ampm: str, size: int | None, name: str
) -> None:
    size_text = "<DIR>" if size is None else f"{size:,}"
    line = f"{month:02d}-{day:02d}-{year:02d}  {hour:02d}:{minute:02d}{ampm} {size_text:>20} {name}"
    entry = parse_list_line(line, now=_NOW)
    assert entry is not None
    assert entry.name == name
    assert entry.kind == ("dir" if size is None else "file")
    assert entry.size == size
    assert entry.modified is not None
    assert entry.modified.minute == minute


@_SETTINGS
@given(
    kind=st.sampled_from(["file", "dir", "cdir", "pdir", "OS.unix=slink:/x"]),
    size=st.integers(0, 2**50),
    stamp=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)),
    extra=st.dictionaries(
        st.sampled_from(["perm", "unique", "unix.mode", "lang"]), _WORD, max_size=3
    ),
    name=st.text(
        alphabet=st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/"),
        min_size=1,
        max_size=30,
    ).filter(lambda n: n not in {".", ".."}),
)
def test_properties_ftplisting_mlsd_round_trip(
    kind: str, size: int, stamp: datetime, extra: dict[str, str], name: str
) -> None:
    facts = {"type": kind, "size": str(size), "modify": stamp.strftime("%Y%m%d%H%M%S"), **extra}
    line = "".join(f"{k}={v};" for k, v in facts.items()) + " " + name
    entry = parse_mlsd_line(line)
    if kind in {"cdir", "pdir"}:
        assert entry is None
        return
    assert entry is not None
    assert entry.name == name  # MLSD names are exact: spaces included
    assert entry.kind == {"file": "file", "dir": "dir"}.get(kind, "link")
    assert entry.size == size
    assert entry.modified is not None
    assert entry.modified.replace(tzinfo=None) == stamp.replace(microsecond=0)
    for key, value in extra.items():
        assert entry.details[key] == value


@_SETTINGS
@given(st.text(max_size=120), st.booleans())
def test_properties_ftplisting_total_and_safe(line: str, mlsd: bool) -> None:
    """Any line: no exception, and an entry's name is never a path or a dot name."""
    parser = ListingParser(mlsd=mlsd, make_url=lambda name, kind: "ftp://h/d/" + name)
    parser.feed(line)
    for entry in parser.entries:
        if not entry.url:
            assert entry.kind == "other"  # an unparsed line: kept, but nothing to fetch
            continue
        # Anything fetchable or deletable stays inside the listed directory.
        assert entry.name not in {"", ".", ".."}
        assert "/" not in entry.name
        assert entry.url == "ftp://h/d/" + entry.name
        assert entry.size is None or entry.size >= 0


@_SETTINGS
@given(st.text(max_size=30))
def test_properties_ftplisting_mlsx_time_total(value: str) -> None:
    stamp = parse_mlsx_time(value)
    assert stamp is None or stamp.tzinfo is not None


def test_properties_ftplisting_entry_bound() -> None:
    parser = ListingParser(mlsd=True, max_entries=3)
    for n in range(3):
        parser.feed(f"type=file;size=1; f{n}")
    with pytest.raises(OverflowError):
        parser.feed("type=file;size=1; f4")
    assert len(parser.entries) == 3
