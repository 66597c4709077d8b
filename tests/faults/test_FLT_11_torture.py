"""FLT-11: torture mode — fail the k-th I/O call of a scenario, for every k (or a sample).

Like curl's ``runtests.pl -t``: a clean run counts the I/O calls the *client thread* makes
(``socket`` connect/send/sendall/recv/recv_into, TLS socket send/recv, ``os.write``,
``os.fsync``, ``os.replace``, ``os.splice``); then run k fails the k-th of them with
``ConnectionResetError`` (sockets) or ``OSError(EIO)`` (files). Server threads are never
affected. Every run must end in success or a :class:`ProtoClientError` (nothing else), with:

* no partial final file (the destination is absent or complete and correct);
* no lost message (POP3 "download then delete": each message is on the server or stored);
* nothing reported sent that the server did not accept (SMTP);
* no leaked file descriptor (the process's open fds return to the baseline);
* no secret in the error text.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures import LocalFTPServer, LocalHTTPServer, LocalMailServers

import protoclients
from protoclients.errors import ProtoClientError

pytestmark = pytest.mark.timeout(120)

#: At most this many failure points per scenario (spread over all calls, seeded).
MAX_POINTS = 20
_SOCKET_METHODS = ("connect", "send", "sendall", "recv", "recv_into")
_SSL_METHODS = ("send", "sendall", "recv", "recv_into")
_OS_FUNCTIONS = ("write", "fsync", "replace", "splice")


class KthFailure:
    """Counts the current thread's I/O calls and fails the ``k``-th (``None``: count only)."""

    def __init__(self, k: int | None) -> None:
        self.k = k
        self.thread = threading.get_ident()
        self.calls: list[str] = []
        self.hit: str | None = None

    def wrap(self, name: str, func: Callable[..., Any], sock: bool) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == self.thread and self.hit is None:
                self.calls.append(name)
                if len(self.calls) == self.k:
                    self.hit = name
                    if sock:
                        raise ConnectionResetError(errno.ECONNRESET, "injected reset")
                    raise OSError(errno.EIO, "injected I/O error")
            return func(*args, **kwargs)

        return wrapper


