"""HOS-02: size bombs — announced sizes are checked before anything is allocated.

IMAP literals ``{50000000000}`` (then 3 bytes), ``{99999999999999999999}``, ``{-1}``, ``{}``
and ``{0}``; HTTP ``Content-Length: 50000000000`` with a 3-byte body, fetched to memory and to
a file. Over-limit sizes are refused before allocation (peak memory stays small), malformed
announcements are :class:`ProtocolError`, ``{0}`` is an empty message, and no final file is
left behind.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_sessions as hs

import protoclients
from protoclients.errors import IncompleteTransferError, ProtocolError, ResponseTooLarge

pytestmark = pytest.mark.timeout(30)

MEMORY_BOUND = 8 * 1024 * 1024


@contextmanager
def bounded_memory(limit: int = MEMORY_BOUND) -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak allocation {peak} bytes (bound {limit})"


def _imap_fetch(srv: HostileServer, dest: Path | None) -> object:
    return protoclients.fetch(
        srv.url("imap", user="alice", path="/INBOX;UID=1"),
        dest,
        password="pw",
        timeout=5.0,
        retries=0,
    )


@pytest.mark.parametrize(
    ("announce", "expected"),
    [
        (b"{50000000000}", ResponseTooLarge),
        (b"{99999999999999999999}", ProtocolError),
        (b"{-1}", ProtocolError),
        (b"{}", ProtocolError),
        (b"{12abc}", ProtocolError),
    ],
)
@pytest.mark.parametrize("to_file", [False, True], ids=["memory", "file"])
def test_HOS_02_imap_literal_bombs(
    announce: bytes,
    expected: type[Exception],
    to_file: bool,
    pc_hostile: Callable[..., HostileServer],
    tmp_path: Path,
) -> None:
    script = [*hs.imap_until_fetch(), h.send(b"* 1 FETCH (UID 1 BODY[] " + announce + b"\r\nabc")]
    srv = pc_hostile(script, drain=0.5)
    dest = tmp_path / "1.eml" if to_file else None
    with bounded_memory(), pytest.raises(expected) as info:
        _imap_fetch(srv, dest)
    assert isinstance(info.value, ProtocolError)
    assert srv.wait(5)
    assert list(tmp_path.iterdir()) == []  # no final file, no partial file
    assert not any(b"STORE" in line or b"EXPUNGE" in line for line in srv.lines)


def test_HOS_02_imap_empty_literal(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    script = [
        *hs.imap_until_fetch(),
        h.send(h.tagged(b"OK done\r\n", untagged=b"* 1 FETCH (UID 1 BODY[] {0}\r\n)\r\n")),
        h.expect(rb"^\S+ LOGOUT"),
        h.send(h.tagged(b"OK bye\r\n", untagged=b"* BYE\r\n")),
    ]
    srv = pc_hostile(script, drain=0.5)
    result = _imap_fetch(srv, tmp_path / "1.eml")
    assert isinstance(result, protoclients.TransferResult)
    assert result.bytes == 0
    assert (tmp_path / "1.eml").read_bytes() == b""


@pytest.mark.parametrize("to_file", [False, True], ids=["memory", "file"])
def test_HOS_02_http_content_length_bomb(
    to_file: bool, pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    script = [
        h.expect(rb"^GET "),
        h.expect(rb"^$", skip_other=True),
        h.send(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000000\r\n\r\nabc"),
        h.close(),
    ]
    srv = pc_hostile(script, drain=0)
    dest = tmp_path / "bomb.bin"
    with bounded_memory():
        if to_file:
            with pytest.raises(IncompleteTransferError):
                protoclients.fetch(srv.url("http", path="/bomb.bin"), dest, timeout=5.0, retries=0)
        else:
            with pytest.raises(ResponseTooLarge):
                protoclients.fetch(srv.url("http", path="/bomb.bin"), timeout=5.0, retries=0)
    assert not dest.exists()
    if to_file:  # the 3 bytes are kept for resume=True, never under the final name
        assert (tmp_path / "bomb.bin.part").read_bytes() == b"abc"
