"""The SMTP ``DATA`` payload: CRLF line ends, dot-stuffing, bounded lines; raw header sections.

SMTP smuggling (CVE-2023-51764/-51765/-51766) works because clients pass bare ``LF`` or
``CR`` through to the wire and servers disagree on what ends the data. ``smtplib`` sends a
``bytes`` message as it is, apart from doubling leading dots. :class:`DataEncoder` makes the
payload unambiguous instead:

* every line ending (``CRLF``, bare ``LF``, bare ``CR``) becomes ``CRLF``, so no bare CR or
  LF reaches the wire and ``A\\n.\\nB`` cannot end the data early;
* a line that starts with ``.`` gets a second dot (RFC 5321 4.5.2);
* a line longer than :data:`MAX_LINE` octets raises :class:`LineTooLong` (RFC 5322 2.1.1):
  the caller re-encodes the message or refuses it, it never sends it broken;
* the payload ends with ``CRLF.CRLF``.

It works on chunks, so a message read from a file is encoded as it streams, with memory that
does not grow with its size. A CR at the end of one chunk and an LF at the start of the next
are one line ending.

The rest of the module handles the header section of a raw message: where it ends
(:func:`find_head_end`), its fields (:func:`raw_fields`) and the same section without its
``Bcc``/``Resent-Bcc`` fields (:func:`strip_bcc`), leaving every other byte as it was.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_HEAD",
    "MAX_LINE",
    "DataEncoder",
    "LineTooLong",
    "encode_message",
    "ENVELOPE_FIELDS",
    "envelope_fields",
    "find_head_end",
    "raw_fields",
    "strip_bcc",
    "unstuff",
]

#: Longest line allowed in a message, without its CRLF (RFC 5322 2.1.1, RFC 5321 4.5.3.1.6).
MAX_LINE = 998
#: Largest header section accepted in a raw message (read before anything is sent).
MAX_HEAD = 1024 * 1024

_BARE_EOL = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
_BCC_FIELDS = frozenset({b"bcc", b"resent-bcc"})


class LineTooLong(ValueError):
    """A line of the message is longer than :data:`MAX_LINE` octets."""


class DataEncoder:
    """Encode message bytes, chunk by chunk, into the payload sent after ``DATA``.

    Call :meth:`feed` with each chunk and :meth:`finish` once at the end; send what they
    return, in order. ``size`` counts the bytes produced, ``eight_bit`` tells whether any
    byte had the high bit set (the server must then offer ``8BITMIME``).
    """

    __slots__ = ("_at_line_start", "_line_len", "_pending_cr", "eight_bit", "max_line", "size")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self.size = 0
        self.eight_bit = False
        self._pending_cr = False
        self._line_len = 0
        self._at_line_start = True

    def feed(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Encode the next chunk; raise :class:`LineTooLong` on an overlong line."""
        data = bytes(chunk)
        if self._pending_cr:
            data = b"\r" + data
            self._pending_cr = False
        if data.endswith(b"\r"):
            # It may be the first half of a CRLF split across chunks: decide next time.
            data = data[:-1]
            self._pending_cr = True
        if not data:
            return b""
        if not self.eight_bit and not data.isascii():
            self.eight_bit = True
        lines = data.split(b"\r\n")
        # With every CRLF taken out, any CR or LF left is a bare one (C-speed scans).
        rest = b"".join(lines) if len(lines) > 1 else data
        if b"\r" in rest or b"\n" in rest:
            data = _BARE_EOL.sub(b"\r\n", data)
            lines = data.split(b"\r\n")
        self._check_lines(lines)
        if self._at_line_start and data.startswith(b"."):
            data = b"." + data
        data = data.replace(b"\n.", b"\n..")
        self._at_line_start = data.endswith(b"\n")
        self.size += len(data)
        return data

    def finish(self) -> bytes:
        """The end of the payload: a last CRLF if the message lacks one, then ``.CRLF``."""
        tail = b""
        if self._pending_cr:
            self._pending_cr = False
            tail = b"\r\n"
        elif not self._at_line_start:
            tail = b"\r\n"
        self._at_line_start = True
        self._line_len = 0
        tail += b".\r\n"
        self.size += len(tail)
        return tail

    def _check_lines(self, lines: list[bytes]) -> None:
        """``lines``: the chunk split at CRLF (no bare CR or LF left)."""
        if len(lines) == 1:
            self._line_len += len(lines[0])
            if self._line_len > self.max_line:
                raise LineTooLong(f"a line is longer than {self.max_line} octets")
            return
        if self._line_len + len(lines[0]) > self.max_line or max(map(len, lines)) > self.max_line:
            raise LineTooLong(f"a line is longer than {self.max_line} octets")
        self._line_len = len(lines[-1])


def encode_message(data: bytes | bytearray | memoryview, max_line: int = MAX_LINE) -> bytes:
    """The complete ``DATA`` payload for an in-memory message (see :class:`DataEncoder`)."""
    encoder = DataEncoder(max_line)
    return encoder.feed(data) + encoder.finish()


