"""POP3 and POP3S: :class:`POP3Client`, the ``pop3://`` and ``pop3s://`` client.

URLs (RFC 2384 plus curl's message path)::

    pop3://[user[;AUTH=mech]@]host[:port][/<message number> | /UIDL=<unique id>]

``pop3s://`` is implicit TLS (port 995); ``pop3://`` with ``tls="starttls"`` requires
``STLS``. ``;AUTH=+APOP`` logs in with APOP, ``;AUTH=PLAIN`` with SASL PLAIN, ``;AUTH=*``
with the best mechanism the server offers; without it, ``USER``/``PASS``.

Verbs: ``ls`` (``STAT`` + ``LIST`` + ``UIDL``; ``headers=True`` adds ``TOP n 0`` per
message), ``fetch`` (``RETR``, or ``TOP n 0`` with ``headers_only=True``; a mailbox URL with
an existing directory as ``dest`` downloads every message, ``delete_after=True`` deletes
each one once it is safely on disk), ``delete`` (``DELE``: the server deletes at ``QUIT``,
when the client is closed). Extras on the client: :meth:`~POP3Client.top`,
:meth:`~POP3Client.capabilities`, :meth:`~POP3Client.stat`, :meth:`~POP3Client.uidl`,
:meth:`~POP3Client.undelete_all` (``RSET``), :meth:`~POP3Client.noop` and
:attr:`~POP3Client.raw` (the connected ``poplib`` object).

This module holds the verbs; the rest of the client lives beside it: :mod:`.pop3session`
(connection, TLS, login, caches, extras), :mod:`.pop3download` (one message into a sink),
:mod:`.pop3bulk` (a whole mailbox into a directory), :mod:`.pop3errors` (the error
boundary), :mod:`.pop3conn` (the strict, bounded ``poplib`` connection), :mod:`.pop3parse`
(response parsing) and :mod:`.pop3urls` (which message a URL names).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO, Any, cast

from ..client import Destination
from ..entries import Entry
from ..errors import InvalidInput, ResponseTooLarge, UnsupportedOperation
from ..transfer import FileObjectSink, MemorySink, ProgressCallback, Sink, TransferResult
from ..urls import URL
from .mailparse import parse_message
from .pop3bulk import POP3Bulk, stored_name
from .pop3conn import ErrReply, POP3Connection
from .pop3download import fsync_directory_strict
from .pop3urls import MessageRef, check_uidl, message_ref, message_url, reject_extra_kwargs

__all__ = ["POP3Client"]

_SUMMARY_HEADERS = ("from", "to", "subject", "date", "message-id")

#: What names a message in the verbs: a URL, a path relative to the mailbox, or a number.
MessageTarget = int | str | URL | None


class POP3Client(POP3Bulk):
    """POP3 / POP3S client over :mod:`poplib` (see the module docstring for the URL rules).

    Message numbers are those of the current session: they change when a session that
    deleted messages ends. Unique ids (``UIDL``) do not; use ``/UIDL=<id>`` or ``uidl=`` to
    name a message across sessions.

    Keyword arguments besides the :class:`~protoclients.options.ClientOptions` fields:
    ``auth=`` (``"user"``, ``"apop"``, ``"plain"`` or ``"*"``; overrides the URL's
    ``;AUTH=``) and ``max_message_size=`` (default 256 MiB).
    """

    # -- ls ----------------------------------------------------------------------------------

    def ls(
        self,
        url: MessageTarget = None,
        *,
        timeout: float | None = None,
        headers: bool = False,
        uidl: str | None = None,
        **kwargs: Any,
    ) -> list[Entry]:
        """List the messages (``STAT``, ``LIST``, ``UIDL``), or the one message the URL names.

        Each entry: ``name`` = the UIDL (the number when the server has no ``UIDL``),
        ``kind="message"``, ``size`` from ``LIST``, ``url`` = ``pop3://user@host/<number>``,
        ``details={"number": n, "uidl": ...}``. ``headers=True`` also reads each message's
        headers with ``TOP n 0`` (one round trip per message) and adds ``"from"``, ``"to"``,
        ``"subject"``, ``"date"`` and ``"message-id"`` (decoded text) to ``details``.
        """
        reject_extra_kwargs(kwargs, "ls")
        target, ref = self._target_ref(url, uidl)
        with self._op("list", target, timeout) as pop:
            if ref is not None:
                number = self._number_for(pop, ref)
                items = [(number, self._size_of(pop, number), self._uidl_of(pop, number))]
            else:
                sizes = self._scan(pop)
                uidls = self._uidl_map(pop) or {}
                items = [(n, sizes[n], uidls.get(n)) for n in sorted(sizes)]
            entries = []
            for number, size, unique in items:
                details: dict[str, Any] = {"number": number, "uidl": unique}
                if headers:
                    details.update(self._header_summary(pop, number, size))
                entries.append(
                    Entry(
                        name=unique if unique is not None else str(number),
                        kind="message",
                        size=size,
                        url=str(message_url(self.url, number)),
                        details=details,
                    )
                )
            return entries

    def _header_summary(self, pop: POP3Connection, number: int, size: int) -> dict[str, str]:
        data = bytearray()
        limit = min(self._limit(size, self.max_message_size), self.options.max_memory)
        pop.stream(f"TOP {number} 0", data.extend, max_total=limit)
        message = parse_message(data, headers_only=True)
        summary: dict[str, str] = {}
        for name in _SUMMARY_HEADERS:
            try:
                value = message.get(name)
            except (ValueError, LookupError, TypeError, AttributeError):  # malformed header
                value = None
            if value is not None:
                summary[name] = str(value)
        return summary

    # -- fetch -------------------------------------------------------------------------------

    def fetch(
        self,
        url: MessageTarget = None,
        dest: Destination = None,
        *,
        resume: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        headers_only: bool = False,
        uidl: str | None = None,
        delete_after: bool = False,
        skip_existing: bool = True,
        max_message_size: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Download one message (``RETR``), or every message into a directory.

        One message: ``dest=None`` returns an :class:`email.message.EmailMessage`
        (``email.policy.default``; at most ``max_memory`` bytes); a path or an existing
        directory (the file is then ``<UIDL made safe>.eml``) is written atomically; a binary
        file object is written to directly. ``headers_only=True`` uses ``TOP n 0`` (files end
        in ``.headers`` inside a directory). Returns the message or a
        :class:`~protoclients.transfer.TransferResult`.

        A mailbox URL (no message) with an existing directory as ``dest`` downloads every
        message (see :mod:`.pop3bulk`) and returns a list of ``TransferResult``;
        ``skip_existing`` (default) skips messages already stored. ``delete_after=True``
        deletes each message after its file and the directory were fsynced, then sends
        ``QUIT`` to make the deletions final (the client reconnects for its next call).

        The message is streamed line by line with bounds (64 KiB per line,
        ``max_message_size`` in all, twice the ``LIST`` size); a response cut short raises
        :class:`~protoclients.errors.IncompleteTransferError` and leaves no file.
        ``resume=True`` is refused: a message is always fetched whole.
        """
        reject_extra_kwargs(kwargs, "fetch")
        if resume:
            raise InvalidInput(
                "resume=True is meaningless for a POP3 message: it is always fetched whole",
                protocol="pop3",
            )
        max_size = self.max_message_size
        if max_message_size is not None:
            if max_message_size <= 0:
                raise InvalidInput("max_message_size must be positive")
            max_size = max_message_size
        if headers_only and delete_after:
            raise InvalidInput(
                "delete_after=True with headers_only=True would delete messages of which only "
                "the headers were saved",
                protocol="pop3",
            )
        target, ref = self._target_ref(url, uidl)
        directory = _existing_directory(dest)
        if ref is None:
            if directory is None:
                raise InvalidInput(
                    "the URL names the whole mailbox: name a message (/3 or /UIDL=<id>), or "
                    "pass dest=<an existing directory> to download every message",
                    protocol="pop3",
                    url=target,
                )
            return self._fetch_all(
                target,
                directory,
                headers_only=headers_only,
                delete_after=delete_after,
                skip_existing=skip_existing,
                progress=progress,
                timeout=timeout,
                max_size=max_size,
            )
        if delete_after and (dest is None or hasattr(dest, "write")):
            raise InvalidInput(
                "delete_after=True needs dest= to be a path or a directory: a message is "
                "deleted only once it is safely on disk",
                protocol="pop3",
            )
        started = time.perf_counter()
        deleted = False
        with self._op("fetch", target, timeout) as pop:
            number = self._number_for(pop, ref)
            size = self._size_of(pop, number)
            if headers_only:
                caps = self._capabilities(pop)
                if caps is not None and "TOP" not in caps:
                    raise UnsupportedOperation(
                        f"{self.url.host} does not offer TOP (needed for headers_only)",
                        protocol="pop3",
                        url=target,
                    )
            elif dest is None and size > self.options.max_memory:
                raise ResponseTooLarge(
                    f"message is {size} bytes, more than max_memory={self.options.max_memory}; "
                    "pass dest= to stream it to a file",
                    protocol="pop3",
                    url=target,
                )
            unique = ref.uidl
            sink: Sink
            if dest is None:
                sink = MemorySink(self.options.max_memory, progress)
            elif directory is not None:
                unique = unique or self._uidl_of(pop, number)
                sink = self._file_sink(
                    directory / stored_name(number, unique, headers_only), progress
                )
            elif hasattr(dest, "write"):
                sink = FileObjectSink(cast(IO[bytes], dest), False, progress)
            else:
                sink = self._file_sink(Path(os.fspath(cast("os.PathLike[str]", dest))), progress)
            sink.total = None if headers_only else size
            total = self._save(
                pop, number, sink, headers_only=headers_only, size=size, max_size=max_size
            )
            if delete_after:
                assert sink.path is not None
                fsync_directory_strict(sink.path.parent)
                self._dele(pop, number)
                self._commit()
                deleted = True
        if isinstance(sink, MemorySink):
            return parse_message(sink.buffer)
        return TransferResult(
            url=str(message_url(self.url, number)),
            bytes=total,
            size=total,
            path=sink.path,
            elapsed=time.perf_counter() - started,
            details={
                "number": number,
                "uidl": unique,
                "list_size": size,
                "headers_only": headers_only,
                "deleted": deleted,
            },
        )

    # -- delete ------------------------------------------------------------------------------

    def delete(
        self,
        url: MessageTarget = None,
        *,
        timeout: float | None = None,
        uidl: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Mark one message for deletion (``DELE``); the server deletes it at ``QUIT``.

        ``QUIT`` is sent when the client is closed; :meth:`undelete_all` (``RSET``) unmarks
        every message marked in this session before that.
        """
        reject_extra_kwargs(kwargs, "delete")
        target, ref = self._target_ref(url, uidl)
        if ref is None:
            raise InvalidInput(
                "name the message to delete (/3 or /UIDL=<id>); a whole mailbox is not "
                "deleted in one call",
                protocol="pop3",
                url=target,
            )
        with self._op("delete", target, timeout) as pop:
            number = self._number_for(pop, ref)
            try:
                self._dele(pop, number)
            except ErrReply as exc:
                # DELE fails only for a message that does not exist or is already deleted.
                raise self._not_found(ref, exc.text) from None

    # -- helpers -------------------------------------------------------------------------------

    def _target_ref(self, url: MessageTarget, uidl: str | None) -> tuple[URL, MessageRef | None]:
        """The URL a verb works on and the message it names (``None``: the mailbox)."""
        if isinstance(url, int) and not isinstance(url, bool):
            ref: MessageRef | None = self._message_arg(url)
            target = message_url(self.url, url)
        else:
            if isinstance(url, bool):
                raise InvalidInput("a message is a number, 'UIDL=<id>' or a URL")
            target = self._message_url(url)
            ref = message_ref(target)
        if uidl is not None:
            if ref is not None:
                raise InvalidInput(
                    "name the message either in the URL or with uidl=, not both", protocol="pop3"
                )
            ref = MessageRef(uidl=check_uidl(uidl))
            target = message_url(self.url, uidl=uidl)
        return target, ref


def _existing_directory(dest: Destination) -> Path | None:
    if dest is None or hasattr(dest, "write"):
        return None
    path = Path(os.fspath(cast("os.PathLike[str]", dest)))
    return path if path.is_dir() else None
