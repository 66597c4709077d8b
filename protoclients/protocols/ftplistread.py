"""Reading an ``MLSD`` / ``LIST`` listing off the data connection, within bounds.

A listing comes from the server, so nothing about it is trusted: the whole listing must
arrive before a deadline, and its total size and the length of each line are capped
(:class:`~protoclients.errors.ResponseTooLarge` beyond that). Lines are split on ``\\n``
(a trailing ``\\r`` is dropped), decoded as UTF-8 with ``surrogateescape`` and handed to a
:class:`~protoclients.protocols.ftplisting.ListingParser`; a NUL byte is a protocol error.
"""

from __future__ import annotations

import socket
import time

from ..errors import OperationTimeoutError, ProtocolError, ResponseTooLarge
from .ftplisting import ListingParser

__all__ = ["read_listing"]

_CHUNK = 64 * 1024


def read_listing(
    conn: socket.socket,
    parser: ListingParser,
    *,
    deadline: float,
    max_bytes: int,
    max_line: int,
) -> None:
    """Feed every line ``conn`` delivers until EOF to ``parser``.

    ``deadline`` is a :func:`time.monotonic` value; ``max_bytes`` bounds the listing,
    ``max_line`` each line.
    """
    buffer = bytearray()
    chunk = bytearray(_CHUNK)
    total = 0
    limit = max_line
    eof = False
    while not eof:
        if time.monotonic() > deadline:
            raise OperationTimeoutError("the listing did not arrive in time", protocol="ftp")
        n = conn.recv_into(chunk)
        if n == 0:
            eof = True
        else:
            total += n
            if total > max_bytes:
                raise ResponseTooLarge(f"listing is larger than {max_bytes} bytes", protocol="ftp")
            buffer += memoryview(chunk)[:n]
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end == -1:
                break
            _feed(parser, buffer[start:end], limit)
            start = end + 1
        del buffer[:start]
        if len(buffer) > limit:
            raise ResponseTooLarge(f"a listing line is longer than {limit} bytes", protocol="ftp")
    if buffer:
        _feed(parser, buffer, limit)


def _feed(parser: ListingParser, raw: bytes | bytearray, limit: int) -> None:
    if len(raw) > limit:
        raise ResponseTooLarge(f"a listing line is longer than {limit} bytes", protocol="ftp")
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if b"\0" in raw:
        raise ProtocolError("listing contains a NUL byte", protocol="ftp")
    try:
        parser.feed(bytes(raw).decode("utf-8", "surrogateescape"))
    except OverflowError as exc:
        raise ResponseTooLarge(str(exc), protocol="ftp") from None
