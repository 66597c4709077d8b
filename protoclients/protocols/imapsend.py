"""What ``APPEND`` sends: a message from an ``EmailMessage``, bytes, a path or a file.

IMAP messages use CRLF line endings; bare LF and CR are converted (as imaplib does). An
in-memory message becomes one literal; a file is streamed as a literal in chunks (its
converted size is counted in a first pass, since a literal announces its size), so a
large message is never held in memory.
"""

from __future__ import annotations

import email.message
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidInput
from ..transfer import ProgressCallback
from .imapconn import StreamLiteral
from .imapquote import Literal

__all__ = ["crlf_chunks", "message_literal", "to_crlf"]

_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_CHUNK = 256 * 1024


def to_crlf(data: bytes) -> bytes:
    """``data`` with every line ending (LF, CR, CRLF) as CRLF."""
    return _LINE_ENDS.sub(b"\r\n", data)


def crlf_chunks(read: Any, chunk_size: int = _CHUNK) -> Iterator[bytes]:
    """Read a binary stream with ``read(n)`` and yield it converted to CRLF line endings."""
    carry_cr = False
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        chunk = bytes(chunk)
        if carry_cr:
            chunk = b"\r" + chunk
            carry_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            carry_cr = True
        if chunk:
            yield to_crlf(chunk)
    if carry_cr:
        yield b"\r\n"


def message_literal(
    source: Any, *, progress: ProgressCallback | None = None
) -> tuple[Literal | StreamLiteral, int, Path | None]:
    """``(literal, size, local path or None)`` for an APPEND of ``source``."""
    if isinstance(source, email.message.Message):
        policy = source.policy.clone(linesep="\r\n")
        data = to_crlf(source.as_bytes(policy=policy))
        if progress is not None:
            progress(len(data), len(data))
        return Literal(data), len(data), None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = to_crlf(bytes(source))
        if progress is not None:
            progress(len(data), len(data))
        return Literal(data), len(data), None
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        if not path.is_file():
            raise InvalidInput(f"not a file: {path}")
        size = _count(lambda: path.open("rb"))
        return StreamLiteral(size, lambda: _file_chunks(path, size, progress)), size, path
    if hasattr(source, "read"):
        fileobj: IO[bytes] = source
        start = _tell(fileobj)
        if start is None:
            data = to_crlf(fileobj.read())
            return Literal(data), len(data), None
        size = sum(len(c) for c in crlf_chunks(fileobj.read))
        fileobj.seek(start)

        def chunks() -> Iterator[bytes]:
            fileobj.seek(start)
            yield from _with_progress(crlf_chunks(fileobj.read), size, progress)

        return StreamLiteral(size, chunks), size, None
    raise InvalidInput(
        f"cannot APPEND a {type(source).__name__}: pass an EmailMessage, bytes, a path or a "
        "binary file object"
    )


def _tell(fileobj: IO[bytes]) -> int | None:
    try:
        if not fileobj.seekable():
            return None
        return fileobj.tell()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def _count(opener: Any) -> int:
    with opener() as handle:
        return sum(len(c) for c in crlf_chunks(handle.read))


def _file_chunks(path: Path, size: int, progress: ProgressCallback | None) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from _with_progress(crlf_chunks(handle.read), size, progress)


def _with_progress(
    chunks: Iterator[bytes], size: int, progress: ProgressCallback | None
) -> Iterator[bytes]:
    done = 0
    for chunk in chunks:
        done += len(chunk)
        yield chunk
        if progress is not None:
            progress(done, size)
