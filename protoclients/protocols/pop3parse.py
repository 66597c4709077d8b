"""POP3 response parsing: scan listings, unique-id listings, CAPA, STAT, APOP, file names.

Pure functions, no I/O. Everything the server sends is checked before it is used: message
numbers are positive decimal integers, sizes non-negative ones, unique ids printable ASCII
(RFC 1939 section 7: ``0x21``-``0x7E``). A line that does not fit is a
:class:`MalformedResponse`, which the error boundary turns into
:class:`~protoclients.errors.ProtocolError`.
"""

from __future__ import annotations

import hashlib
import re
import string

__all__ = [
    "MAX_MESSAGE_NUMBER",
    "MalformedResponse",
    "apop_digest",
    "apop_timestamp",
    "eml_name",
    "parse_capa",
    "parse_scan_line",
    "parse_stat",
    "parse_scan_listing",
    "parse_uidl_line",
    "parse_uidl_listing",
]

#: The largest message number accepted (a hostile server cannot make us allocate for it).
MAX_MESSAGE_NUMBER = 2**31 - 1
#: The largest size accepted in a scan listing or STAT reply (1 PiB).
_MAX_SIZE = 2**50
#: RFC 1939 allows 70 characters; real servers stay below; hostile ones are cut off here.
MAX_UIDL_LENGTH = 512
_DIGITS = re.compile(rb"[0-9]{1,18}")
_UIDL = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_UIDL_LENGTH)
# RFC 1939 section 7: the timestamp is a msg-id, ``<...>`` of printable characters.
_TIMESTAMP = re.compile(rb"<[\x21-\x3b\x3d\x3f-\x7e]{1,255}>")
# Characters kept as they are in a file name made from a UIDL; everything else is %XX.
_NAME_SAFE = frozenset(string.ascii_letters + string.digits + "-_.+=@,~")
_EML = ".eml"


class MalformedResponse(ValueError):
    """A server response does not have the syntax the protocol requires."""


def _number(token: bytes, what: str, *, maximum: int) -> int:
    if not _DIGITS.fullmatch(token):
        raise MalformedResponse(f"{what} is not a number: {token[:40]!r}")
    value = int(token)
    if value > maximum:
        raise MalformedResponse(f"{what} is out of range: {value}")
    return value


def parse_scan_line(line: bytes) -> tuple[int, int]:
    """``(number, size)`` from a scan listing line (``"3 1204"``; anything after is ignored).

    RFC 1939 makes no requirement on what follows the size, so extra words are allowed.
    """
    parts = line.split()
    if len(parts) < 2:
        raise MalformedResponse(f"malformed scan listing: {line[:80]!r}")
    number = _number(parts[0], "message number", maximum=MAX_MESSAGE_NUMBER)
    if number < 1:
        raise MalformedResponse("message number 0 in a scan listing")
    return number, _number(parts[1], "message size", maximum=_MAX_SIZE)


def parse_uidl_line(line: bytes) -> tuple[int, str]:
    """``(number, unique id)`` from a unique-id listing line (``"3 QhdPYR:00WBw1Ph7x7"``)."""
    parts = line.split()
    if len(parts) != 2:
        raise MalformedResponse(f"malformed unique-id listing: {line[:80]!r}")
    number = _number(parts[0], "message number", maximum=MAX_MESSAGE_NUMBER)
    if number < 1:
        raise MalformedResponse("message number 0 in a unique-id listing")
    if not _UIDL.fullmatch(parts[1]):
        raise MalformedResponse("unique id is empty, too long or not printable ASCII")
    return number, parts[1].decode("ascii")


def parse_scan_listing(lines: list[bytes], max_entries: int) -> dict[int, int]:
    """``{number: size}`` from the lines of a multi-line ``LIST`` reply (in server order)."""
    sizes: dict[int, int] = {}
    for line in lines:
        if not line.strip():
            continue
        number, size = parse_scan_line(line)
        if number in sizes:
            raise MalformedResponse(f"message {number} listed twice")
        sizes[number] = size
        if len(sizes) > max_entries:
            raise MalformedResponse(f"more than {max_entries} messages listed")
    return sizes


def parse_uidl_listing(lines: list[bytes], max_entries: int) -> dict[int, str]:
    """``{number: uidl}`` from the lines of a multi-line ``UIDL`` reply.

    Two messages with the same unique id would make de-duplication (and "download then
    delete") unsafe, so that is a :class:`MalformedResponse` too.
    """
    uidls: dict[int, str] = {}
    seen: dict[str, int] = {}
    for line in lines:
        if not line.strip():
            continue
        number, uidl = parse_uidl_line(line)
        if number in uidls:
            raise MalformedResponse(f"message {number} listed twice")
        if uidl in seen:
            raise MalformedResponse(f"messages {seen[uidl]} and {number} have the same unique id")
        uidls[number] = uidl
        seen[uidl] = number
        if len(uidls) > max_entries:
            raise MalformedResponse(f"more than {max_entries} messages listed")
    return uidls


def parse_stat(reply: bytes) -> tuple[int, int]:
    """``(message count, mailbox size)`` from a ``+OK nn mm`` reply to ``STAT``."""
    parts = reply.split()
    if len(parts) < 3 or parts[0] != b"+OK":
        raise MalformedResponse(f"malformed STAT reply: {reply[:80]!r}")
    count = _number(parts[1], "message count", maximum=MAX_MESSAGE_NUMBER)
    return count, _number(parts[2], "mailbox size", maximum=_MAX_SIZE)


def parse_capa(lines: list[bytes]) -> dict[str, list[str]]:
    """``{"NAME": [args...]}`` from the lines of a ``CAPA`` reply (names upper-cased)."""
    caps: dict[str, list[str]] = {}
    for line in lines:
        words = line.decode("ascii", "replace").split()
        if words:
            caps[words[0].upper()] = words[1:]
    return caps


def apop_timestamp(greeting: bytes) -> bytes | None:
    """The ``<...>`` timestamp of an APOP-capable greeting, or ``None``."""
    match = _TIMESTAMP.search(greeting)
    return match.group(0) if match else None


def apop_digest(timestamp: bytes, password: str) -> str:
    """The APOP digest: lower-case hex MD5 of the timestamp followed by the password."""
    # MD5 is what RFC 1939 prescribes; it is why APOP does not count as encryption here.
    return hashlib.md5(timestamp + password.encode("utf-8"), usedforsecurity=False).hexdigest()


def eml_name(number: int, uidl: str | None) -> str:
    """The file name a message is stored under in a directory: ``<UIDL made safe>.eml``.

    The mapping is one-to-one (distinct UIDLs never share a file name): letters, digits and
    ``-_.+=@,~`` are kept, every other byte becomes ``%XX`` (``%`` included), and a leading
    ``.`` is encoded so no name is hidden, ``.`` or ``..``. Without a UIDL the message
    number is used (``3.eml``).
    """
    if uidl is None:
        return f"{number}{_EML}"
    out = []
    for index, char in enumerate(uidl):
        if char in _NAME_SAFE and not (index == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    name = "".join(out)
    if len(name) + len(_EML) > 255:
        # Only possible for UIDLs far beyond RFC 1939's 70 characters.
        name = "uidl-sha256-" + hashlib.sha256(uidl.encode("utf-8")).hexdigest()
    return name + _EML
