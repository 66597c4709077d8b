"""HOS-04: lying sizes — short data is an error and never a final file; long data is cut off.

* POP3 ``LIST 1 1000`` then 10 MB (cut at the per-message cap) or then 100 bytes (short).
* IMAP ``RFC822.SIZE 1024`` then a 1 GB literal (refused before reading) and a literal over
  a configured ``max_literal`` (refused before reading).
* HTTP ``Content-Length: 100`` + 50 bytes + close (incomplete, ``.part`` kept for resume);
  ``Content-Length: 10`` + 1000 bytes (exactly 10 bytes stored: the rest is never written).
* FTP ``SIZE 10`` then 1 MB (aborted, ``.part`` discarded) and ``SIZE 1000`` then 100 bytes
  with ``226`` (incomplete, ``.part`` kept).
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
from protoclients.errors import IncompleteTransferError, ResponseTooLarge
from protoclients.protocols.imap import IMAPClient
from protoclients.protocols.imapconn import Limits

pytestmark = pytest.mark.timeout(30)

_LINE = b"y" * 78 + b"\r\n"


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def test_HOS_04_pop3_list_1000_then_10mb(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    flood = h.dribble(b"Subject: big\r\n\r\n" + _LINE * 130_000 + b".\r\n", 64 * 1024, 0)
    srv = pc_hostile([*hs.pop3_bulk_until_retr(1000), h.send(b"+OK\r\n"), flood], drain=0.5)
    with pytest.raises(ResponseTooLarge) as info:
        protoclients.fetch(
            srv.url("pop3", user="alice"),
            tmp_path,
            password="pw",
            delete_after=True,
            timeout=5.0,
            retries=0,
        )
    assert "1000" in str(info.value)  # the size mismatch is reported
    assert srv.wait(10)
    assert not any(line.startswith(b"DELE") for line in srv.lines)
    assert _files(tmp_path) == []


def test_HOS_04_pop3_list_1000_then_short(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    short = b"+OK\r\nSubject: short\r\n\r\n" + _LINE + b".\r\n"
    srv = pc_hostile([*hs.pop3_bulk_until_retr(1000), h.send(short)], drain=0.5)
    with pytest.raises(IncompleteTransferError):
        protoclients.fetch(
            srv.url("pop3", user="alice"),
            tmp_path,
            password="pw",
            delete_after=True,
            timeout=5.0,
            retries=0,
        )
    assert srv.wait(10)
    assert not any(line.startswith(b"DELE") for line in srv.lines)
    assert _files(tmp_path) == []


def test_HOS_04_imap_size_1024_then_1gb_literal(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    answer = b"* 1 FETCH (UID 1 RFC822.SIZE 1024 BODY[] {1073741824}\r\n" + _LINE * 100
    srv = pc_hostile([*hs.imap_until_fetch(), h.send(answer)], drain=0.5)
    with pytest.raises(ResponseTooLarge):
        protoclients.fetch(
            srv.url("imap", user="alice", path="/INBOX;UID=1"),
            tmp_path / "1.eml",
            password="pw",
            timeout=5.0,
        )
    assert srv.wait(5)
    assert _files(tmp_path) == []


def test_HOS_04_imap_literal_over_configured_cap(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    answer = b"* 1 FETCH (UID 1 BODY[] {1000000}\r\n" + _LINE * 100
    srv = pc_hostile([*hs.imap_until_fetch(), h.send(answer)], drain=0.5)
    client = IMAPClient(
        srv.url("imap", user="alice"),
        password="pw",
        timeout=5.0,
        limits=Limits(max_literal=64 * 1024),
    )
    with client, pytest.raises(ResponseTooLarge):
        client.fetch("INBOX;UID=1", tmp_path / "1.eml")
    assert srv.wait(5)
    assert _files(tmp_path) == []


def _http(srv: HostileServer, dest: Path) -> object:
    return protoclients.fetch(srv.url("http", path="/f.bin"), dest, timeout=5.0, retries=0)


def test_HOS_04_http_short_body(pc_hostile: Callable[..., HostileServer], tmp_path: Path) -> None:
    script = [
        h.expect(rb"^GET "),
        h.expect(rb"^$", skip_other=True),
        h.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"z" * 50),
        h.close(),
    ]
    srv = pc_hostile(script, drain=0)
    dest = tmp_path / "f.bin"
    with pytest.raises(IncompleteTransferError) as info:
        _http(srv, dest)
    assert "50" in str(info.value) and "100" in str(info.value)
    assert not dest.exists()
    assert (tmp_path / "f.bin.part").read_bytes() == b"z" * 50


def test_HOS_04_http_long_body(pc_hostile: Callable[..., HostileServer], tmp_path: Path) -> None:
    script = [
        h.expect(rb"^GET "),
        h.expect(rb"^$", skip_other=True),
        h.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"0123456789" + b"!" * 990),
    ]
    srv = pc_hostile(script, drain=0.5)
    dest = tmp_path / "f.bin"
    result = _http(srv, dest)
    assert isinstance(result, protoclients.TransferResult)
    assert dest.read_bytes() == b"0123456789"
    assert _files(tmp_path) == ["f.bin"]


@pytest.mark.parametrize(
    ("announced", "sent", "expected_part"),
    [(10, 1024 * 1024, False), (1000, 100, True)],
    ids=["SIZE-10-then-1MB", "SIZE-1000-then-100"],
)
def test_HOS_04_ftp_size_mismatch(
    announced: int,
    sent: int,
    expected_part: bool,
    pc_hostile: Callable[..., HostileServer],
    tmp_path: Path,
) -> None:
    def feed(conn: socket.socket) -> None:
        conn.sendall(b"w" * sent)

    with hs.data_listener(feed) as data:
        replies = (
            b"200 binary\r\n",
            b"213 %d\r\n" % announced,
            b"213 20240101000000\r\n",
            data.pasv_reply(),
        )
        script = [
            *hs.ftp_until(rb"^RETR ", replies),
            h.send(b"150 here\r\n"),
            h.send_later(b"226 done\r\n", 0.3),
        ]
        srv = pc_hostile(script, drain=1.0)
        dest = tmp_path / "f.bin"
        with pytest.raises(IncompleteTransferError) as info:
            protoclients.fetch(srv.url("ftp", path="/f.bin"), dest, timeout=5.0, retries=0)
    assert str(announced) in str(info.value)
    assert not dest.exists()
    part = tmp_path / "f.bin.part"
    if expected_part:
        assert part.read_bytes() == b"w" * sent
    else:
        assert not part.exists()
