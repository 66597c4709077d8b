"""Parse HTML directory-index pages into :class:`~protoclients.entries.Entry` records.

HTTP has no listing verb; servers that list directories send an HTML page. This module
understands the common shapes without knowing which server sent them:

* ``python -m http.server`` — ``<ul><li><a href="name">name</a></li>...`` (names only);
* nginx ``autoindex`` — a ``<pre>`` block, one line per entry:
  ``<a href="name">name</a>   22-Nov-2024 00:54   1234`` (``-`` for directories);
* Apache ``mod_autoindex`` (fancy index, as a table or as ``<pre>``) and lighttpd — rows
  with the link, a date such as ``2024-11-22 00:54`` and an abbreviated size (``1.2K``).

How it works: every ``<a href>`` starts a record; the text that follows the link up to
the end of its line (``<pre>``), table row or list item is searched for a date and a
size. Sizes are exact only when they are a plain number of bytes; abbreviated sizes
(``1.2K``) keep ``size=None`` and their text in ``details["size_text"]``.

Links that are not entries of the directory are skipped: parent links (``../``,
"Parent Directory"), sort links (``?C=N;O=D``), fragments, other schemes, and any link
that leaves the directory or points deeper than one level. Input is hostile by
assumption: the parser is the standard library's tolerant :class:`html.parser.HTMLParser`,
the number of entries is bounded, names with control characters are dropped, and the
entry URLs are built from the base URL, never taken from the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

from ..entries import Entry
from ..errors import ResponseTooLarge

__all__ = ["MAX_ENTRIES", "parse_index"]

#: Most entries a listing may have before it is refused.
MAX_ENTRIES = 100_000

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}

# Dates as directory indexes print them, most specific first.
_DATE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # nginx, old Apache: 22-Nov-2024 00:54[:12]
    (
        re.compile(
            r"(?<!\d)(?P<d>\d{1,2})-(?P<mon>[A-Za-z]{3})-(?P<y>\d{4})[ T]+"
            r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?"
        ),
        "dmy",
    ),
    # Apache 2.4, ISO-like: 2024-11-22 00:54[:12]
    (
        re.compile(
            r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})[ T]+"
            r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?"
        ),
        "ymd",
    ),
    # lighttpd: 2024-Nov-22 00:54:12
    (
        re.compile(
            r"(?<!\d)(?P<y>\d{4})-(?P<mon>[A-Za-z]{3})-(?P<d>\d{1,2})[ T]+"
            r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?"
        ),
        "ymond",
    ),
]

# A size token: "1234", "1.2K", "12M", "3.4 GiB", "512 B", "10 bytes", or "-".
_SIZE_RE = re.compile(
    r"(?<![\w.])(?P<num>\d+(?:\.\d+)?)\s?(?P<unit>(?:[KMGTPE](?:i?B)?)|B|bytes?)?(?![\w.])",
    re.IGNORECASE,
)
_DASH_RE = re.compile(r"(?<![\w.])-(?![\w.])")
_MAX_TRAILING = 1024  # characters of text kept after one link
_PARENT_TEXTS = {"parent directory", "parent directory/", "..", "../", "[to parent directory]"}


@dataclass
class _Link:
    href: str
    text: list[str] = field(default_factory=list)
    trailing: list[str] = field(default_factory=list)
    open: bool = True  # still collecting trailing text
    kept: int = 0  # characters of trailing text kept


class _IndexParser(HTMLParser):
    """Collects links and the text that follows each one on its line or row."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[_Link] = []
        self.limit = limit
        self._in_anchor: _Link | None = None
        self._skip_depth = 0  # inside <script>/<style>/<title>
        self._pre_depth = 0  # inside <pre>: a newline ends an entry's line

    # Any of these ends the "line" a link is on.
    _BREAKS = frozenset(
        {"tr", "li", "pre", "hr", "br", "p", "div", "table", "ul", "ol", "dd", "dt"}
    )

    def _close_trailing(self) -> None:
        if self.links:
            self.links[-1].open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "title"}:
            self._skip_depth += 1
            return
        if tag == "pre":
            self._pre_depth += 1
        if tag in self._BREAKS:
            self._close_trailing()
        elif tag in {"td", "th"} and self.links and self.links[-1].open:
            self.links[-1].trailing.append(" ")
        if tag == "a":
            href = next((v for k, v in attrs if k == "href" and v is not None), None)
            self._close_trailing()
            if href is None:
                self._in_anchor = None
                return
            if len(self.links) >= self.limit:
                raise ResponseTooLarge(f"directory listing has more than {self.limit} links")
            link = _Link(href=href)
            self.links.append(link)
            self._in_anchor = link

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self._close_trailing()

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "title"}:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag == "a":
            self._in_anchor = None
        elif tag in self._BREAKS:
            self._close_trailing()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_anchor is not None:
            self._in_anchor.text.append(data)
            return
        if not self.links or not self.links[-1].open:
            return
        link = self.links[-1]
        if self._pre_depth:
            # In <pre> listings a newline ends the entry's line.
            data, newline, _rest = data.partition("\n")
            if newline:
                link.open = False
        # Bound the text kept per link (hostile pages can put megabytes after one link).
        room = _MAX_TRAILING - link.kept
        if len(data) >= room:
            data = data[:room]
            link.open = False
        link.trailing.append(data)
        link.kept += len(data)


