"""FLT-05 (POP3, no data loss): nothing is deleted on the server before the copy is durable.

Three messages on the real POP3 server; ``fetch(dir, delete_after=True)``; ``os.fsync`` fails
for message 2's file. The server's command log (in order) shows ``DELE`` only for message 1,
sent after its file *and* the directory were fsynced (every fsync is recorded with how many
commands the server had received at that moment), ``QUIT`` once, after the ``DELE``; messages
2 and 3 stay on the server. A failing directory fsync prevents every ``DELE``. The rerun
fetches 2 and 3 exactly once (UIDL de-duplication) and then the maildrop is empty, each
message stored locally exactly once (fetchmail's promise; RFC 1939 section 6).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import protoclients as pc

pytestmark = pytest.mark.timeout(60)


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@pytest.fixture
def pop(pc_mail: Any) -> Any:
    for n in (1, 2, 3):
        pc_mail.store.deliver(
            "alice", f"Subject: m{n}\r\nMessage-ID: <{n}@t>\r\n\r\nb{n}\r\n".encode()
        )
    return pc_mail


def _uidls(mail: Any) -> list[str]:
    validity = mail.store.status("alice", "INBOX").uidvalidity
    return [f"{validity}.{m.uid}" for m in mail.store.messages("alice", "INBOX")]


def _url(mail: Any) -> str:
    return mail.pop3_url.replace("://", "://alice@", 1)


def _recording_fsync(
    mail: Any, events: list[tuple[str, int]], fail: Callable[[str], bool]
) -> Callable[[int], None]:
    real = os.fsync

    def fsync(fd: int) -> None:
        path = _fd_path(fd)
        events.append((path, len(mail.pop3.commands)))
        if fail(path):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    return fsync


def test_FLT_05_fsync_failure_stops_deletions(
    pop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uidls = _uidls(pop)
    events: list[tuple[str, int]] = []
    fsync = _recording_fsync(pop, events, lambda path: uidls[1] in path)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(pc.ProtoClientError) as info:
        pc.fetch(_url(pop), tmp_path, password=pop.users["alice"], delete_after=True)
    assert uidls[1] in str(info.value)
    monkeypatch.undo()

    commands = pop.pop3.commands
    flow = [c for c in commands if c.split()[0] in {"RETR", "DELE", "QUIT"}]
    assert [c for c in flow if c.startswith("DELE")] == ["DELE 1"]
    assert flow.index("RETR 1") < flow.index("DELE 1") < flow.index("QUIT")
    assert flow.count("QUIT") == 1
    # Message 1's file and the directory were fsynced before DELE 1 reached the server.
    dele_at = commands.index("DELE 1")
    synced_file = [n for path, n in events if uidls[0] in path]
    synced_dir = [n for path, n in events if path == str(tmp_path)]
    assert synced_file and synced_file[0] <= dele_at
    assert synced_dir and synced_dir[0] <= dele_at
    # Server: 1 is gone (QUIT committed it), 2 and 3 are still there.
    assert _uidls(pop) == uidls[1:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [uidls[0] + ".eml"]

    # The rerun fetches 2 and 3 once each; then nothing is left on the server.
    pop.pop3.commands.clear()
    results = pc.fetch(_url(pop), tmp_path, password=pop.users["alice"], delete_after=True)
    assert [r.details["uidl"] for r in results] == uidls[1:]
    assert len([c for c in pop.pop3.commands if c.startswith("RETR")]) == 2
    assert _uidls(pop) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(u + ".eml" for u in uidls)
    for n, uidl in enumerate(uidls, 1):
        assert (tmp_path / (uidl + ".eml")).read_bytes().endswith(f"b{n}\r\n".encode())


def test_FLT_05_directory_fsync_failure_prevents_every_dele(
    pop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uidls = _uidls(pop)
    events: list[tuple[str, int]] = []
    monkeypatch.setattr(
        os, "fsync", _recording_fsync(pop, events, lambda path: path == str(tmp_path))
    )
    with pytest.raises(pc.ProtoClientError, match="directory"):
        pc.fetch(_url(pop), tmp_path, password=pop.users["alice"], delete_after=True)
    monkeypatch.undo()
    assert not any(c.startswith("DELE") for c in pop.pop3.commands)
    assert _uidls(pop) == uidls


def test_FLT_05_single_message_delete_after(
    pop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uidls = _uidls(pop)
    events: list[tuple[str, int]] = []
    monkeypatch.setattr(os, "fsync", _recording_fsync(pop, events, lambda path: True))
    with (
        pc.connect(_url(pop), password=pop.users["alice"]) as client,
        pytest.raises(pc.ProtoClientError),
    ):
        client.fetch("2", tmp_path / "two.eml", delete_after=True)
    monkeypatch.undo()
    assert not any(c.startswith("DELE") for c in pop.pop3.commands)
    assert _uidls(pop) == uidls
    assert not (tmp_path / "two.eml").exists()
