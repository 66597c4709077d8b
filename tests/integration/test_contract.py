"""The uniform-verb contract: every client class passes the same tests.

Each case is a local server (plain and TLS) reached through the same five verbs; a
protocol that cannot pass one of these tests does not honour the facade.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import protoclients as pc

CASES = {
    "http": ("pc_http_server", {}),
    "https": ("pc_https_server", {"ca": True}),
    "ftp": ("pc_ftp_server", {}),
    "ftp+starttls": ("pc_ftps_server", {"ca": True, "tls": "starttls"}),
    "ftps": ("pc_ftps_implicit_server", {"ca": True}),
}


@dataclass
class Endpoint:
    url: str
    root: Path
    options: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(params=list(CASES))
def endpoint(request: pytest.FixtureRequest) -> Endpoint:
    fixture, spec = CASES[request.param]
    srv = request.getfixturevalue(fixture)
    user, password = next(iter(srv.users.items()))
    options: dict[str, Any] = {"password": password}
    if spec.get("ca"):
        options["ca_file"] = srv.ca_file
    if "tls" in spec:
        options["tls"] = spec["tls"]
    return Endpoint(srv.url.replace("://", f"://{user}@", 1), Path(srv.root), options)


pytestmark = pytest.mark.timeout(30)


def test_send_ls_fetch_delete_round_trip(endpoint: Endpoint, tmp_path: Path) -> None:
    payload = os.urandom(300_000) + b"end"
    progress: list[tuple[int, int | None]] = []
    with pc.connect(endpoint.url, **endpoint.options) as client:
        assert client.connected
        assert client.raw is not None
        sent = client.send(payload, "contract.bin")
        assert isinstance(sent, pc.TransferResult)
        assert (endpoint.root / "contract.bin").read_bytes() == payload

        entries = {e.name: e for e in client.ls()}
        assert "contract.bin" in entries
        entry = entries["contract.bin"]
        assert entry.kind == "file"
        assert entry.size in (None, len(payload))
        assert "password" not in entry.url

        assert client.fetch("contract.bin") == payload
        dest = tmp_path / "copy.bin"
        result = client.fetch("contract.bin", dest, progress=lambda d, t: progress.append((d, t)))
        assert result.path == dest
        assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(payload).digest()
        assert progress and progress[-1][0] == len(payload)
        assert not list(tmp_path.glob("*.part"))

        client.delete("contract.bin")
        assert not (endpoint.root / "contract.bin").exists()
        assert "contract.bin" not in {e.name for e in client.ls()}
        with pytest.raises(pc.NotFoundError):
            client.fetch("contract.bin")
    assert not client.connected


def test_one_shot_functions(endpoint: Endpoint, tmp_path: Path) -> None:
    url = endpoint.url + "oneshot.txt"
    pc.send(url, b"one shot\n", **endpoint.options)
    assert pc.fetch(url, **endpoint.options) == b"one shot\n"
    names = [e.name for e in pc.ls(endpoint.url, **endpoint.options)]
    assert "oneshot.txt" in names
    result = pc.fetch(url, tmp_path, **endpoint.options)
    assert result.path == tmp_path / "oneshot.txt"
    pc.delete(url, **endpoint.options)
    assert not (endpoint.root / "oneshot.txt").exists()


def test_missing_file_is_not_found(endpoint: Endpoint, tmp_path: Path) -> None:
    with pytest.raises(pc.NotFoundError) as info:
        pc.fetch(endpoint.url + "no-such-file", tmp_path / "x", **endpoint.options)
    assert not (tmp_path / "x").exists()
    password = endpoint.options["password"]
    assert password not in str(info.value) and password not in repr(info.value)
    assert info.value.url is not None and "no-such-file" in info.value.url


def test_send_from_path_and_file_object(endpoint: Endpoint, tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(b"from a path\n")
    with pc.connect(endpoint.url, **endpoint.options) as client:
        client.send(src, "from-path.txt")
        with src.open("rb") as fh:
            client.send(fh, "from-file.txt")
    assert (endpoint.root / "from-path.txt").read_bytes() == b"from a path\n"
    assert (endpoint.root / "from-file.txt").read_bytes() == b"from a path\n"


def test_other_origin_refused(endpoint: Endpoint) -> None:
    with pc.connect(endpoint.url, **endpoint.options) as client:
        scheme = endpoint.url.partition("://")[0]
        with pytest.raises(pc.InvalidInput):
            client.fetch(f"{scheme}://127.0.0.2:9/elsewhere")


def test_repr_and_errors_hide_password(endpoint: Endpoint) -> None:
    password = endpoint.options["password"]
    client = pc.connect(endpoint.url, **endpoint.options)
    assert password not in repr(client)
    assert password not in str(client.url) + repr(client.url)
