"""Unit tests for the HTML directory-index parser (protoclients.protocols.dirindex)."""

from __future__ import annotations

from datetime import datetime

import pytest

from protoclients.errors import ResponseTooLarge
from protoclients.protocols.dirindex import parse_index

BASE = "http://127.0.0.1:8080/pub/"

PYTHON_STYLE = """<!DOCTYPE HTML>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Directory listing for /pub/</title>
</head>
<body>
<h1>Directory listing for /pub/</h1>
<hr>
<ul>
<li><a href="a%20b.txt">a b.txt</a></li>
<li><a href="caf%C3%A9.txt">caf\u00e9.txt</a></li>
<li><a href="docs/">docs/</a></li>
<li><a href="link">link@</a></li>
<li><a href="Tom%20%26%20Jerry.txt">Tom &amp; Jerry.txt</a></li>
</ul>
<hr>
</body>
</html>
"""

NGINX_STYLE = (
    "<html>\r\n<head><title>Index of /pub/</title></head>\r\n<body>\r\n"
    '<h1>Index of /pub/</h1><hr><pre><a href="../">../</a>\r\n'
    '<a href="docs/">docs/</a>                                             '
    "22-Nov-2024 00:54                   -\r\n"
    '<a href="data.csv">data.csv</a>                                          '
    "21-Nov-2024 23:10                1234\r\n"
    '<a href="a-very-long-file-name-that-nginx-cuts-in-the-middle-of.tar.gz">'
    "a-very-long-file-name-that-nginx-cuts-in-the-mid..&gt;</a> 01-Jan-2023 10:00:05   "
    "98765\r\n"
    '<a href="approx.iso">approx.iso</a>                                        '
    "01-Jan-2023 10:00                  12M\r\n"
    "</pre><hr></body>\r\n</html>\r\n"
)

APACHE_TABLE = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of /pub</title>
 </head>
 <body>
<h1>Index of /pub</h1>
  <table>
   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>
   <tr><th colspan="5"><hr></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="docs/">docs/</a></td><td align="right">2024-11-22 00:54  </td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="notes.txt">notes.txt</a></td><td align="right">2024-11-22 00:55  </td><td align="right">1.2K</td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="tiny.txt">tiny.txt</a></td><td align="right">2024-11-22 00:56  </td><td align="right"> 22 </td><td>Some notes, 2 pages</td></tr>
   <tr><th colspan="5"><hr></th></tr>
