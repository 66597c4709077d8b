"""The bounded POP3 reader: multi-line responses, dot-stuffing, bounds, deadlines.

:class:`~protoclients.protocols.pop3conn.LineReader` runs over one end of a
``socket.socketpair``; the test writes the server's bytes into the other end, in chunks
that split lines (and the terminator) at arbitrary places.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protoclients.protocols.pop3conn import (
    LineReader,
    ReplyTooLarge,
    TruncatedReply,
    _find_terminator,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _read(
    data: bytes,
    *,
    chunks: list[int] | None = None,
    max_line: int = 1000,
    max_total: int = 10**6,
    close: bool = True,
) -> tuple[bytes, bytes]:
    """Feed ``data`` (split at ``chunks``) to a reader; return (body, the next line)."""
    client, server = socket.socketpair()
    try:

        def feed() -> None:
            pos = 0
            for size in chunks or []:
                server.sendall(data[pos : pos + size])
                pos += size
                time.sleep(0.001)
            server.sendall(data[pos:])
            if close:
                server.shutdown(socket.SHUT_WR)

        thread = threading.Thread(target=feed)
        thread.start()
        reader = LineReader(client, 5)
        out = bytearray()
        try:
            reader.read_multiline(
                out.extend,
                max_total=max_total,
                max_line=max_line,
                deadline=time.monotonic() + 5,
            )
            following = reader.readline(1000, time.monotonic() + 5)
        finally:
            thread.join()
        return bytes(out), following
    finally:
        client.close()
        server.close()


def test_unstuffing_and_terminator() -> None:
    body, rest = _read(b"a\r\n..b\r\n.c\r\n...\r\n.\r\nnext")
    assert body == b"a\r\n.b\r\nc\r\n..\r\n"
    assert rest == b"next"  # what follows the terminator belongs to the next response


def test_empty_response_and_leading_dot() -> None:
    assert _read(b".\r\n") == (b"", b"")
    assert _read(b"..x\r\n.\r\n")[0] == b".x\r\n"


def test_bare_lf_terminator_and_lines() -> None:
    assert _read(b"a\nb\r\n.\n")[0] == b"a\nb\r\n"


def test_dot_lines_that_are_not_the_terminator() -> None:
    assert _read(b"x\r\n. \r\n.\rx\r\n.\r\n")[0] == b"x\r\n \r\n\rx\r\n"


def test_missing_terminator_is_truncated() -> None:
    with pytest.raises(TruncatedReply):
        _read(b"a\r\nb\r\n")
    with pytest.raises(TruncatedReply):
        _read(b"a\r\n.")  # a lone "." without its line end is not the terminator


def test_line_bound() -> None:
    assert _read(b"x" * 1000 + b"\r\n.\r\n", max_line=1001)[0] == b"x" * 1000 + b"\r\n"
    with pytest.raises(ReplyTooLarge):
        _read(b"x" * 5000 + b"\r\n.\r\n", max_line=1000)
    with pytest.raises(ReplyTooLarge):
        _read(b"x" * 5000, max_line=1000, close=False)  # never ends: refused at the bound
    with pytest.raises(ReplyTooLarge):
        _read(b"ok\r\n" + b"x" * 5000 + b"\r\nok\r\n.\r\n", chunks=[2, 3000, 10], max_line=1000)


def test_total_bound() -> None:
    data = b"".join(b"line %d\r\n" % i for i in range(1000)) + b".\r\n"
    with pytest.raises(ReplyTooLarge):
        _read(data, max_total=5000)


def test_deadline(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    server.sendall(b"partial line")
    reader = LineReader(client, 5)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        reader.read_multiline(
            bytearray().extend, max_total=100, max_line=100, deadline=time.monotonic() + 0.3
        )
    assert time.monotonic() - started < 2


def test_readline_bounds_and_eof(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    server.sendall(b"+OK one\r\n+OK two\n" + b"x" * 50)
    server.shutdown(socket.SHUT_WR)
    reader = LineReader(client, 5)
    deadline = time.monotonic() + 5
    assert reader.readline(100, deadline) == b"+OK one\r\n"
    assert reader.pending()
    assert reader.readline(100, deadline) == b"+OK two\n"
    with pytest.raises(ReplyTooLarge):
        reader.readline(10, deadline)
    assert reader.readline(100, deadline) == b"x" * 50
    assert reader.readline(100, deadline) == b""


def test_find_terminator() -> None:
    buf = bytearray(b"a\r\n.\r\nb\n.\n")
    assert _find_terminator(buf, 0, len(buf)) == 3
    assert _find_terminator(bytearray(b"a\n.\nb\r\n.\r\n"), 0, 10) == 2
    assert _find_terminator(bytearray(b".\r\n"), 0, 3) == 0
    assert _find_terminator(bytearray(b"a\r\n..\r\n"), 0, 7) == -1


_LINES = st.lists(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_LINES, cuts=st.lists(st.integers(min_value=1, max_value=7), max_size=20))
def test_any_message_survives_any_chunking(lines: list[bytes], cuts: list[int]) -> None:
    message = b"".join(line + b"\r\n" for line in lines)
    stuffed = (b"." + message if message.startswith(b".") else message).replace(b"\n.", b"\n..")
    body, rest = _read(stuffed + b".\r\n+OK next\r\n", chunks=cuts)
    assert body == message
    assert rest == b"+OK next\r\n"
