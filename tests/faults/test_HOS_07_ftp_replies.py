"""HOS-07: malformed FTP replies — ProtocolError in bounded time and memory.

``257`` without its closing quote (curl CVE-2017-1000254), a ``123-`` continuation that
never ends (endless lines, and lines then silence), a reply code ``2x0``, a reply with a
NUL. After the bad reply the client sends no further data command.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp
from protoclients_fixtures import hostile_sessions as hs

from protoclients.errors import OperationTimeoutError, ProtocolError, ResponseTooLarge

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 1.0


def _drive(srv: HostileServer) -> tuple[BaseException | None, float, int]:
    tracemalloc.start()
    started = time.monotonic()
    try:
        hp.drive("ftp", srv, timeout=TIMEOUT)
    except Exception as exc:
        error: BaseException | None = exc
    else:
        error = None
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, elapsed, peak


@pytest.mark.parametrize(
    "reply",
    [b'257 "/home/without/end\r\n', b"2x0 looks like a reply\r\n", b'257 "/a\0b" here\r\n'],
    ids=["257-unterminated", "code-2x0", "NUL"],
)
def test_HOS_07_malformed_pwd_reply(reply: bytes, pc_hostile: Callable[..., HostileServer]) -> None:
    login = (b"331 pw\r\n", b"230 in\r\n", b"200 binary\r\n", b"211 no features\r\n")
    script = [h.send(b"220 ready\r\n"), h.respond(login), h.expect(rb"^PWD$"), h.send(reply)]
    srv = pc_hostile(script, drain=1.0)
    error, elapsed, peak = _drive(srv)
    assert isinstance(error, ProtocolError), repr(error)
    assert "\0" not in str(error)
    assert elapsed < TIMEOUT + 1.0 and peak < 4 * 1024 * 1024
    assert srv.wait(5)
    assert not hp.data_commands(srv.lines)


def test_HOS_07_endless_continuation(pc_hostile: Callable[..., HostileServer]) -> None:
    endless = h.dribble(b"220-still going\r\n" * 20_000, chunk=16 * 1024, interval=0)
    srv = pc_hostile([h.send(b"220-hello\r\n"), endless], drain=0.5)
    error, elapsed, peak = _drive(srv)
    assert isinstance(error, ProtocolError), repr(error)
    assert isinstance(error, ResponseTooLarge) or "too long" in str(error)
    assert elapsed < TIMEOUT + 1.0 and peak < 8 * 1024 * 1024
    assert srv.wait(5)
    assert not hp.auth_commands(srv.lines)


def test_HOS_07_continuation_then_silence(pc_hostile: Callable[..., HostileServer]) -> None:
    script = [
        h.send(b"220 ready\r\n"),
        h.respond((b"331 pw\r\n",)),
        h.expect(rb"^PASS "),
        h.send(b"230-welcome\r\n230-more\r\n"),
        h.stall(10),
    ]
    srv = pc_hostile(script, drain=0)
    error, elapsed, _ = _drive(srv)
    assert isinstance(error, OperationTimeoutError), repr(error)
    assert elapsed < TIMEOUT + 1.0
    assert srv.wait(5)


def test_HOS_07_continuation_dribbled_lines(pc_hostile: Callable[..., HostileServer]) -> None:
    """Complete continuation lines, each one on time: the whole reply still has a deadline."""
    script = [
        *hs.ftp_until(rb"^PASV$"),
        h.send(b"227-wait\r\n"),
        h.dribble(b"227-x\r\n" * 100, chunk=7, interval=0.2),
    ]
    srv = pc_hostile(script, drain=0)
    error, elapsed, _ = _drive(srv)
    assert isinstance(error, OperationTimeoutError), repr(error)
    assert elapsed < TIMEOUT + 1.0
    assert srv.wait(5)
