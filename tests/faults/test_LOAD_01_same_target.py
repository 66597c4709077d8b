"""LOAD-01: 8 concurrent downloads (threads, then processes) to the same target path.

Every download either completes or fails with :class:`TransferInProgress` (the per-target
lock on ``<name>.part``); afterwards the target is exactly one complete copy (SHA-256), no
``.part`` is left, and the target was never observed truncated while the others ran. A
download that opened the ``.part`` just before a finished one renamed it must not write into
the finished file (the lock is re-checked against the path after it is taken).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures import LocalFTPServer, LocalHTTPServer, LocalMailServers

import protoclients

# Import the protocol modules before the worker threads start: CPython 3.11 can raise
# "SystemError: AST constructor recursion depth mismatch" when two threads compile modules
# at once (gh-106905), which a stale or missing .pyc makes happen on first use.
import protoclients.protocols.ftp
import protoclients.protocols.http
import protoclients.protocols.imap
import protoclients.protocols.pop3
from protoclients.errors import TransferInProgress

pytestmark = pytest.mark.timeout(120)

WORKERS = 8
ROUNDS = 2
SIZE = 2 * 1024 * 1024


def _payload(seed: int) -> bytes:
    return hashlib.sha256(b"%d" % seed).digest() * (SIZE // 32)


def _watch_target(target: Path, size: int, stop: threading.Event, seen: list[int]) -> None:
    """Record every size the final name shows while downloads run (it must only be full)."""
    while not stop.is_set():
        with contextlib.suppress(FileNotFoundError):
            seen.append(target.stat().st_size)
        time.sleep(0.001)


def _threads(fetch: Callable[[], Any], target: Path, size: int) -> list[str]:
    barrier = threading.Barrier(WORKERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait(10)
        try:
            fetch()
            outcome = "ok"
        except TransferInProgress:
            outcome = "in-progress"
        except Exception as exc:  # recorded, then asserted against
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(outcome)

    stop = threading.Event()
    seen: list[int] = []
    watcher = threading.Thread(target=_watch_target, args=(target, size, stop, seen))
    watcher.start()
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stop.set()
    watcher.join(5)
    assert set(seen) <= {size}, f"the final file was seen with sizes {sorted(set(seen))}"
    return outcomes


def _check(target: Path, payload: bytes, outcomes: list[str]) -> None:
    assert len(outcomes) == WORKERS
    assert set(outcomes) <= {"ok", "in-progress"}, outcomes
    assert "ok" in outcomes
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(payload).digest()
    leftovers = [p.name for p in target.parent.iterdir() if p.name != target.name]
    assert leftovers == []


@pytest.mark.parametrize("proto", ["http", "ftp"])
def test_LOAD_01_threads_same_target(
    proto: str,
    pc_http_server: LocalHTTPServer,
    pc_ftp_server: LocalFTPServer,
    tmp_path: Path,
) -> None:
    server = pc_http_server if proto == "http" else pc_ftp_server
    for round_ in range(ROUNDS):
        payload = _payload(round_)
        (server.root / "big.bin").write_bytes(payload)
        workdir = tmp_path / f"r{round_}"
        workdir.mkdir()
        target = workdir / "big.bin"

        def fetch(target: Path = target) -> Any:
            return protoclients.fetch(server.url + "big.bin", target, timeout=20, retries=0)

        _check(target, payload, _threads(fetch, target, len(payload)))


@pytest.mark.parametrize("proto", ["pop3", "imap"])
def test_LOAD_01_threads_same_message(
    proto: str, pc_mail: LocalMailServers, tmp_path: Path
) -> None:
    body = b"Subject: same\r\n\r\n" + b"".join(b"line %06d\r\n" % i for i in range(50_000))
    uid = pc_mail.store.deliver("alice", body)
    base = (pc_mail.pop3_url if proto == "pop3" else pc_mail.imap_url).replace("://", "://alice@")
    url = base + ("1" if proto == "pop3" else f"INBOX;UID={uid}")
    target = tmp_path / "m.eml"

    def fetch() -> Any:
        return protoclients.fetch(url, target, password=pc_mail.users["alice"], timeout=20)

    _check(target, body, _threads(fetch, target, len(body)))


_CHILD = r"""
import sys, time
from pathlib import Path
import protoclients
from protoclients.errors import TransferInProgress
url, target, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
while not go.exists():
    time.sleep(0.002)
try:
    protoclients.fetch(url, target, timeout=20, retries=0)
    print("ok")
except TransferInProgress:
    print("in-progress")
"""


@pytest.mark.parametrize("proto", ["http", "ftp"])
def test_LOAD_01_processes_same_target(
    proto: str,
    pc_http_server: LocalHTTPServer,
    pc_ftp_server: LocalFTPServer,
    tmp_path: Path,
) -> None:
    server = pc_http_server if proto == "http" else pc_ftp_server
    payload = _payload(99)
    (server.root / "big.bin").write_bytes(payload)
    workdir = tmp_path / "out"
    workdir.mkdir()
    target = workdir / "big.bin"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, server.url + "big.bin", str(target), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    time.sleep(0.5)  # let the interpreters start (they poll for the go file, not for us)
    go.write_text("go")
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        outcomes.append(out.strip() or f"exit {proc.returncode}: {err[-500:]}")
    _check(target, payload, outcomes)
    assert os.stat(target).st_size == len(payload)


def test_LOAD_01_lock_race_never_truncates_finished_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B opens ``<name>.part``, A finishes (renames it to the final name, unlocks), then B
    gets the lock: B must notice the file is no longer the ``.part`` and not truncate it."""
    import fcntl

    from protoclients.transfer import FileSink

    dest = tmp_path / "f.bin"
    a = FileSink(dest, resume=False)
    a.write(b"complete download")
    opened = threading.Event()
    a_done = threading.Event()
    real_flock = fcntl.flock
    main = threading.get_ident()

    def slow_flock(fd: int, operation: int) -> None:
        if threading.get_ident() != main and not a_done.is_set():
            opened.set()  # B has opened the .part and is about to lock it
            a_done.wait(10)
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", slow_flock)
    sinks: list[FileSink] = []
    b = threading.Thread(target=lambda: sinks.append(FileSink(dest, resume=False)))
    b.start()
    assert opened.wait(10)
    a.commit()
    a_done.set()
    b.join(10)
    assert dest.read_bytes() == b"complete download"
    (sink,) = sinks
    sink.write(b"second")
    sink.commit()
    assert dest.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
