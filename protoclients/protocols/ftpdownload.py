"""The ``RETR`` data path of the FTP client: resume checks, ``REST``, and the receive loops.

Before a resumed download, the remote size (``SIZE``) and time (``MDTM``) saved beside the
``.part`` file are compared with the server's: a changed file starts over. ``REST`` refused
means a full download from zero. While data arrives, the byte count is held against
``SIZE``: more than announced (a server that accepts ``REST`` and sends from the start)
aborts at once and discards the ``.part``; less raises
:class:`~protoclients.errors.IncompleteTransferError` and keeps it for ``resume=True``.

A server that stops sending is cut off after the timeout, one that crawls (less than
:data:`~.deadlineio.MIN_PROGRESS_BYTES` per timeout) about one timeout later.

Two receive loops, both with flat memory: ``splice`` (Linux, plain FTP into a file: socket
-> pipe -> file, no copy through Python) and ``recv_into`` one preallocated buffer
(everything else, and the fallback).
"""

from __future__ import annotations

import contextlib
import errno
import ftplib
import os
import socket
import ssl
from typing import NoReturn

from ..errors import DiskFullError, IncompleteTransferError, ProtoClientError
from ..transfer import FileSink, Sink
from .deadlineio import ProgressWatch
from .ftpconn import FTPConnection, RestRefused
from .ftpsession import FTPSession

__all__ = ["FTPDownload"]

_SPLICE_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _can_splice(conn: socket.socket) -> bool:
    """``splice`` needs Linux and a plain (not TLS) socket."""
    return hasattr(os, "splice") and not isinstance(conn, ssl.SSLSocket)


