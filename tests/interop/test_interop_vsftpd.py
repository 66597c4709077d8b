"""protoclients' FTP client against Debian's vsftpd: plain FTP on loopback, explicit FTPS
(``AUTH TLS`` on the same server) and implicit FTPS (a second vsftpd with ``implicit_ssl``).

vsftpd 3.0.3 has no MLSD, so ``ls`` exercises the client's LIST fallback here.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import ssl
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import protoclients
from protoclients.errors import (
    AuthenticationError,
    CertificateError,
    NotFoundError,
    ProtoClientError,
)

if TYPE_CHECKING:
    from conftest import InteropServers

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

MODES = ["plain", "starttls", "implicit"]


class Interrupted(Exception):
    """Raised from a progress callback to cut a download short."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def opts(srv: InteropServers, mode: str) -> dict[str, object]:
    kwargs: dict[str, object] = {"password": srv.ftp_password, "timeout": 20}
    if mode == "starttls":
        kwargs.update(tls="starttls", ca_file=srv.ca_file)
    elif mode == "implicit":
        kwargs.update(ca_file=srv.ca_file)
    return kwargs


def ftp_url(srv: InteropServers, mode: str, path: str = "") -> str:
    """The URL of ``path`` on the vsftpd instance for ``mode`` (implicit TLS: ``ftps://``)."""
    return srv.ftp_url(path, implicit=mode == "implicit")


@pytest.fixture
def area(vsftpd: InteropServers, request: pytest.FixtureRequest) -> str:
    """A fresh directory name in the FTP user's home, one per test."""
    return f"t-{request.node.name.replace('[', '-').rstrip(']')}-{uuid.uuid4().hex[:8]}"


def place(srv: InteropServers, relpath: str, data: bytes) -> None:
    """Put a file on the server's disk directly (readable by the FTP user)."""
    path = srv.ftp_root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize("mode", ["plain", "starttls"])
def test_reference_client_sees_vsftpd(vsftpd: InteropServers, mode: str) -> None:
    """The setup itself, checked with plain ftplib (no protoclients)."""
    ftp: ftplib.FTP
    if mode == "starttls":
        ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=vsftpd.ca_file))
    else:
        ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", int(vsftpd.env["FTP_PORT"]), timeout=10)
    try:
        assert "vsFTPd" in ftp.getwelcome()
        ftp.login(vsftpd.ftp_user, vsftpd.ftp_password)  # FTP_TLS.login() sends AUTH TLS first
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        name = f"ref-{mode}-{uuid.uuid4().hex[:8]}.txt"
        ftp.storbinary(f"STOR {name}", io.BytesIO(b"reference\n"))
        got = bytearray()
        ftp.retrbinary(f"RETR {name}", got.extend)
        assert got == b"reference\n"
        ftp.delete(name)
    finally:
        ftp.quit()