@contextlib.contextmanager
def failing_io(k: int | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[KthFailure]:
    fault = KthFailure(k)
    with monkeypatch.context() as patch:
        for name in _SOCKET_METHODS:
            patch.setattr(
                socket.socket, name, fault.wrap(f"sock.{name}", getattr(socket.socket, name), True)
            )
        for name in _SSL_METHODS:
            patch.setattr(
                ssl.SSLSocket, name, fault.wrap(f"tls.{name}", getattr(ssl.SSLSocket, name), True)
            )
        for name in _OS_FUNCTIONS:
            if hasattr(os, name):
                patch.setattr(os, name, fault.wrap(f"os.{name}", getattr(os, name), False))
        yield fault


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settle_fds(baseline: int) -> int:
    """Wait (up to 3 s) for the fd count to come back to ``baseline``; return the last count."""
    deadline = time.monotonic() + 3
    while True:
        gc.collect()
        count = _open_fds()
        if count <= baseline or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def _points(total: int, seed: int) -> list[int]:
    if total <= MAX_POINTS:
        return list(range(1, total + 1))
    rng = random.Random(seed)
    return sorted({1, 2, 3, total, *rng.sample(range(1, total + 1), MAX_POINTS - 4)})


Scenario = Callable[[Path], None]


def _torture(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    run: Scenario,
    check: Callable[[Path, BaseException | None], None],
    reset: Callable[[], None] = lambda: None,
    secret: str | None = None,
) -> dict[str, int]:
    """Count the calls of a clean run, then fail each chosen call once; return a summary."""
    reset()
    clean = tmp_path / "clean"
    clean.mkdir()
    with failing_io(None, monkeypatch) as counter:
        run(clean)
    check(clean, None)
    total = len(counter.calls)
    assert total > 5, counter.calls
    summary = {"calls": total, "runs": 0, "errors": 0}
    baseline = _settle_fds(_open_fds())
    for k in _points(total, seed=total):
        reset()
        workdir = tmp_path / f"k{k}"
        workdir.mkdir()
        error: BaseException | None = None
        with failing_io(k, monkeypatch) as fault:
            try:
                run(workdir)
            except ProtoClientError as exc:
                error = exc
        # recv counts vary with TCP segmentation: a run may end before call k.
        summary["runs"] += fault.hit is not None
        summary["errors"] += error is not None
        check(workdir, error)
        if error is not None and secret:
            assert secret not in str(error) and secret not in repr(error)
        count = _settle_fds(baseline)
        assert count <= baseline, (
            f"fd leak after failing call {k} ({fault.hit}): {count} > {baseline}"
        )
    assert summary["runs"] >= len(_points(total, seed=total)) // 2
    return summary


def _file_check(payload: bytes, name: str) -> Callable[[Path, BaseException | None], None]:
    def check(workdir: Path, error: BaseException | None) -> None:
        final = workdir / name
        if error is None:
            assert final.read_bytes() == payload
        else:
            assert not final.exists() or final.read_bytes() == payload

    return check


def test_FLT_11_torture_http_download(
    monkeypatch: pytest.MonkeyPatch, pc_http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    payload = random.Random(11).randbytes(300_000)
    (pc_http_server.root / "f.bin").write_bytes(payload)
    url = pc_http_server.url + "f.bin"

    def run(workdir: Path) -> None:
        protoclients.fetch(url, workdir / "f.bin", timeout=5, retries=0)

    summary = _torture(monkeypatch, tmp_path, run, _file_check(payload, "f.bin"))
    assert summary["errors"] > 0


def test_FLT_11_torture_ftp_download(
    monkeypatch: pytest.MonkeyPatch, pc_ftp_server: LocalFTPServer, tmp_path: Path
) -> None:
    payload = random.Random(12).randbytes(300_000)
    (pc_ftp_server.root / "f.bin").write_bytes(payload)
    url = pc_ftp_server.url + "f.bin"

    def run(workdir: Path) -> None:
        protoclients.fetch(url, workdir / "f.bin", timeout=5, retries=0)

    summary = _torture(monkeypatch, tmp_path, run, _file_check(payload, "f.bin"))
    assert summary["errors"] > 0


def _messages(count: int) -> list[bytes]:
    return [
        b"Subject: torture %d\r\n\r\n" % n
        + b"".join(b"line %d.%d\r\n" % (n, i) for i in range(300))
        for n in range(count)
    ]


def test_FLT_11_torture_pop3_download_then_delete(
    monkeypatch: pytest.MonkeyPatch, pc_mail: LocalMailServers, tmp_path: Path
) -> None:
    messages = _messages(3)
    store = pc_mail.store
    password = pc_mail.users["alice"]
    url = pc_mail.pop3_url.replace("://", "://alice@")

    def reset() -> None:
        store.remove("alice", "INBOX", store.uids("alice", "INBOX"))
        for data in messages:
            store.deliver("alice", data)

    def run(workdir: Path) -> None:
        protoclients.fetch(url, workdir, password=password, delete_after=True, timeout=5)

    def check(workdir: Path, error: BaseException | None) -> None:
        local = [p.read_bytes() for p in workdir.glob("*.eml")]
        remote = [m.data for m in store.messages("alice", "INBOX")]
        assert not list(workdir.glob("*.part")), "a partial message was left"
        assert all(data in messages for data in local)
        assert len(set(local)) == len(local)  # stored at most once
        for data in messages:  # never lost: on the server or stored locally
            assert data in remote or data in local
        if error is None:
            assert sorted(local) == sorted(messages) and remote == []

    summary = _torture(monkeypatch, tmp_path, run, check, reset, secret=password)
    assert summary["errors"] > 0


def test_FLT_11_torture_imap_fetch(
    monkeypatch: pytest.MonkeyPatch, pc_mail: LocalMailServers, tmp_path: Path
) -> None:
    (message,) = _messages(1)
    uid = pc_mail.store.deliver("alice", message)
    password = pc_mail.users["alice"]
    url = pc_mail.imaps_url.replace("://", "://alice@") + f"INBOX;UID={uid}"  # type: ignore[union-attr]

    def run(workdir: Path) -> None:
        protoclients.fetch(
            url, workdir / "m.eml", password=password, timeout=5, ca_file=pc_mail.ca_file
        )

    summary = _torture(monkeypatch, tmp_path, run, _file_check(message, "m.eml"), secret=password)
    assert summary["errors"] > 0
    assert len(pc_mail.store.messages("alice", "INBOX")) == 1


def test_FLT_11_torture_smtp_send(
    monkeypatch: pytest.MonkeyPatch, pc_mail: LocalMailServers, tmp_path: Path
) -> None:
    message = b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: t\r\n\r\nhello\r\n"
    password = pc_mail.users["alice"]
    url = pc_mail.smtp_url.replace("://", "://alice@")
    received = pc_mail.smtp_received

    def run(workdir: Path) -> None:
        before = len(received)
        protoclients.send(
            url,
            message,
            password=password,
            tls="starttls",
            ca_file=pc_mail.ca_file,
            timeout=5,
            retries=0,
        )
        (workdir / "sent").write_text(str(before))

    def check(workdir: Path, error: BaseException | None) -> None:
        marker = workdir / "sent"
        if error is None and marker.exists():  # reported sent: the server has it
            before = int(marker.read_text())
            assert len(received) > before
            assert received[-1].data.replace(b"\r\n", b"\n").endswith(b"hello\n")

    summary = _torture(monkeypatch, tmp_path, run, check, secret=password)
    assert summary["errors"] > 0
