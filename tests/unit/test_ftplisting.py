"""Unit tests for the FTP listing parsers (MLSD facts, Unix and DOS LIST lines)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from protoclients.protocols.ftplisting import (
    ListingParser,
    parse_list_line,
    parse_mdtm,
    parse_mlsd_line,
    parse_mlsx_time,
)

NOW = datetime(2024, 3, 10, 12, 0)


def _url(name: str, kind: str) -> str:
    return f"ftp://h/d/{name}" + ("/" if kind == "dir" else "")


# -- MLSD -----------------------------------------------------------------------------------


def test_mlsd_file_facts() -> None:
    line = "type=file;size=1234;modify=20240102101500;perm=adfrw;unique=801U1;UNIX.mode=0644; a.txt"
    entry = parse_mlsd_line(line, _url)
    assert entry is not None
    assert entry.name == "a.txt"
    assert entry.kind == "file"
    assert entry.size == 1234
    assert entry.modified == datetime(2024, 1, 2, 10, 15, tzinfo=timezone.utc)
    assert entry.url == "ftp://h/d/a.txt"
    assert entry.details["perm"] == "adfrw"
    assert entry.details["unique"] == "801U1"
    assert entry.details["unix.mode"] == "0644"
    assert entry.details["raw"] == line


def test_mlsd_dir_and_fractional_time() -> None:
    entry = parse_mlsd_line("type=dir;modify=20240102101500.123;perm=flcdmpe; pub", _url)
    assert entry is not None
    assert entry.kind == "dir"
    assert entry.size is None
    assert entry.url == "ftp://h/d/pub/"
    assert entry.modified == datetime(2024, 1, 2, 10, 15, 0, 123000, tzinfo=timezone.utc)


@pytest.mark.parametrize("kind", ["cdir", "pdir", "CDIR"])
def test_mlsd_skips_cdir_pdir(kind: str) -> None:
    assert parse_mlsd_line(f"type={kind};modify=20240102101500; .", _url) is None


def test_mlsd_symlink_and_spaces_in_name() -> None:
    entry = parse_mlsd_line("type=OS.unix=slink:/srv/target;size=6; my link ", _url)
    assert entry is not None
    assert entry.kind == "link"
    assert entry.name == "my link "
    assert entry.details["target"] == "/srv/target"
    other = parse_mlsd_line("type=OS.unix=symlink;size=6; l2", _url)
    assert other is not None and other.kind == "link"


def test_mlsd_name_with_semicolon_and_equals() -> None:
    entry = parse_mlsd_line("type=file;size=1; a;b=c d.txt", _url)
    assert entry is not None
    assert entry.name == "a;b=c d.txt"


def test_mlsd_no_facts() -> None:
    entry = parse_mlsd_line(" bare-name", _url)
    assert entry is not None
    assert entry.name == "bare-name"
    assert entry.kind == "other"


def test_mlsd_unknown_type_and_bad_values() -> None:
    entry = parse_mlsd_line("type=OS.unix=chr-1/3;size=abc;modify=notatime; null", _url)
    assert entry is not None
    assert entry.kind == "other"
    assert entry.size is None
    assert entry.modified is None


def test_mlsd_garbage_line_is_kept_raw() -> None:
    entry = parse_mlsd_line("this is not an mlsd line", _url)
    assert entry is not None
    assert entry.kind == "other"
    assert entry.url == ""
    assert entry.details == {"raw": "this is not an mlsd line"}


def test_mlsd_path_names_are_reduced_to_last_segment() -> None:
    entry = parse_mlsd_line("type=file;size=1; ../../etc/passwd", _url)
    assert entry is not None
    assert entry.name == "passwd"
    assert entry.url == "ftp://h/d/passwd"


# -- Unix LIST --------------------------------------------------------------------------------


def test_unix_file_with_year() -> None:
    line = "-rw-r--r--   1 ftp      ftp          1234 Jan  3  1994 notes.txt"
    entry = parse_list_line(line, _url, now=NOW)
    assert entry is not None
    assert (entry.name, entry.kind, entry.size) == ("notes.txt", "file", 1234)
    assert entry.modified == datetime(1994, 1, 3)
    assert entry.details["mode"] == "-rw-r--r--"
    assert entry.details["owner"] == "ftp"
    assert entry.details["group"] == "ftp"
    assert entry.details["links"] == 1
    assert entry.details["raw"] == line
    assert entry.details["format"] == "unix"


def test_unix_dir_with_time_this_year() -> None:
    entry = parse_list_line(
        "drwxr-xr-x   2 ftp      ftp          4096 Feb  5 13:43 pub", _url, now=NOW
    )
    assert entry is not None
    assert entry.kind == "dir"
    assert entry.url == "ftp://h/d/pub/"
    assert entry.modified == datetime(2024, 2, 5, 13, 43)


def test_unix_time_in_future_means_last_year() -> None:
    entry = parse_list_line("-rw-r--r-- 1 u g 1 Sep  5 13:43 old", _url, now=NOW)
    assert entry is not None
    assert entry.modified == datetime(2023, 9, 5, 13, 43)


def test_unix_symlink() -> None:
    entry = parse_list_line(
        "lrwxrwxrwx   1 ftp      ftp             7 Sep  5  2023 latest -> v2.0.1", _url, now=NOW
    )
    assert entry is not None
    assert entry.kind == "link"
    assert entry.name == "latest"
    assert entry.details["target"] == "v2.0.1"


def test_unix_names_with_spaces() -> None:
    entry = parse_list_line(
        "-rw-r--r--   1 ftp ftp   10 Jan  3  2020 my  file  name.txt", _url, now=NOW
    )
    assert entry is not None
    assert entry.name == "my  file  name.txt"
    leading = parse_list_line("-rw-r--r-- 1 ftp ftp 10 Jan  3 10:00  leading", _url, now=NOW)
    assert leading is not None
    assert leading.name == " leading"


def test_unix_arrow_in_regular_file_name_is_kept() -> None:
    entry = parse_list_line("-rw-r--r-- 1 u g 1 Jan  3  2020 a -> b", _url, now=NOW)
    assert entry is not None
    assert entry.kind == "file"
    assert entry.name == "a -> b"


def test_unix_device_file() -> None:
    entry = parse_list_line(
        "crw-rw-rw-   1 root     root       1,   3 Sep  5 13:43 null", _url, now=NOW
    )
    assert entry is not None
    assert entry.kind == "other"
    assert entry.size is None
    assert entry.details["device"] == (1, 3)
    assert entry.details["type"] == "character device"


def test_unix_without_group_and_numeric_owner() -> None:
    entry = parse_list_line("-rw-r--r--   1 1000   5678 Jan  3  2020 nogroup", _url, now=NOW)
    assert entry is not None
    assert entry.size == 5678
    assert entry.details["owner"] == "1000"
    assert "group" not in entry.details
    numeric = parse_list_line("-rw-r--r--   1 1000 1000 42 Jan  3  2020 num", _url, now=NOW)
    assert numeric is not None
    assert numeric.size == 42
    assert numeric.details["group"] == "1000"


def test_unix_acl_marker_and_iso_dates() -> None:
    entry = parse_list_line("-rw-r--r--+  1 u g  99 2023-12-01 08:30 iso.txt", _url, now=NOW)
    assert entry is not None
    assert entry.size == 99
    assert entry.modified == datetime(2023, 12, 1, 8, 30)


def test_unix_setuid_sticky_modes() -> None:
    entry = parse_list_line("drwxrwxrwt 10 root root 4096 Jan  1  2024 tmp", _url, now=NOW)
    assert entry is not None and entry.kind == "dir"
    suid = parse_list_line("-rwsr-xr-x 1 root root 4096 Jan  1  2024 su", _url, now=NOW)
    assert suid is not None and suid.kind == "file"


@pytest.mark.parametrize("name", [".", ".."])
def test_unix_dot_entries_skipped(name: str) -> None:
    assert parse_list_line(f"drwxr-xr-x 2 u g 4096 Jan  1  2024 {name}", _url, now=NOW) is None


@pytest.mark.parametrize("line", ["total 42", "TOTAL 0", "", "   "])
def test_non_entry_lines(line: str) -> None:
    assert parse_list_line(line, _url, now=NOW) is None


def test_unknown_month_gives_no_date() -> None:
    entry = parse_list_line("-rw-r--r-- 1 u g 5 Foo  3  2020 x", _url, now=NOW)
    assert entry is not None
    assert entry.kind == "file"
    assert entry.modified is None


# -- DOS LIST ---------------------------------------------------------------------------------


def test_dos_dir_and_file() -> None:
    entry = parse_list_line("01-02-24  10:15AM       <DIR>          Program Files", _url)
    assert entry is not None
    assert (entry.name, entry.kind, entry.size) == ("Program Files", "dir", None)
    assert entry.modified == datetime(2024, 1, 2, 10, 15)
    assert entry.details["format"] == "dos"
    file_entry = parse_list_line("12-31-99  11:59PM             1,234 readme.txt", _url)
    assert file_entry is not None
    assert (file_entry.kind, file_entry.size) == ("file", 1234)
    assert file_entry.modified == datetime(1999, 12, 31, 23, 59)


def test_dos_midnight_and_four_digit_year() -> None:
    entry = parse_list_line("07-04-2021  12:05AM    5 a.txt", _url)
    assert entry is not None
    assert entry.modified == datetime(2021, 7, 4, 0, 5)
    noon = parse_list_line("07-04-2021  12:05PM    5 b.txt", _url)
    assert noon is not None and noon.modified == datetime(2021, 7, 4, 12, 5)
    h24 = parse_list_line("07-04-21  17:05    5 c.txt", _url)
    assert h24 is not None and h24.modified == datetime(2021, 7, 4, 17, 5)


# -- garbage and bounds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "hello world",
        "-rw-r--r-- not enough fields",
        "\x1b]8;;http://evil\x07 link",
        "99-99-99  10:15AM  <DIR>  bad-date",
    ],
)
def test_garbage_lines_become_other_or_dateless(line: str) -> None:
    entry = parse_list_line(line, _url, now=NOW)
    assert entry is not None
    if entry.kind == "other":
        assert entry.details["raw"] == line
        assert entry.url == ""
    else:
        assert entry.modified is None


def test_listing_parser_bound() -> None:
    parser = ListingParser(mlsd=True, max_entries=2)
    parser.feed("type=file;size=1; a")
    parser.feed("type=cdir; .")
    parser.feed("type=file;size=1; b")
    with pytest.raises(OverflowError):
        parser.feed("type=file;size=1; c")
    assert [e.name for e in parser.entries] == ["a", "b"]


def test_listing_parser_list_mode() -> None:
    parser = ListingParser(mlsd=False)
    for line in [
        "total 8",
        "drwxr-xr-x 2 u g 4096 Jan  1  2024 .",
        "-rw-r--r-- 1 u g 3 Jan  1  2024 a",
        "weird",
    ]:
        parser.feed(line)
    assert [(e.name, e.kind) for e in parser.entries] == [("a", "file"), ("weird", "other")]


def test_time_helpers() -> None:
    assert parse_mlsx_time("20240229235959") == datetime(
        2024, 2, 29, 23, 59, 59, tzinfo=timezone.utc
    )
    assert parse_mlsx_time("20230229000000") is None
    assert parse_mlsx_time("2024") is None
    assert parse_mdtm("213 20240102030405") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert parse_mdtm("550 nope") is None
