"""Message listing entries: one ``UID FETCH`` response -> one :class:`~protoclients.entries.Entry`.

The listing asks for ``UID FLAGS RFC822.SIZE INTERNALDATE`` and the ``From``, ``Subject``,
``Date`` and ``Message-ID`` header fields. The header block is unfolded by hand (listing
10,000 messages through ``email``'s policy parser cost seconds) and only values holding
RFC 2047 encoded words go through :mod:`email.header`; a value that cannot be decoded is
shown as its raw text rather than failing the listing.
"""

from __future__ import annotations

from email.header import decode_header, make_header
from typing import TYPE_CHECKING, Any

from ..entries import Entry
from .imapparse import Value, parse_internaldate

if TYPE_CHECKING:
    from .imapsession import Mailbox

__all__ = ["decode_headers", "message_entry"]

_FIELDS = (("from", "From"), ("subject", "Subject"), ("date", "Date"), ("message_id", "Message-ID"))
_WANTED = {name.lower(): key for key, name in _FIELDS}


def decode_headers(block: bytes) -> dict[str, str]:
    """``{"from", "subject", "date", "message_id"}`` from a header block (missing: ``""``)."""
    out = {key: "" for key, _ in _FIELDS}
    if not block:
        return out
    current: str | None = None
    parts: dict[str, list[bytes]] = {}
    for raw_line in block.split(b"\n"):
        line = raw_line.rstrip(b"\r")
        if not line:
            break  # the empty line that ends the header block
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                parts[current].append(line)
            continue
        name, colon, value = line.partition(b":")
        key = _WANTED.get(name.strip().decode("ascii", "replace").lower()) if colon else None
        current = key if key is not None and key not in parts else None
        if current is not None:
            parts[current] = [value]
    for key, chunks in parts.items():
        out[key] = _decode_value(b" ".join(c.strip() for c in chunks))
    return out


def _decode_value(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # the email package raises many things on hostile input
        return text


def message_entry(items: dict[str, Value], url_prefix: str, box: Mailbox) -> Entry | None:
    """The entry for one FETCH response's items (``None`` if it has no valid UID)."""
    uid_value = items.get("UID")
    if not isinstance(uid_value, bytes) or not uid_value.isdigit() or len(uid_value) > 10:
        return None
    uid = int(uid_value)
    flags_value = items.get("FLAGS")
    flags = (
        [f.decode("utf-8", "replace") for f in flags_value if isinstance(f, bytes)]
        if isinstance(flags_value, list)
        else []
    )
    size_value = items.get("RFC822.SIZE")
    size = int(size_value) if isinstance(size_value, bytes) and size_value.isdigit() else None
    header: bytes = b""
    for key, value in items.items():
        if key.startswith("BODY[HEADER") and isinstance(value, bytes):
            header = value
            break
    details: dict[str, Any] = {"uid": uid, "flags": flags}
    details.update(decode_headers(header))
    details["uidvalidity"] = box.uidvalidity
    details["mailbox"] = box.name
    return Entry(
        name=str(uid),
        kind="message",
        size=size,
        modified=parse_internaldate(items.get("INTERNALDATE")),
        url=f"{url_prefix}{uid}",
        details=details,
    )
