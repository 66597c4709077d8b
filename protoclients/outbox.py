"""An SMTP outbox: a directory queue that never reports a message sent without the server's ``250``.

:class:`Outbox` keeps each message as two files in its directory: ``<id>.eml`` (the exact
bytes that will be transmitted) and ``<id>.json`` (the envelope and the delivery state).
Both are written atomically (temporary file, ``fsync``, ``os.replace``, directory
``fsync``), the ``.eml`` first, so a crash never leaves a half-written message queued.

:meth:`Outbox.flush` sends the messages that are due over one SMTP connection:

* the server's final ``250`` -> state ``"sent"``: the files are removed, only then;
* the connection lost after the end of the message, before the reply
  (:class:`~protoclients.protocols.smtp.DeliveryStatusUnknown`) -> ``"unknown"``: the
  message stays queued and is sent again at the next flush. Delivery is therefore
  **at-least-once**: the recipients may get it twice. The same holds for a crash between
  the ``250`` and the removal of the files;
* a temporary failure (``4xx``, ``421``, a lost connection, a timeout) -> ``"retry"``,
  due again after a capped exponential backoff (``next_attempt``);
* a permanent refusal (``5xx``) -> ``"failed"``: both files move to ``failed/`` (the
  dead-letter folder) with the server's text in ``last_error``;
* some recipients accepted, others refused: the accepted ones are recorded
  (``delivered``) and never sent the message again; temporarily refused ones are retried;
  when only permanently refused ones remain the message moves to ``failed/`` as
  ``"partial"``.

After a failure that concerns the connection rather than the message (``421``, lost
connection, timeout, unknown status) the flush stops: the remaining messages stay queued,
untouched. Authentication and TLS errors are raised, with the queue unchanged.

An exclusive lock (``fcntl.flock`` on ``<directory>/.lock``) lets only one flush run at a
time; a second one raises :class:`~protoclients.errors.TransferInProgress`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import (
    AuthenticationError,
    DiskFullError,
    InvalidInput,
    ProtoClientError,
    ServerError,
    TLSError,
    TransferInProgress,
    UnsupportedOperation,
)
from .transfer import fsync_directory

if TYPE_CHECKING:
    from .protocols.smtp import SMTPClient

__all__ = ["Outbox", "OutboxEntry", "OutboxResult"]

_CHUNK = 256 * 1024
_ID = re.compile(r"^[0-9]{20}-[0-9a-f]{8}$")


@dataclass
class OutboxEntry:
    """One queued message (what :meth:`Outbox.pending` and :meth:`Outbox.failed` list).

    Attributes:
        id: the queue id (sortable: oldest first).
        path: the ``.eml`` file (the exact bytes sent after ``DATA``, before dot-stuffing).
        mail_from: the envelope sender (``""`` = null sender).
        recipients: the recipients still to deliver to.
        delivered: recipients that accepted the message in an earlier attempt.
        refused: recipients refused permanently -> ``[code, text]``.
        state: ``"queued"``, ``"retry"``, ``"unknown"``, ``"failed"`` or ``"partial"``.
        attempts: how many times sending was tried.
        next_attempt: when it is due (seconds since the epoch).
        last_error: the last failure (with the server's text when there was one).
        created: when it was added (seconds since the epoch).
    """

    id: str
    path: Path
    mail_from: str
    recipients: list[str]
    delivered: list[str] = field(default_factory=list)
    refused: dict[str, list[Any]] = field(default_factory=dict)
    state: str = "queued"
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str | None = None
    created: float = 0.0

    def _record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mail_from": self.mail_from,
            "recipients": self.recipients,
            "delivered": self.delivered,
            "refused": self.refused,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt": self.next_attempt,
            "last_error": self.last_error,
            "created": self.created,
        }


@dataclass
class OutboxResult:
    """What :meth:`Outbox.flush` did with one message.

    Attributes:
        id: the queue id.
        state: ``"sent"`` (server's ``250``; files removed), ``"unknown"`` (kept, sent
            again next flush: possible duplicate), ``"retry"`` (kept until
            ``next_attempt``), ``"failed"`` or ``"partial"`` (moved to ``failed/``).
        attempts: attempts so far, this one included.
        next_attempt: when it is due again (``None`` unless still queued).
        error: the failure, with the server's text when there was one.
        accepted: recipients that accepted the message in this attempt.
        refused: recipients refused in this attempt -> ``(code, text)``.
        reply: the server's final reply when the message was accepted.
    """

    id: str
    state: str
    attempts: int
    next_attempt: float | None = None
    error: str | None = None
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    reply: str | None = None


def _local_error(exc: OSError, path: Path) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"no space left writing the outbox file {path}")
    return exc


def _write_atomic(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``path`` through a temporary file, fsync, ``os.replace`` (no directory fsync)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _local_error(exc, path) from exc
        raise


def _file_chunks(source: Any) -> Iterator[bytes]:
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(os.fspath(source), "rb") as handle:
                yield from iter(lambda: handle.read(_CHUNK), b"")
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {os.fspath(source)!r}") from None
        return
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            return
        yield bytes(chunk)


class Outbox:
    """A directory queue of outgoing messages (see the module docstring).

    Args:
        directory: where the queue lives (created if missing); ``failed/`` inside it is
            the dead-letter folder.
        backoff: the delay before the first retry after a temporary failure, in seconds;
            doubled at each further attempt, up to ``max_backoff``.
        max_backoff: the longest delay between two attempts, in seconds.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        backoff: float = 60.0,
        max_backoff: float = 3600.0,
    ) -> None:
        self.directory = Path(directory)
        self.failed_directory = self.directory / "failed"
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.directory.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Outbox({str(self.directory)!r})"

    # -- queue -----------------------------------------------------------------------------

    def add(
        self, message: Any, *, from_: str | None = None, to: str | Iterable[str] | None = None
    ) -> str:
        """Queue ``message`` (an ``EmailMessage``/``Message``, bytes, a path or a binary file
        object, as :meth:`SMTPClient.send <protoclients.protocols.smtp.SMTPClient.send>`
        takes) and return its id.

        The envelope comes from ``from_`` / ``to`` or else from the headers (``Bcc``
        included, ``Bcc`` headers never transmitted); it is checked now, so a message that
        ``send`` would refuse raises :class:`~protoclients.errors.InvalidInput` here and is
        not queued. Nothing touches the network.
        """
        from email.message import Message

        from .protocols.smtpdata import unstuff
        from .protocols.smtpmessage import prepare_message

        to_list = [to] if isinstance(to, str) else (list(to) if to is not None else None)
        ident = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        eml = self.directory / f"{ident}.eml"
        if isinstance(message, Message):
            prepared = prepare_message(message, mail_from=from_, to=to_list)
            assert prepared.payload is not None
            _write_atomic(eml, [unstuff(prepared.payload)])
        else:
            data = message if isinstance(message, (bytes, bytearray, memoryview)) else None
            chunks = [bytes(data)] if data is not None else _file_chunks(message)
            _write_atomic(eml, chunks)
            try:
                prepared = prepare_message(eml, mail_from=from_, to=to_list)
                prepared.close()
            except BaseException:
                eml.unlink()
                raise
        entry = OutboxEntry(
            id=ident,
            path=eml,
            mail_from=prepared.mail_from,
            recipients=list(prepared.recipients),
            created=time.time(),
        )
        try:
            self._save(entry, self.directory)
        except BaseException:
            with contextlib.suppress(OSError):
                eml.unlink()
            raise
        fsync_directory(self.directory)
        return ident

    def pending(self) -> list[OutboxEntry]:
        """The queued messages, oldest first (due or not)."""
        return self._entries(self.directory)

    def failed(self) -> list[OutboxEntry]:
        """The messages in the dead-letter folder ``failed/``, oldest first."""
        return self._entries(self.failed_directory)

    def _entries(self, directory: Path) -> list[OutboxEntry]:
        entries = []
        for sidecar in sorted(directory.glob("*.json")):
            entry = self._load(sidecar)
            if entry is not None and entry.path.exists():
                entries.append(entry)
        return entries

    def _load(self, sidecar: Path) -> OutboxEntry | None:
        if not _ID.match(sidecar.stem):
            return None
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return OutboxEntry(
            id=sidecar.stem,
            path=sidecar.with_suffix(".eml"),
            mail_from=str(record["mail_from"]),
            recipients=[str(r) for r in record["recipients"]],
            delivered=[str(r) for r in record.get("delivered", [])],
            refused=dict(record.get("refused", {})),
            state=str(record.get("state", "queued")),
            attempts=int(record.get("attempts", 0)),
            next_attempt=float(record.get("next_attempt", 0.0)),
            last_error=record.get("last_error"),
            created=float(record.get("created", 0.0)),
        )

    def _save(self, entry: OutboxEntry, directory: Path) -> None:
        data = json.dumps(entry._record(), indent=1, ensure_ascii=False).encode("utf-8")
        _write_atomic(directory / f"{entry.id}.json", [data])

    # -- flush -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX: no lock
                yield
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise TransferInProgress(
                    f"another flush of the outbox {self.directory} is running"
                ) from None
            yield
        finally:
            os.close(fd)  # releases the lock

    def flush(
        self, smtp_url: str, *, now: float | None = None, **client_options: Any
    ) -> list[OutboxResult]:
        """Send every message due at ``now`` (default: the current time) over one connection.

        ``client_options`` go to :func:`protoclients.connect` (``password``, ``timeout``,
        ``tls``, ``ca_file``...). Returns one :class:`OutboxResult` per message tried, in
        queue order; messages after a connection failure are not tried (they stay queued).
        Raises :class:`~protoclients.errors.AuthenticationError` or
        :class:`~protoclients.errors.TLSError` (queue unchanged) and
        :class:`~protoclients.errors.TransferInProgress` when another flush runs.
        """
        from .facade import connect

        when = time.time() if now is None else now
        with self._locked():
            self._recover()
            due = [entry for entry in self.pending() if entry.next_attempt <= when]
            if not due:
                return []
            results: list[OutboxResult] = []
            client: SMTPClient
            with connect(smtp_url, **client_options) as client:  # type: ignore[assignment]
                if client.protocol != "smtp":
                    raise InvalidInput(
                        f"an outbox is flushed to an smtp:// or smtps:// URL, not {smtp_url!r}"
                    )
                for entry in due:
                    result, stop = self._attempt(client, entry, when)
                    results.append(result)
                    if stop:
                        break
            return results

    def _recover(self) -> None:
        """Finish a move to ``failed/`` interrupted by a crash (``.eml`` moved, ``.json`` not)."""
        for sidecar in self.directory.glob("*.json"):
            if sidecar.with_suffix(".eml").exists():
                continue
            moved = self.failed_directory / f"{sidecar.stem}.eml"
            entry = self._load(sidecar)
            if entry is None or not moved.exists():
                continue
            entry.path = moved
            entry.state = "failed" if not entry.delivered else "partial"
            self._save(entry, self.failed_directory)
            fsync_directory(self.failed_directory)
            sidecar.unlink()
            fsync_directory(self.directory)

    def _attempt(
        self, client: SMTPClient, entry: OutboxEntry, now: float
    ) -> tuple[OutboxResult, bool]:
        from .protocols.smtp import (
            DeliveryStatusUnknown,
            MessageRefused,
            RecipientsRefused,
            SenderRefused,
        )

        entry.attempts += 1
        try:
            sent = client.send(entry.path, mail_from=entry.mail_from, to=entry.recipients)
        except DeliveryStatusUnknown as exc:
            entry.state, entry.next_attempt, entry.last_error = "unknown", now, str(exc)
            self._save(entry, self.directory)
            fsync_directory(self.directory)
            return self._result(entry, "unknown", error=str(exc)), True
        except RecipientsRefused as exc:
            return self._after_recipients(entry, [], exc.refused, now, None), False
        except (AuthenticationError, TLSError):
            raise  # nothing can be sent this way: the queue is left as it was
        except (MessageRefused, SenderRefused) as exc:
            if exc.temporary:
                return self._retry(entry, now, str(exc)), exc.status == 421
            return self._fail(entry, "failed", str(exc)), False
        except ServerError as exc:
            if not exc.temporary:
                raise  # the session (greeting...) was refused, not this message
            return self._retry(entry, now, str(exc)), True
        except (InvalidInput, UnsupportedOperation) as exc:
            return self._fail(entry, "failed", str(exc)), False
        except ProtoClientError as exc:  # lost connection, timeout, protocol error
            return self._retry(entry, now, str(exc)), True
        return self._after_recipients(
            entry, sent.accepted, sent.refused, now, str(sent.details["reply"])
        ), False

    def _after_recipients(
        self,
        entry: OutboxEntry,
        accepted: list[str],
        refused: dict[str, tuple[int, str]],
        now: float,
        reply: str | None,
    ) -> OutboxResult:
        entry.delivered.extend(a for a in accepted if a not in entry.delivered)
        temporary = [r for r, (code, _) in refused.items() if 400 <= code < 500]
        for recipient, (code, text) in refused.items():
            if recipient not in temporary:
                entry.refused[recipient] = [code, text]
        entry.recipients = temporary
        texts = "; ".join(f"{r}: {code} {text}" for r, (code, text) in refused.items())
        if temporary:
            result = self._retry(entry, now, f"recipients refused: {texts}")
        elif entry.refused:
            state = "partial" if entry.delivered else "failed"
            result = self._fail(entry, state, f"recipients refused: {texts}")
        else:
            self._remove(entry)
            result = self._result(entry, "sent")
        result.accepted, result.refused, result.reply = list(accepted), dict(refused), reply
        return result

    def _retry(self, entry: OutboxEntry, now: float, error: str) -> OutboxResult:
        delay = min(self.max_backoff, self.backoff * 2 ** max(entry.attempts - 1, 0))
        entry.state, entry.next_attempt, entry.last_error = "retry", now + delay, error
        self._save(entry, self.directory)
        fsync_directory(self.directory)
        return self._result(entry, "retry", error=error)

    def _fail(self, entry: OutboxEntry, state: str, error: str) -> OutboxResult:
        self.failed_directory.mkdir(exist_ok=True)
        sidecar = self.directory / f"{entry.id}.json"
        moved = self.failed_directory / entry.path.name
        os.replace(entry.path, moved)
        entry.path, entry.state, entry.last_error = moved, state, error
        self._save(entry, self.failed_directory)
        fsync_directory(self.failed_directory)
        sidecar.unlink()
        fsync_directory(self.directory)
        result = self._result(entry, state, error=error)
        result.next_attempt = None
        return result

    def _remove(self, entry: OutboxEntry) -> None:
        # The sidecar first: once it is gone the message is no longer queued.
        (self.directory / f"{entry.id}.json").unlink()
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()
        fsync_directory(self.directory)

    @staticmethod
    def _result(entry: OutboxEntry, state: str, *, error: str | None = None) -> OutboxResult:
        queued = state in {"retry", "unknown"}
        return OutboxResult(
            id=entry.id,
            state=state,
            attempts=entry.attempts,
            next_attempt=entry.next_attempt if queued else None,
            error=error,
        )
