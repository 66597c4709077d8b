"""IMAP URLs (RFC 5092): which mailbox, message, section or search a URL names.

Accepted forms (``imaps://`` alike)::

    imap://alice@host/                              the server: ls lists mailboxes
    imap://alice@host/INBOX                         a mailbox
    imap://alice@host/Archive/2024                  a mailbox below another ("/" delimiter)
    imap://alice@host/INBOX?UNSEEN                  a search (RFC 3501 SEARCH syntax)
    imap://alice@host/INBOX?SINCE%201-Jan-2026      the same, percent-encoded
    imap://alice@host/INBOX;UID=42                  one message
    imap://alice@host/INBOX;UIDVALIDITY=9;UID=42;SECTION=HEADER
    imap://alice@host/INBOX;UIDVALIDITY=9/;UID=42/;SECTION=HEADER   (RFC 5092 spelling)

The mailbox part is percent-decoded to a Unicode name (``Entw%C3%BCrfe`` is
``Entwürfe``; it is encoded to modified UTF-7 only when sent). Parameters are
case-insensitive; an unknown one, a UID of 0 or a malformed section is refused.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ..errors import InvalidURL
from ..urls import URL

__all__ = ["IMAPTarget", "mailbox_url", "message_url", "parse_imap_url", "quote_mailbox"]

_MAX_UID = 2**32 - 1
_SECTION_RE = re.compile(
    r"(?:[1-9][0-9]*(?:\.[1-9][0-9]*)*)?"
    r"(?:(?:^|\.)(?:HEADER|TEXT|MIME|HEADER\.FIELDS(?:\.NOT)? \([!-9;-~]+(?: [!-9;-~]+)*\)))?",
    re.IGNORECASE,
)
_PARTIAL_RE = re.compile(r"([0-9]{1,10})(?:\.([1-9][0-9]{0,9}))?")
#: Characters left as they are in a mailbox name inside a URL path.
_MAILBOX_SAFE = "/!$&'()*+,=:@-._~"


@dataclass(frozen=True)
class IMAPTarget:
    """What an IMAP URL names.

    Attributes:
        mailbox: the decoded mailbox name, or ``None`` for the server itself.
        uid: the message UID, or ``None``.
        uidvalidity: the UIDVALIDITY the UID belongs to, or ``None`` (not checked).
        section: a body section (``HEADER``, ``TEXT``, ``1.2``...), or ``None``.
        partial: ``(offset, length or None)`` from ``;PARTIAL=``, or ``None``.
        search: the search criteria (decoded query), or ``None``.
    """

    mailbox: str | None = None
    uid: int | None = None
    uidvalidity: int | None = None
    section: str | None = None
    partial: tuple[int, int | None] | None = None
    search: str | None = None

    @property
    def is_message(self) -> bool:
        """Whether the URL names one message."""
        return self.uid is not None

    @property
    def is_message_set(self) -> bool:
        """Whether the URL names a mailbox or a search (a set of messages)."""
        return self.mailbox is not None and self.uid is None


def _number(value: str, what: str, url: URL) -> int:
    if not value.isdigit() or len(value) > 10 or not 0 < int(value) <= _MAX_UID:
        raise InvalidURL(f"{what} must be a number from 1 to {_MAX_UID}", url=url)
    return int(value)


def _decode(text: str, what: str, url: URL) -> str:
    try:
        value = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidURL(f"{what} is not valid UTF-8 after percent-decoding", url=url) from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidURL(f"{what} contains a control character (CR, LF, NUL...)", url=url)
    return value


def parse_imap_url(url: URL) -> IMAPTarget:
    """Parse the path and query of an ``imap://`` / ``imaps://`` URL (RFC 5092)."""
    raw = url.path.lstrip("/")
    head, _, params_text = raw.partition(";")
    head = head.rstrip("/")
    mailbox = _decode(head, "mailbox name", url) if head else None
    uid = uidvalidity = None
    section: str | None = None
    partial: tuple[int, int | None] | None = None
    if params_text:
        if mailbox is None:
            raise InvalidURL("URL parameters (;UID=...) need a mailbox name before them", url=url)
        for raw_piece in params_text.split(";"):
            piece = raw_piece[:-1] if raw_piece.endswith("/") else raw_piece
            name, eq, value_raw = piece.partition("=")
            value = _decode(value_raw, f"URL parameter {name}", url)
            key = name.upper()
            if not eq or not value:
                raise InvalidURL(f"URL parameter {name!r} needs a value", url=url)
            if key == "UID":
                uid = _number(value, "UID", url)
            elif key == "UIDVALIDITY":
                uidvalidity = _number(value, "UIDVALIDITY", url)
            elif key == "SECTION":
                if not _SECTION_RE.fullmatch(value):
                    raise InvalidURL(f"invalid message section {value!r}", url=url)
                section = value.upper()
            elif key == "PARTIAL":
                match = _PARTIAL_RE.fullmatch(value)
                if not match:
                    raise InvalidURL("PARTIAL must be OFFSET or OFFSET.LENGTH", url=url)
                length = int(match.group(2)) if match.group(2) else None
                partial = (int(match.group(1)), length)
            else:
                raise InvalidURL(f"unknown IMAP URL parameter {name!r}", url=url)
        if (section is not None or partial is not None) and uid is None:
            raise InvalidURL(";SECTION= and ;PARTIAL= need a ;UID=", url=url)
    search = None
    if url.query:
        if mailbox is None:
            raise InvalidURL("a search (?...) needs a mailbox name before it", url=url)
        if uid is not None:
            raise InvalidURL("a URL cannot name both a UID and a search", url=url)
        search = _decode(url.query, "search criteria", url).strip() or None
    return IMAPTarget(
        mailbox=mailbox,
        uid=uid,
        uidvalidity=uidvalidity,
        section=section,
        partial=partial,
        search=search,
    )


def quote_mailbox(name: str) -> str:
    """Percent-encode a mailbox name for a URL path (``/`` kept, ``;?#%`` encoded)."""
    return quote(name, safe=_MAILBOX_SAFE)


def mailbox_url(base: URL, mailbox: str) -> URL:
    """The URL of ``mailbox`` on ``base``'s server."""
    return base.replace(path="/" + quote_mailbox(mailbox), query="", fragment="")


def message_url(base: URL, mailbox: str, uid: int, uidvalidity: int | None = None) -> URL:
    """The URL of one message: ``imap://user@host/MAILBOX;UID=n``.

    With ``uidvalidity`` the URL becomes ``MAILBOX;UIDVALIDITY=v;UID=n`` and fetching it
    fails if the mailbox's UIDs were renumbered since.
    """
    params = f";UIDVALIDITY={uidvalidity}" if uidvalidity is not None else ""
    return base.replace(path=f"/{quote_mailbox(mailbox)}{params};UID={uid}", query="", fragment="")
