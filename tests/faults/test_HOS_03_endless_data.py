"""HOS-03: never-ending data — a total-bytes cap and a deadline end it; nothing is kept.

* POP3 ``RETR`` that never sends its terminating ``.``: cut off at the per-message cap
  (twice the ``LIST`` size + 64 KiB); with ``delete_after=True`` no ``DELE`` is sent and no
  file is written.
* POP3 ``RETR`` that stalls half-way, and an IMAP literal that stalls half-way: timeout, no
  file, no ``DELE`` / ``STORE \\Deleted`` / ``EXPUNGE``.
* FTP ``LIST`` whose data connection never ends: cut off at the listing cap.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_sessions as hs

import protoclients
from protoclients.errors import OperationTimeoutError, ResponseTooLarge
from protoclients.protocols.ftp import FTPClient

pytestmark = pytest.mark.timeout(30)

_ENDLESS = b"Subject: endless\r\n\r\n" + b"y" * 78 + b"\r\n"


def _pop3_bulk(srv: HostileServer, directory: Path) -> object:
    return protoclients.fetch(
        srv.url("pop3", user="alice", path="/"),
        directory,
        password="pw",
        delete_after=True,
        timeout=1.0,
        retries=0,
    )


def test_HOS_03_pop3_retr_without_end(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    endless = h.dribble(_ENDLESS * 40_000, chunk=64 * 1024, interval=0)  # 4 MB, no "." line
    srv = pc_hostile([*hs.pop3_bulk_until_retr(1000), h.send(b"+OK\r\n"), endless], drain=0.5)
    with pytest.raises(ResponseTooLarge):
        _pop3_bulk(srv, tmp_path)
    assert srv.wait(10)
    assert not any(line.startswith(b"DELE") for line in srv.lines)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


def test_HOS_03_pop3_retr_stalls_half_way(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    half = (_ENDLESS * 10)[:500]
    script = [*hs.pop3_bulk_until_retr(1000), h.send(b"+OK\r\n" + half), h.stall(10)]
    srv = pc_hostile(script, drain=0)
    with pytest.raises(OperationTimeoutError):
        _pop3_bulk(srv, tmp_path)
    assert srv.wait(5)
    assert not any(line.startswith(b"DELE") for line in srv.lines)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


def test_HOS_03_imap_literal_stalls_half_way(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    script = [
        *hs.imap_until_fetch(),
        h.send(b"* 1 FETCH (UID 1 BODY[] {1000}\r\n" + b"y" * 500),
        h.stall(10),
    ]
    srv = pc_hostile(script, drain=0)
    dest = tmp_path / "1.eml"
    with pytest.raises(OperationTimeoutError):
        protoclients.fetch(
            srv.url("imap", user="alice", path="/INBOX;UID=1"), dest, password="pw", timeout=1.0
        )
    assert srv.wait(5)
    assert list(tmp_path.iterdir()) == []
    assert not any(b"STORE" in line or b"EXPUNGE" in line for line in srv.lines)


def test_HOS_03_imap_bulk_literal_stalls(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    """A mailbox download whose second message stalls: the first is kept, nothing else."""
    script = [
        *hs.imap_until_select(exists=2),
        h.expect(rb"^\S+ UID SEARCH"),
        h.send(h.tagged(b"OK done\r\n", untagged=b"* SEARCH 1 2\r\n")),
        h.expect(rb"^\S+ UID FETCH "),
        h.send(b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n* 2 FETCH (UID 2 BODY[] {1000}\r\nyy"),
        h.stall(10),
    ]
    srv = pc_hostile(script, drain=0)
    with pytest.raises(OperationTimeoutError):
        protoclients.fetch(
            srv.url("imap", user="alice", path="/INBOX"), tmp_path, password="pw", timeout=1.0
        )
    assert srv.wait(5)
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert names == ["1.eml"]
    assert (tmp_path / "1.eml").read_bytes() == b"hello"
    assert not any(b"STORE" in line or b"EXPUNGE" in line for line in srv.lines)


def test_HOS_03_ftp_endless_listing(pc_hostile: Callable[..., HostileServer]) -> None:
    def endless(conn: socket.socket) -> None:
        line = b"-rw-r--r-- 1 ftp ftp 1 Jan 01 2024 file\r\n" * 1000
        while True:
            conn.sendall(line)

    with hs.data_listener(endless) as data:
        script = [
            *hs.ftp_until(rb"^PASV$"),
            h.send(data.pasv_reply()),
            h.expect(rb"^(LIST|NLST|MLSD)"),
            h.send(b"150 listing\r\n"),
            h.stall(10),
        ]
        srv = pc_hostile(script, drain=0)
        client = FTPClient(srv.url("ftp", path="/pub/"), timeout=5.0, retries=0)
        client.max_listing_bytes = 1024 * 1024
        with client, pytest.raises(ResponseTooLarge):
            client.ls()
    assert srv.wait(5)