@pytest.mark.parametrize("mode", MODES)
def test_send_ls_fetch_delete(vsftpd: InteropServers, area: str, tmp_path: Path, mode: str) -> None:
    data = os.urandom(300_000)
    url = ftp_url(vsftpd, mode, f"{area}/a/b/data.bin")

    protoclients.send(url, data, make_dirs=True, **opts(vsftpd, mode))
    on_disk = vsftpd.ftp_root / area / "a" / "b" / "data.bin"
    assert on_disk.read_bytes() == data

    src = tmp_path / "upload.txt"
    src.write_bytes(b"second file\n")
    protoclients.send(ftp_url(vsftpd, mode, f"{area}/a/b/upload.txt"), src, **opts(vsftpd, mode))
    # Uploads go to a temporary name first; nothing of it may remain.
    assert sorted(p.name for p in on_disk.parent.iterdir()) == ["data.bin", "upload.txt"]

    entries = {
        e.name: e
        for e in protoclients.ls(ftp_url(vsftpd, mode, f"{area}/a/b/"), **opts(vsftpd, mode))
    }
    assert set(entries) == {"data.bin", "upload.txt"}
    assert entries["data.bin"].kind == "file"
    assert entries["data.bin"].size == len(data)
    assert entries["data.bin"].modified is not None
    assert entries["upload.txt"].size == len(b"second file\n")
    parent = {
        e.name: e
        for e in protoclients.ls(ftp_url(vsftpd, mode, f"{area}/a/"), **opts(vsftpd, mode))
    }
    assert parent["b"].kind == "dir"

    assert protoclients.fetch(url, **opts(vsftpd, mode)) == data

    dest = tmp_path / "out.bin"
    result = protoclients.fetch(url, dest, **opts(vsftpd, mode))
    assert dest.read_bytes() == data
    assert result.bytes == len(data)
    assert Path(result.path) == dest
    assert not list(tmp_path.glob("*.part*"))

    into_dir = protoclients.fetch(url, tmp_path, **opts(vsftpd, mode))
    assert Path(into_dir.path) == tmp_path / "data.bin"

    protoclients.delete(url, **opts(vsftpd, mode))
    protoclients.delete(ftp_url(vsftpd, mode, f"{area}/a/b/upload.txt"), **opts(vsftpd, mode))
    assert not on_disk.exists()

    # Empty directories are deleted too.
    protoclients.delete(ftp_url(vsftpd, mode, f"{area}/a/b/"), **opts(vsftpd, mode))
    protoclients.delete(ftp_url(vsftpd, mode, f"{area}/a"), **opts(vsftpd, mode))
    assert not (vsftpd.ftp_root / area / "a").exists()


@pytest.mark.parametrize("mode", MODES)
def test_missing_file_is_not_found(vsftpd: InteropServers, area: str, mode: str) -> None:
    # vsftpd says only "550 Failed to open file." / "550 Delete operation failed." here.
    place(vsftpd, f"{area}/present.txt", b"x")
    missing = ftp_url(vsftpd, mode, f"{area}/missing.bin")
    with pytest.raises(NotFoundError):
        protoclients.fetch(missing, **opts(vsftpd, mode))
    with pytest.raises(NotFoundError):
        protoclients.delete(missing, **opts(vsftpd, mode))


@pytest.mark.parametrize("mode", MODES)
def test_non_empty_directory_is_not_deleted(vsftpd: InteropServers, area: str, mode: str) -> None:
    protoclients.send(
        ftp_url(vsftpd, mode, f"{area}/d/keep.txt"), b"keep", make_dirs=True, **opts(vsftpd, mode)
    )
    with pytest.raises(ProtoClientError):
        protoclients.delete(ftp_url(vsftpd, mode, f"{area}/d/"), **opts(vsftpd, mode))
    assert (vsftpd.ftp_root / area / "d" / "keep.txt").read_bytes() == b"keep"


@pytest.mark.parametrize("mode", MODES)
def test_one_connection_many_verbs(vsftpd: InteropServers, area: str, mode: str) -> None:
    kwargs = opts(vsftpd, mode)
    password = kwargs.pop("password")
    with protoclients.connect(
        ftp_url(vsftpd, mode, f"{area}/"), password=password, **kwargs
    ) as client:
        for i in range(3):
            client.send(f"payload {i}".encode(), f"f{i}.txt", make_dirs=True)
        listing = client.ls()
        assert sorted(e.name for e in listing) == ["f0.txt", "f1.txt", "f2.txt"]
        assert all(e.kind == "file" for e in listing)
        assert client.fetch("f1.txt") == b"payload 1"
        for i in range(3):
            client.delete(f"f{i}.txt")
        assert client.ls() == []


@pytest.mark.parametrize("mode", MODES)
def test_large_streaming_upload_and_download(
    vsftpd: InteropServers, area: str, tmp_path: Path, mode: str
) -> None:
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with src.open("wb") as f:
        for _ in range(24):
            f.write(block)
    url = ftp_url(vsftpd, mode, f"{area}/big.bin")
    protoclients.send(url, src, make_dirs=True, **opts(vsftpd, mode))
    assert (vsftpd.ftp_root / area / "big.bin").stat().st_size == 24 << 20
    result = protoclients.fetch(url, tmp_path / "back.bin", **opts(vsftpd, mode))
    assert result.bytes == 24 << 20
    assert sha256((tmp_path / "back.bin").read_bytes()) == sha256(src.read_bytes())


