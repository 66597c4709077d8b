"""Property tests of the HTML directory-index parser (protoclients.protocols.dirindex).

Index pages are generated in the shapes real servers print (``python -m http.server``
lists, nginx ``autoindex`` ``<pre>`` blocks) from a set of names, sizes and dates, and
parsed back: the same names, kinds and sizes, in order. Arbitrary HTML never raises
anything but :class:`~protoclients.errors.ResponseTooLarge`, and every entry's URL stays
one level inside the listed directory on the same origin.
"""

from __future__ import annotations

import html
from datetime import datetime
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.errors import ResponseTooLarge
from protoclients.protocols.dirindex import parse_index

_SETTINGS = settings(max_examples=100, deadline=None)
_BASE = "http://127.0.0.1:8080/pub/"
_NAME = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="/"),
    min_size=1,
    max_size=20,
).filter(
    lambda n: n.strip() == n and n not in {".", "..", "../"} and n.lower() != "parent directory"
)
_ITEMS = st.lists(
    st.tuples(_NAME, st.booleans(), st.integers(0, 10**12)),
    max_size=8,
    unique_by=lambda item: item[0],
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _href(name: str, is_dir: bool) -> str:
    return html.escape(quote(name) + ("/" if is_dir else ""), quote=True)


@_SETTINGS
@given(_ITEMS)
def test_properties_dirindex_python_http_server(items: list[tuple[str, bool, int]]) -> None:
    rows = "".join(
        f'<li><a href="{_href(n, d)}">{html.escape(n + ("/" if d else ""))}</a></li>\n'
        for n, d, _ in items
    )
    page = f"<html><head><title>Directory listing for /pub/</title></head><body><ul>\n{rows}</ul></body></html>"
    entries = parse_index(page, _BASE)
    assert [(e.name, e.kind) for e in entries] == [(n, "dir" if d else "file") for n, d, _ in items]
    for entry in entries:
        assert entry.url.startswith(_BASE)
        assert "/" not in entry.url[len(_BASE) :].rstrip("/")


@_SETTINGS
@given(_ITEMS, st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)))
def test_properties_dirindex_nginx_autoindex(
    items: list[tuple[str, bool, int]], stamp: datetime
) -> None:
    date = f"{stamp.day:02d}-{_MONTHS[stamp.month - 1]}-{stamp.year} {stamp.hour:02d}:{stamp.minute:02d}"
    lines = "".join(
        f'<a href="{_href(n, d)}">{html.escape(n[:50])}</a>   {date}   {"-" if d else s}\n'
        for n, d, s in items
    )
    page = f'<html><body><h1>Index of /pub/</h1><hr><pre><a href="../">../</a>\n{lines}</pre><hr></body></html>'
    entries = parse_index(page, _BASE)
    assert [e.name for e in entries] == [n for n, _, _ in items]
    for entry, (_, is_dir, size) in zip(entries, items, strict=True):
        assert entry.kind == ("dir" if is_dir else "file")
        assert entry.size == (None if is_dir else size)
        assert entry.modified == stamp.replace(second=0, microsecond=0)


_HTMLISH = st.lists(
    st.sampled_from(
        [
            '<a href="',
            '">',
            "</a>",
            "<pre>",
            "</pre>",
            "<tr><td>",
            "x",
            "../",
            "/etc/passwd",
            "http://evil.example/",
            "%2e%2e/",
            "?C=N;O=D",
            "\n",
            " 12K ",
            " 2024-01-02 03:04 ",
            "&amp;",
            "\x00",
            "javascript:alert(1)",
            "a/b/",
        ]
    ),
    max_size=40,
).map("".join)


@_SETTINGS
@given(st.one_of(_HTMLISH, st.text(max_size=200)))
def test_properties_dirindex_total_and_contained(page: str) -> None:
    try:
        entries = parse_index(page, _BASE, max_entries=50)
    except ResponseTooLarge:
        return
    for entry in entries:
        assert entry.url.startswith(_BASE)
        rest = entry.url[len(_BASE) :]
        assert rest and "/" not in rest.rstrip("/")
        assert entry.name not in {"", ".", ".."}
        assert not any(ord(c) < 0x20 for c in entry.name)


def test_properties_dirindex_entry_bound() -> None:
    page = "<ul>" + "".join(f'<li><a href="f{n}">f{n}</a></li>' for n in range(20)) + "</ul>"
    with pytest.raises(ResponseTooLarge):
        parse_index(page, _BASE, max_entries=5)