def find_head_end(data: bytes) -> int | None:
    """Where the header section of a raw message ends: the index of the blank line that
    separates it from the body (``0`` when the message starts with one), or ``None`` when
    ``data`` has no blank line (yet)."""
    start = _LINE_END.match(data)
    if start is not None:
        return 0
    # The common case: CRLF line ends only, up to the first CRLF CRLF.
    blank = data.find(b"\r\n\r\n")
    if blank != -1:
        crlf = data.count(b"\r\n", 0, blank)
        if data.count(b"\r", 0, blank) == crlf and data.count(b"\n", 0, blank) == crlf:
            return blank + 2
    match = _BLANK_LINE.search(data)
    if match is None:
        return None
    first_end = _LINE_END.match(data, match.start())
    assert first_end is not None
    return first_end.end()


def _fields(head: bytes) -> list[list[bytes]]:
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in {b" ", b"\t"} and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    return fields


def _name(first_line: bytes) -> bytes | None:
    name, colon, _ = first_line.partition(b":")
    return name.strip().lower() if colon else None


def strip_bcc(head: bytes) -> bytes:
    """The header section without its ``Bcc`` and ``Resent-Bcc`` fields (folded lines
    included); every other byte is kept as it was."""
    if b"bcc" not in head.lower():
        return head  # no field can be named Bcc (a cheap test that cannot miss one)
    kept = [b"".join(lines) for lines in _fields(head) if _name(lines[0]) not in _BCC_FIELDS]
    return b"".join(kept)


def raw_fields(head: bytes) -> list[tuple[str, str]]:
    """``(lower-case name, unfolded value)`` of each field in a raw header section.

    Bytes that are not UTF-8 are kept as surrogate escapes (address checks refuse them).
    """
    out: list[tuple[str, str]] = []
    for lines in _fields(head):
        name = _name(lines[0])
        if name is None:
            continue
        value = b"".join(lines).partition(b":")[2]
        text = value.decode("utf-8", "surrogateescape")
        out.append((name.decode("ascii", "replace"), _LINE_END_STR.sub("", text).strip()))
    return out


_LINE_END_STR = re.compile(r"\r\n|\n|\r")


#: The fields :func:`envelope_fields` collects (lower-case names).
ENVELOPE_FIELDS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "message-id",
        "resent-date",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
    }
)
# The start of one of ENVELOPE_FIELDS: the name with the white space bytes.strip() removes
# around it, then the colon (the first one of the line: the name has none). A line starting
# with a space or a tab continues the field before, except the first line of the section.
_NAMES = rb"(?i:(from|sender|to|cc|bcc|message-id|resent-(?:date|from|sender|to|cc|bcc)))"
_FIRST_FIELD = re.compile(rb"[ \t\x0b\x0c]*" + _NAMES + rb"[ \t\x0b\x0c]*:")
# After a line feed (the literal first byte lets the regex engine skip ahead quickly).
_NEXT_FIELD = re.compile(rb"\n(?:[\x0b\x0c][ \t\x0b\x0c]*)?" + _NAMES + rb"[ \t\x0b\x0c]*:")
_FOLDING = (b" ", b"\t")


def envelope_fields(head: bytes) -> dict[str, list[str]]:
    """The :data:`ENVELOPE_FIELDS` of a raw header section: ``{name: [value, ...]}``,
    exactly what :func:`raw_fields` gives for those names, in order, but without
    splitting the other fields (the usual header section has a dozen of them)."""
    found: dict[str, list[str]] = {}
    if head.count(b"\r") != head.count(b"\r\n"):
        # A bare CR ends a line too, which the search for line feeds misses: the general parser.
        for name, value in raw_fields(head):
            if name in ENVELOPE_FIELDS:
                found.setdefault(name, []).append(value)
        return found
    first = _FIRST_FIELD.match(head)
    matches = _NEXT_FIELD.finditer(head)
    for match in (first, *matches) if first is not None else matches:
        start = match.end()
        # The field ends at the first line feed not followed by folding white space.
        end = head.find(b"\n", start)
        while end != -1 and head[end + 1 : end + 2] in _FOLDING:
            end = head.find(b"\n", end + 1)
        raw = head[start : end + 1 if end != -1 else len(head)]
        text = raw.decode("utf-8", "surrogateescape").replace("\r", "").replace("\n", "")
        found.setdefault(match.group(1).lower().decode("ascii"), []).append(text.strip())
    return found


def unstuff(payload: bytes) -> bytes:
    """The message bytes of a ``DATA`` payload built here: without the final ``.CRLF`` and
    without the dots doubled at the start of lines (what the server stores)."""
    if not payload.endswith(b".\r\n"):
        raise ValueError("not an SMTP DATA payload")
    data = payload[:-3]
    if data.startswith(b".."):
        data = data[1:]
    return data.replace(b"\r\n..", b"\r\n.")
