"""FLT-03: ``kill -9`` of a client process in the middle of a download.

A child process downloads into a directory that already holds the target with mode 0600
and old content, plus an unrelated file. Its progress callback paces the download (so the
kill lands mid-transfer) and signals the first byte; the parent then ``SIGKILL``s it at a
seeded random moment. Afterwards:

* the target still holds the old content and mode 0600 (never truncated, never widened);
* only ``<name>.part`` (and its ``.part.json`` metadata) was added; the unrelated file is
  untouched;
* a rerun with ``resume=True`` completes with the right bytes and mode 0600.

POP3 "download then delete" is killed mid-mailbox: the server deletes nothing (no ``QUIT``
was sent), every file present is complete, and a rerun stores every message exactly once and
empties the maildrop.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from protoclients_fixtures import LocalFTPServer, LocalHTTPServer, LocalMailServers

import protoclients

pytestmark = pytest.mark.timeout(60)

SIZE = 6 * 1024 * 1024
RATE = 12 * 1024 * 1024  # bytes per second the child's progress callback allows

_CHILD = r"""
import os, sys, time
from pathlib import Path
import protoclients

url, dest, marker, rate, extra = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
state = {"last": 0}

def progress(done, total):
    if not marker.exists():
        marker.write_text("started")
    time.sleep(max(0, done - state["last"]) / rate)
    state["last"] = done

kwargs = {"progress": progress, "timeout": 10, "retries": 0}
if extra == "pop3":
    kwargs["delete_after"] = True
    kwargs["password"] = os.environ["PC_PASSWORD"]
protoclients.fetch(url, dest, **kwargs)
"""


def _spawn(
    url: str, dest: Path, marker: Path, extra: str = "", password: str = ""
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PC_PASSWORD=password)
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, str(dest), str(marker), str(RATE), extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_mid_transfer(proc: subprocess.Popen[bytes], marker: Path, seed: int) -> None:
    deadline = time.monotonic() + 20
    while not marker.exists():
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"child ended before the transfer began: {err[-2000:]}")
        assert time.monotonic() < deadline, "the child never started the transfer"
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0.0, 0.6 * SIZE / RATE))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, (
        f"the child ended before it was killed: {err[-2000:]}"
    )


def _prepare(directory: Path) -> tuple[Path, bytes]:
    target = directory / "big.bin"
    old = b"old content that must survive\n"
    target.write_bytes(old)
    target.chmod(0o600)
    (directory / "unrelated.txt").write_text("not ours")
    return target, old


def _check_after_kill(directory: Path, target: Path, old: bytes) -> None:
    assert target.read_bytes() == old
    assert target.stat().st_mode & 0o777 == 0o600
    names = {p.name for p in directory.iterdir()}
    assert names <= {"big.bin", "big.bin.part", "big.bin.part.json", "unrelated.txt", ".marker"}
    assert (directory / "unrelated.txt").read_text() == "not ours"


def _check_rerun(url: str, target: Path, payload: bytes) -> None:
    result = protoclients.fetch(url, target, resume=True, timeout=10, retries=0)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert target.stat().st_mode & 0o777 == 0o600
    assert not target.with_name("big.bin.part").exists()
    assert result.size == len(payload)


@pytest.mark.parametrize("seed", [1])
def test_FLT_03_kill9_http_download(
    seed: int, pc_http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    payload = random.Random(seed).randbytes(SIZE)
    (pc_http_server.root / "big.bin").write_bytes(payload)
    url = pc_http_server.url + "big.bin"
    target, old = _prepare(tmp_path)
    proc = _spawn(url, target, tmp_path / ".marker")
    _kill_mid_transfer(proc, tmp_path / ".marker", seed)
    _check_after_kill(tmp_path, target, old)
    _check_rerun(url, target, payload)


@pytest.mark.parametrize("seed", [3])
def test_FLT_03_kill9_ftp_download(
    seed: int, pc_ftp_server: LocalFTPServer, tmp_path: Path
) -> None:
    payload = random.Random(seed).randbytes(SIZE)
    (pc_ftp_server.root / "big.bin").write_bytes(payload)
    url = pc_ftp_server.url + "big.bin"
    target, old = _prepare(tmp_path)
    proc = _spawn(url, target, tmp_path / ".marker")
    _kill_mid_transfer(proc, tmp_path / ".marker", seed)
    _check_after_kill(tmp_path, target, old)
    _check_rerun(url, target, payload)


def test_FLT_03_kill9_pop3_download_then_delete(pc_mail: LocalMailServers, tmp_path: Path) -> None:
    messages = {}
    for n in range(30):
        text = random.Random(n).randbytes(200 * 1024).hex().encode()
        lines = b"".join(text[i : i + 76] + b"\r\n" for i in range(0, len(text), 76))
        body = b"Subject: m%d\r\n\r\n" % n + lines
        uid = pc_mail.store.deliver("alice", body)
        messages[uid] = body
    url = pc_mail.pop3_url.replace("://", "://alice@")
    password = pc_mail.users["alice"]
    marker = tmp_path.parent / f"{tmp_path.name}.marker"
    proc = _spawn(url, tmp_path, marker, "pop3", password)
    _kill_mid_transfer(proc, marker, 5)
    # Killed without QUIT: the server deleted nothing (although DELEs were sent for the
    # messages already durable); every .eml present is complete.
    assert any(c.startswith("DELE") for c in pc_mail.pop3.commands)
    assert "QUIT" not in pc_mail.pop3.commands
    assert len(pc_mail.store.messages("alice", "INBOX")) == len(messages)
    stored = {p.read_bytes() for p in tmp_path.glob("*.eml")}
    assert stored <= set(messages.values())
    # The rerun stores each message exactly once and empties the maildrop.
    protoclients.fetch(url, tmp_path, password=password, delete_after=True, timeout=10)
    files = sorted(tmp_path.glob("*.eml"))
    assert sorted(p.read_bytes() for p in files) == sorted(messages.values())
    assert not list(tmp_path.glob("*.part"))
    assert pc_mail.store.messages("alice", "INBOX") == []