class FTPDownload(FTPSession):
    """``RETR`` into a sink, checked against ``SIZE``; used by ``FTPClient.fetch``."""

    #: Receive buffer of the download loop (one buffer, reused: memory stays flat); also the
    #: pipe size asked for on the ``splice`` path.
    download_buffer_size = 1024 * 1024
    #: Plain FTP to a file on Linux: move the data socket -> pipe -> file with ``splice``
    #: (zero-copy); otherwise, and as the fallback, ``recv_into`` a preallocated buffer.
    use_splice = True

    def _mdtm(self, ftp: FTPConnection, path: str) -> str | None:
        if self._features is not None and "MDTM" not in self._features:
            return None
        try:
            resp = ftp.sendcmd(f"MDTM {path}")
        except ftplib.error_perm:
            return None
        return resp[3:].strip() if resp.startswith("213") else None

    def _check_resume_meta(
        self, ftp: FTPConnection, path: str, sink: FileSink, size: int | None
    ) -> None:
        """Restart a resumed download when the remote file changed since the ``.part`` began."""
        modify = self._mdtm(ftp, path)
        meta = sink.load_meta()
        if sink.offset > 0 and meta:
            changed = (size is not None and meta.get("size") not in (None, size)) or (
                modify is not None and meta.get("modify") not in (None, modify)
            )
            if changed:
                sink.restart()
        if size is not None or modify is not None:
            sink.save_meta({"size": size, "modify": modify, "protocol": "ftp"})

    def _retrieve(
        self, ftp: FTPConnection, path: str, sink: Sink, offset: int, size: int | None
    ) -> tuple[int, int, str]:
        """RETR into ``sink`` from ``offset``; returns (bytes received, offset, final reply)."""
        command = f"RETR {path}"
        try:
            conn, _ = ftp.ntransfercmd(command, offset or None)
        except RestRefused:
            sink.restart()
            offset = 0
            conn, _ = ftp.ntransfercmd(command)
        expected = None if size is None else size - offset
        try:
            received = None
            if self.use_splice and isinstance(sink, FileSink) and _can_splice(conn):
                received = self._splice_into(conn, sink, expected, offset, size)
            if received is None:
                received = self._recv_into(conn, sink, expected, offset, size)
        except BaseException as exc:
            ftp.close_data(conn, clean=False)
            self._drop()
            if isinstance(exc, (ConnectionError, EOFError)) or (
                isinstance(exc, OSError) and not isinstance(exc, (TimeoutError, ssl.SSLError))
            ):
                raise IncompleteTransferError(
                    f"connection lost after {sink.position} bytes"
                    + (f" of {size}" if size is not None else "")
                    + "; the partial file is kept: fetch again with resume=True",
                    protocol="ftp",
                ) from None
            raise
        ftp.close_data(conn, clean=True)
        total = offset + received
        short = size is not None and total < size
        try:
            reply = ftp.voidresp()
        except (ftplib.Error, OSError, EOFError) as exc:
            if not isinstance(exc, (ftplib.error_perm, ftplib.error_temp)):
                self._drop()
            if short or isinstance(exc, ftplib.error_temp):
                raise IncompleteTransferError(
                    f"transfer ended after {total} bytes"
                    + (f" of {size}" if size is not None else "")
                    + "; the partial file is kept: fetch again with resume=True",
                    protocol="ftp",
                    reply=self._scrub(str(exc)),
                ) from None
            raise
        if short:
            raise IncompleteTransferError(
                f"transfer ended after {total} of {size} bytes; the partial file is kept: "
                "fetch again with resume=True",
                protocol="ftp",
                reply=self._scrub(reply),
            )
        return received, offset, reply

    def _recv_into(
        self, conn: socket.socket, sink: Sink, expected: int | None, offset: int, size: int | None
    ) -> int:
        """The portable fast path: ``recv_into`` one preallocated buffer, hand out views."""
        buf = bytearray(self.download_buffer_size)
        view = memoryview(buf)
        recv_into = conn.recv_into
        write = sink.write
        watch = ProgressWatch(conn.gettimeout() or self.options.timeout)
        received = 0
        while True:
            n = recv_into(buf)
            if not n:
                return received
            received += n
            watch.add(n)
            if expected is not None and received > expected:
                self._too_much(sink, offset, size)
            try:
                write(view[:n])
            except OSError as exc:
                # A local write error (disk full is already a DiskFullError): not the network.
                raise ProtoClientError(
                    f"cannot write the download: {exc.strerror or exc}", protocol="ftp"
                ) from None

    def _splice_into(
        self,
        conn: socket.socket,
        sink: FileSink,
        expected: int | None,
        offset: int,
        size: int | None,
    ) -> int | None:
        """Linux zero-copy path for plain FTP to a file: socket -> pipe -> file (``splice``).

        Returns the bytes received, or ``None`` when splice cannot be used here (nothing has
        been read from the socket then, so the caller falls back to :meth:`_recv_into`).
        """
        import fcntl
        import select

        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            with contextlib.suppress(OSError):
                fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, self.download_buffer_size)
            try:
                chunk = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
            except OSError:
                chunk = 64 * 1024
            sock_fd = conn.fileno()
            poller = select.poll()
            poller.register(sock_fd, select.POLLIN)
            wait_ms = int((conn.gettimeout() or self.options.timeout) * 1000)
            progress = sink.progress
            watch = ProgressWatch(conn.gettimeout() or self.options.timeout)
            received = 0
            while True:
                want = chunk if expected is None else max(1, min(chunk, expected - received + 1))
                try:
                    n = os.splice(sock_fd, write_end, want)
                except BlockingIOError:
                    if not poller.poll(wait_ms):
                        raise TimeoutError("no data from the server in time") from None
                    continue
                except OSError as exc:
                    if received == 0 and exc.errno in _SPLICE_UNSUPPORTED:
                        return None
                    raise
                if not n:
                    return received
                received += n
                watch.add(n)
                if expected is not None and received > expected:
                    self._too_much(sink, offset, size)
                left = n
                try:
                    while left:
                        left -= os.splice(read_end, sink.fd, left)
                except OSError as exc:
                    if exc.errno in _DISK_FULL_ERRNOS:
                        sink.discard()
                        raise DiskFullError(
                            f"disk full or file too large while writing {sink.part.name}: "
                            f"{exc.strerror}; nothing was kept",
                            protocol="ftp",
                        ) from None
                    raise ProtoClientError(
                        f"cannot write the download: {exc.strerror or exc}", protocol="ftp"
                    ) from None
                sink.position += n
                if progress is not None:
                    progress(sink.position, sink.total)
        finally:
            os.close(read_end)
            os.close(write_end)

    @staticmethod
    def _too_much(sink: Sink, offset: int, size: int | None) -> NoReturn:
        if isinstance(sink, FileSink):
            sink.discard()
        hint = f" (it accepted REST {offset} but apparently sent from the start)" if offset else ""
        raise IncompleteTransferError(
            f"the server sent more than the {size} bytes it announced with SIZE{hint}; "
            "the download was aborted and the partial file discarded",
            protocol="ftp",
        )
