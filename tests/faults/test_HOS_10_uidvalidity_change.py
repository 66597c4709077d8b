"""HOS-10 (IMAP, hostile server): the mailbox's UIDVALIDITY changes between two runs.

The real IMAP server renumbers ``Archive`` (deleted and re-created: new UIDVALIDITY, UIDs
start again at 1, other messages under the old UIDs). Saved state from the first run — a
bulk-download directory (``<UID>.eml`` + its UIDVALIDITY marker) and message URLs with
``;UIDVALIDITY=`` — is recognised as stale: the incremental download refuses to mix epochs,
``fetch``/``delete`` of a stale URL raise ``NotFoundError``; nothing is deleted or flagged
on the strength of a stale UID (the server's log has no ``STORE``/``EXPUNGE``/``MOVE``).
Resync is explicit: a new directory, or ``overwrite=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import protoclients as pc

pytestmark = pytest.mark.timeout(60)

WRITES = ("STORE", "EXPUNGE", "MOVE", "COPY", "APPEND", "DELETE")


def _msg(tag: str) -> bytes:
    return f"Subject: {tag}\r\nMessage-ID: <{tag}@test>\r\n\r\nbody {tag}\r\n".encode()


def _writes(mail: Any) -> list[str]:
    return [c for c in mail.imap.commands if any(f" {w}" in c.upper() for w in WRITES)]


def test_HOS_10_stale_uids_are_never_acted_on(pc_mail: Any, tmp_path: Path) -> None:
    store = pc_mail.store
    store.create_mailbox("alice", "Archive")
    for tag in ("old-1", "old-2", "old-3"):
        store.deliver("alice", _msg(tag), mailbox="Archive")
    base = pc_mail.imap_url.replace("://", "://alice@", 1)
    password = pc_mail.users["alice"]
    saved = tmp_path / "archive"
    saved.mkdir()

    # First run: everything stored locally, the UIDVALIDITY remembered with it.
    with pc.connect(base, password=password) as client:
        first = client.fetch("Archive", saved)
        entries = client.ls("Archive")
    old_validity = entries[0].details["uidvalidity"]
    assert [r.details["uidvalidity"] for r in first] == [old_validity] * 3
    before = {p.name: p.read_bytes() for p in saved.glob("*.eml")}
    assert sorted(before) == ["1.eml", "2.eml", "3.eml"]

    # The server renumbers: same mailbox name, new UIDVALIDITY, other messages at UIDs 1, 2.
    store.delete_mailbox("alice", "Archive")
    store.create_mailbox("alice", "Archive")
    for tag in ("new-1", "new-2"):
        store.deliver("alice", _msg(tag), mailbox="Archive")
    new_validity = store.status("alice", "Archive").uidvalidity
    assert new_validity != old_validity
    pc_mail.imap.commands.clear()

    stale = f"Archive;UIDVALIDITY={old_validity}/;UID=1"
    with pc.connect(base, password=password) as client:
        # The incremental download would think 1.eml and 2.eml are done: refused.
        with pytest.raises(pc.ProtocolError, match="renumbered"):
            client.fetch("Archive", saved)
        # Saved message URLs name other messages now: refused, nothing touched.
        with pytest.raises(pc.NotFoundError, match="renumbered"):
            client.fetch(stale)
        with pytest.raises(pc.NotFoundError, match="renumbered"):
            client.delete(stale)
        with pytest.raises(pc.NotFoundError, match="renumbered"):
            client.delete(stale, trash="Trash")
        with pytest.raises(pc.NotFoundError, match="renumbered"):
            client.ls(stale)
    assert _writes(pc_mail) == []
    assert [m.data for m in store.messages("alice", "Archive")] == [_msg("new-1"), _msg("new-2")]
    assert store.messages("alice", "Trash") == []
    # The local copies of the first run are untouched.
    assert {p.name: p.read_bytes() for p in saved.glob("*.eml")} == before

    # Resync is explicit: into a new directory, or overwriting the old one.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pc.connect(base, password=password) as client:
        results = client.fetch("Archive", fresh)
        assert [r.details["uidvalidity"] for r in results] == [new_validity] * 2
        client.fetch("Archive", saved, overwrite=True)
        current = f"Archive;UIDVALIDITY={new_validity}/;UID=2"
        assert client.fetch(current)["Subject"] == "new-2"
    assert (fresh / "1.eml").read_bytes() == _msg("new-1")
    assert (saved / "1.eml").read_bytes() == _msg("new-1")
    assert (saved / "2.eml").read_bytes() == _msg("new-2")
    # No file of the old epoch is left to pass for a message of the new one: the next new
    # message gets UID 3 and an incremental run must download it.
    store.deliver("alice", _msg("new-3"), mailbox="Archive")
    with pc.connect(base, password=password) as client:
        latest = client.fetch("Archive", saved)
    assert [r.details["uid"] for r in latest] == [3]
    assert (saved / "3.eml").read_bytes() == _msg("new-3")
    # ... and the old epoch's copies were kept aside, not deleted.
    kept = sorted(p.read_bytes() for p in saved.rglob("*.eml") if p.parent != saved)
    assert kept == sorted(before.values())
    assert _writes(pc_mail) == []
