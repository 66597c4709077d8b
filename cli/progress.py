"""Progress bars for ``fetch`` and ``send``: bytes, rate and ETA on stderr (messages for bulk mail).

A bar is shown only when stderr is a terminal and neither ``-q``, ``--json`` nor ``-v``
was given (a protocol trace and a bar would garble each other), and not when the data
itself goes to the same terminal (``fetch -o -`` without a pipe). Otherwise the callback
is ``None`` and a transfer costs nothing extra.

The library calls the callback once per chunk; it only stores the numbers and passes
them to the bar at most :data:`UPDATES_PER_SECOND` times a second. ``rich`` (installed
with Typer) is imported only when a bar is really shown, so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["UPDATES_PER_SECOND", "BarProgress", "progress_bar", "wants_progress"]

UPDATES_PER_SECOND = 10


def wants_progress(
    *, quiet: bool, as_json: bool, verbose: int, data_to_stdout: bool = False
) -> bool:
    """Whether a progress bar should be drawn on stderr."""
    if quiet or as_json or verbose:
        return False
    if not _isatty(sys.stderr):
        return False
    return not (data_to_stdout and _isatty(sys.stdout))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class BarProgress:
    """A rich progress bar fed by a throttled ``progress(done, total)`` callback.

    ``count_messages=True`` counts the calls as messages (the IMAP bulk download calls
    once per stored message) and shows that count beside the bytes.
    """

    def __init__(self, label: str, *, count_messages: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns: list[ProgressColumn | str] = [TextColumn("{task.description}")]
        if count_messages:
            columns.append(TextColumn("{task.fields[messages]} messages"))
        columns += [
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        ]
        self._bar = Progress(
            *columns,
            console=Console(stderr=True),
            transient=True,
            refresh_per_second=UPDATES_PER_SECOND,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task(label, total=None, messages=0)
        self._count = count_messages
        self._messages = 0
        self._done = 0
        self._total: int | None = None
        self._next = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        """The library's progress callback: cheap, and throttled."""
        self._done = done
        self._total = total
        if self._count:
            self._messages += 1
        now = time.monotonic()
        if now >= self._next:
            self._next = now + 1.0 / UPDATES_PER_SECOND
            self._push()

    def _push(self) -> None:
        self._bar.update(
            self._task, completed=self._done, total=self._total, messages=self._messages
        )

    def start(self) -> None:
        """Draw the bar."""
        self._bar.start()

    def stop(self) -> None:
        """Show the final numbers, then remove the bar."""
        self._push()
        self._bar.stop()


@contextmanager
def progress_bar(
    label: str, *, enabled: bool, count_messages: bool = False
) -> Iterator[BarProgress | None]:
    """``with progress_bar(...) as callback:`` — ``callback`` is ``None`` when disabled."""
    if not enabled:
        yield None
        return
    bar = BarProgress(label, count_messages=count_messages)
    bar.start()
    try:
        yield bar
    finally:
        bar.stop()
