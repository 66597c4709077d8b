"""Parsers for FTP directory listings: ``MLSD`` facts (RFC 3659) and ``LIST`` lines.

``MLSD`` is machine-readable and preferred. ``LIST`` output is whatever the server's
``ls`` prints; two families cover nearly every server in use:

* Unix ``ls -l`` style (vsftpd, ProFTPD, Pure-FTPd, pyftpdlib, most NAS boxes)::

      -rw-r--r--   1 ftp      ftp          1234 Jan  3  1994 notes.txt
      drwxr-xr-x   2 ftp      ftp          4096 Sep  5 13:43 pub
      lrwxrwxrwx   1 ftp      ftp             7 Sep  5 13:43 latest -> v2.0.1
      crw-rw-rw-   1 root     root       1,   3 Sep  5 13:43 null

* DOS / Windows (IIS) style::

      01-02-24  10:15AM       <DIR>          Program Files
      01-02-24  10:15AM                 1234 readme.txt

A line that fits neither is kept as ``Entry(kind="other", details={"raw": line})``
rather than dropped, so nothing the server said is silently lost.

This module is pure logic (no sockets); it turns lines into
:class:`~protoclients.entries.Entry` records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..entries import Entry, EntryKind

__all__ = [
    "ListingParser",
    "parse_list_line",
    "parse_mdtm",
    "parse_mlsd_line",
    "parse_mlsx_time",
]

#: Builds an entry's URL from its name and kind (``""`` when not needed).
UrlMaker = Callable[[str, EntryKind], str]

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}

_UNIX_TYPES: dict[str, tuple[EntryKind, str]] = {
    "-": ("file", "file"),
    "d": ("dir", "directory"),
    "l": ("link", "symlink"),
    "b": ("other", "block device"),
    "c": ("other", "character device"),
    "p": ("other", "fifo"),
    "s": ("other", "socket"),
    "D": ("other", "door"),
}

_UNIX_RE = re.compile(
    r"""
    ^(?P<mode>[-bcdlpsD][-rwxsStTlL]{9})[.+@]?\s+
    (?:(?P<links>\d+)\s+)?
    (?P<owner>\S+)\s+
    (?:(?P<group>\S+)\s+)?
    (?P<size>\d+|\d+,\s*\d+)\s+
    (?:
        (?P<month>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+
        (?P<timeyear>\d{1,2}:\d{2}|\d{4})
      |
        (?P<isodate>\d{4}-\d{2}-\d{2})\s+(?P<isotime>\d{1,2}:\d{2})
    )
    \s(?P<name>.+)$
    """,
    re.VERBOSE,
)

_DOS_RE = re.compile(
    r"""
    ^(?P<month>\d{2})-(?P<day>\d{2})-(?P<year>\d{2}|\d{4})\s+
    (?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>[AaPp][Mm])?\s+
    (?P<size><DIR>|[\d,]+)\s+
    (?P<name>.+)$
    """,
    re.VERBOSE,
)

_MLSX_TIME_RE = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,6}))?")


def parse_mlsx_time(value: str) -> datetime | None:
    """Parse an RFC 3659 time value (``YYYYMMDDHHMMSS[.sss]``, UTC) to an aware datetime."""
    match = _MLSX_TIME_RE.fullmatch(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_mdtm(reply: str) -> datetime | None:
    """Parse an ``MDTM`` reply (``213 YYYYMMDDHHMMSS[.sss]``) to an aware UTC datetime."""
    if not reply.startswith("213"):
        return None
    return parse_mlsx_time(reply[3:].strip())


def _safe_name(name: str) -> str | None:
    """The entry name to use, or ``None`` for entries to skip (``.``, ``..``, empty).

    Servers should send bare names; a path is reduced to its last segment so a hostile
    listing cannot point an entry's URL outside the listed directory.
    """
    if "/" in name:
        name = name.rstrip("/").rpartition("/")[2]
    if name in {"", ".", ".."}:
        return None
    return name


def parse_mlsd_line(line: str, make_url: UrlMaker | None = None) -> Entry | None:
    """Parse one ``MLSD`` line (``fact=value;fact=value; name``).

    Returns ``None`` for the ``cdir``/``pdir`` entries (``.`` and ``..``). Facts are kept in
    ``details`` with lower-case names, next to ``"raw"`` (the line as received).
    """
    if line.startswith(" "):
        facts_text, name = "", line[1:]
    else:
        end = line.find("; ")
        if end == -1:
            return _other(line, make_url)
        facts_text, name = line[: end + 1], line[end + 2 :]
    facts: dict[str, str] = {}
    for fact in facts_text.split(";"):
        if not fact:
            continue
        key, eq, value = fact.partition("=")
        if not eq:
            return _other(line, make_url)
        facts[key.strip().lower()] = value
    kind_fact = facts.get("type", "").lower()
    if kind_fact in {"cdir", "pdir"}:
        return None
    clean = _safe_name(name)
    if clean is None:
        return None
    kind: EntryKind
    if kind_fact == "file":
        kind = "file"
    elif kind_fact == "dir":
        kind = "dir"
    elif kind_fact.startswith("os.unix=slink") or kind_fact.startswith("os.unix=symlink"):
        kind = "link"
    else:
        kind = "other"
    details: dict[str, Any] = dict(facts)
    details["raw"] = line
    if kind == "link" and ":" in kind_fact:
        # ``OS.unix=slink:/target`` carries the target after the colon.
        details["target"] = facts["type"].partition(":")[2]
    size: int | None = None
    raw_size = facts.get("size", facts.get("sizd"))
    if raw_size is not None and raw_size.isdigit():
        size = int(raw_size)
    modified = parse_mlsx_time(facts["modify"]) if "modify" in facts else None
    url = make_url(clean, kind) if make_url else ""
    return Entry(name=clean, kind=kind, size=size, modified=modified, url=url, details=details)


def _other(line: str, make_url: UrlMaker | None) -> Entry:
    del make_url  # an unparsed line has no trustworthy name to build a URL from
    return Entry(name=line.strip(), kind="other", details={"raw": line})


def _unix_date(match: re.Match[str], now: datetime) -> datetime | None:
    if match.group("isodate"):
        try:
            return datetime.strptime(
                f"{match.group('isodate')} {match.group('isotime')}", "%Y-%m-%d %H:%M"
            )
        except ValueError:
            return None
    month = _MONTHS.get(match.group("month").lower())
    if month is None:
        return None
    day = int(match.group("day"))
    timeyear = match.group("timeyear")
    try:
        if ":" in timeyear:
            hour, minute = (int(p) for p in timeyear.split(":"))
            # "Sep  5 13:43" means within the last six months: this year, unless that
            # puts it in the future (then it was last year).
            stamp = datetime(now.year, month, day, hour, minute)
            if stamp > now + timedelta(days=1):
                stamp = stamp.replace(year=now.year - 1)
            return stamp
        return datetime(int(timeyear), month, day)
    except ValueError:
        return None


def _parse_unix(line: str, make_url: UrlMaker | None, now: datetime) -> Entry | None:
    match = _UNIX_RE.match(line)
    if not match:
        return None
    mode = match.group("mode")
    kind, type_name = _UNIX_TYPES.get(mode[0], ("other", "unknown"))
    name = match.group("name")
    details: dict[str, Any] = {"raw": line, "format": "unix", "mode": mode, "type": type_name}
    if kind == "link" and " -> " in name:
        name, _, target = name.partition(" -> ")
        details["target"] = target
    clean = _safe_name(name)
    if clean is None:
        return None
    if match.group("links"):
        details["links"] = int(match.group("links"))
    details["owner"] = match.group("owner")
    if match.group("group") is not None:
        details["group"] = match.group("group")
    raw_size = match.group("size")
    size: int | None = None
    if "," in raw_size:
        major, _, minor = raw_size.partition(",")
        details["device"] = (int(major), int(minor.strip()))
    else:
        size = int(raw_size)
    url = make_url(clean, kind) if make_url else ""
    return Entry(
        name=clean,
        kind=kind,
        size=size,
        modified=_unix_date(match, now),
        url=url,
        details=details,
    )


def _parse_dos(line: str, make_url: UrlMaker | None) -> Entry | None:
    match = _DOS_RE.match(line)
    if not match:
        return None
    year = int(match.group("year"))
    if year < 100:
        # Two-digit years: IIS prints 70-99 for 1970-1999 and 00-69 for 2000-2069.
        year += 1900 if year >= 70 else 2000
    hour = int(match.group("hour"))
    ampm = (match.group("ampm") or "").upper()
    if ampm == "PM" and hour < 12:
        hour += 12
    elif ampm == "AM" and hour == 12:
        hour = 0
    try:
        modified: datetime | None = datetime(
            year,
            int(match.group("month")),
            int(match.group("day")),
            hour,
            int(match.group("minute")),
        )
    except ValueError:
        modified = None
    size_text = match.group("size")
    kind: EntryKind = "dir" if size_text == "<DIR>" else "file"
    size = None if kind == "dir" else int(size_text.replace(",", ""))
    clean = _safe_name(match.group("name"))
    if clean is None:
        return None
    url = make_url(clean, kind) if make_url else ""
    return Entry(
        name=clean,
        kind=kind,
        size=size,
        modified=modified,
        url=url,
        details={"raw": line, "format": "dos"},
    )


def parse_list_line(
    line: str, make_url: UrlMaker | None = None, *, now: datetime | None = None
) -> Entry | None:
    """Parse one ``LIST`` line (Unix or DOS style).

    Returns ``None`` for lines that carry no entry (``total 42``, blank lines, ``.`` and
    ``..``); an unrecognised line becomes ``Entry(kind="other", details={"raw": line})``.
    ``now`` (naive local time) decides the year of Unix dates printed as ``Mon DD HH:MM``;
    LIST dates carry no time zone, so they are returned naive (server local time).
    """
    if not line.strip():
        return None
    if re.fullmatch(r"total\s+\d+", line.strip(), flags=re.IGNORECASE):
        return None
    reference = now if now is not None else datetime.now()
    entry = _parse_unix(line, make_url, reference)
    if entry is not None or _UNIX_RE.match(line):
        return entry
    if _DOS_RE.match(line):
        return _parse_dos(line, make_url)
    return _other(line, make_url)


class ListingParser:
    """Turns the lines of one listing into entries, with a bound on their number.

    Args:
        mlsd: whether the lines come from ``MLSD`` (else ``LIST``).
        make_url: builds each entry's URL from its name and kind.
        max_entries: the most entries accepted; one more raises ``OverflowError``.
    """

    def __init__(
        self, *, mlsd: bool, make_url: UrlMaker | None = None, max_entries: int = 1_000_000
    ) -> None:
        self.mlsd = mlsd
        self.make_url = make_url
        self.max_entries = max_entries
        self.entries: list[Entry] = []
        self._now = datetime.now()

    def feed(self, line: str) -> None:
        """Parse one line (without its line ending) and keep the entry it describes."""
        if self.mlsd:
            entry = parse_mlsd_line(line, self.make_url) if line.strip() else None
        else:
            entry = parse_list_line(line, self.make_url, now=self._now)
        if entry is None:
            return
        if len(self.entries) >= self.max_entries:
            raise OverflowError(f"listing has more than {self.max_entries} entries")
        self.entries.append(entry)
