"""FLT-04: disk full — ``DiskFullError``, temp file removed, final file untouched, no deletion.

Two ways to run out of space, both real:

* ``RLIMIT_FSIZE=4096`` in a child process (CPython ignores ``SIGXFSZ``, so writes past the
  limit fail with ``EFBIG``): HTTP and FTP downloads over an existing target, POP3 "download
  then delete" of a mailbox, IMAP mailbox download. The child exits with
  ``DiskFullError.exit_code``; the ``.part`` file is gone, the old target intact, the POP3
  server received no ``DELE``, and no IMAP message was flagged ``\\Deleted``.
* ``/dev/full`` (``ENOSPC``) as a destination file object, in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from protoclients_fixtures import LocalFTPServer, LocalHTTPServer, LocalMailServers

import protoclients
from protoclients.errors import DiskFullError

pytestmark = pytest.mark.timeout(60)

LIMIT = 4096

_CHILD = r"""
import os, resource, sys
import protoclients
from protoclients.errors import ProtoClientError
import protoclients.protocols.{proto}  # imported (and its .pyc written) before the limit

url, dest = sys.argv[1], sys.argv[2]
kwargs = {{"timeout": 10, "retries": 0}}
if os.environ.get("PC_PASSWORD"):
    kwargs["password"] = os.environ["PC_PASSWORD"]
if os.environ.get("PC_DELETE_AFTER"):
    kwargs["delete_after"] = True
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
try:
    protoclients.fetch(url, dest, **kwargs)
except ProtoClientError as exc:
    print(type(exc).__name__)
    sys.exit(exc.exit_code)
print("OK")
"""


def _child(proto: str, url: str, dest: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = _CHILD.format(proto=proto, limit=LIMIT)
    return subprocess.run(
        [sys.executable, "-c", script, url, str(dest)],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )


def _assert_disk_full(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.stdout.strip() == "DiskFullError", proc.stdout + proc.stderr[-2000:]
    assert proc.returncode == DiskFullError.exit_code != 0


def _existing_target(directory: Path) -> tuple[Path, bytes]:
    target = directory / "big.bin"
    old = b"old and precious\n"
    target.write_bytes(old)
    target.chmod(0o640)
    return target, old


def test_FLT_04_rlimit_http(pc_http_server: LocalHTTPServer, tmp_path: Path) -> None:
    (pc_http_server.root / "big.bin").write_bytes(os.urandom(256 * 1024))
    target, old = _existing_target(tmp_path)
    _assert_disk_full(_child("http", pc_http_server.url + "big.bin", target))
    assert target.read_bytes() == old
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]  # .part removed


def test_FLT_04_rlimit_ftp(pc_ftp_server: LocalFTPServer, tmp_path: Path) -> None:
    (pc_ftp_server.root / "big.bin").write_bytes(os.urandom(256 * 1024))
    target, old = _existing_target(tmp_path)
    _assert_disk_full(_child("ftp", pc_ftp_server.url + "big.bin", target))
    assert target.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]


def _deliver(mail: LocalMailServers, count: int) -> None:
    for n in range(count):
        lines = b"".join(b"line %05d of message %d\r\n" % (i, n) for i in range(400))
        mail.store.deliver("alice", b"Subject: m%d\r\n\r\n" % n + lines)


def test_FLT_04_rlimit_pop3_no_dele(pc_mail: LocalMailServers, tmp_path: Path) -> None:
    _deliver(pc_mail, 3)
    url = pc_mail.pop3_url.replace("://", "://alice@")
    proc = _child("pop3", url, tmp_path, PC_PASSWORD=pc_mail.users["alice"], PC_DELETE_AFTER="1")
    _assert_disk_full(proc)
    assert not any(c.startswith("DELE") for c in pc_mail.pop3.commands)
    assert len(pc_mail.store.messages("alice", "INBOX")) == 3
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


def test_FLT_04_rlimit_imap_no_deleted_flag(pc_mail: LocalMailServers, tmp_path: Path) -> None:
    _deliver(pc_mail, 3)
    url = pc_mail.imap_url.replace("://", "://alice@") + "INBOX"
    proc = _child("imap", url, tmp_path, PC_PASSWORD=pc_mail.users["alice"])
    _assert_disk_full(proc)
    assert not any("STORE" in c or "EXPUNGE" in c for c in pc_mail.imap.commands)
    stored = pc_mail.store.messages("alice", "INBOX")
    assert len(stored) == 3
    assert not any("\\Deleted" in m.flags for m in stored)
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_FLT_04_dev_full_http(pc_http_server: LocalHTTPServer) -> None:
    (pc_http_server.root / "f.bin").write_bytes(os.urandom(64 * 1024))
    with open("/dev/full", "wb", buffering=0) as full, pytest.raises(DiskFullError):
        protoclients.fetch(pc_http_server.url + "f.bin", full, timeout=5, retries=0)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_FLT_04_dev_full_ftp(pc_ftp_server: LocalFTPServer) -> None:
    (pc_ftp_server.root / "f.bin").write_bytes(os.urandom(64 * 1024))
    with open("/dev/full", "wb", buffering=0) as full, pytest.raises(DiskFullError):
        protoclients.fetch(pc_ftp_server.url + "f.bin", full, timeout=5, retries=0)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("proto", ["pop3", "imap"])
def test_FLT_04_dev_full_mail(proto: str, pc_mail: LocalMailServers) -> None:
    _deliver(pc_mail, 1)
    base = (pc_mail.pop3_url if proto == "pop3" else pc_mail.imap_url).replace("://", "://alice@")
    url = base + ("1" if proto == "pop3" else "INBOX;UID=1")
    with open("/dev/full", "wb", buffering=0) as full, pytest.raises(DiskFullError):
        protoclients.fetch(url, full, password=pc_mail.users["alice"], timeout=5)
    assert len(pc_mail.store.messages("alice", "INBOX")) == 1
