"""Where fetched bytes go: memory (bounded), a file object, or a file written atomically.

A download to a path is written to ``<name>.part`` beside the destination, under an
exclusive lock, fsynced, then renamed over the final name with ``os.replace`` and the
directory fsynced. An interrupted download therefore never leaves a truncated file
under the final name; its ``.part`` file is what ``resume=True`` continues. File
permissions never widen: a replaced file keeps its mode, a new one gets the umask's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .errors import (
    DiskFullError,
    InvalidInput,
    ProtoClientError,
    ResponseTooLarge,
    TransferInProgress,
)

__all__ = [
    "PART_SUFFIX",
    "FileObjectSink",
    "FileSink",
    "MemorySink",
    "ProgressCallback",
    "Sink",
    "TransferResult",
    "fsync_directory",
    "open_sink",
    "safe_filename",
]

#: ``progress(done_bytes, total_bytes_or_None)``, called as data moves.
ProgressCallback = Callable[[int, "int | None"], None]

PART_SUFFIX = ".part"
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@dataclass
class TransferResult:
    """What a ``fetch`` to a destination or a ``send`` did.

    Attributes:
        url: the remote URL (without password).
        bytes: bytes moved over the network by this call.
        size: the complete size of the file or message, where known.
        path: the local file written (``fetch`` to a path), else ``None``.
        resumed_from: the offset a resumed download continued from (0 if not resumed).
        elapsed: seconds the transfer took.
        details: protocol facts (HTTP status and ETag, FTP reply, final remote name...).
    """

    url: str
    bytes: int
    size: int | None = None
    path: Path | None = None
    resumed_from: int = 0
    elapsed: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


def safe_filename(name: str, fallback: str = "download") -> str:
    """Make a remote name safe as a local file name inside a directory.

    Path separators, NUL and control characters are replaced, ``.``/``..`` and empty
    names become ``fallback``; the result never escapes the directory it is joined to.
    """
    name = name.replace("/", "_").replace("\\", "_")
    name = "".join("_" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in name)
    name = name.strip()
    if name in {"", ".", ".."}:
        return fallback
    return name[:255]


def fsync_directory(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _is_disk_full(exc: OSError) -> bool:
    return exc.errno in _DISK_FULL_ERRNOS


def _names_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not renamed or replaced)."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _local_error(exc: OSError, name: object) -> ProtoClientError:
    """A local file failure (not the server's fault) as a typed error."""
    return ProtoClientError(f"cannot write the local file {name}: {exc.strerror or exc}")


class Sink:
    """Base class of download destinations. Used as a context manager by protocol code.

    ``offset`` is how many bytes are already present (non-zero only when resuming);
    the protocol asks the server to start there. If the server cannot, the protocol
    calls :meth:`restart`. Leaving the ``with`` block normally commits; an exception
    aborts.
    """

    def __init__(self, progress: ProgressCallback | None = None) -> None:
        self.offset = 0
        self.position = 0
        self.total: int | None = None
        self.progress = progress
        self.started = time.perf_counter()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``."""
        self._write(data)
        self.position += len(data)
        if self.progress is not None:
            self.progress(self.position, self.total)

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        """Discard what is present and start again from offset 0."""
        raise NotImplementedError

    def commit(self) -> None:
        """Make the data final."""

    def abort(self, exc: BaseException | None) -> None:
        """Give up after ``exc``."""

    @property
    def path(self) -> Path | None:
        """The final path written, if any."""
        return None

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.commit()
        else:
            self.abort(exc)


class MemorySink(Sink):
    """Collects the body in memory, refusing more than ``limit`` bytes."""

    def __init__(self, limit: int, progress: ProgressCallback | None = None) -> None:
        super().__init__(progress)
        self.limit = limit
        self.buffer = bytearray()

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        if len(self.buffer) + len(data) > self.limit:
            raise ResponseTooLarge(
                f"body is larger than max_memory={self.limit} bytes; pass dest= to stream "
                "it to a file instead"
            )
        self.buffer += data

    def restart(self) -> None:
        self.buffer.clear()
        self.position = 0

    def getvalue(self) -> bytes:
        """The bytes collected."""
        return bytes(self.buffer)


class FileObjectSink(Sink):
    """Writes into a caller's binary file object (not atomic: the caller owns the file)."""

    def __init__(
        self, fileobj: IO[bytes], resume: bool, progress: ProgressCallback | None = None
    ) -> None:
        super().__init__(progress)
        self.fileobj = fileobj
        self.start = 0
        if resume:
            try:
                self.start = fileobj.tell()
            except (OSError, AttributeError):
                self.start = 0
        self.offset = self.start
        self.position = self.offset

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self.fileobj.write(data)
        except OSError as exc:
            if _is_disk_full(exc):
                raise DiskFullError(f"disk full while writing: {exc.strerror}") from exc
            raise _local_error(exc, "(destination file object)") from exc

    def restart(self) -> None:
        try:
            self.fileobj.seek(0)
            self.fileobj.truncate()
        except (OSError, AttributeError):
            raise InvalidInput(
                "the server cannot resume and the destination file object is not seekable"
            ) from None
        self.offset = 0
        self.position = 0

    def commit(self) -> None:
        with contextlib.suppress(AttributeError, ValueError):
            self.fileobj.flush()


class FileSink(Sink):
    """Writes ``<dest>.part`` under an exclusive lock, then renames it to ``dest``."""

    def __init__(
        self, dest: Path, resume: bool, progress: ProgressCallback | None = None
    ) -> None:
        super().__init__(progress)
        self.dest = dest
        self.part = dest.with_name(dest.name + PART_SUFFIX)
        self.meta_path = dest.with_name(dest.name + PART_SUFFIX + ".json")
        self.keep_part = True
        self._committed = False
        mode = 0o666
        existing_mode: int | None = None
        with contextlib.suppress(FileNotFoundError):
            existing_mode = os.stat(dest).st_mode & 0o777
        # No O_TRUNC: truncating before holding the lock would clobber a concurrent download.
        # No symlinks: a planted <name>.part link must not redirect the download elsewhere.
        flags = (
            os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        )
        for _attempt in range(5):
            try:
                fd = os.open(self.part, flags, mode)
            except FileNotFoundError:
                raise InvalidInput(
                    f"destination directory does not exist: {dest.parent}"
                ) from None
            except IsADirectoryError:
                raise InvalidInput(f"destination is a directory: {self.part}") from None
            except OSError as exc:
                raise _local_error(exc, self.part) from exc
            self._lock(fd)
            if _names_file(self.part, fd):
                break
            # A concurrent download renamed this .part to the final name between our open
            # and our lock: writing to it would truncate a finished file. Start over.
            os.close(fd)
        else:
            raise TransferInProgress(f"another download to {dest} keeps replacing {self.part.name}")
        try:
            if not resume:
                os.ftruncate(fd, 0)
            if existing_mode is not None:
                # Never widen: the new file gets at most the permissions of the one it replaces.
                current = os.fstat(fd).st_mode & 0o777
                os.fchmod(fd, current & existing_mode)
        except OSError as exc:
            os.close(fd)
            raise _local_error(exc, self.part) from exc
        self.fd = fd
        self.offset = os.lseek(fd, 0, os.SEEK_END)
        self.position = self.offset

    def _lock(self, fd: int) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise TransferInProgress(
                f"another download to {self.dest} is in progress (lock held on {self.part.name})"
            ) from None

    @property
    def path(self) -> Path | None:
        return self.dest

    def load_meta(self) -> dict[str, Any]:
        """Metadata saved with the partial file (e.g. the HTTP ETag), or ``{}``.

        Only meaningful when resuming (``offset > 0``); used to check that the remote
        file has not changed since the partial download began.
        """
        if self.offset == 0:
            return {}
        try:
            data = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_meta(self, meta: dict[str, Any]) -> None:
        """Save metadata beside the partial file (removed when the download completes)."""
        tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            os.replace(tmp, self.meta_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if _is_disk_full(exc):
                self.keep_part = False
                raise DiskFullError(f"disk full while writing {tmp.name}") from exc
            raise _local_error(exc, self.meta_path.name) from exc

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            if _is_disk_full(exc):
                self.keep_part = False
                raise DiskFullError(
                    f"disk full or file too large while writing {self.part.name}: "
                    f"{exc.strerror}; nothing was kept"
                ) from exc
            raise _local_error(exc, self.part.name) from exc

    def restart(self) -> None:
        try:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
        except OSError as exc:
            raise _local_error(exc, self.part.name) from exc
        self.offset = 0
        self.position = 0

    def commit(self) -> None:
        if self._committed:
            return
        try:
            os.fsync(self.fd)
            os.replace(self.part, self.dest)
        except OSError as exc:
            self._close()
            if _is_disk_full(exc):
                self._remove_part()
                raise DiskFullError(f"disk full while finishing {self.dest.name}") from exc
            raise _local_error(exc, self.dest.name) from exc
        self._committed = True
        self._close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.meta_path)
        fsync_directory(self.dest.parent)

    def abort(self, exc: BaseException | None) -> None:
        if isinstance(exc, DiskFullError):
            self.keep_part = False
        if not self.keep_part or self.position == 0:
            self._remove_part()
        self._close()

    def discard(self) -> None:
        """Remove the partial file (used when its content is known to be wrong)."""
        self.keep_part = False

    def _remove_part(self) -> None:
        for path in (self.part, self.meta_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_sink(
    dest: str | os.PathLike[str] | IO[bytes] | None,
    *,
    remote_name: str,
    resume: bool,
    progress: ProgressCallback | None,
    max_memory: int,
) -> Sink:
    """Build the sink for a ``fetch`` destination.

    ``dest`` may be ``None`` (memory, bounded by ``max_memory``), a binary file object,
    a file path, or an existing directory (the remote name, made safe, is used inside it).
    """
    if dest is None:
        if resume:
            raise InvalidInput("resume=True needs a destination file (dest=...)")
        return MemorySink(max_memory, progress)
    if hasattr(dest, "write"):
        return FileObjectSink(dest, resume, progress)  # type: ignore[arg-type]
    path = Path(os.fspath(dest))
    if path.is_dir():
        path = path / safe_filename(remote_name, "index.html")
    return FileSink(path, resume, progress)