@pytest.mark.parametrize("mode", MODES)
def test_resume_after_interrupted_download(
    vsftpd: InteropServers, area: str, tmp_path: Path, mode: str
) -> None:
    data = os.urandom(6 << 20)
    place(vsftpd, f"{area}/resume.bin", data)
    url = ftp_url(vsftpd, mode, f"{area}/resume.bin")
    dest = tmp_path / "resume.bin"

    def stop_early(done: int, total: int | None) -> None:
        if done >= len(data) // 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        protoclients.fetch(url, dest, progress=stop_early, **opts(vsftpd, mode))
    assert not dest.exists()
    part = tmp_path / "resume.bin.part"
    partial = part.stat().st_size
    assert 0 < partial < len(data)

    result = protoclients.fetch(url, dest, resume=True, **opts(vsftpd, mode))
    assert result.resumed_from == partial
    assert result.bytes == len(data) - result.resumed_from
    assert sha256(dest.read_bytes()) == sha256(data)
    assert not part.exists()


@pytest.mark.parametrize("mode", MODES)
def test_resume_from_handmade_part_file(
    vsftpd: InteropServers, area: str, tmp_path: Path, mode: str
) -> None:
    data = os.urandom(2 << 20)
    place(vsftpd, f"{area}/half.bin", data)
    dest = tmp_path / "half.bin"
    (tmp_path / "half.bin.part").write_bytes(data[: len(data) // 2])

    result = protoclients.fetch(
        ftp_url(vsftpd, mode, f"{area}/half.bin"), dest, resume=True, **opts(vsftpd, mode)
    )
    assert sha256(dest.read_bytes()) == sha256(data)
    assert result.resumed_from == len(data) // 2
    assert result.bytes == len(data) - len(data) // 2


@pytest.mark.parametrize("mode", MODES)
def test_send_without_make_dirs_into_missing_directory_fails(
    vsftpd: InteropServers, area: str, mode: str
) -> None:
    with pytest.raises(ProtoClientError):
        protoclients.send(
            ftp_url(vsftpd, mode, f"{area}/missing/x.txt"), b"x", **opts(vsftpd, mode)
        )
    assert not (vsftpd.ftp_root / area).exists()


@pytest.mark.parametrize("mode", MODES)
def test_awkward_names_survive_the_round_trip(vsftpd: InteropServers, area: str, mode: str) -> None:
    # vsftpd has no MLSD: names come from parsing its LIST output (ls -l style).
    names = [
        "a file with spaces.txt",
        "  leading spaces.txt",
        "ünïcödé ✓.txt",
        "100% & more #1.txt",
        "a-very-long-file-name-" + "x" * 60 + ".bin",
    ]
    kwargs = opts(vsftpd, mode)
    password = kwargs.pop("password")
    with protoclients.connect(
        ftp_url(vsftpd, mode, f"{area}/"), password=password, **kwargs
    ) as client:
        for name in names:
            client.send(name.encode(), name, make_dirs=True)
        for name in names:
            assert (vsftpd.ftp_root / area / name).read_bytes() == name.encode()
        listing = {e.name: e for e in client.ls()}
        assert sorted(listing) == sorted(names)
        for name in names:
            assert listing[name].size == len(name.encode())
            assert client.fetch(listing[name].url) == name.encode()
            client.delete(listing[name].url)
        assert client.ls() == []


@pytest.mark.parametrize("mode", MODES)
def test_wrong_password_is_an_authentication_error(vsftpd: InteropServers, mode: str) -> None:
    kwargs = opts(vsftpd, mode)
    kwargs["password"] = "not-the-password"
    with pytest.raises(AuthenticationError) as info:
        protoclients.ls(ftp_url(vsftpd, mode), **kwargs)
    assert "not-the-password" not in str(info.value)


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls_without_the_ca_is_refused(vsftpd: InteropServers, mode: str) -> None:
    kwargs = opts(vsftpd, mode)
    del kwargs["ca_file"]
    with pytest.raises(CertificateError):
        protoclients.ls(ftp_url(vsftpd, mode), **kwargs)
