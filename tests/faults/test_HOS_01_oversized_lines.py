"""HOS-01: one oversized line, too many headers, too many untagged responses.

SMTP 20 KB, POP3 20 KB, IMAP 1.1 MB, FTP 10 KB reply lines; an HTTP header line of 100 KB
and 101 HTTP headers; 10,000 untagged IMAP responses to one command. Each must end in a
typed :class:`ProtocolError` (:class:`ResponseTooLarge` where the bound is the cause), with
bounded memory, and the server must see nothing after the bad reply that a client in a
known-good state would send (no password, no data command).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp
from protoclients_fixtures import hostile_sessions as hs

from protoclients.errors import ProtocolError, ResponseTooLarge

pytestmark = pytest.mark.timeout(30)

#: Peak Python allocation allowed while a client reads a hostile reply.
MEMORY_BOUND = 16 * 1024 * 1024


@contextmanager
def bounded_memory(limit: int = MEMORY_BOUND) -> Iterator[None]:
    """Fail if Python allocations peak above ``limit`` inside the block."""
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak allocation {peak} bytes (bound {limit})"


def _run(srv: HostileServer, proto: str, expected: type[BaseException] = ProtocolError) -> Any:
    with bounded_memory(), pytest.raises(expected) as info:
        hp.drive(proto, srv, timeout=5.0)
    assert srv.wait(5)
    return info.value


BIG = {"smtp": 20_000, "pop3": 20_000, "imap": 1_100_000, "ftp": 10_000}


@pytest.mark.parametrize("proto", ["smtp", "pop3", "imap", "ftp"])
def test_HOS_01_oversized_greeting(proto: str, pc_hostile: Callable[..., HostileServer]) -> None:
    start = {"smtp": b"220 ", "pop3": b"+OK ", "imap": b"* OK ", "ftp": b"220 "}[proto]
    srv = pc_hostile([h.send(start + b"x" * BIG[proto] + b"\r\n")], drain=1.0)
    _run(srv, proto)
    assert not hp.auth_commands(srv.lines)
    assert not hp.data_commands(srv.lines)


def test_HOS_01_smtp_oversized_ehlo_line(pc_hostile: Callable[..., HostileServer]) -> None:
    script = [
        h.send(b"220 ok\r\n"),
        h.expect(rb"^EHLO "),
        h.send(b"250-ok\r\n250 " + b"x" * BIG["smtp"] + b"\r\n"),
    ]
    srv = pc_hostile(script, drain=1.0)
    exc = _run(srv, "smtp", ResponseTooLarge)
    assert "x" * 100 not in str(exc)
    assert not hp.auth_commands(srv.lines)
    assert not any(line.startswith(b"MAIL") for line in srv.lines)


def test_HOS_01_pop3_oversized_status_line(pc_hostile: Callable[..., HostileServer]) -> None:
    script = [
        h.send(b"+OK ready\r\n"),
        h.expect(rb"^USER "),
        h.send(b"+OK " + b"x" * BIG["pop3"] + b"\r\n"),
    ]
    srv = pc_hostile(script, drain=1.0)
    _run(srv, "pop3", ResponseTooLarge)
    assert not any(line.startswith(b"PASS") for line in srv.lines)  # password never sent
    assert not hp.leaks(srv.received)


def test_HOS_01_imap_oversized_response_line(pc_hostile: Callable[..., HostileServer]) -> None:
    script = [
        *hs.imap_until_select(),
        h.expect(rb"^\S+ UID SEARCH"),
        h.send(b"* SEARCH " + b"1 " * (BIG["imap"] // 2) + b"\r\n"),
    ]
    srv = pc_hostile(script, drain=1.0)
    _run(srv, "imap", ResponseTooLarge)
    assert not any(b"FETCH" in line for line in srv.lines)


def test_HOS_01_imap_10000_untagged(pc_hostile: Callable[..., HostileServer]) -> None:
    flood = b"* OK [UNSEEN 1] x\r\n" * 10_000
    script = [*hs.imap_until_select(), h.expect(rb"^\S+ UID SEARCH"), h.send(flood)]
    srv = pc_hostile(script, drain=1.0)
    _run(srv, "imap", ResponseTooLarge)
    assert not any(b"FETCH" in line for line in srv.lines)


def test_HOS_01_ftp_oversized_reply_line(pc_hostile: Callable[..., HostileServer]) -> None:
    script = [
        h.send(b"220 ready\r\n"),
        h.expect(rb"^USER "),
        h.send(b"331 " + b"x" * BIG["ftp"] + b"\r\n"),
    ]
    srv = pc_hostile(script, drain=1.0)
    _run(srv, "ftp")
    assert not any(line.startswith(b"PASS") for line in srv.lines)
    assert not hp.leaks(srv.received)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 100_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(101)) + b"\r\n",
    ],
    ids=["header-line-100KB", "101-headers"],
)
def test_HOS_01_http_header_bounds(head: bytes, pc_hostile: Callable[..., HostileServer]) -> None:
    script = [h.expect(rb"^GET "), h.expect(rb"^$", skip_other=True), h.send(head)]
    srv = pc_hostile(script, drain=0.5)
    exc = _run(srv, "http", ResponseTooLarge)
    assert "xxxx" not in str(exc)
    assert sum(line.startswith(b"GET ") for line in srv.lines) == 1  # no retry of garbage