def _parse_date(text: str) -> tuple[datetime | None, str]:
    """Find the first date in ``text``; return it and the text after it."""
    for pattern, kind in _DATE_PATTERNS:
        match = pattern.search(text)
        if match is None:
            continue
        try:
            year = int(match["y"])
            day = int(match["d"])
            month = int(match["m"]) if kind == "ymd" else _MONTHS.get(match["mon"].lower(), 0)
            value = datetime(
                year,
                month,
                day,
                int(match["H"]),
                int(match["M"]),
                int(match["S"] or 0),
            )
        except (ValueError, KeyError):
            continue
        return value, text[match.end() :]
    return None, text


def _parse_size(text: str, *, whole: bool) -> tuple[int | None, str | None]:
    """Find a size in ``text``: ``(exact_bytes, size_text)``.

    With ``whole=True`` the text must be nothing but the size (used when no date anchors
    the columns, so that a stray number is not taken for a size).
    """
    match = _SIZE_RE.fullmatch(text.strip()) if whole else _SIZE_RE.search(text)
    if match is None:
        return None, None
    raw = match.group(0).strip()
    unit = (match["unit"] or "").lower()
    if unit in {"", "b", "byte", "bytes"} and "." not in match["num"]:
        return int(match["num"]), raw
    return None, raw


def _origin(parts: SplitResult) -> tuple[str, str, int] | None:
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme, 0)
    return (parts.scheme.lower(), parts.hostname.lower(), port or default)


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def parse_index(html: str, base_url: str, *, max_entries: int = MAX_ENTRIES) -> list[Entry]:
    """Parse a directory-index page into entries.

    Args:
        html: the page, decoded.
        base_url: the URL of the directory (a trailing ``/`` is added if missing); entry
            URLs are built from it. It should not carry a password.
        max_entries: refuse pages with more links than this
            (:class:`~protoclients.errors.ResponseTooLarge`).

    Returns:
        The entries in page order, directories with ``kind="dir"`` and names without
        the trailing slash; ``details`` has ``href`` and, where shown, ``size_text``.
    """
    if not base_url.endswith("/"):
        base_url += "/"
    base = urlsplit(base_url)
    # Links include parent, sort and icon links: allow some slack before refusing.
    parser = _IndexParser(limit=2 * max_entries + 100)
    parser.feed(html)
    parser.close()

    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for link in parser.links:
        entry = _entry_for(link, base_url, base.path)
        if entry is None:
            continue
        previous = seen.get(entry.url)
        if previous is not None:
            # The same target twice (an icon link, then the name): keep the richer record.
            old = entries[previous]
            if old.size is None and old.modified is None and (entry.size or entry.modified):
                entries[previous] = entry
            continue
        if len(entries) >= max_entries:
            raise ResponseTooLarge(f"directory listing has more than {max_entries} entries")
        seen[entry.url] = len(entries)
        entries.append(entry)
    return entries


def _entry_for(link: _Link, base_url: str, base_path: str) -> Entry | None:
    href = link.href.strip()
    text = "".join(link.text).strip()
    if not href or href.startswith(("?", "#")) or text.lower() in _PARENT_TEXTS:
        return None
    if _has_control(href):
        return None
    # Percent-encode what a page may leave raw (spaces, non-ASCII), keep existing escapes.
    href_q = quote(href, safe="/%:@!$&'()*+,;=~?#[]")
    target = urlsplit(urljoin(base_url, href_q))
    base = urlsplit(base_url)
    if _origin(target) != _origin(base) or _origin(base) is None:
        return None
    if target.query or not target.path.startswith(base_path):
        return None
    rest = target.path[len(base_path) :]
    is_dir = rest.endswith("/")
    segment = rest[:-1] if is_dir else rest
    if not segment or "/" in segment or segment in {".", ".."}:
        return None
    name = unquote(segment, errors="replace")
    if not name or "/" in name or name in {".", ".."} or _has_control(name):
        return None
    trailing = " ".join("".join(link.trailing).split())
    modified, rest_text = _parse_date(trailing)
    size: int | None = None
    size_text: str | None = None
    if not is_dir and trailing:
        size, size_text = _parse_size(rest_text, whole=modified is None)
    details: dict[str, str] = {"href": href}
    if size_text is not None:
        details["size_text"] = size_text
    elif not is_dir and modified is not None and _DASH_RE.match(rest_text.strip()):
        details["size_text"] = "-"
    url = f"{base.scheme}://{base.netloc}{base_path}{segment}{'/' if is_dir else ''}"
    return Entry(
        name=name,
        kind="dir" if is_dir else "file",
        size=size,
        modified=modified,
        url=url,
        details=details,
    )
