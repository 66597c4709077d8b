"""Bulk download of a POP3 mailbox into a directory, optionally "download then delete".

Every message is stored as ``<UIDL made safe>.eml`` (:func:`~.pop3parse.eml_name`), each
one atomically (``.part``, fsync, rename, fsync of the directory). The rules that keep mail
from being lost:

* ``DELE n`` is sent only after message *n*'s file **and** the directory were fsynced;
  a message whose file could not be written, and every message after it, is not deleted.
* ``QUIT`` (which makes the server delete what was marked) is sent only after every
  ``DELE`` was answered, and never while a response is half-read: after a failure the
  outstanding responses are read and discarded first (if they are small), otherwise the
  connection is dropped without ``QUIT`` and the server forgets the deletions.
* Messages whose file already exists are not downloaded again (``skip_existing``, the
  default): POP3 unique ids make the download at-least-once with de-duplication, so a run
  interrupted anywhere is simply run again. Their ``DELE`` (with ``delete_after``) follows
  an fsync of the directory. Without ``UIDL`` nothing can be de-duplicated: messages are
  stored under their numbers and an existing file is never overwritten (``3-2.eml``...).

When the server offers ``PIPELINING`` (RFC 2449), up to ``pipeline_window`` commands are
sent ahead, so the download is not one round trip per message.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..transfer import ProgressCallback, TransferResult, fsync_directory
from ..urls import URL
from .pop3conn import ErrReply, POP3Connection
from .pop3download import POP3Download, fsync_directory_strict
from .pop3parse import eml_name
from .pop3urls import message_url

__all__ = ["HEADERS_SUFFIX", "POP3Bulk"]

#: Headers-only downloads end in this instead of ``.eml``, so a later full download never
#: mistakes one for a complete message (and never deletes a message it has only headers of).
HEADERS_SUFFIX = ".headers"
#: After a failure, outstanding pipelined responses up to this size are read and discarded
#: so deletions can still be committed; beyond it the connection is dropped.
_DRAIN_LIMIT = 16 * 1024 * 1024


@dataclass
class _Job:
    number: int
    uidl: str | None
    size: int
    path: Path
    skip: bool
    result: TransferResult | None = None
    details: dict[str, Any] = field(default_factory=dict)


def stored_name(number: int, uidl: str | None, headers_only: bool) -> str:
    """The file name of a message in a directory (``.headers`` for headers only)."""
    name = eml_name(number, uidl)
    return name[: -len(".eml")] + HEADERS_SUFFIX if headers_only else name


def _free_path(directory: Path, number: int, headers_only: bool) -> Path:
    """``<n>.eml``, or ``<n>-2.eml``... whichever does not exist (no UIDL: never overwrite)."""
    base = stored_name(number, None, headers_only)
    stem, dot, suffix = base.partition(".")
    path = directory / base
    counter = 2
    while path.exists() or path.with_name(path.name + ".part").exists():
        path = directory / f"{stem}-{counter}{dot}{suffix}"
        counter += 1
    return path


class POP3Bulk(POP3Download):
    """The bulk download (``fetch`` of a mailbox URL into a directory)."""

    def _fetch_all(
        self,
        target: URL,
        directory: Path,
        *,
        headers_only: bool,
        delete_after: bool,
        skip_existing: bool,
        progress: ProgressCallback | None,
        timeout: float | None,
        max_size: int,
    ) -> list[TransferResult]:
        started = time.perf_counter()
        committed = False
        with self._op("fetch", target, timeout) as pop:
            sizes = self._scan(pop)
            uidls = self._uidl_map(pop)
            # Files written by an earlier run are made durable before they count as "stored"
            # (and, with delete_after, before any of them is deleted on the server).
            if delete_after:
                fsync_directory_strict(directory)
            else:
                fsync_directory(directory)
            jobs = self._plan(directory, sizes, uidls, headers_only, skip_existing)
            caps = self._capabilities(pop)
            window = max(1, self.pipeline_window) if _pipelining(caps) else 1
            marked: list[_Job] = []
            sent: deque[tuple[str, _Job]] = deque()
            try:
                self._run(
                    pop, jobs, marked, sent, window, headers_only, delete_after, progress, max_size
                )
            except BaseException:
                self._after_failure(pop, marked, sent)
                raise
            if delete_after and marked:
                self._commit()
                committed = True
        if committed:
            for job in marked:
                job.details["deleted"] = True
        elapsed = time.perf_counter() - started
        results = []
        for job in jobs:
            result = job.result or TransferResult(
                url=str(message_url(self.url, job.number)),
                bytes=0,
                size=_file_size(job.path),
                path=job.path,
            )
            result.details = job.details
            if result.elapsed == 0.0:
                result.elapsed = elapsed
            results.append(result)
        return results

    def _plan(
        self,
        directory: Path,
        sizes: dict[int, int],
        uidls: dict[int, str] | None,
        headers_only: bool,
        skip_existing: bool,
    ) -> list[_Job]:
        jobs = []
        for number in sorted(sizes):
            uidl = None if uidls is None else uidls.get(number)
            if uidl is None:
                path = _free_path(directory, number, headers_only)
                skip = False
            else:
                path = directory / stored_name(number, uidl, headers_only)
                skip = skip_existing and path.is_file()
            job = _Job(number, uidl, sizes[number], path, skip)
            job.details = {
                "number": number,
                "uidl": uidl,
                "list_size": sizes[number],
                "skipped": skip,
                "deleted": False,
            }
            jobs.append(job)
        return jobs

    def _run(
        self,
        pop: POP3Connection,
        jobs: list[_Job],
        marked: list[_Job],
        sent: deque[tuple[str, _Job]],
        window: int,
        headers_only: bool,
        delete_after: bool,
        progress: ProgressCallback | None,
        max_size: int,
    ) -> None:
        """Send ``RETR``/``TOP`` (and ``DELE``) up to ``window`` ahead; handle the answers."""
        outgoing: deque[tuple[str, _Job]] = deque()
        for job in jobs:
            if not job.skip:
                outgoing.append(("TOP" if headers_only else "RETR", job))
            elif delete_after:
                outgoing.append(("DELE", job))
        grand_total = sum(job.size for job in jobs if not job.skip)
        done = 0
        while outgoing or sent:
            batch: list[tuple[str, _Job]] = []
            while outgoing and len(sent) + len(batch) < window:
                batch.append(outgoing.popleft())
            if batch:
                pop.send_commands([_command(kind, job.number) for kind, job in batch])
                sent.extend(batch)
            kind, job = sent[0]
            if kind == "DELE":
                sent.popleft()
                pop.read_response()
                self._forget(job.number)
                marked.append(job)
                continue
            sink = self._file_sink(job.path, _offset_progress(progress, done, grand_total))
            sink.total = job.size
            started = time.perf_counter()
            try:
                total = self._save(
                    pop,
                    job.number,
                    sink,
                    headers_only=headers_only,
                    size=job.size,
                    max_size=max_size,
                    send=False,
                )
            finally:
                # The response was read (or the connection dropped): no longer outstanding.
                sent.popleft()
            done += job.size
            job.result = TransferResult(
                url=str(message_url(self.url, job.number)),
                bytes=total,
                size=total,
                path=job.path,
                elapsed=time.perf_counter() - started,
            )
            if delete_after:
                # The file is fsynced and renamed; once the directory is too, the message
                # may go.
                fsync_directory_strict(job.path.parent)
                outgoing.appendleft(("DELE", job))

    def _forget(self, number: int) -> None:
        if self._sizes is not None:
            self._sizes.pop(number, None)
        if self._uidls is not None:
            self._uidls.pop(number, None)

    def _after_failure(
        self, pop: POP3Connection, marked: list[_Job], sent: deque[tuple[str, _Job]]
    ) -> None:
        """After a failure: commit the deletions of stored messages if that can be done
        cleanly (every outstanding response read first), else drop the connection."""
        if self._pop is not pop:
            return  # already dropped: the server forgets every DELE of this session
        outstanding = list(sent)
        if not marked and not outstanding:
            return  # nothing to commit and nothing pending: keep the session
        try:
            if sum(job.size for kind, job in outstanding if kind != "DELE") > _DRAIN_LIMIT:
                raise OverflowError("too much to drain")
            for kind, job in outstanding:
                if kind == "DELE":
                    pop.read_response()
                    marked.append(job)
                else:
                    with contextlib.suppress(ErrReply):
                        pop.read_response()
                        limit = self._limit(job.size, self.max_message_size)
                        pop.read_body(_discard, max_total=limit, deadline=pop.deadline(limit))
        except Exception:  # whatever it was, the session state is no longer known
            self._drop()
            return
        if marked:
            try:
                self._commit()
            except Exception:
                self._drop()
                return
            for job in marked:
                job.details["deleted"] = True


def _offset_progress(
    progress: ProgressCallback | None, base: int, grand_total: int
) -> ProgressCallback | None:
    """Per-message progress -> progress over the whole download."""
    if progress is None:
        return None

    def report(position: int, _total: int | None) -> None:
        progress(base + position, grand_total)

    return report


def _command(kind: str, number: int) -> str:
    return f"TOP {number} 0" if kind == "TOP" else f"{kind} {number}"


def _discard(_chunk: bytearray) -> None:
    """Throw away the data of a response that is no longer wanted."""


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _pipelining(caps: dict[str, list[str]] | None) -> bool:
    """RFC 2449 ``PIPELINING`` (Twisted's POP3 server spells it ``PIPELINE``)."""
    return caps is not None and ("PIPELINING" in caps or "PIPELINE" in caps)
