"""Streaming message download: one message to a sink, or many into a directory.

:func:`fetch_one` sends ``UID FETCH <uid> (UID BODY.PEEK[...])`` and streams the body
literal into a :class:`~protoclients.transfer.Sink` in chunks, never setting ``\\Seen``.

:class:`BulkFetcher` downloads a set of UIDs into a directory, one ``<UID>.eml`` per
message, the way a fast IMAP client does: ``UID FETCH <uid-set> (UID BODY.PEEK[])`` in
batches of a few thousand UIDs, **pipelined** (the next batch command is sent before the
previous response has been read to the end), reading the responses straight from the
connection's buffered file and writing each literal to its file as it arrives. Memory
stays flat (one reusable buffer); nothing of the mailbox is held in memory.

Each message is written to a hidden temporary file in the directory
(``.<UID>.eml.<token>.part``) and renamed to ``<UID>.eml`` only when complete, so the
final name never holds a partial message. ``durable=True`` fsyncs every file before its
rename and the directory once at the end; ``durable=False`` skips the fsyncs (the renames
stay atomic, but a power cut may lose recent files).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import DiskFullError
from ..transfer import (
    FileSink,
    ProgressCallback,
    Sink,
    TransferResult,
    open_sink,
)
from .imapconn import (
    ChunkWriter,
    CommandFailed,
    ConnectionLost,
    IMAPConnection,
    ProtocolViolation,
    Result,
    ServerBye,
    TooLarge,
)
from .imapparse import (
    LiteralTooLarge,
    MalformedResponse,
    Response,
    Streamed,
    Value,
    fetch_items,
    literal_size,
)
from .imapquote import compress_uids

__all__ = ["BulkFetcher", "bulk_existing", "fetch_one", "is_body_item", "open_message_sink"]

_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_BODY_TAIL_RE = re.compile(rb"(BODY\[[^\]]*\](?:<[0-9]+>)?) ?\Z", re.IGNORECASE)
_UID_RE = re.compile(rb"(?:\(| )UID ([0-9]{1,10})(?= |\)|\Z)", re.IGNORECASE)
_FAST_HEAD_RE = re.compile(
    rb"\* [0-9]{1,10} FETCH \(UID ([0-9]{1,10}) BODY\[\] \{([0-9]{1,20})\}\r\n"
)
_CHUNK = 1024 * 1024


def is_body_item(text: bytes, section: str = "") -> bool:
    """Whether the text before a literal ends with the ``BODY[section]`` item asked for."""
    match = _BODY_TAIL_RE.search(text)
    if not match:
        return False
    item = match.group(1).upper()
    want = b"BODY[" + section.encode("ascii").upper() + b"]"
    return item == want or item.startswith(want + b"<")


def _uid_in(parts: Sequence[object]) -> int | None:
    for index in range(0, len(parts), 2):
        part = parts[index]
        if isinstance(part, bytes):
            match = _UID_RE.search(part)
            if match:
                return int(match.group(1))
    return None


def _response_uid(resp: Response) -> int | None:
    try:
        items = fetch_items(resp.values())
    except MalformedResponse as exc:
        raise ProtocolViolation(f"malformed FETCH response: {exc}") from None
    value: Value = items.get("UID")
    if isinstance(value, bytes) and value.isdigit() and len(value) <= 10:
        return int(value)
    return None


def _discard(chunk: memoryview) -> None:
    """A writer that drops what it is given."""


def fetch_one(
    conn: IMAPConnection,
    uid: int,
    section: str,
    sink: Sink,
    *,
    partial: tuple[int, int | None] | None = None,
) -> tuple[bool, int]:
    """Stream message ``uid``'s ``BODY.PEEK[section]`` into ``sink``.

    Returns ``(found, bytes written)``; ``found`` is false when the server sent no such
    message (expunged, or never existed).
    """
    item = f"BODY.PEEK[{section}]"
    if partial is not None:
        offset, length = partial
        item += f"<{offset}.{length if length is not None else 2**31 - 1}>"
    state: dict[str, int] = {"count": 0, "bytes": 0}

    def write(chunk: memoryview) -> None:
        sink.write(chunk)
        state["bytes"] += len(chunk)

    def choose(resp: Response, size: int) -> ChunkWriter | None:
        text = resp.parts[-1]
        if resp.kind != "FETCH" or not isinstance(text, bytes) or not is_body_item(text, section):
            return None
        seen = _uid_in(resp.parts)
        if seen is not None and seen != uid:
            # Some servers answer a UID that does not exist with another message: skip it.
            return _discard
        state["count"] += 1
        if state["count"] > 1:
            raise ProtocolViolation("the server sent the message body twice")
        sink.total = size
        return write

    def check(resp: Response) -> bool:
        if resp.kind == "FETCH" and any(not isinstance(p, bytes) for p in resp.parts[1::2]):
            found = _response_uid(resp)
            if found != uid and _uid_in(resp.parts[:1]) is None:
                raise ProtocolViolation("the server sent a message body without the right UID")
            return True
        return resp.kind == "FETCH"  # unsolicited flag updates: drop them

    conn.command(
        "UID FETCH",
        str(uid).encode("ascii"),
        b"(UID " + item.encode("ascii") + b")",
        on_untagged=check,
        stream=choose,
    )
    return state["count"] == 1, state["bytes"]


_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class _MessageFile:
    """One message being written: a hidden temp file (relative to a directory fd), renamed
    to its final name when complete."""

    __slots__ = ("dir_fd", "fd", "temp")

    def __init__(self, dir_fd: int, temp: str) -> None:
        self.dir_fd = dir_fd
        self.temp = temp
        self.fd = os.open(temp, _OPEN_FLAGS, 0o666, dir_fd=dir_fd)

    def write(self, view: memoryview) -> None:
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise DiskFullError(f"disk full while writing messages: {exc.strerror}") from exc
            raise

    def commit(self, final: str, durable: bool) -> None:
        fd, self.fd = self.fd, -1
        try:
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(self.temp, final, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise DiskFullError(f"disk full while finishing {final}") from exc
            raise

    def abort(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(OSError):
            os.unlink(self.temp, dir_fd=self.dir_fd)


class BulkResult(TransferResult):
    """A :class:`~protoclients.transfer.TransferResult` of a bulk download, built cheaply
    (its ``path`` is made when first asked for: 10,000 ``Path`` objects cost real time)."""

    def __init__(self, url: str, size: int, directory: str, name: str, details: dict[str, Any]):
        self.url = url
        self.bytes = size
        self.size = size
        self.resumed_from = 0
        self.elapsed = 0.0
        self.details = details
        self._directory = directory
        self._name = name

    @property
    def path(self) -> Path:  # type: ignore[override]
        """The file written."""
        return Path(self._directory, self._name)


class BulkFetcher:
    """Download many messages into a directory, pipelined (see the module docstring).

    Args:
        conn: a connection with the mailbox selected (``EXAMINE``).
        directory: an existing directory.
        url_prefix: the message URL without the UID (``imap://alice@h/INBOX;UID=``).
        durable: fsync each file and the directory (see the module docstring).
        batch_size: UIDs per ``UID FETCH`` command.
        window: how many commands may be outstanding at once.
        progress: called with ``(bytes so far, None)`` after each message.
        details: extra facts put in every result's ``details`` (mailbox, uidvalidity).
    """

    def __init__(
        self,
        conn: IMAPConnection,
        directory: Path,
        *,
        url_prefix: str,
        durable: bool = True,
        batch_size: int = 2000,
        window: int = 2,
        progress: ProgressCallback | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.conn = conn
        self.directory = os.fspath(directory)
        self.url_prefix = url_prefix
        self.durable = durable
        self.batch_size = max(1, batch_size)
        self.window = max(1, window)
        self.progress = progress
        self.details = details or {}
        self.token = secrets.token_hex(4)
        self.results: list[TransferResult] = []
        self.total_bytes = 0
        self._serial = 0
        self._expected: set[int] = set()
        self._current: _MessageFile | None = None
        self._dir_fd = -1
        self._buf = memoryview(bytearray(_CHUNK))

    # -- driving -------------------------------------------------------------------------------

    def run(self, uids: Sequence[int]) -> list[TransferResult]:
        """Fetch ``uids`` (sorted, unique); return one result per message written."""
        batches = [uids[i : i + self.batch_size] for i in range(0, len(uids), self.batch_size)]
        outstanding: list[bytes] = []
        next_batch = 0
        self._dir_fd = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            while next_batch < len(batches) or outstanding:
                while next_batch < len(batches) and len(outstanding) < self.window:
                    batch = batches[next_batch]
                    next_batch += 1
                    self._expected.update(batch)
                    tag, _, _ = self.conn.send_command(
                        "UID FETCH",
                        [compress_uids(batch).encode("ascii"), b"(UID BODY.PEEK[])"],
                    )
                    outstanding.append(tag)
                self._read_until(outstanding.pop(0), outstanding)
            if self.durable and self.results:
                os.fsync(self._dir_fd)
        finally:
            if self._current is not None:
                self._current.abort()
                self._current = None
            os.close(self._dir_fd)
            self._dir_fd = -1
        return self.results

    def _read_until(self, tag: bytes, later: list[bytes]) -> None:
        """Read responses until ``tag`` completes; message literals go straight to files."""
        conn = self.conn
        readline = conn.reader.readline
        readinto = conn.reader.readinto
        limit = conn.limits.max_line + 3
        max_literal = conn.limits.max_literal
        max_other = conn.limits.max_untagged + self.batch_size
        trace = conn.on_trace
        expected = self._expected
        results = self.results
        directory = self.directory
        details = self.details
        prefix = self.url_prefix
        token = self.token
        dir_fd = self._dir_fd
        durable = self.durable
        progress = self.progress
        buf = self._buf
        fast = _FAST_HEAD_RE.fullmatch
        others = 0
        while True:
            conn._check_deadline()
            line = readline(limit)
            match = fast(line)
            if match is not None:
                # The common case, "* n FETCH (UID u BODY[] {size}": no parsing beyond this.
                if trace is not None:
                    trace("< " + line[:-2].decode("ascii"))
                size = int(match.group(2))
                uid = int(match.group(1))
                if size > max_literal:
                    raise TooLarge(
                        f"message of {size} bytes is larger than the limit {max_literal}"
                    )
                if uid not in expected:
                    # Not asked for (some servers answer an expunged UID with another
                    # message): read it past, write nothing.
                    others += 1
                    if others > max_other:
                        raise TooLarge("too many unrelated responses during the download")
                    conn.stream_literal(size, _discard)
                    resp = Response(tag=b"*", kind="FETCH", parts=[b"", Streamed(size)])
                    tail = readline(limit)
                    if not tail.endswith(b"\r\n"):
                        raise ProtocolViolation("malformed end of a FETCH response")
                    resp.parts.append(tail[:-2])
                    continue
                current = self._current = _MessageFile(dir_fd, f".{uid}.eml.{token}.part")
                fd = current.fd
                remaining = size
                while remaining:
                    n = readinto(buf[: remaining if remaining < _CHUNK else _CHUNK])
                    if not n:
                        raise ConnectionLost("the server closed the connection inside a message")
                    try:
                        written = os.write(fd, buf[:n])
                    except OSError:
                        written = 0
                    if written != n:
                        current.write(buf[written:n])  # short write or error: the slow path
                    remaining -= n
                tail = readline(limit)
                if tail != b")\r\n":
                    resp = Response(tag=b"*", kind="FETCH", parts=[b"(UID %d BODY[] " % uid])
                    resp.parts.append(Streamed(size))
                    self._generic_tail(resp, tail)
                    continue
                name = f"{uid}.eml"
                current.commit(name, durable)
                self._current = None
                expected.discard(uid)
                results.append(
                    BulkResult(f"{prefix}{uid}", size, directory, name, {"uid": uid, **details})
                )
                self.total_bytes += size
                if progress is not None:
                    progress(self.total_bytes, None)
                continue
            if not line.endswith(b"\r\n"):
                if len(line) >= limit:
                    raise TooLarge(f"response line longer than {limit - 3} bytes")
                raise ConnectionLost("the server closed the connection during the download")
            if trace is not None:
                trace("< " + line[:300].decode("utf-8", "replace").rstrip())
            resp = conn.continue_response(line[:-2], stream=self._choose)
            if resp.tag == tag:
                if resp.kind != "OK":
                    raise CommandFailed(
                        Result("UID FETCH", resp.kind, resp.code, resp.code_data, resp.text, [])
                    )
                return
            if resp.tag == b"*":
                if resp.kind == "FETCH" and self._current is not None:
                    self._complete_generic(resp)
                    continue
                if resp.kind == "FETCH" and any(isinstance(p, Streamed) for p in resp.parts):
                    others += 1  # a body that was not asked for, already read past
                    if others > max_other:
                        raise TooLarge("too many unrelated responses during the download")
                    continue
                if resp.kind == "BYE":
                    raise ServerBye(resp.text)
                others += 1
                if others > max_other:
                    raise TooLarge("too many unrelated responses during the download")
                continue
            if resp.tag in later:
                raise ProtocolViolation("the server completed the download commands out of order")
            raise ProtocolViolation("unexpected response during the download")

    # -- the general path (any other response layout) --------------------------------------------

    def _choose(self, resp: Response, size: int) -> ChunkWriter | None:
        text = resp.parts[-1]
        if resp.kind != "FETCH" or not isinstance(text, bytes) or not is_body_item(text):
            return None
        if self._current is not None:
            raise ProtocolViolation("the server sent two message bodies in one response")
        uid = _uid_in(resp.parts)
        if uid is not None and uid not in self._expected:
            return _discard
        self._serial += 1
        temp = (
            f".msg{self._serial}.{self.token}.part"
            if uid is None
            else (f".{uid}.eml.{self.token}.part")
        )
        self._current = _MessageFile(self._dir_fd, temp)
        return self._current.write

    def _complete_generic(self, resp: Response) -> None:
        uid = _response_uid(resp)
        if uid is None:
            raise ProtocolViolation("a FETCH response with a message body has no UID")
        if uid not in self._expected:
            if self._current is not None:
                self._current.abort()
                self._current = None
            return
        size = sum(p.size for p in resp.parts[1::2] if isinstance(p, Streamed))
        current = self._current
        assert current is not None
        name = f"{uid}.eml"
        current.commit(name, self.durable)
        self._current = None
        self._expected.discard(uid)
        self.results.append(
            BulkResult(
                f"{self.url_prefix}{uid}", size, self.directory, name, {"uid": uid, **self.details}
            )
        )
        self.total_bytes += size
        if self.progress is not None:
            self.progress(self.total_bytes, None)

    def _generic_tail(self, resp: Response, tail: bytes) -> None:
        """The rest of a fast-path response that did not end with ``)``."""
        conn = self.conn
        if not tail.endswith(b"\r\n"):
            raise ProtocolViolation("malformed end of a FETCH response")
        text = tail[:-2]
        while True:
            try:
                size = literal_size(text, conn.limits.max_small_literal)
            except LiteralTooLarge as exc:
                raise TooLarge(str(exc)) from None
            except MalformedResponse as exc:
                raise ProtocolViolation(str(exc)) from None
            if size is None:
                resp.parts.append(text)
                break
            resp.parts.append(text[: text.rfind(b"{")])
            resp.parts.append(conn.read_literal(size))
            text = conn.read_line()
        self._complete_generic(resp)


def bulk_existing(directory: Path) -> set[int]:
    """UIDs that already have a ``<UID>.eml`` file in ``directory``."""
    found: set[int] = set()
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if name.endswith(".eml") and name[:-4].isdigit():
                found.add(int(name[:-4]))
    return found


class _QuickFileSink(FileSink):
    """A :class:`~protoclients.transfer.FileSink` that renames without fsync (``durable=False``)."""

    def commit(self) -> None:
        if self._committed:
            return
        try:
            os.replace(self.part, self.dest)
        except OSError as exc:
            self._close()
            if exc.errno in _DISK_FULL:
                self._remove_part()
                raise DiskFullError(f"disk full while finishing {self.dest.name}") from exc
            raise
        self._committed = True
        self._close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.meta_path)


def open_message_sink(
    dest: str | os.PathLike[str] | IO[bytes] | None,
    *,
    name: str,
    progress: ProgressCallback | None,
    max_memory: int,
    durable: bool,
) -> Sink:
    """The sink for one message: memory, a file object, or a file written atomically
    (``<name>`` inside ``dest`` when it is a directory); ``durable=False`` skips fsync."""
    if durable or dest is None or hasattr(dest, "write"):
        return open_sink(
            dest, remote_name=name, resume=False, progress=progress, max_memory=max_memory
        )
    path = Path(os.fspath(dest))
    if path.is_dir():
        path = path / name
    return _QuickFileSink(path, False, progress)
