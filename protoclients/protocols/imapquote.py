"""IMAP command arguments built from caller strings: atoms, quoted strings, literals.

Nothing a caller gives is spliced raw into a command line. Mailbox names are encoded
(modified UTF-7, or UTF-8 after ``ENABLE UTF8=ACCEPT``) and sent as an atom, a quoted
string or a literal; flags must be valid flag atoms; search criteria are checked token by
token against the RFC 3501 grammar, with their strings quoted. CR, LF and NUL are refused
everywhere with :class:`~protoclients.errors.InvalidInput` (the value is never echoed),
before anything is sent. Pure functions, no I/O.

An argument is ``bytes`` (goes on the command line as is) or a :class:`Literal` (sent as
``{n}`` + CRLF + the bytes, after the server's continuation, or ``{n+}`` with LITERAL+).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from ..errors import InvalidInput
from . import imaputf7

__all__ = [
    "Arg",
    "Literal",
    "astring",
    "check_text",
    "date_arg",
    "flag_list",
    "mailbox_arg",
    "search_args",
    "sequence_set",
    "validate_flag",
]

# atom-char: any CHAR except atom-specials ( ) { SP CTL % * " \ ]
_ATOM_RE = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+")
_QUOTABLE_RE = re.compile(rb"[\x20-\x7e]*")
_FLAG_KEYWORD_RE = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+")
_SYSTEM_FLAGS = {
    "\\seen": "\\Seen",
    "\\answered": "\\Answered",
    "\\flagged": "\\Flagged",
    "\\deleted": "\\Deleted",
    "\\draft": "\\Draft",
}
_DATE_RE = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SEQ_RE = re.compile(r"(?:[0-9]+|\*)(?::(?:[0-9]+|\*))?(?:,(?:[0-9]+|\*)(?::(?:[0-9]+|\*))?)*")
#: Longest quoted string sent; longer strings go as literals.
MAX_QUOTED = 1024


@dataclass(frozen=True)
class Literal:
    """A command argument sent as an IMAP literal (``{n}`` CRLF bytes)."""

    data: bytes

    def __repr__(self) -> str:
        return f"Literal({len(self.data)} bytes)"


Arg = bytes | Literal


def check_text(value: str, what: str) -> str:
    """Refuse CR, LF and NUL (command injection) without echoing the value."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidInput(f"{what} contains CR, LF or NUL", protocol="imap")
    return value


def astring(value: str | bytes, what: str = "argument", *, utf8: bool = False) -> Arg:
    """``value`` as an atom, a quoted string or a literal, whichever it needs.

    Non-ASCII text becomes a literal (UTF-8), or a quoted UTF-8 string when ``utf8`` is
    true (after ``ENABLE UTF8=ACCEPT``).
    """
    if isinstance(value, str):
        check_text(value, what)
        data = value.encode("utf-8")
    else:
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise InvalidInput(f"{what} contains CR, LF or NUL", protocol="imap")
        data = value
    if data and len(data) <= MAX_QUOTED and _ATOM_RE.fullmatch(data) and data.upper() != b"NIL":
        return data
    if len(data) <= MAX_QUOTED and (
        _QUOTABLE_RE.fullmatch(data) or (utf8 and _utf8_quotable(data))
    ):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return Literal(data)


