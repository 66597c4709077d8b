"""Deadlines and minimum progress for what a server sends (slowloris servers, HOS-08).

A per-``recv`` socket timeout does not bound a server that sends one byte just before each
timeout expires: with a 1 s timeout, a greeting dribbled at one byte per 0.25 s holds a
standard-library client for minutes. protoclients bounds every read by one of two rules:

* **Deadline** — for greetings, replies, response lines and HTTP status lines and headers:
  the whole reply must have arrived by a fixed time (normally the operation's ``timeout``
  after it began). A dribbling server is cut off at ``timeout`` + one read.
* **Minimum progress** — for long data streams (downloads, message bodies, literals): a
  deadline on a whole transfer would fail a large file on a slow link, so instead every
  window of ``timeout`` seconds must bring at least :data:`MIN_PROGRESS_BYTES` bytes (or the
  end of the stream). A silent server is cut off after ``timeout`` (the per-read timeout),
  a crawling one (fewer than 1 KiB per ``timeout`` seconds: 34 bytes/s with the default
  30 s) about one ``timeout`` after its stream began to crawl.

:class:`ProgressWatch` is the second rule for code that loops over ``recv``;
:class:`DeadlineIO` is a socket's raw reader (what ``socket.makefile`` builds on) applying
either rule to every ``recv``, for code that reads through a buffered file (``imaplib``,
``http.client``). Both raise :class:`TimeoutError`, which every error boundary turns into
:class:`~protoclients.errors.OperationTimeoutError`.
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any

__all__ = ["MIN_PROGRESS_BYTES", "DeadlineIO", "ProgressWatch", "open_reader"]

#: Least number of bytes a data stream must deliver in each window of ``timeout`` seconds.
MIN_PROGRESS_BYTES = 1024


class ProgressWatch:
    """The minimum-progress rule: at least ``min_bytes`` bytes every ``window`` seconds.

    Call :meth:`add` after every read with the number of bytes it returned; it raises
    :class:`TimeoutError` when a window ended with fewer bytes than required.
    """

    __slots__ = ("count", "min_bytes", "window", "window_end")

    def __init__(self, window: float, min_bytes: int = MIN_PROGRESS_BYTES) -> None:
        self.window = window
        self.min_bytes = min_bytes
        self.window_end = 0.0
        self.count = 0
        self.reset()

    def reset(self) -> None:
        """Start a new window now (e.g. when a new response begins)."""
        self.window_end = time.monotonic() + self.window
        self.count = 0

    def add(self, received: int) -> None:
        """Account for ``received`` bytes; raise :class:`TimeoutError` if too slow."""
        self.count += received
        now = time.monotonic()
        if now < self.window_end:
            return
        if self.count < self.min_bytes:
            raise TimeoutError(
                f"the server sent only {self.count} bytes in {self.window:g} s "
                f"(at least {self.min_bytes} required): too slow"
            )
        self.window_end = now + self.window
        self.count = 0


class DeadlineIO(socket.SocketIO):
    """A socket's raw binary reader whose every ``recv`` obeys a deadline or a watch.

    Attributes:
        per_recv: the longest wait for any one ``recv`` (the socket timeout), or ``None``.
        deadline: a :func:`time.monotonic` time by which reading must be over, or ``None``.
        watch: a :class:`ProgressWatch` fed with every read, or ``None``.

    A socket switched to non-blocking mode (a ``peek`` for pending data) is left alone.
    """

    def __init__(self, sock: socket.socket, per_recv: float | None) -> None:
        super().__init__(sock, "rb")
        self.owner = sock
        self.per_recv = per_recv
        self.deadline: float | None = None
        self.watch: ProgressWatch | None = None

    def readinto(self, b: Any) -> int | None:
        sock = self.owner
        if sock.gettimeout() != 0.0:
            timeout = self.per_recv
            if self.deadline is not None:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the server did not finish its response in time")
                timeout = remaining if timeout is None else min(timeout, remaining)
            sock.settimeout(timeout)
        received = super().readinto(b)
        if received and self.watch is not None:
            self.watch.add(received)
        return received


def open_reader(
    sock: socket.socket, per_recv: float | None, buffering: int = io.DEFAULT_BUFFER_SIZE
) -> tuple[io.BufferedReader, DeadlineIO]:
    """A buffered reader on ``sock`` (like ``sock.makefile("rb")``) and its :class:`DeadlineIO`.

    As with ``makefile``, the socket is only really closed once the reader is closed too.
    """
    raw = DeadlineIO(sock, per_recv)
    # What socket.makefile does: count the reader, so sock.close() waits for it.
    sock._io_refs += 1  # type: ignore[attr-defined]
    return io.BufferedReader(raw, buffering), raw
