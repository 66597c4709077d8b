"""protoclients' HTTP(S) client against Debian's nginx (WebDAV PUT/DELETE, autoindex)."""

from __future__ import annotations

import hashlib
import os
import ssl
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import protoclients
from protoclients.errors import CertificateError, NotFoundError

if TYPE_CHECKING:
    from conftest import InteropServers

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

SCHEMES = ["http", "https"]


class Interrupted(Exception):
    """Raised from a progress callback to cut a download short."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def opts(srv: InteropServers, scheme: str) -> dict[str, object]:
    return {"ca_file": srv.ca_file, "timeout": 20} if scheme == "https" else {"timeout": 20}


@pytest.fixture
def area(nginx: InteropServers, request: pytest.FixtureRequest) -> str:
    """A fresh directory name below the DAV location, one per test."""
    return f"t-{request.node.name.replace('[', '-').rstrip(']')}-{uuid.uuid4().hex[:8]}"


def test_reference_client_sees_nginx(nginx: InteropServers) -> None:
    """The setup itself, checked with the standard library only (no protoclients)."""
    body = b"reference\n"
    url = nginx.dav_url("http") + "reference/check.txt"
    req = urllib.request.Request(url, data=body, method="PUT")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status in (201, 204)
    ctx = ssl.create_default_context(cafile=nginx.ca_file)
    with urllib.request.urlopen(
        nginx.dav_url("https") + "reference/check.txt", timeout=10, context=ctx
    ) as resp:
        assert resp.read() == body
        assert resp.headers["Server"].startswith("nginx")
    req = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204


@pytest.mark.parametrize("scheme", SCHEMES)
def test_send_ls_fetch_delete(
    nginx: InteropServers, area: str, tmp_path: Path, scheme: str
) -> None:
    base = nginx.dav_url(scheme) + area + "/"
    data = os.urandom(300_000)
    url = base + "sub/data.bin"

    protoclients.send(url, data, **opts(nginx, scheme))
    on_disk = nginx.http_root / "dav" / area / "sub" / "data.bin"
    assert on_disk.read_bytes() == data

    src = tmp_path / "upload.txt"
    src.write_bytes(b"second file\n")
    protoclients.send(base + "sub/upload.txt", src, **opts(nginx, scheme))

    entries = {e.name: e for e in protoclients.ls(base + "sub/", **opts(nginx, scheme))}
    assert set(entries) == {"data.bin", "upload.txt"}
    assert entries["data.bin"].kind == "file"
    assert entries["data.bin"].size == len(data)
    assert entries["data.bin"].modified is not None
    assert entries["upload.txt"].size == len(b"second file\n")
    top = {e.name: e for e in protoclients.ls(base, **opts(nginx, scheme))}
    assert top["sub"].kind == "dir"

    assert protoclients.fetch(url, **opts(nginx, scheme)) == data

    dest = tmp_path / "out.bin"
    result = protoclients.fetch(url, dest, **opts(nginx, scheme))
    assert dest.read_bytes() == data
    assert result.bytes == len(data)
    assert Path(result.path) == dest
    assert not list(tmp_path.glob("*.part*"))

    into_dir = protoclients.fetch(url, tmp_path, **opts(nginx, scheme))
    assert Path(into_dir.path) == tmp_path / "data.bin"
    assert (tmp_path / "data.bin").read_bytes() == data

    protoclients.delete(url, **opts(nginx, scheme))
    assert not on_disk.exists()
    protoclients.delete(base + "sub/upload.txt", **opts(nginx, scheme))
    # A WebDAV collection: nginx wants the trailing slash on DELETE.
    protoclients.delete(base + "sub/", **opts(nginx, scheme))
    assert not on_disk.parent.exists()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_missing_file_is_not_found(nginx: InteropServers, area: str, scheme: str) -> None:
    missing = nginx.dav_url(scheme) + area + "/missing.bin"
    with pytest.raises(NotFoundError):
        protoclients.fetch(missing, **opts(nginx, scheme))
    with pytest.raises(NotFoundError):
        protoclients.delete(missing, **opts(nginx, scheme))
    with pytest.raises(NotFoundError):
        protoclients.ls(nginx.dav_url(scheme) + area + "/nodir/", **opts(nginx, scheme))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_one_connection_many_verbs(nginx: InteropServers, area: str, scheme: str) -> None:
    with protoclients.connect(nginx.dav_url(scheme) + area + "/", **opts(nginx, scheme)) as client:
        for i in range(3):
            client.send(f"payload {i}".encode(), f"f{i}.txt")
        assert sorted(e.name for e in client.ls()) == ["f0.txt", "f1.txt", "f2.txt"]
        assert client.fetch("f1.txt") == b"payload 1"
        for i in range(3):
            client.delete(f"f{i}.txt")
        assert client.ls() == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_large_streaming_upload_and_download(
    nginx: InteropServers, area: str, tmp_path: Path, scheme: str
) -> None:
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with src.open("wb") as f:
        for _ in range(24):
            f.write(block)
    url = nginx.dav_url(scheme) + area + "/big.bin"
    protoclients.send(url, src, **opts(nginx, scheme))
    result = protoclients.fetch(url, tmp_path / "back.bin", **opts(nginx, scheme))
    assert result.bytes == 24 << 20
    assert sha256((tmp_path / "back.bin").read_bytes()) == sha256(src.read_bytes())


@pytest.mark.parametrize("scheme", SCHEMES)
def test_resume_after_interrupted_download(
    nginx: InteropServers, area: str, tmp_path: Path, scheme: str
) -> None:
    data = os.urandom(6 << 20)
    target = nginx.http_root / "dav" / area / "resume.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    url = nginx.dav_url(scheme) + area + "/resume.bin"
    dest = tmp_path / "resume.bin"

    def stop_halfway(done: int, total: int | None) -> None:
        if done >= len(data) // 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        protoclients.fetch(url, dest, progress=stop_halfway, **opts(nginx, scheme))
    assert not dest.exists()
    part = tmp_path / "resume.bin.part"
    partial = part.stat().st_size
    assert 0 < partial < len(data)

    result = protoclients.fetch(url, dest, resume=True, **opts(nginx, scheme))
    assert result.resumed_from == partial
    assert result.bytes == len(data) - result.resumed_from
    assert sha256(dest.read_bytes()) == sha256(data)
    assert not part.exists()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_resume_from_handmade_part_file(
    nginx: InteropServers, area: str, tmp_path: Path, scheme: str
) -> None:
    data = os.urandom(2 << 20)
    target = nginx.http_root / "dav" / area / "half.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    dest = tmp_path / "half.bin"
    (tmp_path / "half.bin.part").write_bytes(data[: len(data) // 2])

    url = nginx.dav_url(scheme) + area + "/half.bin"
    result = protoclients.fetch(url, dest, resume=True, **opts(nginx, scheme))
    assert sha256(dest.read_bytes()) == sha256(data)
    # Without saved validators the client may resume (Range) or start over; both are correct.
    assert result.resumed_from in (0, len(data) // 2)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_awkward_names_survive_the_round_trip(
    nginx: InteropServers, area: str, scheme: str
) -> None:
    # nginx's autoindex cuts names longer than 50 characters in the link text ("...") and
    # %-encodes the href; the entry names must still be the real ones.
    names = [
        "a file with spaces.txt",
        "ünïcödé ✓.txt",
        "100% & more #1.txt",
        "a-very-long-file-name-" + "x" * 60 + ".bin",
    ]
    base = nginx.dav_url(scheme) + area + "/"
    with protoclients.connect(base, **opts(nginx, scheme)) as client:
        for name in names:
            client.send(name.encode(), name)
        for name in names:
            assert (nginx.http_root / "dav" / area / name).read_bytes() == name.encode()
        listing = {e.name: e for e in client.ls()}
        assert sorted(listing) == sorted(names)
        for name in names:
            assert listing[name].size == len(name.encode())
            assert client.fetch(listing[name].url) == name.encode()
            client.delete(listing[name].url)
        assert client.ls() == []


def test_https_without_the_ca_is_refused(nginx: InteropServers) -> None:
    with pytest.raises(CertificateError):
        protoclients.fetch(nginx.dav_url("https") + "nothing.txt", timeout=10)
