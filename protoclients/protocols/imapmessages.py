"""Message listing entries: one ``UID FETCH`` response -> one :class:`~protoclients.entries.Entry`.

The listing asks for ``UID FLAGS RFC822.SIZE INTERNALDATE`` and the ``From``, ``Subject``,
``Date`` and ``Message-ID`` header fields; header values are decoded (RFC 2047 encoded
words, folded lines) with :mod:`email`'s default policy. A header the ``email`` package
cannot make sense of is shown as its raw text rather than failing the listing.
"""

from __future__ import annotations

import email.policy
from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING, Any

from ..entries import Entry
from .imapparse import Value, parse_internaldate

if TYPE_CHECKING:
    from .imapsession import Mailbox

__all__ = ["decode_headers", "message_entry"]

_PARSER = BytesHeaderParser(policy=email.policy.default)
_FIELDS = (("from", "From"), ("subject", "Subject"), ("date", "Date"), ("message_id", "Message-ID"))


def decode_headers(block: bytes) -> dict[str, str]:
    """``{"from", "subject", "date", "message_id"}`` from a header block (missing: ``""``)."""
    out = {key: "" for key, _ in _FIELDS}
    if not block:
        return out
    try:
        message = _PARSER.parsebytes(block)
    except Exception:  # the email package raises many things on hostile input
        return out
    for key, name in _FIELDS:
        try:
            value = message.get(name)
            out[key] = "" if value is None else str(value)
        except Exception:
            raw = message.get_all(name, failobj=[""])
            out[key] = str(raw[0]) if raw else ""
    return out


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
