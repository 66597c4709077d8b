"""The one record type that ``ls`` returns for every protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["Entry", "EntryKind"]

#: What an entry is. ``"message"`` and ``"mailbox"`` are used by the mail protocols.
EntryKind = Literal["file", "dir", "link", "message", "mailbox", "other"]


@dataclass(frozen=True)
class Entry:
    """One item of a listing: a file, directory, mailbox or message.

    Attributes:
        name: the entry's name (file name, mailbox name, message UID/number).
        kind: ``"file"``, ``"dir"``, ``"link"``, ``"message"``, ``"mailbox"`` or ``"other"``.
        size: size in bytes, or ``None`` when the server did not say.
        modified: last modification (UTC where the server says so), or ``None``.
        url: the entry's own URL (without password), usable with ``fetch``/``delete``.
        details: protocol-specific facts (FTP ``perm``/``unique``/``raw``, HTTP ``href``...).
    """

    name: str
    kind: EntryKind
    size: int | None = None
    modified: datetime | None = None
    url: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (dates in ISO 8601)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "modified": self.modified.isoformat() if self.modified else None,
            "url": self.url,
            "details": dict(self.details),
        }
