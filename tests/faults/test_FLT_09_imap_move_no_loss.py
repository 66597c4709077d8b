"""FLT-09 (IMAP, no data loss): a move never expunges what was not confirmed copied.

Real IMAP server (``MOVE`` and ``UIDPLUS``): ``move`` is one ``UID MOVE``; ``delete`` is
``\\Deleted`` + ``UID EXPUNGE`` of its own UID; messages another client marked ``\\Deleted``
survive both (no plain ``EXPUNGE``, no ``CLOSE``). Scripted servers without ``MOVE``:
``UID COPY`` answered ``NO [TRYCREATE]``, answered ``OK`` without ``COPYUID``, or the
connection dropped right after the ``COPY``: the client raises and the transcript holds no
``STORE`` and no ``EXPUNGE`` (the original stays). Without ``UIDPLUS`` and ``MOVE`` a move
is refused before anything is copied (RFC 4315, RFC 6851).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h

import protoclients as pc
from protoclients.protocols.imap import IMAPClient

pytestmark = pytest.mark.timeout(60)


def _msg(n: int) -> bytes:
    return f"Subject: m{n}\r\nMessage-ID: <{n}@t>\r\n\r\nbody {n}\r\n".encode()


def _verbs(commands: list[str]) -> list[str]:
    out = []
    for line in commands:
        words = line.upper().split()
        if len(words) >= 2:
            out.append(" ".join(words[1:3]) if words[1] == "UID" else words[1])
    return out


def test_FLT_09_real_server_move_and_delete_spare_others(pc_mail: Any) -> None:
    store = pc_mail.store
    store.create_mailbox("alice", "Archive")
    uids = [store.deliver("alice", _msg(n)) for n in range(1, 5)]
    # Another client marked message 4 \Deleted but has not expunged it.
    store.set_flags("alice", "INBOX", [uids[3]], {"\\Deleted"})
    url = pc_mail.imap_url.replace("://", "://alice@", 1)
    with pc.connect(url, password=pc_mail.users["alice"]) as client:
        assert isinstance(client, IMAPClient)
        mapping = client.move([uids[0]], "INBOX", "Archive")
        assert mapping is not None and uids[0] in mapping
        client.delete(f"INBOX;UID={uids[1]}")
    verbs = _verbs(pc_mail.imap.commands)
    assert "UID MOVE" in verbs
    assert "EXPUNGE" not in verbs and "CLOSE" not in verbs
    assert verbs.count("UID EXPUNGE") == 1
    expunge = next(c for c in pc_mail.imap.commands if " UID EXPUNGE " in c.upper())
    assert expunge.upper().endswith(f"UID EXPUNGE {uids[1]}")
    inbox = {m.uid: m for m in store.messages("alice", "INBOX")}
    assert sorted(inbox) == [uids[2], uids[3]]  # 4 survives with its \Deleted flag
    assert "\\Deleted" in inbox[uids[3]].flags
    assert [m.data for m in store.messages("alice", "Archive")] == [_msg(1)]


CAPS = b"IMAP4rev1 UIDPLUS"


def _until_copy(caps: bytes = CAPS) -> list[Any]:
    return [
        h.send(b"* OK [CAPABILITY " + caps + b"] scripted\r\n"),
        h.expect(rb"^\S+ LOGIN "),
        h.send(h.tagged(b"OK [CAPABILITY " + caps + b"] in\r\n")),
        h.expect(rb"^\S+ SELECT INBOX"),
        h.send(
            h.tagged(
                b"OK [READ-WRITE] selected\r\n",
                b"* 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 3] n\r\n",
            )
        ),
    ]


def _copy_step() -> Any:
    return h.expect(rb"^\S+ UID COPY 1 Archive")


def _no_removal(srv: HostileServer) -> None:
    assert srv.wait(10)
    sent = b"\n".join(srv.lines).upper()
    assert b"STORE" not in sent and b"EXPUNGE" not in sent and b"DELETE" not in sent


def _move(srv: HostileServer) -> Any:
    with pc.connect(srv.url("imap", user="alice"), password="pw", timeout=5) as client:
        assert isinstance(client, IMAPClient)
        return client.move(1, "INBOX", "Archive")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"NO [TRYCREATE] no such mailbox\r\n", pc.ProtoClientError),
        (b"NO [OVERQUOTA] quota exceeded\r\n", pc.ProtoClientError),
        (b"OK copied\r\n", pc.ProtocolError),  # no COPYUID: not confirmed
        (b"OK [COPYUID 9 2 5] wrong source\r\n", pc.ProtocolError),
        (b"BAD what\r\n", pc.ProtoClientError),
    ],
)
def test_FLT_09_unconfirmed_copy_never_expunges(
    pc_hostile: Callable[..., HostileServer], reply: bytes, error: type[Exception]
) -> None:
    srv = pc_hostile([*_until_copy(), _copy_step(), h.send(h.tagged(reply))], drain=1.0)
    with pytest.raises(error):
        _move(srv)
    _no_removal(srv)


def test_FLT_09_drop_between_copy_and_store(pc_hostile: Callable[..., HostileServer]) -> None:
    srv = pc_hostile([*_until_copy(), _copy_step(), h.close()], drain=1.0)
    with pytest.raises(pc.ProtoClientError):
        _move(srv)
    _no_removal(srv)


def test_FLT_09_confirmed_copy_then_only_own_uids(
    pc_hostile: Callable[..., HostileServer],
) -> None:
    srv = pc_hostile(
        [
            *_until_copy(),
            _copy_step(),
            h.send(h.tagged(b"OK [COPYUID 9 1 5] copied\r\n")),
            h.expect(rb"^\S+ UID STORE 1 \+FLAGS\.SILENT \(\\Deleted\)"),
            h.send(h.tagged(b"OK stored\r\n")),
            h.expect(rb"^\S+ UID EXPUNGE 1$"),
            h.send(h.tagged(b"OK expunged\r\n", b"* 1 EXPUNGE\r\n")),
        ],
        drain=1.0,
    )
    assert _move(srv) == {1: 5}
    assert srv.wait(10)
    assert not any(line.upper().split()[1:2] == [b"EXPUNGE"] for line in srv.lines)


def test_FLT_09_without_uidplus_or_move_nothing_is_copied(
    pc_hostile: Callable[..., HostileServer],
) -> None:
    srv = pc_hostile(_until_copy(b"IMAP4rev1"), drain=1.0)
    with pytest.raises(pc.UnsupportedOperation):
        _move(srv)
    _no_removal(srv)
    assert not any(b"COPY" in line.upper() for line in srv.lines)