def _utf8_quotable(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(b < 0x20 or b == 0x7F for b in data)


def mailbox_arg(name: str, *, utf8: bool = False) -> Arg:
    """A mailbox name for a command: modified UTF-7 (or UTF-8 with ``utf8``), quoted."""
    check_text(name, "mailbox name")
    if not name:
        raise InvalidInput("mailbox name is empty", protocol="imap")
    if name.upper() == "INBOX":
        return b"INBOX"
    encoded = name if utf8 else imaputf7.encode(name)
    return astring(encoded, "mailbox name", utf8=utf8)


def validate_flag(flag: str) -> str:
    """A flag as sent: a system flag (``\\Seen``...) or a keyword atom."""
    check_text(flag, "flag")
    lowered = flag.lower()
    if lowered in _SYSTEM_FLAGS:
        return _SYSTEM_FLAGS[lowered]
    if flag.startswith("\\"):
        if lowered == "\\recent":
            raise InvalidInput("\\Recent cannot be set by a client", protocol="imap")
        raise InvalidInput(f"unknown system flag {flag!r}", protocol="imap")
    if not _FLAG_KEYWORD_RE.fullmatch(flag):
        raise InvalidInput(
            f"flag {flag!r} is not a valid IMAP keyword (letters, digits, $ and a few "
            "punctuation marks; no spaces, parentheses, quotes, '%', '*', ']')",
            protocol="imap",
        )
    return flag


def flag_list(flags: Iterable[str] | str) -> bytes:
    """``(\\Seen $Label)`` from a list of flags (or one flag), each validated."""
    if isinstance(flags, str):
        flags = [flags]
    return b"(" + b" ".join(validate_flag(f).encode("ascii") for f in flags) + b")"


def date_arg(value: str | date) -> bytes:
    """A search date (``1-Jan-2026``) from a string or a :class:`datetime.date`."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value.day}-{_MONTHS[value.month - 1]}-{value.year:04d}".encode("ascii")
    check_text(value, "date")
    match = _DATE_RE.fullmatch(value)
    month = match.group(2).capitalize() if match else ""
    if not match or month not in _MONTHS or not 1 <= int(match.group(1)) <= 31:
        raise InvalidInput(f"invalid IMAP date {value!r} (expected e.g. 1-Jan-2026)")
    return f"{int(match.group(1))}-{month}-{match.group(3)}".encode("ascii")


def sequence_set(value: str | int | Iterable[int]) -> bytes:
    """A UID/sequence set (``1:5,9``) from a string, an int or integers (compressed)."""
    if isinstance(value, bool):
        raise InvalidInput("a message set is not a boolean")
    if isinstance(value, int):
        if value <= 0:
            raise InvalidInput("message numbers and UIDs start at 1")
        return str(value).encode("ascii")
    if isinstance(value, str):
        check_text(value, "message set")
        if not _SEQ_RE.fullmatch(value) or any(
            part == "0" or part.startswith("0") for part in re.split("[:,]", value)
        ):
            raise InvalidInput(f"invalid message set {value!r} (expected e.g. 1:5,9)")
        return value.encode("ascii")
    numbers = sorted(set(value))
    if not numbers:
        raise InvalidInput("empty message set")
    if any(not isinstance(n, int) or isinstance(n, bool) or n <= 0 for n in numbers):
        raise InvalidInput("message numbers and UIDs are positive integers")
    return compress_uids(numbers).encode("ascii")


def compress_uids(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1:3,7"`` (``numbers`` sorted, unique, positive)."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in numbers[1:]:
        if n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = n
    parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)


# -- search criteria ---------------------------------------------------------------------------

# Search keys by what follows them (RFC 3501 section 6.4.4 plus a few common extensions).
_KEYS_NO_ARG = frozenset(
    [
        "ALL",
        "ANSWERED",
        "DELETED",
        "DRAFT",
        "FLAGGED",
        "NEW",
        "OLD",
        "RECENT",
        "SEEN",
        "UNANSWERED",
        "UNDELETED",
        "UNDRAFT",
        "UNFLAGGED",
        "UNSEEN",
    ]
)
_KEYS_STRING = frozenset(["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"])
_KEYS_DATE = frozenset(["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"])
_KEYS_NUMBER = frozenset(["LARGER", "SMALLER", "OLDER", "YOUNGER"])
_KEYS_FLAG = frozenset(["KEYWORD", "UNKEYWORD"])
_MAX_SEARCH_TOKENS = 1000
_MAX_DEPTH = 50
_TOKEN_RE = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"]+))')


def _tokenize_criteria(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise InvalidInput(
                f"cannot parse search criteria near {text[pos : pos + 20]!r} (unbalanced quote?)"
            )
        pos = match.end()
        if match.group(1):
            tokens.append(("(", "("))
        elif match.group(2):
            tokens.append((")", ")"))
        elif match.group(3) is not None:
            tokens.append(("str", re.sub(r"\\(.)", r"\1", match.group(3))))
        else:
            tokens.append(("word", match.group(4)))
        if len(tokens) > _MAX_SEARCH_TOKENS:
            raise InvalidInput("search criteria are too long")
    return tokens


def search_args(criteria: str | Sequence[str], *, utf8: bool = False) -> tuple[list[Arg], bool]:
    """Validate search criteria; return ``(arguments, needs_charset_utf8)``.

    ``criteria`` is text in IMAP search syntax (``UNSEEN``, ``SINCE 1-Jan-2026``,
    ``FROM "Bob Smith"``, ``OR FROM a FROM b``, ``NOT SEEN``, ``UID 1:100``, ``HEADER
    List-Id x``, parentheses), or a list of tokens (each string argument taken as is,
    without quote processing). Every key and its arguments are checked; strings are re-quoted
    (or sent as literals); the second result tells whether ``CHARSET UTF-8`` is needed.
    """
    if isinstance(criteria, str):
        check_text(criteria, "search criteria")
        tokens = _tokenize_criteria(criteria)
    else:
        tokens = []
        for item in criteria:
            check_text(item, "search criteria")
            if item in {"(", ")"}:
                tokens.append((item, item))
            else:
                tokens.append(("str" if " " in item or not item else "word", item))
    if not tokens:
        return [b"ALL"], False
    out: list[Arg] = []
    needs_utf8 = False
    pos = 0

    def take(kind: str) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise InvalidInput(f"search criteria end where {kind} was expected")
        _, value = tokens[pos]
        pos += 1
        return value

    def string_arg() -> None:
        nonlocal needs_utf8
        value = take("a string")
        if not value.isascii():
            needs_utf8 = True
        out.append(astring(value, "search string", utf8=utf8) if value else b'""')

    def key(depth: int) -> None:
        nonlocal pos
        if depth > _MAX_DEPTH:
            raise InvalidInput("search criteria are nested too deeply")
        if pos >= len(tokens):
            raise InvalidInput("search criteria end where a search key was expected")
        kind, value = tokens[pos]
        pos += 1
        if kind == "(":
            out.append(b"(")
            count = 0
            while pos < len(tokens) and tokens[pos][0] != ")":
                key(depth + 1)
                count += 1
            if pos >= len(tokens) or count == 0:
                raise InvalidInput("unbalanced or empty parentheses in search criteria")
            pos += 1
            out.append(b")")
            return
        if kind != "word":
            raise InvalidInput(f"search key expected, got a string {value!r}")
        upper = value.upper()
        if upper in _KEYS_NO_ARG:
            out.append(upper.encode("ascii"))
        elif upper in _KEYS_STRING:
            out.append(upper.encode("ascii"))
            string_arg()
        elif upper in _KEYS_DATE:
            out.append(upper.encode("ascii"))
            out.append(date_arg(take("a date")))
        elif upper in _KEYS_NUMBER:
            number = take("a number")
            if not number.isdigit() or len(number) > 19:
                raise InvalidInput(f"{upper} needs a number, got {number!r}")
            out.extend([upper.encode("ascii"), number.encode("ascii")])
        elif upper in _KEYS_FLAG:
            out.append(upper.encode("ascii"))
            out.append(validate_flag(take("a keyword")).encode("ascii"))
        elif upper == "HEADER":
            out.append(b"HEADER")
            name = take("a header name")
            if not re.fullmatch(r"[!-9;-~]+", name):
                raise InvalidInput(f"invalid header field name {name!r}")
            out.append(astring(name, "header name"))
            string_arg()
        elif upper == "UID":
            out.append(b"UID")
            out.append(sequence_set(take("a UID set")))
        elif upper == "NOT":
            out.append(b"NOT")
            key(depth + 1)
        elif upper == "OR":
            out.append(b"OR")
            key(depth + 1)
            key(depth + 1)
        elif _SEQ_RE.fullmatch(value):
            out.append(sequence_set(value))
        else:
            raise InvalidInput(f"unknown search key {value!r}")

    while pos < len(tokens):
        key(0)
    return out, needs_utf8
