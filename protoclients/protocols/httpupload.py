"""Upload bodies of the HTTP client: a ``send`` source turned into something requests streams.

:func:`open_source` opens a path, bytes or binary file object and yields the body, its size
(``None`` for a pipe: sent chunked) and a guessed content type. A regular file named by its
path becomes a :class:`FileBody` (sent from one reused buffer); other sources are wrapped
in :class:`UploadReader`. Both bound the body to its size, count the bytes, report
progress, and rewind for retries and 307/308 redirects.
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
import os
import stat
from collections.abc import Iterator
from typing import IO, Any

from ..client import Source, message_as_bytes
from ..errors import InvalidInput
from ..transfer import ProgressCallback

__all__ = [
    "UPLOAD_BUFFER",
    "UPLOAD_CHUNK",
    "FileBody",
    "UploadBody",
    "UploadReader",
    "open_source",
    "remaining_size",
]

#: Size of the reads of an upload source (each becomes one socket ``sendall``).
UPLOAD_CHUNK = 1024 * 1024
#: Size of the one buffer a file is uploaded from (each fill becomes one ``sendall``).
UPLOAD_BUFFER = 1024 * 1024


class UploadBody:
    """What every upload body shares: a size, a byte count, progress, and rewinding.

    Positions (:meth:`tell`, :meth:`seek`) are relative to where the upload started;
    urllib3 uses them to replay the body on a retry, the client on a 307/308 redirect.
    """

    def __init__(
        self, fileobj: IO[bytes], size: int | None, progress: ProgressCallback | None
    ) -> None:
        self._file = fileobj
        self._size = size
        self._progress = progress
        self._pos = 0
        try:
            self._start: int | None = fileobj.tell() if fileobj.seekable() else None
        except (OSError, AttributeError, ValueError):
            self._start = None

    @property
    def len(self) -> int | None:  # read by requests.utils.super_len
        return self._size

    @property
    def sent(self) -> int:
        """Bytes handed out so far."""
        return self._pos

    @property
    def rewindable(self) -> bool:
        """Whether the upload can be replayed (retry, 307/308 redirect)."""
        return self._start is not None

    def __iter__(self) -> Iterator[Any]:  # the chunks urllib3 sends
        raise NotImplementedError

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or self._start is None:
            raise io.UnsupportedOperation("upload source cannot be rewound")
        self._file.seek(self._start + offset)
        self._pos = offset
        return offset

    def _shrank(self) -> InvalidInput:
        return InvalidInput(
            f"the source ended after {self._pos} of {self._size} bytes "
            "(the file shrank while it was being uploaded)"
        )


class UploadReader(UploadBody):
    """A file wrapper for uploads: bounded to ``size``, counts bytes, rewinds for retries.

    requests streams any object with ``read`` and ``__iter__``; urllib3 reads it in
    blocks of the pool's block size (each ``read`` returns a new ``bytes``).
    """

    def read(self, n: int | None = -1) -> bytes:
        want = -1 if n is None or n < 0 else n
        if self._size is not None:
            remaining = self._size - self._pos
            if remaining <= 0:
                return b""
            want = remaining if want < 0 else min(want, remaining)
        data = self._file.read(want)
        if not isinstance(data, bytes | bytearray):
            raise InvalidInput("the source must be a binary file object (opened with 'rb')")
        if not data and self._size is not None and self._pos < self._size:
            raise self._shrank()
        self._pos += len(data)
        if self._progress is not None and data:
            self._progress(self._pos, self._size)
        return bytes(data)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(UPLOAD_CHUNK)
            if not chunk:
                return
            yield chunk


class FileBody(UploadBody):
    """A regular file of known size, sent from one reused buffer.

    It has no ``read``, so urllib3 iterates it and hands each chunk (a ``memoryview`` of
    the one buffer, refilled with ``readinto``) straight to ``sendall``: no allocation
    per chunk, and the data is still in the CPU cache when the kernel copies it.
    requests sees ``len`` and sends ``Content-Length``. Progress is reported after each
    chunk went out; a file that shrinks meanwhile is reported, one that grows is cut at
    the size announced.
    """

    def __init__(self, fileobj: io.FileIO, size: int, progress: ProgressCallback | None) -> None:
        super().__init__(fileobj, size, progress)
        self._raw = fileobj
        self._total = size

    def __iter__(self) -> Iterator[memoryview]:
        total = self._total
        buf = memoryview(bytearray(max(1, min(UPLOAD_BUFFER, total - self._pos))))
        readinto = self._raw.readinto
        progress = self._progress
        while self._pos < total:
            n = readinto(buf[: min(len(buf), total - self._pos)])
            if not n:
                raise self._shrank()
            yield buf[:n]
            self._pos += n  # resumed by urllib3: the chunk was sent
            if progress is not None:
                progress(self._pos, total)


@contextlib.contextmanager
def open_source(
    source: Source, progress: ProgressCallback | None
) -> Iterator[tuple[UploadBody | bytes, int | None, str | None]]:
    """Turn a ``send`` source into a streamable body: ``(body, size, guessed_type)``."""
    source = message_as_bytes(source)  # an email message is uploaded as its bytes
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if progress is None or not data:
            yield data, len(data), None
            if progress is not None:
                progress(len(data), len(data))
            return
        yield UploadReader(io.BytesIO(data), len(data), progress), len(data), None
        return
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise InvalidInput(f"source file not found: {path}") from None
        except IsADirectoryError:
            raise InvalidInput(f"source is a directory: {path}") from None
        fileobj: IO[bytes] = raw
        try:
            guessed = mimetypes.guess_type(path)[0]
            info = os.fstat(raw.fileno())
            if not stat.S_ISREG(info.st_mode):
                # A pipe or device has no size: stream it (chunked) until it ends.
                fileobj = io.BufferedReader(raw)
                yield UploadReader(fileobj, None, progress), None, guessed
            elif info.st_size == 0:
                yield b"", 0, guessed
            else:
                yield FileBody(raw, info.st_size, progress), info.st_size, guessed
        finally:
            fileobj.close()
        return
    if not hasattr(source, "read"):
        raise InvalidInput(
            f"send needs a path, bytes or a binary file object, not {type(source).__name__}"
        )
    if isinstance(source, io.TextIOBase):
        raise InvalidInput("the source must be a binary file object (opened with 'rb')")
    remaining = remaining_size(source)
    if remaining == 0:
        yield b"", 0, None
        return
    yield UploadReader(source, remaining, progress), remaining, None


def remaining_size(fileobj: IO[bytes]) -> int | None:
    """Bytes left in a file object, if it can tell (seekable files, BytesIO)."""
    try:
        if not fileobj.seekable():
            return None
        position = fileobj.tell()
        end = fileobj.seek(0, io.SEEK_END)
        fileobj.seek(position)
        return max(0, end - position)
    except (OSError, AttributeError, ValueError):
        return None
