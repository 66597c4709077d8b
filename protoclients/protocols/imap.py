"""IMAP and IMAPS: :class:`IMAPClient`, the ``imap://`` and ``imaps://`` client.

URLs follow RFC 5092 (see :mod:`.imapurl`): ``imap://alice@host/`` is the server,
``.../INBOX`` a mailbox, ``.../INBOX?UNSEEN`` a search, ``.../INBOX;UID=42`` one message
(``;UIDVALIDITY=n`` makes a stale UID an error, ``;SECTION=HEADER`` a part of it).

Verbs:

* ``ls``: on the server, the mailboxes (``LIST "" "*"``, names decoded from modified
  UTF-7); on a mailbox or search, the messages (``UID SEARCH``, then ``UID FETCH`` of the
  matches in batches: UID, flags, size, internal date, From/Subject/Date/Message-ID).
* ``fetch``: one message by UID (``BODY.PEEK[]``: ``\\Seen`` is never set), returned as an
  :class:`email.message.EmailMessage` or streamed to a file; a mailbox or search URL with
  ``dest=<directory>`` downloads every match as ``<UID>.eml`` (pipelined, streamed).
* ``send``: ``APPEND`` (with flags and an internal date); the new UID from ``APPENDUID``.
* ``delete``: one message by UID: ``\\Deleted`` + ``UID EXPUNGE`` of that UID only (or a
  move to ``trash=``); a mailbox with ``mailbox=True``.

Extras: :meth:`IMAPClient.search`, :meth:`~IMAPClient.copy`, :meth:`~IMAPClient.move`,
:meth:`~IMAPClient.set_flags`, :meth:`~IMAPClient.clear_flags`,
:meth:`~IMAPClient.create_mailbox`, :meth:`~IMAPClient.rename_mailbox`,
:meth:`~IMAPClient.delete_mailbox`, :meth:`~IMAPClient.status`,
:meth:`~IMAPClient.capabilities`, :meth:`~IMAPClient.wait` (IDLE) and
:attr:`~IMAPClient.raw` (the logged-in ``imaplib.IMAP4``).

Mailboxes are opened with ``EXAMINE`` (read-only) for ``ls``, ``fetch``, ``search`` and
``copy``, with ``SELECT`` only to change flags or remove messages; ``CLOSE`` is never
sent (it would expunge other clients' ``\\Deleted`` messages).

This module holds the verbs; :mod:`.imapsession` the connection, login and TLS,
:mod:`.imapconn` the strict imaplib connection, :mod:`.imapfetch` the streaming
downloads, :mod:`.imapsend` the APPEND source handling, :mod:`.imapparse`,
:mod:`.imapquote`, :mod:`.imapurl` and :mod:`.imaputf7` the pure parts, and
:mod:`.imaperrors` the error boundary.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import os
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from ..client import Destination, Source
from ..entries import Entry
from ..errors import (
    InvalidInput,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    UnsupportedOperation,
)
from ..transfer import MemorySink, ProgressCallback, TransferResult
from ..urls import URL
from .imapconn import CommandFailed, IMAPConnection, Response
from .imapfetch import BulkFetcher, bulk_existing, fetch_one, open_message_sink
from .imapmessages import message_entry
from .imapparse import (
    MalformedResponse,
    fetch_items,
    parse_esearch,
    parse_list,
    parse_search,
    parse_status,
    parse_uid_set,
)
from .imapquote import Arg, flag_list, search_args, sequence_set
from .imapsend import message_literal
from .imapsession import IMAPSession, Mailbox
from .imapurl import IMAPTarget, mailbox_url, message_url
from .mailparse import parse_message

__all__ = ["IMAPClient"]

_LIST_ITEMS = (
    b"(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)])"
)
_STATUS_ITEMS = b"(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"
_MARKER = ".imap-uidvalidity"
#: Longest single IDLE (RFC 3501 suggests re-issuing it before 30 minutes).
_MAX_IDLE = 29 * 60


def _reject_extra(kwargs: dict[str, Any], verb: str) -> None:
    if kwargs:
        raise InvalidInput(
            f"unknown keyword argument(s) for imap {verb}: {', '.join(sorted(kwargs))}"
        )


class IMAPClient(IMAPSession):
    """IMAP / IMAPS client over :mod:`imaplib` (see the module docstring).

    Args (besides those of :class:`~protoclients.client.Client`):
        oauth2_token: a bearer token: log in with ``AUTHENTICATE XOAUTH2`` (a URL with
            ``;AUTH=XOAUTH2`` in its user part does the same with ``password=`` as the token).
        limits: response bounds (:class:`~protoclients.protocols.imapconn.Limits`).
        utf8: enable ``UTF8=ACCEPT`` when the server offers it (mailbox names in UTF-8).

    Class attributes tune bulk work: :attr:`fetch_batch` (UIDs per bulk ``UID FETCH``),
    :attr:`list_batch` (per listing ``UID FETCH``), :attr:`max_mailboxes`.
    """

    #: UIDs per ``UID FETCH`` command of a bulk download (two commands are kept in flight).
    fetch_batch = 2000
    #: UIDs per ``UID FETCH`` command of a message listing.
    list_batch = 1000
    #: Most mailboxes a ``LIST`` may return.
    max_mailboxes = 100_000

    # -- ls ----------------------------------------------------------------------------------------

    def ls(
        self, url: str | URL | None = None, *, timeout: float | None = None, **kwargs: Any
    ) -> list[Entry]:
        """List mailboxes (server URL), messages (mailbox or search URL) or one message.

        Mailboxes: ``Entry(kind="mailbox", name=<Unicode name>, details={"delimiter",
        "attributes"})``. Messages: ``Entry(kind="message", name=<UID>, size, modified=
        <internal date>, url=<...;UID=n>, details={"uid", "flags", "from", "subject",
        "date", "message_id", "uidvalidity", "mailbox"})``, in UID order.
        """
        _reject_extra(kwargs, "ls")
        target_url, target = self._target(url)
        if target.mailbox is None:
            return self._list_mailboxes(target_url, timeout)
        with self._op("list", target_url, timeout) as conn:
            box = self._select(conn, target.mailbox, readonly=True)
            self._check_uidvalidity(box, target, target_url)
            if target.uid is not None:
                uids = [target.uid]
            else:
                uids = self._search_uids(conn, target.search) if box.exists else []
            entries = self._list_messages(conn, box, uids)
        if target.uid is not None and not entries:
            raise NotFoundError(
                f"no message with UID {target.uid}", protocol="imap", url=target_url
            )
        return entries

    def _list_mailboxes(self, url: URL, timeout: float | None) -> list[Entry]:
        entries: list[Entry] = []

        def on_list(resp: Response) -> bool:
            if resp.kind != "LIST":
                return False
            try:
                attributes, delimiter, raw = parse_list(self._values(resp))
            except MalformedResponse as exc:
                raise ProtocolError(
                    f"malformed LIST response: {exc}", protocol="imap", url=url
                ) from None
            name, valid = self._decode_name(raw)
            details: dict[str, Any] = {"delimiter": delimiter, "attributes": attributes}
            if not valid:
                details["raw_name"] = raw.decode("latin-1")
                details["invalid_name"] = True
            entries.append(
                Entry(
                    name=name, kind="mailbox", url=str(mailbox_url(self.url, name)), details=details
                )
            )
            return True

        with self._op("list", url, timeout) as conn:
            conn.command(
                "LIST", b'""', b'"*"', on_untagged=on_list, max_untagged=self.max_mailboxes
            )
        return entries

    def _list_messages(self, conn: IMAPConnection, box: Mailbox, uids: list[int]) -> list[Entry]:
        entries: list[Entry] = []
        prefix = str(mailbox_url(self.url, box.name)) + ";UID="
        wanted = set(uids)

        def on_fetch(resp: Response) -> bool:
            if resp.kind != "FETCH":
                return False
            try:
                items = fetch_items(self._values(resp))
            except MalformedResponse as exc:
                raise ProtocolError(f"malformed FETCH response: {exc}", protocol="imap") from None
            entry = message_entry(items, prefix, box)
            if entry is not None and int(entry.name) in wanted:
                wanted.discard(int(entry.name))
                entries.append(entry)
            return True

        batches = [uids[i : i + self.list_batch] for i in range(0, len(uids), self.list_batch)]
        self._pipelined(conn, [[sequence_set(b), _LIST_ITEMS] for b in batches], on_fetch)
        entries.sort(key=lambda e: int(e.name))
        return entries

    def _pipelined(self, conn: IMAPConnection, batches: list[list[Arg]], on_untagged: Any) -> None:
        """Run ``UID FETCH`` commands two at a time (the next sent before the previous ends)."""
        outstanding: list[tuple[bytes, list[Response]]] = []
        limit = self.list_batch + conn.limits.max_untagged
        pending_batches = list(batches)
        while pending_batches or outstanding:
            while pending_batches and len(outstanding) < 2:
                tag, _, pending = conn.send_command("UID FETCH", pending_batches.pop(0))
                outstanding.append((tag, pending))
            tag, pending = outstanding.pop(0)
            result = conn.complete(
                tag, "UID FETCH", pending, max_untagged=limit, on_untagged=on_untagged
            )
            if not result.ok:
                raise CommandFailed(result)

    def _search_uids(self, conn: IMAPConnection, criteria: str | Sequence[str] | None) -> list[int]:
        args, needs_utf8 = search_args(criteria or "ALL", utf8=self._utf8)
        charset: list[Arg] = [b"CHARSET", b"UTF-8"] if needs_utf8 and not self._utf8 else []
        found: list[int] = []
        if "ESEARCH" in conn.capabilities:
            result = conn.command("UID SEARCH", b"RETURN", b"(ALL)", *charset, *args)
            for resp in result.untagged:
                if resp.kind == "ESEARCH":
                    found.extend(parse_esearch(resp.parts))
        else:
            result = conn.command("UID SEARCH", *charset, *args)
            for resp in result.untagged:
                if resp.kind == "SEARCH":
                    found.extend(parse_search(resp.parts))
        return sorted(set(found))

    # -- fetch ------------------------------------------------------------------------------------

    def fetch(
        self,
        url: str | URL | None = None,
        dest: Destination = None,
        *,
        resume: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        headers_only: bool = False,
        fsync: bool = True,
        durable: bool | None = None,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Download one message, or every message of a mailbox or search into a directory.

        One message (``INBOX;UID=42``): ``dest=None`` returns an
        :class:`email.message.EmailMessage` (``policy.default``; raw ``bytes`` for a
        ``;SECTION=`` other than ``HEADER`` or a ``;PARTIAL=``); a path, a directory
        (``<UID>.eml`` inside it) or a binary file object is streamed to and a
        :class:`~protoclients.transfer.TransferResult` returned. ``headers_only=True``
        fetches the header only. ``\\Seen`` is never set (``BODY.PEEK``).

        A mailbox or search URL with ``dest=<an existing directory>`` stores each matching
        message as ``<UID>.eml`` there (pipelined batches, each literal streamed to its
        file, written atomically) and returns a list of results, one per file written.
        Messages whose file exists are skipped (re-runs are incremental) unless
        ``overwrite=True``; a directory filled from an older UIDVALIDITY is refused (with
        ``overwrite=True`` its ``<UID>.eml`` files are first moved to ``uidvalidity-<old>/``).

        ``durable`` (alias ``fsync``, default true): fsync each file (bulk: and the
        directory once at the end). ``durable=False`` is much faster for bulk downloads and
        still never leaves a partial file under a final name.
        """
        _reject_extra(kwargs, "fetch")
        if resume:
            raise InvalidInput("resume=True is meaningless for IMAP messages", protocol="imap")
        durable = fsync if durable is None else durable
        target_url, target = self._target(url)
        if target.mailbox is None:
            raise InvalidInput(
                "the URL names the server; add a mailbox and ;UID=n (or pass a directory "
                "as dest to download a whole mailbox)",
                protocol="imap",
                url=target_url,
            )
        if target.uid is None:
            if dest is None or hasattr(dest, "write") or not Path(os.fspath(dest)).is_dir():
                raise InvalidInput(
                    "the URL names a set of messages; pass dest=<an existing directory> to "
                    "download them all, or add ;UID=n to fetch one",
                    protocol="imap",
                    url=target_url,
                )
            return self._bulk(
                target_url,
                target,
                Path(os.fspath(dest)),
                durable=durable,
                overwrite=overwrite,
                progress=progress,
                timeout=timeout,
            )
        return self._fetch_one(
            target_url,
            target,
            dest,
            headers_only=headers_only,
            durable=durable,
            progress=progress,
            timeout=timeout,
        )

    def _fetch_one(
        self,
        url: URL,
        target: IMAPTarget,
        dest: Destination,
        *,
        headers_only: bool,
        durable: bool,
        progress: ProgressCallback | None,
        timeout: float | None,
    ) -> Any:
        assert target.mailbox is not None
        assert target.uid is not None
        section = target.section or ""
        if headers_only:
            if section not in {"", "HEADER"}:
                raise InvalidInput("headers_only=True cannot be combined with ;SECTION=")
            section = "HEADER"
        started = time.perf_counter()
        with self._op("fetch", url, timeout, deadline=False) as conn:
            box = self._select(conn, target.mailbox, readonly=True)
            self._check_uidvalidity(box, target, url)
            sink = open_message_sink(
                dest,
                name=f"{target.uid}.eml",
                progress=progress,
                max_memory=self.options.max_memory,
                durable=durable,
            )
            with sink:
                found, received = fetch_one(conn, target.uid, section, sink, partial=target.partial)
                if not found:
                    raise NotFoundError(
                        f"no message with UID {target.uid} in {target.mailbox!r}",
                        protocol="imap",
                        url=url,
                    )
        if isinstance(sink, MemorySink):
            data = sink.getvalue()
            if section in {"", "HEADER"} and target.partial is None:
                return parse_message(data)
            return data
        return TransferResult(
            url=str(url),
            bytes=received,
            size=received,
            path=sink.path,
            elapsed=time.perf_counter() - started,
            details={
                "uid": target.uid,
                "mailbox": target.mailbox,
                "uidvalidity": box.uidvalidity,
                "section": section,
            },
        )

    def _bulk(
        self,
        url: URL,
        target: IMAPTarget,
        directory: Path,
        *,
        durable: bool,
        overwrite: bool,
        progress: ProgressCallback | None,
        timeout: float | None,
    ) -> list[TransferResult]:
        assert target.mailbox is not None
        with self._op("fetch", url, timeout, deadline=False) as conn:
            box = self._select(conn, target.mailbox, readonly=True)
            self._check_uidvalidity(box, target, url)
            self._check_marker(directory, box, url, overwrite)
            uids = self._search_uids(conn, target.search) if box.exists else []
            if not overwrite and uids:
                existing = bulk_existing(directory)
                uids = [uid for uid in uids if uid not in existing]
            fetcher = BulkFetcher(
                conn,
                directory,
                url_prefix=str(mailbox_url(self.url, box.name)) + ";UID=",
                durable=durable,
                batch_size=self.fetch_batch,
                progress=progress,
                details={"mailbox": box.name, "uidvalidity": box.uidvalidity},
            )
            results = fetcher.run(uids) if uids else []
        return results

    def _check_marker(self, directory: Path, box: Mailbox, url: URL, overwrite: bool) -> None:
        """Refuse to mix messages of two UIDVALIDITY epochs in one directory."""
        if box.uidvalidity is None:
            return
        marker = directory / _MARKER
        saved: int | None = None
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            saved = int(marker.read_text(encoding="ascii").split()[0])
        if saved is not None and saved != box.uidvalidity:
            if not overwrite:
                raise ProtocolError(
                    f"the UIDs of mailbox {box.name!r} were renumbered (UIDVALIDITY {saved} -> "
                    f"{box.uidvalidity}) since {directory} was filled: its <UID>.eml names are "
                    "stale. Use a new directory, or overwrite=True",
                    protocol="imap",
                    url=url,
                )
            # A stale <UID>.eml would pass for the new message with that UID: set them aside.
            _set_aside(directory, saved)
        temp = directory / (_MARKER + ".tmp")
        temp.write_text(f"{box.uidvalidity}\n", encoding="ascii")
        os.replace(temp, marker)

    # -- send -------------------------------------------------------------------------------------

    def send(
        self,
        source: Source | EmailMessage | email.message.Message,
        url: str | URL | None = None,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        flags: Iterable[str] | str = (),
        date: datetime | None = None,
        **kwargs: Any,
    ) -> TransferResult:
        """``APPEND`` a message to the mailbox the URL names.

        ``source``: an :class:`email.message.EmailMessage` (or ``Message``), bytes, a path
        or a binary file object; line endings are sent as CRLF (bare LF/CR converted).
        ``flags``: e.g. ``["\\\\Seen"]``; ``date``: the internal date (default: now, by the
        server). ``details`` has ``mailbox``, ``uid`` and ``uidvalidity`` (``None`` when the
        server lacks UIDPLUS).
        """
        _reject_extra(kwargs, "send")
        target_url, target = self._target(url)
        if target.mailbox is None or target.uid is not None or target.search is not None:
            raise InvalidInput(
                "APPEND needs a mailbox URL (imap://user@host/INBOX)",
                protocol="imap",
                url=target_url,
            )
        args: list[Any] = []
        flag_arg = flag_list(flags) if flags else None
        if date is not None and not isinstance(date, datetime):
            raise InvalidInput("date must be a datetime")
        date_arg = imaplib.Time2Internaldate(date).encode("ascii") if date else None
        literal, size, local_path = message_literal(source, progress=progress)
        started = time.perf_counter()
        with self._op("append", target_url, timeout, deadline=False) as conn:
            args = [self._mailbox_arg(target.mailbox)]
            if flag_arg:
                args.append(flag_arg)
            if date_arg:
                args.append(date_arg)
            args.append(literal)
            try:
                result = conn.command("APPEND", *args)
            except CommandFailed as exc:
                if exc.code == "TRYCREATE":
                    raise NotFoundError(
                        f"mailbox {target.mailbox!r} does not exist (create it first with "
                        "create_mailbox)",
                        protocol="imap",
                        url=target_url,
                        reply=self._scrub(exc.reply),
                    ) from None
                raise
        uid = uidvalidity = None
        if result.code == "APPENDUID" and result.code_data:
            words = result.code_data.split()
            if len(words) == 2 and words[0].isdigit():
                uidvalidity = int(words[0])
                with contextlib.suppress(MalformedResponse):
                    uids = parse_uid_set(words[1], limit=1000)
                    uid = uids[-1] if uids else None
        shown = (
            str(message_url(self.url, target.mailbox, uid)) if uid is not None else str(target_url)
        )
        return TransferResult(
            url=shown,
            bytes=size,
            size=size,
            path=local_path,
            elapsed=time.perf_counter() - started,
            details={"mailbox": target.mailbox, "uid": uid, "uidvalidity": uidvalidity},
        )

    # -- delete -----------------------------------------------------------------------------------

    def delete(
        self,
        url: str | URL | None = None,
        *,
        timeout: float | None = None,
        trash: str | None = None,
        expunge: bool = True,
        expunge_all: bool = False,
        mailbox: bool = False,
        **kwargs: Any,
    ) -> None:
        """Delete one message (``;UID=n``), or a mailbox with ``mailbox=True``.

        A message gets ``\\Deleted`` and ``UID EXPUNGE`` of its UID only (UIDPLUS), so other
        clients' ``\\Deleted`` messages survive. Without UIDPLUS the deletion is refused
        (:class:`~protoclients.errors.UnsupportedOperation`) unless ``expunge_all=True``,
        which expunges every ``\\Deleted`` message of the mailbox. ``expunge=False`` only
        sets ``\\Deleted``. ``trash="Trash"`` moves the message there instead (``MOVE``, or
        ``COPY`` confirmed by ``COPYUID`` then ``\\Deleted`` + ``UID EXPUNGE``).
        """
        _reject_extra(kwargs, "delete")
        target_url, target = self._target(url)
        if target.mailbox is None or target.search is not None:
            raise InvalidInput(
                "delete takes a message URL (MAILBOX;UID=n) or a mailbox URL with mailbox=True",
                protocol="imap",
                url=target_url,
            )
        if target.uid is None:
            if not mailbox:
                raise InvalidInput(
                    "the URL names a mailbox; pass mailbox=True to delete the mailbox and "
                    "every message in it",
                    protocol="imap",
                    url=target_url,
                )
            self.delete_mailbox(target.mailbox, timeout=timeout)
            return
        uid = target.uid
        if trash is not None:
            self._mailbox_arg(trash)  # validate before anything is sent
        with self._op("delete", target_url, timeout) as conn:
            caps = conn.capabilities
            if trash is None and expunge and "UIDPLUS" not in caps and not expunge_all:
                raise UnsupportedOperation(
                    "the server lacks UIDPLUS, so only EXPUNGE of every \\Deleted message is "
                    "possible; pass expunge_all=True to accept that, or expunge=False",
                    protocol="imap",
                    url=target_url,
                )
            box = self._select_rw(conn, target.mailbox, target_url)
            self._check_uidvalidity(box, target, target_url)
            if not self._uids_exist(conn, [uid]):
                raise NotFoundError(f"no message with UID {uid}", protocol="imap", url=target_url)
            if trash is not None:
                self._move_uids(conn, [uid], trash)
                return
            conn.command("UID STORE", sequence_set(uid), b"+FLAGS.SILENT", b"(\\Deleted)")
            if expunge:
                self._expunge(conn, [uid], expunge_all)

    def _select_rw(self, conn: IMAPConnection, name: str, url: URL) -> Mailbox:
        box = self._select(conn, name, readonly=False)
        if box.readonly:  # pragma: no cover - _select(readonly=False) records what was asked
            raise PermissionDeniedError("mailbox is read-only", protocol="imap", url=url)
        return box

    def _uids_exist(self, conn: IMAPConnection, uids: list[int]) -> set[int]:
        found: set[int] = set()

        def on_fetch(resp: Response) -> bool:
            if resp.kind != "FETCH":
                return False
            with contextlib.suppress(MalformedResponse, ValueError):
                value = fetch_items(self._values(resp)).get("UID")
                if isinstance(value, bytes):
                    found.add(int(value))
            return True

        conn.command(
            "UID FETCH",
            sequence_set(uids),
            b"(UID)",
            on_untagged=on_fetch,
            max_untagged=len(uids) + conn.limits.max_untagged,
        )
        return found & set(uids)

    def _expunge(self, conn: IMAPConnection, uids: list[int], expunge_all: bool) -> None:
        if "UIDPLUS" in conn.capabilities:
            conn.command(
                "UID EXPUNGE", sequence_set(uids), max_untagged=len(uids) + conn.limits.max_untagged
            )
        elif expunge_all:
            conn.command("EXPUNGE", max_untagged=1_000_000)
        else:
            raise UnsupportedOperation(
                "the server lacks UIDPLUS; UID EXPUNGE of only these messages is impossible",
                protocol="imap",
            )

    def _move_uids(self, conn: IMAPConnection, uids: list[int], dest: str) -> dict[int, int] | None:
        """Move ``uids`` of the selected mailbox to ``dest``; the source is removed only after
        the server confirmed the copy."""
        uid_set = sequence_set(uids)
        dest_arg = self._mailbox_arg(dest)
        caps = conn.capabilities
        limit = len(uids) + conn.limits.max_untagged
        if "MOVE" in caps:
            result = conn.command("UID MOVE", uid_set, dest_arg, max_untagged=limit)
            return self._copyuid(result.code, result.code_data, result.untagged)
        if "UIDPLUS" not in caps:
            raise UnsupportedOperation(
                "the server has neither MOVE nor UIDPLUS: a move would need an EXPUNGE of "
                "every \\Deleted message; use copy() and delete them yourself",
                protocol="imap",
            )
        result = conn.command("UID COPY", uid_set, dest_arg, max_untagged=limit)
        mapping = self._copyuid(result.code, result.code_data, result.untagged)
        if mapping is None or not set(uids) <= set(mapping):
            raise ProtocolError(
                "the server did not confirm the copy (no COPYUID for every message); the "
                "originals were left untouched",
                protocol="imap",
            )
        conn.command("UID STORE", uid_set, b"+FLAGS.SILENT", b"(\\Deleted)", max_untagged=limit)
        conn.command("UID EXPUNGE", uid_set, max_untagged=limit)
        return mapping

    @staticmethod
    def _copyuid(
        code: str | None, data: bytes | None, untagged: list[Response]
    ) -> dict[int, int] | None:
        if code != "COPYUID":
            for resp in untagged:
                if resp.kind == "OK" and resp.code == "COPYUID":
                    code, data = resp.code, resp.code_data
                    break
        if code != "COPYUID" or not data:
            return None
        words = data.split()
        if len(words) != 3:
            return None
        try:
            source = parse_uid_set(words[1])
            dest = parse_uid_set(words[2])
        except MalformedResponse:
            return None
        if len(source) != len(dest):
            return None
        return dict(zip(source, dest, strict=True))

    # -- extras -----------------------------------------------------------------------------------

    def search(
        self,
        mailbox: str = "INBOX",
        criteria: str | Sequence[str] = "ALL",
        *,
        timeout: float | None = None,
    ) -> list[int]:
        """UIDs of the messages in ``mailbox`` matching ``criteria`` (RFC 3501 SEARCH syntax,
        checked token by token: ``UNSEEN``, ``SINCE 1-Jan-2026``, ``FROM "Bob"``...)."""
        search_args(criteria, utf8=self._utf8)  # validate before connecting
        with self._op("search", self.url, timeout) as conn:
            box = self._select(conn, mailbox, readonly=True)
            return self._search_uids(conn, criteria) if box.exists else []

    def copy(
        self, uids: int | Iterable[int], source: str, dest: str, *, timeout: float | None = None
    ) -> dict[int, int] | None:
        """``UID COPY`` messages; returns ``{source UID: new UID}`` (``None`` without UIDPLUS)."""
        uid_list = _uid_list(uids)
        uid_set = sequence_set(uid_list)
        self._mailbox_arg(source)  # validate both names before anything is sent
        self._mailbox_arg(dest)
        with self._op("copy", self.url, timeout) as conn:
            self._select(conn, source, readonly=True)
            result = conn.command(
                "UID COPY",
                uid_set,
                self._mailbox_arg(dest),
                max_untagged=len(uid_list) + conn.limits.max_untagged,
            )
            return self._copyuid(result.code, result.code_data, result.untagged)

    def move(
        self, uids: int | Iterable[int], source: str, dest: str, *, timeout: float | None = None
    ) -> dict[int, int] | None:
        """Move messages (``UID MOVE``; else ``UID COPY`` confirmed by ``COPYUID``, then
        ``\\Deleted`` + ``UID EXPUNGE`` of those UIDs). Returns ``{old UID: new UID}``."""
        uid_list = _uid_list(uids)
        self._mailbox_arg(source)  # validate both names before anything is sent
        self._mailbox_arg(dest)
        with self._op("move", self.url, timeout) as conn:
            self._select_rw(conn, source, self.url)
            return self._move_uids(conn, uid_list, dest)

    def set_flags(
        self,
        uids: int | Iterable[int],
        flags: Iterable[str] | str,
        mailbox: str = "INBOX",
        *,
        timeout: float | None = None,
    ) -> None:
        """Add flags (``\\Seen``, ``\\Flagged``, ``$Label``...) to messages."""
        self._store(uids, flags, mailbox, b"+FLAGS.SILENT", timeout)

    def clear_flags(
        self,
        uids: int | Iterable[int],
        flags: Iterable[str] | str,
        mailbox: str = "INBOX",
        *,
        timeout: float | None = None,
    ) -> None:
        """Remove flags from messages."""
        self._store(uids, flags, mailbox, b"-FLAGS.SILENT", timeout)

    def _store(
        self,
        uids: int | Iterable[int],
        flags: Iterable[str] | str,
        mailbox: str,
        action: bytes,
        timeout: float | None,
    ) -> None:
        uid_list = _uid_list(uids)
        uid_set = sequence_set(uid_list)
        flag_arg = flag_list(flags)
        with self._op("store", self.url, timeout) as conn:
            self._select_rw(conn, mailbox, self.url)
            conn.command(
                "UID STORE",
                uid_set,
                action,
                flag_arg,
                max_untagged=len(uid_list) + conn.limits.max_untagged,
            )

    def create_mailbox(self, name: str, *, timeout: float | None = None) -> None:
        """``CREATE`` a mailbox (the name is encoded to modified UTF-7 unless UTF8=ACCEPT)."""
        self._mailbox_arg(name)  # validate before connecting
        with self._op("create", self.url, timeout) as conn:
            conn.command("CREATE", self._mailbox_arg(name))

    def rename_mailbox(self, old: str, new: str, *, timeout: float | None = None) -> None:
        """``RENAME`` a mailbox."""
        self._mailbox_arg(old)
        self._mailbox_arg(new)
        with self._op("rename", self.url, timeout) as conn:
            conn.command("RENAME", self._mailbox_arg(old), self._mailbox_arg(new))

    def delete_mailbox(self, name: str, *, timeout: float | None = None) -> None:
        """``DELETE`` a mailbox (and, on most servers, every message in it)."""
        self._mailbox_arg(name)
        with self._op("delete", self.url, timeout) as conn:
            if conn.state == "SELECTED" and "UNSELECT" in conn.capabilities:
                conn.command("UNSELECT", check=False)
                conn.state = "AUTH"
            conn.command("DELETE", self._mailbox_arg(name))

    def status(self, mailbox: str = "INBOX", *, timeout: float | None = None) -> dict[str, int]:
        """``STATUS``: ``{"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}``."""
        self._mailbox_arg(mailbox)
        with self._op("status", self.url, timeout) as conn:
            result = conn.command("STATUS", self._mailbox_arg(mailbox), _STATUS_ITEMS)
        for resp in result.untagged:
            if resp.kind == "STATUS":
                try:
                    return parse_status(self._values(resp))[1]
                except MalformedResponse as exc:
                    raise ProtocolError(
                        f"malformed STATUS response: {exc}", protocol="imap"
                    ) from None
        raise ProtocolError("the server sent no STATUS response", protocol="imap")

    def wait(self, mailbox: str = "INBOX", timeout: float = 60.0) -> list[int]:
        """Wait until new mail arrives in ``mailbox`` or ``timeout`` seconds pass.

        Uses ``IDLE`` (re-issued every 29 minutes; ``DONE`` is always sent), or polls with
        ``NOOP`` when the server lacks it. Returns the UIDs of the new messages (empty when
        the time ran out).
        """
        if timeout <= 0:
            raise InvalidInput("timeout must be positive")
        with self._op("wait", self.url, None, deadline=False) as conn:
            box = self._select(conn, mailbox, readonly=True)
            count = box.exists
            arrived = False
            end = time.monotonic() + timeout

            def done(resp: Response) -> bool:
                nonlocal count, arrived
                if resp.kind == "EXPUNGE":
                    count = max(0, count - 1)
                elif resp.kind == "EXISTS" and resp.number is not None:
                    if resp.number > count:
                        arrived = True
                    count = resp.number
                return arrived

            while not arrived:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                if "IDLE" in conn.capabilities:
                    conn.idle(min(remaining, _MAX_IDLE), done, conn.limits.max_untagged)
                else:
                    time.sleep(min(remaining, 5.0))
                    for resp in conn.command("NOOP").untagged:
                        done(resp)
            if not arrived:
                return []
            start = box.uidnext or 1
            uids = self._search_uids(conn, f"UID {start}:*")
            return [uid for uid in uids if uid >= start]


def _set_aside(directory: Path, uidvalidity: int) -> None:
    """Move the ``<UID>.eml`` files of an old UIDVALIDITY epoch into ``uidvalidity-<n>/``."""
    stale = bulk_existing(directory)
    if not stale:
        return
    aside = directory / f"uidvalidity-{uidvalidity}"
    aside.mkdir(exist_ok=True)
    for uid in sorted(stale):
        os.replace(directory / f"{uid}.eml", aside / f"{uid}.eml")


def _uid_list(uids: int | Iterable[int]) -> list[int]:
    if isinstance(uids, bool):
        raise InvalidInput("UIDs are positive integers")
    if isinstance(uids, int):
        uids = [uids]
    result = sorted(set(uids))
    if not result:
        raise InvalidInput("no UIDs given")
    for uid in result:
        if not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0:
            raise InvalidInput("UIDs are positive integers")
    return result