</table>
<address>Apache/2.4.62 (Debian) Server at 127.0.0.1 Port 8080</address>
</body></html>
"""

APACHE_PRE = """<html><head><title>Index of /pub</title></head><body>
<h1>Index of /pub</h1>
<pre><img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>                    <a href="?C=M;O=A">Last modified</a>      <a href="?C=S;O=A">Size</a>  <a href="?C=D;O=A">Description</a><hr><img src="/icons/back.gif" alt="[PARENTDIR]"> <a href="/">Parent Directory</a>                             -
<img src="/icons/folder.gif" alt="[DIR]"> <a href="docs/">docs/</a>                   2024-11-22 00:54    -
<img src="/icons/compressed.gif" alt="[   ]"> <a href="pkg.tar.gz">pkg.tar.gz</a>              2024-11-20 13:02  3.4M
<hr></pre>
</body></html>
"""

LIGHTTPD = """<?xml version="1.0" encoding="utf-8"?>
<html><head><title>Index of /pub/</title></head><body>
<h2>Index of /pub/</h2>
<div class="list">
<table summary="Directory Listing" cellpadding="0" cellspacing="0">
<thead><tr><th class="n">Name</th><th class="m">Last Modified</th><th class="s">Size</th><th class="t">Type</th></tr></thead>
<tbody>
<tr class="d"><td class="n"><a href="../">..</a>/</td><td class="m">&nbsp;</td><td class="s">- &nbsp;</td><td class="t">Directory</td></tr>
<tr class="d"><td class="n"><a href="docs/">docs</a>/</td>
<td class="m">2024-Nov-22 00:54:12</td>
<td class="s">- &nbsp;</td><td class="t">Directory</td></tr>
<tr><td class="n"><a href="readme.md">readme.md</a></td>
<td class="m">2024-Nov-21 08:01:59</td>
<td class="s">2.1K</td><td class="t">text/markdown</td></tr>
</tbody>
</table>
</div>
</body></html>
"""


def by_name(entries):  # type: ignore[no-untyped-def]
    return {e.name: e for e in entries}


def test_python_http_server_style() -> None:
    entries = parse_index(PYTHON_STYLE, BASE)
    assert [e.name for e in entries] == [
        "a b.txt",
        "caf\u00e9.txt",
        "docs",
        "link",
        "Tom & Jerry.txt",
    ]
    named = by_name(entries)
    assert named["docs"].kind == "dir"
    assert named["docs"].url == BASE + "docs/"
    assert named["a b.txt"].kind == "file"
    assert named["a b.txt"].url == BASE + "a%20b.txt"
    assert named["a b.txt"].size is None and named["a b.txt"].modified is None
    assert named["caf\u00e9.txt"].url == BASE + "caf%C3%A9.txt"
    assert named["Tom & Jerry.txt"].details["href"] == "Tom%20%26%20Jerry.txt"


def test_nginx_autoindex_style() -> None:
    entries = parse_index(NGINX_STYLE, BASE)
    named = by_name(entries)
    assert list(named) == [
        "docs",
        "data.csv",
        "a-very-long-file-name-that-nginx-cuts-in-the-middle-of.tar.gz",
        "approx.iso",
    ]
    assert named["docs"].kind == "dir"
    assert named["docs"].modified == datetime(2024, 11, 22, 0, 54)
    assert named["docs"].size is None
    assert named["data.csv"].size == 1234
    assert named["data.csv"].modified == datetime(2024, 11, 21, 23, 10)
    long_name = named["a-very-long-file-name-that-nginx-cuts-in-the-middle-of.tar.gz"]
    assert long_name.size == 98765
    assert long_name.modified == datetime(2023, 1, 1, 10, 0, 5)
    # Abbreviated sizes are not exact: size stays None, the text is kept.
    assert named["approx.iso"].size is None
    assert named["approx.iso"].details["size_text"] == "12M"


def test_apache_fancy_table() -> None:
    entries = parse_index(APACHE_TABLE, BASE)
    named = by_name(entries)
    assert list(named) == ["docs", "notes.txt", "tiny.txt"]
    assert named["docs"].kind == "dir"
    assert named["docs"].modified == datetime(2024, 11, 22, 0, 54)
    assert named["notes.txt"].size is None
    assert named["notes.txt"].details["size_text"] == "1.2K"
    assert named["notes.txt"].modified == datetime(2024, 11, 22, 0, 55)
    assert named["tiny.txt"].size == 22  # a description with numbers does not confuse it


def test_apache_pre_style() -> None:
    named = by_name(parse_index(APACHE_PRE, BASE))
    assert list(named) == ["docs", "pkg.tar.gz"]
    assert named["pkg.tar.gz"].details["size_text"] == "3.4M"
    assert named["pkg.tar.gz"].modified == datetime(2024, 11, 20, 13, 2)


def test_lighttpd_style() -> None:
    named = by_name(parse_index(LIGHTTPD, BASE))
    assert list(named) == ["docs", "readme.md"]
    assert named["readme.md"].modified == datetime(2024, 11, 21, 8, 1, 59)
    assert named["readme.md"].details["size_text"] == "2.1K"


def test_parent_and_sort_links_are_skipped() -> None:
    page = """
    <a href="../">../</a> <a href="..">up</a> <a href="/">Parent Directory</a>
    <a href="?C=N;O=D">Name</a> <a href="?C=M;O=A">Last modified</a> <a href="#top">top</a>
    <a href="./">.</a> <a href="">empty</a> <a>no href</a>
    <a href="real.txt">real.txt</a>
    """
    assert [e.name for e in parse_index(page, BASE)] == ["real.txt"]


def test_links_leaving_the_directory_are_skipped() -> None:
    page = """
    <a href="http://evil.example/pub/x">x</a>
    <a href="https://127.0.0.1:8080/pub/scheme-change">https</a>
    <a href="http://127.0.0.1:9999/pub/other-port">port</a>
    <a href="/other/file">abs</a>
    <a href="../sibling/file">sibling</a>
    <a href="sub/deeper/file">nested</a>
    <a href="%2e%2e/escape">encoded dots</a>
    <a href="javascript:alert(1)">js</a>
    <a href="mailto:a@b">mail</a>
    <a href="data:text/plain,hi">data</a>
    <a href="file.txt?download=1">query</a>
    <a href="//evil.example/pub/y">protocol-relative</a>
    <a href="http://127.0.0.1:8080/pub/absolute-ok.txt">same origin absolute</a>
    <a href="/pub/rooted-ok.txt">rooted</a>
    """
    assert [e.name for e in parse_index(page, BASE)] == ["absolute-ok.txt", "rooted-ok.txt"]


def test_base_url_with_user_and_without_trailing_slash() -> None:
    page = '<a href="f.txt">f.txt</a><a href="http://127.0.0.1:8080/pub/g.txt">g</a>'
    entries = parse_index(page, "http://alice@127.0.0.1:8080/pub")
    assert [e.url for e in entries] == [
        "http://alice@127.0.0.1:8080/pub/f.txt",
        "http://alice@127.0.0.1:8080/pub/g.txt",
    ]


def test_entry_urls_are_percent_encoded() -> None:
    page = '<a href="raw space & caf\u00e9.txt">x</a><a href="100%25.txt">100%.txt</a>'
    entries = parse_index(page, BASE)
    assert [e.name for e in entries] == ["raw space & caf\u00e9.txt", "100%.txt"]
    assert entries[0].url == BASE + "raw%20space%20&%20caf%C3%A9.txt"
    assert entries[1].url == BASE + "100%25.txt"


def test_non_utf8_percent_encoding_is_replaced_not_fatal() -> None:
    entries = parse_index('<a href="%E9t%E9.txt">x</a>', BASE)
    assert entries[0].name == "\ufffdt\ufffd.txt"
    assert entries[0].url == BASE + "%E9t%E9.txt"


def test_names_with_control_characters_are_dropped() -> None:
    page = (
        '<a href="bad%0D%0Aname">x</a><a href="nul%00">y</a><a href="esc%1B%5B31m">z</a>'
        '<a href="ok.txt">ok</a>'
    )
    assert [e.name for e in parse_index(page, BASE)] == ["ok.txt"]


def test_hostile_html_does_not_break_the_parser() -> None:
    page = (
        "<html><script>document.write('<a href=\"fake.txt\">fake</a>')</script>"
        "<style>a::after { content: '<a href=x>' }</style>"
        '<a href="one.txt">one<b>bold<a href="two.txt">two</a>'
        '<!-- <a href="comment.txt">c</a> -->'
        '<a href="three.txt"'  # never closed
    )
    names = [e.name for e in parse_index(page, BASE)]
    assert "fake.txt" not in names
    assert "comment.txt" not in names
    assert names[:2] == ["one.txt", "two.txt"]


def test_garbage_input_gives_no_entries() -> None:
    for page in ["", "\x00\x01\x02", "<<<<>>>>", "<a href=>", "<a href", "&#xffffff;" * 10]:
        assert parse_index(page, BASE) == []


def test_duplicate_links_keep_the_richer_record() -> None:
    page = (
        '<pre><a href="f.bin"><img src="/icons/bin.gif"></a> '
        '<a href="f.bin">f.bin</a>   22-Nov-2024 00:54   4096\n</pre>'
    )
    entries = parse_index(page, BASE)
    assert len(entries) == 1
    assert entries[0].size == 4096


def test_stray_numbers_without_a_date_are_not_sizes() -> None:
    page = '<ul><li><a href="f.txt">f.txt</a> see note 7 of 2024</li></ul>'
    entry = parse_index(page, BASE)[0]
    assert entry.size is None and entry.modified is None


def test_plain_size_without_a_date_is_used() -> None:
    page = "<table><tr><td><a href='f.txt'>f.txt</a></td><td>512</td></tr></table>"
    assert parse_index(page, BASE)[0].size == 512


def test_entry_count_is_bounded() -> None:
    page = "".join(f'<a href="f{i}.txt">f{i}</a>\n' for i in range(50))
    assert len(parse_index(page, BASE, max_entries=50)) == 50
    with pytest.raises(ResponseTooLarge):
        parse_index(page, BASE, max_entries=49)


def test_link_count_is_bounded_even_when_links_are_skipped() -> None:
    page = '<a href="../">..</a>' * 1000
    with pytest.raises(ResponseTooLarge):
        parse_index(page, BASE, max_entries=10)


def test_huge_trailing_text_is_bounded() -> None:
    page = '<pre><a href="f.txt">f.txt</a>' + " x" * 500_000 + " 22-Nov-2024 00:54 5\n</pre>"
    entry = parse_index(page, BASE)[0]
    assert entry.name == "f.txt"
    assert entry.size is None  # the date came after the bound: not trusted


def test_entries_serialise() -> None:
    entry = parse_index(NGINX_STYLE, BASE)[1]
    data = entry.to_dict()
    assert data["name"] == "data.csv"
    assert data["modified"] == "2024-11-21T23:10:00"
