"""The ``RETR``/``TOP`` data path of the POP3 client: one message into a sink, bounded.

A message is streamed chunk by chunk (whole lines, dot-stuffing removed) into the sink, so
a message going to a file is never whole in memory. Bounds, per message: at most
``max_message_size`` bytes, and at most twice the size ``LIST`` announced plus 64 KiB (a
server that announces 1 KB and sends 10 MB is cut off early, HOS-04); a response must also
arrive before a deadline. A response that ends without its terminating ``.`` line, or with
less than half of the announced size, is an
:class:`~protoclients.errors.IncompleteTransferError` and never becomes a file (POP3
messages are not resumable, so the partial file is removed).

A local write that fails mid-message (disk full, permission) does not abandon the
connection: the rest of the response is read and discarded (it is bounded), so the session
stays usable and deletions already marked can still be committed.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import IncompleteTransferError, ProtoClientError
from ..transfer import FileSink, ProgressCallback, Sink
from .pop3conn import ErrReply, POP3Connection, ReplyTooLarge
from .pop3errors import local_file_error
from .pop3session import POP3Session

__all__ = ["POP3Download", "fsync_directory_strict"]

#: Slack on top of twice the announced size (headers added by the server, line endings).
_SIZE_SLACK = 64 * 1024


class POP3Download(POP3Session):
    """Streams one message into a sink; used by ``fetch`` and the bulk download."""

    def _limit(self, size: int | None, max_size: int) -> int:
        """The most bytes accepted for a message ``LIST`` says is ``size`` bytes."""
        if size is None:
            return max_size
        return min(max_size, 2 * size + _SIZE_SLACK)

    def _file_sink(self, path: Path, progress: ProgressCallback | None) -> FileSink:
        """A :class:`FileSink` for ``path``; a local failure is reported as such."""
        try:
            return FileSink(path, resume=False, progress=progress)
        except OSError as exc:
            raise local_file_error(exc, path.name) from exc

    def _receive(
        self,
        pop: POP3Connection,
        number: int,
        sink: Sink,
        *,
        headers_only: bool,
        size: int | None,
        max_size: int,
        send: bool = True,
    ) -> int:
        """Read the answer to ``RETR n`` / ``TOP n 0`` into ``sink``; return the bytes written.

        ``send=False`` when the command was already sent (pipelining). On any failure that
        leaves a response half-read, the connection is dropped.
        """
        limit = self._limit(size, max_size)
        failure: list[BaseException] = []

        def write(chunk: bytearray) -> None:
            if failure:
                return  # a local write failed: read the rest of the message, discard it
            try:
                sink.write(chunk)
            except (OSError, ProtoClientError) as exc:
                failure.append(exc)

        command = f"TOP {number} 0" if headers_only else f"RETR {number}"
        try:
            if send:
                pop.putcmd(command)
            pop.read_response()
            total = pop.read_body(write, max_total=limit, deadline=pop.deadline(limit))
        except ErrReply:
            raise  # the status line was read completely: the connection is fine
        except ReplyTooLarge as exc:
            self._drop()
            said = f"; LIST said {size} bytes" if size is not None else ""
            raise ReplyTooLarge(f"message {number}: {exc}{said}") from None
        except BaseException:
            self._drop()
            raise
        if failure:
            name = sink.path.name if sink.path is not None else "the destination"
            raise local_file_error(failure[0], name) from failure[0]
        if not headers_only and size is not None and total < size // 2:
            raise IncompleteTransferError(
                f"message {number}: received {total} bytes but LIST announced {size}",
                protocol="pop3",
                url=self.url,
            )
        return total

    def _save(
        self,
        pop: POP3Connection,
        number: int,
        sink: Sink,
        *,
        headers_only: bool,
        size: int | None,
        max_size: int,
        send: bool = True,
    ) -> int:
        """:meth:`_receive`, then commit the sink (file: fsync, rename, fsync directory).

        Returns only once the data is durable; any failure removes the partial file.
        """
        try:
            total = self._receive(
                pop,
                number,
                sink,
                headers_only=headers_only,
                size=size,
                max_size=max_size,
                send=send,
            )
        except BaseException as exc:
            _abort(sink, exc)
            raise
        try:
            sink.commit()
        except BaseException as exc:
            _abort(sink, exc)
            if isinstance(exc, OSError) and not isinstance(exc, ProtoClientError):
                name = sink.path.name if sink.path is not None else "the destination"
                raise local_file_error(exc, name) from exc
            raise
        return total


def fsync_directory_strict(path: Path) -> None:
    """fsync a directory and *report* failure (``transfer.fsync_directory`` ignores it).

    Used before ``DELE``: a message may leave the server only once the rename of its file is
    durable. Right after :meth:`FileSink.commit` this is nearly free (nothing left to flush).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise local_file_error(exc, f"{path} (directory)") from exc


def _abort(sink: Sink, exc: BaseException) -> None:
    if isinstance(sink, FileSink):
        sink.discard()  # a message cannot be resumed: never keep a partial one
    sink.abort(exc)
