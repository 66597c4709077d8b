"""Download bodies of the HTTP client: a GET response (200 or validated 206) into a sink.

The body streams straight from the socket into one preallocated buffer (``readinto``),
goes into a :class:`~protoclients.transfer.Sink`, and is checked against
``Content-Length``; a 206 answer must start exactly where the partial file ends.
"""

from __future__ import annotations

import contextlib
import http.client
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
import urllib3.exceptions as u3ex

from ..errors import IncompleteTransferError, ProtocolError, ResponseTooLarge
from ..transfer import FileObjectSink, FileSink, MemorySink, Sink, TransferResult
from ..urls import URL
from .httperrors import body_error
from .httpheaders import content_length, header, parse_content_range

__all__ = ["CHUNK_SIZE", "details", "read_bounded", "receive"]

#: Size of the one buffer a download is read into (``readinto``). Measured on loopback
#: against nginx (1 GiB to tmpfs): 256 KiB 0.96x curl, 1 MiB 1.05x, 2 MiB 1.1x, 4 MiB 1.37x,
#: 8 MiB 1.2x; a smaller body gets a buffer of its own size.
CHUNK_SIZE = 4 * 1024 * 1024
# Adaptive read sizes of the download loop (bytes, seconds).
_FIRST_READ = 256 * 1024
_MIN_READ = 16 * 1024
_FAST_READ = 0.05
_SLOW_READ = 0.25
_PROTOCOL = "http"


def receive(
    resp: requests.Response,
    final: URL,
    target: URL,
    sink: Sink,
    offset: int,
    meta: Mapping[str, Any],
    *,
    wait: float,
    trace: Callable[[str], None],
) -> TransferResult:
    """Check a 200/206 answer against the request and copy its body into ``sink``."""
    status = resp.status_code
    encoding = (header(resp, "Content-Encoding") or "identity").strip().lower()
    encoded = encoding not in {"", "identity"}
    resumed_from = 0
    if status == 206:
        if not offset:
            raise ProtocolError(
                "server sent a partial response (206) to a request without Range",
                protocol=_PROTOCOL,
                url=final,
            )
        start, end, size = parse_content_range(header(resp, "Content-Range"))
        if start != offset:
            raise ProtocolError(
                f"server answered the resume request with bytes from {start}, not "
                f"{offset}; the partial file was kept unchanged",
                protocol=_PROTOCOL,
                url=final,
            )
        expected: int | None = end - start + 1
        announced = content_length(resp)
        if announced is not None and announced != expected:
            raise ProtocolError(
                f"Content-Length {announced} does not match Content-Range {start}-{end}",
                protocol=_PROTOCOL,
                url=final,
            )
        if encoded:
            raise ProtocolError(
                f"server sent a partial response with Content-Encoding {encoding}",
                protocol=_PROTOCOL,
                url=final,
            )
        resumed_from = offset
        trace(f"* resuming at byte {offset}")
    else:
        if offset:
            trace("* server sent the whole file (no resume); starting again")
            sink.restart()
        expected = content_length(resp)
        size = None if encoded else expected
    if isinstance(sink, MemorySink) and size is not None and size > sink.limit:
        raise ResponseTooLarge(
            f"body of {size} bytes is larger than max_memory={sink.limit}; pass dest= "
            "to stream it to a file",
            protocol=_PROTOCOL,
            url=final,
        )
    etag = header(resp, "ETag")
    last_modified = header(resp, "Last-Modified")
    if status == 206:
        etag = etag or meta.get("etag")
        last_modified = last_modified or meta.get("last_modified")
    if isinstance(sink, FileSink):
        sink.save_meta({"etag": etag, "last_modified": last_modified, "url": str(target)})
    sink.total = size
    received = copy_body(resp, sink, expected, encoded, final, wait=wait)
    if size is None and not encoded:
        size = sink.position
    return TransferResult(
        url=str(target),
        bytes=received,
        size=size,
        path=sink.path,
        resumed_from=resumed_from,
        details=details(resp, final, etag),
    )


def details(resp: requests.Response, final: URL, etag: Any) -> dict[str, Any]:
    """The ``details`` of a download's :class:`~protoclients.transfer.TransferResult`."""
    return {
        "status": resp.status_code,
        "etag": etag,
        "content_type": header(resp, "Content-Type"),
        "last_modified": header(resp, "Last-Modified"),
        "final_url": str(final),
    }


def copy_body(
    resp: requests.Response,
    sink: Sink,
    expected: int | None,
    encoded: bool,
    url: URL,
    *,
    wait: float,
) -> int:
    """Move the body into ``sink``; return the bytes received from the network."""
    raw = resp.raw
    fp = getattr(raw, "_fp", None)
    received = 0
    if fp is not None and hasattr(fp, "readinto") and not encoded:
        # Fast path: the http.client response reads straight into one buffer. Each
        # readinto fills the slice it is given, so the slice adapts: it grows while
        # the data comes fast (few, large writes) and shrinks when a read is slow
        # (timely progress on a slow link; little unsaved data if the link dies).
        buf = bytearray(CHUNK_SIZE if expected is None else max(1, min(CHUNK_SIZE, expected)))
        view = memoryview(buf)
        size = min(len(buf), _FIRST_READ)
        readinto = fp.readinto
        write = sink.write
        clock = time.monotonic
        copy = isinstance(sink, FileObjectSink)  # a caller's object may keep references
        while True:
            began = clock()
            try:
                n = readinto(view[:size])
            except (OSError, http.client.HTTPException) as exc:
                raise body_error(
                    exc, received, expected, url, protocol=_PROTOCOL, wait=wait
                ) from None
            if not n:
                break
            write(bytes(view[:n]) if copy else view[:n])
            received += n
            took = clock() - began
            if took < _FAST_READ:
                size = min(len(buf), size * 2)
            elif took > _SLOW_READ:
                size = max(_MIN_READ, size // 4)
        if expected is None or received == expected:
            with contextlib.suppress(Exception):
                raw.release_conn()  # the connection can be reused
    else:
        while True:
            try:
                chunk = raw.read(CHUNK_SIZE, decode_content=True)
            except (OSError, http.client.HTTPException, u3ex.HTTPError) as exc:
                raise body_error(
                    exc, received, expected, url, protocol=_PROTOCOL, wait=wait
                ) from None
            if not chunk:
                break
            sink.write(chunk)
            received += len(chunk)
        if encoded:
            received = raw.tell()  # bytes on the wire, what Content-Length counts
    if expected is not None and received != expected:
        raise IncompleteTransferError(
            f"transfer incomplete: received {received} of {expected} bytes"
            + ("; the partial file was kept, use resume=True" if sink.path else ""),
            protocol=_PROTOCOL,
            url=url,
        )
    return received


def read_bounded(resp: requests.Response, url: URL, limit: int) -> bytes:
    """The whole body of a small response (an index page), at most ``limit`` bytes."""
    announced = content_length(resp)
    if announced is not None and announced > limit:
        raise ResponseTooLarge(
            f"page of {announced} bytes is larger than max_memory={limit}",
            protocol=_PROTOCOL,
            url=url,
        )
    data = bytearray()
    for chunk in resp.iter_content(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise ResponseTooLarge(
                f"page is larger than max_memory={limit}", protocol=_PROTOCOL, url=url
            )
    return bytes(data)
