"""What ``protoclients send`` reads: a local file (checked before connecting) or stdin.

A file is opened once here so that a missing or unreadable file is reported before any
connection is made; the library then gets its path (regular files upload fastest that
way). ``-`` is stdin, streamed as it comes. IMAP ``APPEND`` must announce the size first,
so a non-seekable stdin is spooled to an anonymous temporary file (on disk, never whole
in memory) for it.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import CLIState

__all__ = ["SPOOL_CHUNK", "open_source"]

SPOOL_CHUNK = 1024 * 1024


def _open_file(path: Path) -> tuple[IO[bytes], bool]:
    """Open ``path`` (``InvalidInput`` when it cannot be sent); ``(handle, is_regular)``."""
    from protoclients.errors import InvalidInput

    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file; nothing was sent") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory; nothing was sent") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}; nothing was sent") from None
    mode = os.fstat(handle.fileno()).st_mode
    if stat.S_ISDIR(mode):  # pragma: no cover - open() refuses directories on POSIX
        handle.close()
        raise InvalidInput(f"{path} is a directory; nothing was sent")
    return handle, stat.S_ISREG(mode)


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return stream.seekable()
    except (OSError, ValueError):
        return False


@contextmanager
def open_source(
    st: CLIState, source: str, *, spool: bool = False
) -> Iterator[tuple[Any, str]]:
    """``(what to pass to send, label for the progress bar)``."""
    if source != "-":
        path = Path(source)
        handle, regular = st.run(_open_file, path)
        with handle:
            if regular:  # the library sends a regular file best from its path
                yield str(path), path.name
            else:  # a FIFO or device: keep the one handle
                yield handle, path.name
        return
    st.stdin_is_data = True
    stdin = sys.stdin.buffer
    if not spool or _seekable(stdin):
        yield stdin, "stdin"
        return
    with tempfile.TemporaryFile(prefix="protoclients-stdin-") as tmp:
        shutil.copyfileobj(stdin, tmp, SPOOL_CHUNK)
        tmp.seek(0)
        yield tmp, "stdin"
