"""Parsing IMAP server responses, with every size bounded. Pure functions, no I/O.

A response is read by :mod:`.imapconn` as a first line plus, for each literal it announces
(``{n}`` at the end of a line), the literal's bytes and the next line. This module turns
those pieces into values:

* :func:`parse_head` classifies the first line (tagged, untagged, numbered, continuation);
* :func:`literal_size` checks a literal announcement **before** anything is allocated:
  ``{50000000000}`` above the cap raises :class:`LiteralTooLarge`, ``{-1}``, ``{}`` and
  ``{abc}`` raise :class:`MalformedResponse`, ``{0}`` is an empty literal;
* :func:`parse_values` tokenizes the data (atoms, quoted strings, literals, ``NIL``,
  parenthesized lists, ``BODY[...]<n>`` section atoms), bounded in depth and count;
* helpers read FETCH items, LIST lines, SEARCH / ESEARCH results, status response codes,
  INTERNALDATE and UID sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Union

__all__ = [
    "LiteralTooLarge",
    "MalformedResponse",
    "Response",
    "Streamed",
    "Value",
    "fetch_items",
    "literal_size",
    "parse_code",
    "parse_esearch",
    "parse_head",
    "parse_internaldate",
    "parse_list",
    "parse_search",
    "parse_status",
    "parse_uid_set",
    "parse_values",
]

#: Most nesting of parenthesized lists accepted.
MAX_DEPTH = 32
#: Most values one response may hold (all lists together).
MAX_VALUES = 200_000
#: Most numbers a SEARCH result or a UID set may expand to.
MAX_NUMBERS = 10_000_000
#: Digits accepted in a literal size (more is malformed, whatever the cap).
_MAX_SIZE_DIGITS = 20
_STATUS_WORDS = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})


class MalformedResponse(ValueError):
    """The server sent something that is not valid IMAP."""


class LiteralTooLarge(MalformedResponse):
    """A literal (or line) is larger than the configured bound."""


@dataclass(frozen=True)
class Streamed:
    """Stands in for a literal that was written to a sink instead of being kept."""

    size: int


#: A parsed value: an atom or string (bytes), NIL (None), a literal (bytes or Streamed), a list.
Value = Union[bytes, None, Streamed, list["Value"]]  # noqa: UP007 - a runtime alias


@dataclass
class Response:
    """One server response.

    Attributes:
        tag: the tag of a tagged response, ``b"*"`` for untagged, ``b"+"`` for continuation.
        kind: ``"OK"``, ``"NO"``, ``"BAD"``, ``"BYE"``, ``"PREAUTH"`` for status responses;
            the response name (``"FETCH"``, ``"LIST"``, ``"EXISTS"``...) for data; ``"+"``.
        number: the message number of ``* n FETCH`` / ``EXISTS`` / ``EXPUNGE``, else ``None``.
        code: the response code of a status response (``"UIDVALIDITY"``...), else ``None``.
        code_data: the code's arguments as text (``b"3857529045"``), else ``None``.
        text: the human-readable text of a status response or continuation.
        parts: the data, as alternating text and literal pieces (``[text, literal, text]``).
    """

    tag: bytes
    kind: str
    number: int | None = None
    code: str | None = None
    code_data: bytes | None = None
    text: bytes = b""
    parts: list[bytes | Streamed] = field(default_factory=list)

    @property
    def is_status(self) -> bool:
        """Whether this is an OK/NO/BAD/BYE/PREAUTH response."""
        return self.kind in _STATUS_WORDS

    def values(self) -> list[Value]:
        """The data tokenized (see :func:`parse_values`)."""
        return parse_values(self.parts)


_CODE_RE = re.compile(rb"\[([A-Za-z0-9][A-Za-z0-9.-]*)(?: ([^\]]*))?\] ?")
_NUMBERED_RE = re.compile(rb"\* ([0-9]{1,10}) ([A-Za-z][A-Za-z0-9-]*)(?: (.*))?", re.DOTALL)
_UNTAGGED_RE = re.compile(rb"\* ([A-Za-z][A-Za-z0-9-]*)(?: (.*))?", re.DOTALL)
_TAGGED_RE = re.compile(rb"([!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|~]+) ([A-Za-z]+)(?: (.*))?", re.DOTALL)


def parse_code(text: bytes) -> tuple[str | None, bytes | None, bytes]:
    """Split ``[CODE data] text`` into ``(code, data, text)`` (code upper-case)."""
    match = _CODE_RE.match(text)
    if not match:
        return None, None, text
    return match.group(1).decode("ascii").upper(), match.group(2), text[match.end() :]


def parse_head(line: bytes) -> Response:
    """Classify the first line of a response (without its CRLF)."""
    if line.startswith(b"+"):
        if line[1:2] not in (b"", b" "):
            raise MalformedResponse("malformed continuation response")
        return Response(tag=b"+", kind="+", text=line[2:])
    if line.startswith(b"* "):
        match = _NUMBERED_RE.fullmatch(line)
        if match:
            kind = match.group(2).decode("ascii").upper()
            return Response(
                tag=b"*", kind=kind, number=int(match.group(1)), parts=[match.group(3) or b""]
            )
        match = _UNTAGGED_RE.fullmatch(line)
        if not match:
            raise MalformedResponse("malformed untagged response")
        kind = match.group(1).decode("ascii").upper()
        rest = match.group(2) or b""
        if kind in _STATUS_WORDS:
            code, data, text = parse_code(rest)
            return Response(tag=b"*", kind=kind, code=code, code_data=data, text=text)
        return Response(tag=b"*", kind=kind, parts=[rest])
    match = _TAGGED_RE.fullmatch(line)
    if not match:
        raise MalformedResponse("malformed response line")
    kind = match.group(2).decode("ascii").upper()
    if kind not in {"OK", "NO", "BAD"}:
        raise MalformedResponse(f"unknown status {kind[:20]!r} in a tagged response")
    code, data, text = parse_code(match.group(3) or b"")
    return Response(tag=match.group(1), kind=kind, code=code, code_data=data, text=text)


def literal_size(line: bytes, cap: int) -> int | None:
    """The size announced by a data line ending in ``{n}``, or ``None`` if it has none.

    Checked before anything is allocated: a size over ``cap`` raises
    :class:`LiteralTooLarge`; a malformed announcement raises :class:`MalformedResponse`.
    """
    if not line.endswith(b"}"):
        return None
    start = line.rfind(b"{")
    if start == -1:
        return None
    digits = line[start + 1 : -1]
    if not digits or len(digits) > _MAX_SIZE_DIGITS or not digits.isdigit():
        raise MalformedResponse("malformed literal size announcement")
    size = int(digits)
    if size > cap:
        raise LiteralTooLarge(f"the server announced a literal of {size} bytes (limit {cap})")
    return size


# -- values --------------------------------------------------------------------------------

_ATOM_CHARS = rb"[^ ()\"{\x00-\x1f\x7f\[]"
_TOKEN_RE = re.compile(
    rb" *(?:(\()|(\))|\"((?:[^\"\\\r\n]|\\[\"\\])*)\"|("
    + _ATOM_CHARS
    + rb"*\[[^\]\r\n]*\]"
    + _ATOM_CHARS
    + rb"*|"
    + _ATOM_CHARS
    + rb"+))"
)
_UNESCAPE_RE = re.compile(rb"\\([\"\\])")


def parse_values(parts: list[bytes | Streamed]) -> list[Value]:
    """Tokenize response data into nested values.

    ``parts`` alternates text and literal pieces (as :class:`Response` holds them). Atoms
    and quoted strings become ``bytes`` (quoted strings unescaped), ``NIL`` becomes
    ``None``, literals stay ``bytes`` (or :class:`Streamed`), parenthesized lists become
    Python lists. Raises :class:`MalformedResponse` for anything else.
    """
    root: list[Value] = []
    stack: list[list[Value]] = [root]
    count = 0
    for index, part in enumerate(parts):
        if index % 2 == 1:
            stack[-1].append(part)
            count += 1
            continue
        assert isinstance(part, bytes)
        pos = 0
        length = len(part)
        while pos < length:
            match = _TOKEN_RE.match(part, pos)
            if match is None or match.end() == pos:
                if part[pos:].strip(b" ") == b"":
                    break
                raise MalformedResponse("unexpected characters in a response")
            pos = match.end()
            count += 1
            if count > MAX_VALUES:
                raise LiteralTooLarge("too many values in one response")
            if match.group(1):
                if len(stack) > MAX_DEPTH:
                    raise MalformedResponse("parenthesized lists nested too deeply")
                new: list[Value] = []
                stack[-1].append(new)
                stack.append(new)
            elif match.group(2):
                if len(stack) == 1:
                    raise MalformedResponse("unbalanced ')' in a response")
                stack.pop()
            elif match.group(3) is not None:
                stack[-1].append(_UNESCAPE_RE.sub(rb"\1", match.group(3)))
            else:
                atom = match.group(4)
                stack[-1].append(None if atom.upper() == b"NIL" else atom)
    if len(stack) != 1:
        raise MalformedResponse("unbalanced '(' in a response")
    return root


def _text(value: Value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return ""


def fetch_items(values: list[Value]) -> dict[str, Value]:
    """The items of a FETCH response: ``{"UID": b"42", "FLAGS": [...], "BODY[]": ...}``.

    Item names are upper-case; ``BODY.PEEK[...]`` is answered as ``BODY[...]``.
    """
    if len(values) != 1 or not isinstance(values[0], list):
        raise MalformedResponse("FETCH data is not one parenthesized list")
    items = values[0]
    if len(items) % 2:
        raise MalformedResponse("FETCH data has an item without a value")
    out: dict[str, Value] = {}
    for pos in range(0, len(items), 2):
        name = items[pos]
        if not isinstance(name, bytes):
            raise MalformedResponse("FETCH item name is not an atom")
        out[name.decode("ascii", "replace").upper()] = items[pos + 1]
    return out


def parse_list(values: list[Value]) -> tuple[list[str], str | None, bytes]:
    """A LIST/LSUB response: ``(attributes, delimiter or None, raw mailbox name)``."""
    if len(values) < 3 or not isinstance(values[0], list):
        raise MalformedResponse("malformed LIST response")
    attributes = [_text(a) for a in values[0] if isinstance(a, bytes)]
    delimiter = values[1]
    if delimiter is not None and not isinstance(delimiter, bytes):
        raise MalformedResponse("malformed LIST delimiter")
    name = values[2]
    if isinstance(name, Streamed) or not isinstance(name, bytes):
        raise MalformedResponse("malformed LIST mailbox name")
    return attributes, (delimiter.decode("utf-8", "replace") if delimiter else None), name


def _positive(text: bytes) -> int:
    if not text.isdigit() or len(text) > 10:
        raise MalformedResponse("malformed number in a response")
    return int(text)


def parse_search(parts: list[bytes | Streamed]) -> list[int]:
    """The numbers of a ``* SEARCH 1 5 9`` response (a trailing ``(MODSEQ n)`` is ignored)."""
    if len(parts) != 1 or not isinstance(parts[0], bytes):
        raise MalformedResponse("SEARCH response with a literal")
    text = parts[0].split(b"(", 1)[0]
    words = text.split()
    if len(words) > MAX_NUMBERS:
        raise LiteralTooLarge("SEARCH result too long")
    return [_positive(word) for word in words]


def parse_uid_set(text: bytes | str, limit: int = MAX_NUMBERS) -> list[int]:
    """Expand a UID set (``3:5,9``) into numbers, in order; ``*`` is refused."""
    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    out: list[int] = []
    for piece in text.split(b","):
        low, colon, high = piece.partition(b":")
        first = _positive(low)
        last = _positive(high) if colon else first
        step = 1 if last >= first else -1
        if len(out) + abs(last - first) + 1 > limit:
            raise LiteralTooLarge("UID set too large")
        out.extend(range(first, last + step, step))
    return out


def parse_esearch(parts: list[bytes | Streamed]) -> list[int]:
    """The ``ALL`` numbers of an ``* ESEARCH (TAG "x") UID ALL 1:5,9`` response."""
    values = parse_values(parts)
    for pos, value in enumerate(values):
        if isinstance(value, bytes) and value.upper() == b"ALL" and pos + 1 < len(values):
            seq = values[pos + 1]
            if isinstance(seq, bytes):
                return parse_uid_set(seq)
    return []


def parse_status(values: list[Value]) -> tuple[bytes, dict[str, int]]:
    """A ``* STATUS name (MESSAGES 3 UIDNEXT 9)`` response: ``(raw name, items)``."""
    if len(values) != 2 or not isinstance(values[1], list):
        raise MalformedResponse("malformed STATUS response")
    name = values[0]
    if not isinstance(name, bytes):
        raise MalformedResponse("malformed STATUS mailbox name")
    items = values[1]
    out: dict[str, int] = {}
    for pos in range(0, len(items) - 1, 2):
        key, value = items[pos], items[pos + 1]
        if isinstance(key, bytes) and isinstance(value, bytes) and value.isdigit():
            out[key.decode("ascii", "replace").upper()] = int(value)
    return name, out


_MONTHS = {
    b"JAN": 1, b"FEB": 2, b"MAR": 3, b"APR": 4, b"MAY": 5, b"JUN": 6,
    b"JUL": 7, b"AUG": 8, b"SEP": 9, b"OCT": 10, b"NOV": 11, b"DEC": 12,
}  # fmt: skip
_DATE_RE = re.compile(
    rb" ?([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) "
    rb"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)


def parse_internaldate(value: Value) -> datetime | None:
    """An INTERNALDATE (``"17-Jul-1996 02:44:25 -0700"``) as an aware datetime, or ``None``."""
    if not isinstance(value, bytes):
        return None
    match = _DATE_RE.fullmatch(value)
    if not match:
        return None
    month = _MONTHS.get(match.group(2).upper())
    if month is None:
        return None
    offset = timedelta(hours=int(match.group(8)), minutes=int(match.group(9)))
    if match.group(7) == b"-":
        offset = -offset
    try:
        return datetime(
            int(match.group(3)),
            month,
            int(match.group(1)),
            int(match.group(4)),
            int(match.group(5)),
            int(match.group(6)),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None
