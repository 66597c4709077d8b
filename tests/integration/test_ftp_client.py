"""FTPClient against the local pyftpdlib servers: plain FTP, explicit FTPS, implicit FTPS."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import protoclients as pc
from protoclients.protocols.ftp import FTPClient

pytestmark = pytest.mark.timeout(30)


def _user_url(srv: Any, path: str = "") -> str:
    return srv.url.replace("://", "://alice@", 1) + path


def _opts(srv: Any, **extra: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {"password": srv.users["alice"]}
    if srv.ca_file:
        opts["ca_file"] = srv.ca_file
    if srv.tls == "explicit":
        opts["tls"] = "starttls"
    opts.update(extra)
    return opts


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")]


@pytest.fixture
def ftp(pc_ftp_server: Any) -> Iterator[FTPClient]:
    with pc.connect(_user_url(pc_ftp_server), **_opts(pc_ftp_server)) as client:
        assert isinstance(client, FTPClient)
        yield client


@pytest.fixture
def tree(pc_ftp_server: Any) -> dict[str, bytes]:
    root = Path(pc_ftp_server.root)
    files = {
        "a.txt": b"hello\n",
        "with space.bin": os.urandom(70_000),
        "pub/big.bin": os.urandom(1_000_000),
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "empty").mkdir()
    return files


# -- ls ----------------------------------------------------------------------------------------


def test_ls_mlsd(ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes]) -> None:
    entries = {e.name: e for e in ftp.ls()}
    assert set(entries) == {"a.txt", "with space.bin", "pub", "empty"}
    assert entries["a.txt"].kind == "file"
    assert entries["a.txt"].size == 6
    modified = entries["a.txt"].modified
    assert modified is not None and modified.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - modified).total_seconds()) < 3600
    assert entries["pub"].kind == "dir"
    assert entries["pub"].url.endswith("/pub/")
    assert entries["with space.bin"].url.endswith("/with%20space.bin")
    assert "raw" in entries["a.txt"].details and "perm" in entries["a.txt"].details
    assert any(c.startswith("MLSD") for c in pc_ftp_server.commands)
    assert srv_password_absent(pc_ftp_server, entries["a.txt"].url)
    # An entry's URL works with fetch.
    assert ftp.fetch(entries["with space.bin"].url) == tree["with space.bin"]
    assert [e.name for e in ftp.ls("pub")] == ["big.bin"]
    assert [e.name for e in ftp.ls("pub/")] == ["big.bin"]
    # ls of a file: its one entry (MLSD lists directories only; MLST describes the file).
    (single,) = ftp.ls("pub/big.bin")
    assert (single.name, single.kind, single.size) == ("big.bin", "file", 1_000_000)
    assert single.url.endswith("/pub/big.bin")
    (listed,) = ftp.ls("pub/big.bin", use_mlsd=False)
    assert (listed.name, listed.size) == ("big.bin", 1_000_000)


def srv_password_absent(srv: Any, text: str) -> bool:
    return srv.users["alice"] not in text


def test_ls_list_forced_and_fallback(
    ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes]
) -> None:
    mlsd = {(e.name, e.kind, e.size if e.kind == "file" else None) for e in ftp.ls()}
    forced = ftp.ls(use_mlsd=False)
    assert {(e.name, e.kind, e.size if e.kind == "file" else None) for e in forced} == mlsd
    assert all(e.details["format"] == "unix" for e in forced)
    assert any(c.startswith("LIST") for c in pc_ftp_server.commands)

    pc_ftp_server.faults.disabled_commands = {"MLSD", "MLST"}  # 502, left out of FEAT
    with pc.connect(_user_url(pc_ftp_server), **_opts(pc_ftp_server)) as client:
        fallback = client.ls()
        with pytest.raises(pc.ServerError):
            client.ls(use_mlsd=True)
    assert {(e.name, e.kind, e.size if e.kind == "file" else None) for e in fallback} == mlsd


def test_ls_anonymous_via_facade(pc_ftp_server: Any, tree: dict[str, bytes]) -> None:
    names = {e.name for e in pc.ls(pc_ftp_server.url)}
    assert names == {"a.txt", "with space.bin", "pub", "empty"}
    assert "USER anonymous" in pc_ftp_server.commands


def test_ls_missing_directory(ftp: FTPClient, tree: dict[str, bytes]) -> None:
    with pytest.raises(pc.NotFoundError):
        ftp.ls("nope/")
    with pytest.raises(pc.NotFoundError):
        ftp.ls("nope/", use_mlsd=False)
    assert ftp.ls("empty/", use_mlsd=False) == []
    assert ftp.ls("empty/") == []


# -- fetch ---------------------------------------------------------------------------------------


def test_fetch_memory_path_dir_fileobj(
    ftp: FTPClient, tree: dict[str, bytes], tmp_path: Path
) -> None:
    data = tree["pub/big.bin"]
    assert ftp.fetch("pub/big.bin") == data

    progress: list[tuple[int, int | None]] = []
    result = ftp.fetch(
        "pub/big.bin", tmp_path / "x.bin", progress=lambda d, t: progress.append((d, t))
    )
    assert isinstance(result, pc.TransferResult)
    assert result.bytes == result.size == len(data)
    assert result.path == tmp_path / "x.bin"
    assert result.resumed_from == 0
    assert result.details["reply"].startswith("226")
    assert (tmp_path / "x.bin").read_bytes() == data
    assert progress[-1] == (len(data), len(data))
    done = [d for d, _ in progress]
    assert done == sorted(done)

    result = ftp.fetch("with space.bin", tmp_path)
    assert (tmp_path / "with space.bin").read_bytes() == tree["with space.bin"]

    buf = io.BytesIO()
    result = ftp.fetch("a.txt", buf)
    assert buf.getvalue() == b"hello\n"
    assert result.path is None
    assert not list(tmp_path.glob("*.part"))


def test_fetch_facade(pc_ftp_server: Any, tree: dict[str, bytes], tmp_path: Path) -> None:
    assert pc.fetch(pc_ftp_server.url + "a.txt") == b"hello\n"
    result = pc.fetch(_user_url(pc_ftp_server, "pub/big.bin"), tmp_path, **_opts(pc_ftp_server))
    assert (tmp_path / "big.bin").read_bytes() == tree["pub/big.bin"]
    assert pc_ftp_server.users["alice"] not in repr(result)


def test_fetch_not_found_leaves_nothing(ftp: FTPClient, tmp_path: Path) -> None:
    with pytest.raises(pc.NotFoundError) as info:
        ftp.fetch("missing.bin", tmp_path / "m.bin")
    assert info.value.reply and "550" in info.value.reply
    assert list(tmp_path.iterdir()) == []


def test_fetch_directory_url_is_refused(ftp: FTPClient, tree: dict[str, bytes]) -> None:
    with pytest.raises(pc.InvalidInput):
        ftp.fetch("pub/")


def test_fetch_too_big_for_memory(pc_ftp_server: Any, tree: dict[str, bytes]) -> None:
    with pytest.raises(pc.ResponseTooLarge):
        pc.fetch(pc_ftp_server.url + "pub/big.bin", max_memory=1000)


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "recv_into"])
def test_resume_after_drop_is_byte_identical(
    ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes], tmp_path: Path, splice: bool
) -> None:
    ftp.use_splice = splice
    data = tree["pub/big.bin"]
    dest = tmp_path / "big.bin"
    cut = len(data) * 40 // 100
    pc_ftp_server.faults.drop_after = cut
    with pytest.raises(pc.IncompleteTransferError) as info:
        ftp.fetch("pub/big.bin", dest)
    assert "resume" in str(info.value)
    assert not dest.exists()
    part = tmp_path / "big.bin.part"
    assert part.stat().st_size == cut

    result = ftp.fetch("pub/big.bin", dest, resume=True)
    assert result.resumed_from == cut
    assert result.bytes == len(data) - cut
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert f"REST {cut}" in pc_ftp_server.commands
    assert not part.exists()


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "recv_into"])
def test_silent_short_transfer_is_detected(
    ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes], tmp_path: Path, splice: bool
) -> None:
    ftp.use_splice = splice
    pc_ftp_server.faults.drop_after = 1000
    pc_ftp_server.faults.drop_silently = True
    dest = tmp_path / "big.bin"
    with pytest.raises(pc.IncompleteTransferError):
        ftp.fetch("pub/big.bin", dest)
    assert not dest.exists()
    pc_ftp_server.faults.reset()
    ftp.fetch("pub/big.bin", dest, resume=True)
    assert dest.read_bytes() == tree["pub/big.bin"]


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "recv_into"])
def test_lying_rest_is_caught_and_part_discarded(
    ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes], tmp_path: Path, splice: bool
) -> None:
    ftp.use_splice = splice
    data = tree["pub/big.bin"]
    dest = tmp_path / "big.bin"
    pc_ftp_server.faults.drop_after = 300_000
    with pytest.raises(pc.IncompleteTransferError):
        ftp.fetch("pub/big.bin", dest)
    pc_ftp_server.faults.lie_rest = True
    with pytest.raises(pc.IncompleteTransferError) as info:
        ftp.fetch("pub/big.bin", dest, resume=True)
    assert "REST" in str(info.value)
    assert not dest.exists()
    assert not (tmp_path / "big.bin.part").exists()
    # The next resume starts cleanly from zero and is correct.
    pc_ftp_server.faults.lie_rest = False
    result = ftp.fetch("pub/big.bin", dest, resume=True)
    assert result.resumed_from == 0
    assert dest.read_bytes() == data


def test_rest_refused_restarts_from_zero(
    pc_ftp_server: Any, tree: dict[str, bytes], tmp_path: Path
) -> None:
    data = tree["pub/big.bin"]
    dest = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(b"X" * 5000)
    pc_ftp_server.faults.disabled_commands = {"REST"}
    with pc.connect(_user_url(pc_ftp_server), **_opts(pc_ftp_server)) as client:
        result = client.fetch("pub/big.bin", dest, resume=True)
    assert result.resumed_from == 0
    assert result.bytes == len(data)
    assert dest.read_bytes() == data
    assert "REST 5000" in pc_ftp_server.commands


def test_resume_restarts_when_remote_file_changed(
    ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes], tmp_path: Path
) -> None:
    dest = tmp_path / "big.bin"
    pc_ftp_server.faults.drop_after = 10_000
    with pytest.raises(pc.IncompleteTransferError):
        ftp.fetch("pub/big.bin", dest)
    new = os.urandom(500_000)
    (Path(pc_ftp_server.root) / "pub/big.bin").write_bytes(new)
    result = ftp.fetch("pub/big.bin", dest, resume=True)
    assert result.resumed_from == 0
    assert dest.read_bytes() == new


def test_existing_file_untouched_on_failure(
    ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes], tmp_path: Path
) -> None:
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"old content")
    dest.chmod(0o600)
    pc_ftp_server.faults.drop_after = 5000
    with pytest.raises(pc.IncompleteTransferError):
        ftp.fetch("pub/big.bin", dest)
    assert dest.read_bytes() == b"old content"
    ftp.fetch("pub/big.bin", dest, resume=True)
    assert dest.read_bytes() == tree["pub/big.bin"]
    assert dest.stat().st_mode & 0o777 == 0o600


# -- send ------------------------------------------------------------------------------------------


def test_send_make_dirs_atomic(ftp: FTPClient, pc_ftp_server: Any) -> None:
    root = Path(pc_ftp_server.root)
    payload = os.urandom(2_000_000)
    progress: list[tuple[int, int | None]] = []
    result = ftp.send(
        payload,
        "in/deep/er/file.bin",
        make_dirs=True,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert (root / "in/deep/er/file.bin").read_bytes() == payload
    assert result.bytes == len(payload)
    assert result.details["remote_name"] == "/in/deep/er/file.bin"
    assert result.details["reply"].startswith("226")
    assert progress[-1] == (len(payload), len(payload))
    assert _temp_files(root) == []
    stor = [c for c in pc_ftp_server.commands if c.startswith("STOR ")]
    assert len(stor) == 1
    temp = stor[0][5:]
    assert temp.startswith("/in/deep/er/.file.bin.") and temp.endswith(".part")
    assert f"RNFR {temp}" in pc_ftp_server.commands
    assert "RNTO /in/deep/er/file.bin" in pc_ftp_server.commands
    # Existing directories are fine the second time; overwriting replaces the content.
    ftp.send(b"v2", "in/deep/er/file.bin", make_dirs=True)
    assert (root / "in/deep/er/file.bin").read_bytes() == b"v2"
    assert _temp_files(root) == []


@pytest.mark.parametrize("sendfile", [False, True], ids=["sendall", "sendfile"])
def test_send_path_fileobj_and_dir_url(
    ftp: FTPClient, pc_ftp_server: Any, tmp_path: Path, sendfile: bool
) -> None:
    ftp.use_sendfile = sendfile
    root = Path(pc_ftp_server.root)
    local = tmp_path / "local name.bin"
    local.write_bytes(os.urandom(3_000_000))
    result = ftp.send(local, "/")
    assert (root / "local name.bin").read_bytes() == local.read_bytes()
    assert result.path == local
    ftp.send(io.BytesIO(b"from a stream" * 1000), "stream.txt")
    assert (root / "stream.txt").read_bytes() == b"from a stream" * 1000
    with local.open("rb") as handle:
        handle.seek(1000)
        ftp.send(handle, "tail.bin")
    assert (root / "tail.bin").read_bytes() == local.read_bytes()[1000:]
    ftp.send(b"", "empty.bin")
    assert (root / "empty.bin").read_bytes() == b""
    with pytest.raises(pc.InvalidInput):
        ftp.send(b"data", "somedir/")
    with pytest.raises(pc.InvalidInput):
        ftp.send(tmp_path / "nope.bin", "x.bin")
    assert _temp_files(root) == []


def test_send_facade(pc_ftp_server: Any) -> None:
    pc.send(_user_url(pc_ftp_server, "f/x.txt"), b"facade", make_dirs=True, **_opts(pc_ftp_server))
    assert (Path(pc_ftp_server.root) / "f/x.txt").read_bytes() == b"facade"


def test_send_into_missing_dir_fails_cleanly(ftp: FTPClient, pc_ftp_server: Any) -> None:
    with pytest.raises((pc.NotFoundError, pc.PermissionDeniedError)):
        ftp.send(b"data", "no/such/dir/file.bin")
    assert _temp_files(Path(pc_ftp_server.root)) == []


def test_anonymous_upload_is_denied(pc_ftp_server: Any) -> None:
    with pytest.raises(pc.PermissionDeniedError):
        pc.send(pc_ftp_server.url + "up.bin", b"data")
    assert list(Path(pc_ftp_server.root).iterdir()) == []


# -- delete and extras -------------------------------------------------------------------------------


def test_delete_file_and_directories(
    ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes]
) -> None:
    root = Path(pc_ftp_server.root)
    ftp.delete("a.txt")
    assert not (root / "a.txt").exists()
    with pytest.raises(pc.NotFoundError):
        ftp.delete("a.txt")
    ftp.delete("empty/")
    assert not (root / "empty").exists()
    (root / "empty2").mkdir()
    ftp.delete("empty2")  # DELE fails with 550, the path is a directory: RMD
    assert not (root / "empty2").exists()
    with pytest.raises(pc.PermissionDeniedError):
        ftp.delete("pub", directory=True)  # not empty
    assert (root / "pub/big.bin").exists()
    with pytest.raises(pc.ProtoClientError):
        ftp.delete("pub", directory=False)
    pc.delete(_user_url(pc_ftp_server, "pub/big.bin"), **_opts(pc_ftp_server))
    assert not (root / "pub/big.bin").exists()


def test_extras(ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes]) -> None:
    root = Path(pc_ftp_server.root)
    ftp.mkdir("newdir")
    assert (root / "newdir").is_dir()
    with pytest.raises(pc.ProtoClientError):
        ftp.mkdir("newdir")
    ftp.mkdir("p/q/r", parents=True)
    assert (root / "p/q/r").is_dir()
    ftp.mkdir("p/q/r", parents=True)  # existing: fine
    ftp.rename("a.txt", "newdir/b.txt")
    assert (root / "newdir/b.txt").read_bytes() == b"hello\n"
    assert not (root / "a.txt").exists()
    assert ftp.size("newdir/b.txt") == 6
    modified = ftp.modified("newdir/b.txt")
    assert modified is not None and modified.tzinfo is not None
    with pytest.raises(pc.NotFoundError):
        ftp.size("nope.txt")  # pyftpdlib's "550 ... is not retrievable" is probed with MLST
    assert ftp.features.get("SIZE") is not None
    assert ftp.raw.pwd() == "/"


def test_absolute_paths_follow_rfc1738(pc_ftp_server: Any, tree: dict[str, bytes]) -> None:
    # "//pub" is absolute; "/pub" is relative to the login directory (here both are "/pub").
    assert pc.fetch(pc_ftp_server.url + "/pub/big.bin") == tree["pub/big.bin"]
    assert pc.fetch(pc_ftp_server.url + "%2Fpub/big.bin") == tree["pub/big.bin"]


def test_reconnects_after_a_dropped_connection(ftp: FTPClient, tree: dict[str, bytes]) -> None:
    ftp.raw.sock.close()  # the connection dies under the client
    with pytest.raises(pc.ConnectionFailed):
        ftp.fetch("a.txt")
    assert ftp.fetch("a.txt") == b"hello\n"


# -- security ------------------------------------------------------------------------------------------


def test_bad_password(pc_ftp_server: Any) -> None:
    secret = "Sup3r-secret-Pw"
    with pytest.raises(pc.AuthenticationError) as info:
        pc.ls(_user_url(pc_ftp_server), password=secret)
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert "530" in (info.value.reply or "")
    assert "PASS ***" in pc_ftp_server.commands


def test_password_never_in_trace(pc_ftp_server: Any, tree: dict[str, bytes]) -> None:
    lines: list[str] = []
    pc.ls(_user_url(pc_ftp_server), **_opts(pc_ftp_server, trace=lines.append))
    assert "> PASS ***" in lines
    assert not any(pc_ftp_server.users["alice"] in line for line in lines)


@pytest.mark.parametrize("target", ["pub\r\nDELE a.txt", "a\nb", "x\0y", "ok\rDELE a.txt"])
def test_crlf_nul_in_paths_rejected(
    ftp: FTPClient, pc_ftp_server: Any, tree: dict[str, bytes], target: str
) -> None:
    before = list(pc_ftp_server.commands)
    with pytest.raises(pc.InvalidInput):
        ftp.fetch(target)
    with pytest.raises(pc.InvalidInput):
        ftp.delete(target)
    with pytest.raises(pc.InvalidInput):
        ftp.rename("a.txt", target)
    with pytest.raises(pc.InvalidInput):
        ftp.mkdir(target)
    with pytest.raises(pc.InvalidInput):
        ftp.send(b"x", target)
    assert pc_ftp_server.commands == before
    assert (Path(pc_ftp_server.root) / "a.txt").exists()


@pytest.mark.parametrize("path", ["pub%0d%0aDELE%20a.txt", "a%00b", "x%0ay"])
def test_crlf_in_url_rejected_before_connecting(
    pc_ftp_server: Any, tree: dict[str, bytes], path: str
) -> None:
    with pytest.raises(pc.InvalidInput):
        pc.fetch(pc_ftp_server.url + path)
    assert pc_ftp_server.commands == []


def test_no_password_in_clear_to_remote_host() -> None:
    # example.invalid never resolves: getting InsecureAuthError (not ConnectionFailed)
    # proves the check runs before any DNS lookup or connect.
    with pytest.raises(pc.InsecureAuthError):
        pc.ls("ftp://alice@example.invalid/", password="secret")
    with pytest.raises(pc.ConnectionFailed):
        pc.ls("ftp://alice@example.invalid/", password="secret", allow_insecure_auth=True)
    with pytest.raises(pc.ConnectionFailed):
        pc.ls("ftp://example.invalid/")  # anonymous: nothing secret to protect


def test_starttls_refused_means_no_login(pc_ftp_server: Any) -> None:
    with pytest.raises(pc.TLSRequiredError):
        pc.ls(_user_url(pc_ftp_server), password=pc_ftp_server.users["alice"], tls="starttls")
    assert pc_ftp_server.commands[0] == "AUTH TLS"
    assert not any(c.startswith(("USER", "PASS")) for c in pc_ftp_server.commands)


def test_refused_connection(pc_ftp_server: Any) -> None:
    port = pc_ftp_server.port
    pc_ftp_server.stop()
    with pytest.raises(pc.ConnectionFailed):
        pc.ls(f"ftp://127.0.0.1:{port}/", timeout=5)


# -- TLS ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["pc_ftps_server", "pc_ftps_implicit_server"])
def test_tls_round_trip(request: pytest.FixtureRequest, server: str, tmp_path: Path) -> None:
    srv = request.getfixturevalue(server)
    root = Path(srv.root)
    data = os.urandom(1_500_000)
    (root / "d").mkdir()
    (root / "d/file.bin").write_bytes(data)
    with pc.connect(_user_url(srv), **_opts(srv)) as client:
        assert isinstance(client, FTPClient)
        assert client.raw.is_tls
        assert [(e.name, e.size) for e in client.ls("d")] == [("file.bin", len(data))]
        assert {e.name for e in client.ls("d", use_mlsd=False)} == {"file.bin"}
        srv.faults.drop_after = 600_000
        with pytest.raises(pc.IncompleteTransferError):
            client.fetch("d/file.bin", tmp_path / "f.bin")
        result = client.fetch("d/file.bin", tmp_path / "f.bin", resume=True)
        assert result.resumed_from == 600_000
        assert (tmp_path / "f.bin").read_bytes() == data
        client.send(data, "up/copy.bin", make_dirs=True)
        assert (root / "up/copy.bin").read_bytes() == data
        client.send(tmp_path / "f.bin", "up/")
        assert (root / "up/f.bin").read_bytes() == data
        client.delete("up/copy.bin")
        client.delete("up/f.bin")
        client.delete("up/")
        assert not (root / "up").exists()
    commands = srv.commands
    if srv.tls == "explicit":
        assert commands[0] == "AUTH TLS"
    assert commands.index("PROT P") < min(
        i for i, c in enumerate(commands) if c.startswith(("MLSD", "RETR", "STOR", "LIST"))
    )
    assert _temp_files(root) == []


@pytest.mark.parametrize("server", ["pc_ftps_server", "pc_ftps_implicit_server"])
def test_tls_certificate_verified(request: pytest.FixtureRequest, server: str) -> None:
    srv = request.getfixturevalue(server)
    options = _opts(srv)
    del options["ca_file"]
    with pytest.raises(pc.CertificateError):
        pc.ls(_user_url(srv), **options)
    assert not any(c.startswith(("USER", "PASS")) for c in srv.commands)
    # insecure=True is the explicit opt-out.
    assert pc.ls(_user_url(srv), insecure=True, **options) == []


def test_implicit_tls_facade_anonymous(pc_ftps_implicit_server: Any) -> None:
    srv = pc_ftps_implicit_server
    (Path(srv.root) / "r.txt").write_bytes(b"tls data")
    assert pc.fetch(srv.url + "r.txt", ca_file=srv.ca_file) == b"tls data"
    with pytest.raises(pc.PermissionDeniedError):
        pc.send(srv.url + "w.txt", b"x", ca_file=srv.ca_file)


def test_plain_client_against_tls_only_server(pc_ftps_server: Any) -> None:
    # The server demands AUTH TLS before USER; a plain client is refused, not downgraded.
    with pytest.raises(pc.ProtoClientError):
        pc.ls(_user_url(pc_ftps_server), password=pc_ftps_server.users["alice"])


def test_user_without_password_is_not_anonymous(
    pc_ftp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    with pytest.raises(pc.CredentialsNotFound):
        pc.ls(_user_url(pc_ftp_server), use_keyring=False)
    assert pc_ftp_server.commands == []


def test_per_call_timeout_and_unknown_keywords(ftp: FTPClient, tree: dict[str, bytes]) -> None:
    assert ftp.fetch("a.txt", timeout=5) == b"hello\n"
    assert ftp.raw.timeout == ftp.options.timeout
    with pytest.raises(pc.InvalidInput):
        ftp.fetch("a.txt", method="POST")
    with pytest.raises(pc.InvalidInput):
        ftp.ls(timeout=0)


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "recv_into"])
def test_disk_full_keeps_nothing(
    pc_ftp_server: Any, tree: dict[str, bytes], tmp_path: Path, splice: bool
) -> None:
    import subprocess
    import sys

    dest = tmp_path / "big.bin"
    dest.write_bytes(b"old")
    code = f"""
import resource, sys
import protoclients as pc
from protoclients.protocols.ftp import FTPClient
FTPClient.use_splice = {splice!r}
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
try:
    pc.fetch({pc_ftp_server.url + "pub/big.bin"!r}, {str(dest)!r})
except pc.DiskFullError as exc:
    print("DiskFullError", exc)
    sys.exit(0)
sys.exit(3)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]


@pytest.mark.parametrize("server", ["pc_ftp_server", "pc_ftps_implicit_server"])
def test_active_mode_escape_hatch(
    request: pytest.FixtureRequest, server: str, tmp_path: Path
) -> None:
    srv = request.getfixturevalue(server)
    data = os.urandom(200_000)
    (Path(srv.root) / "act.bin").write_bytes(data)
    with pc.connect(_user_url(srv), **_opts(srv)) as client:
        assert isinstance(client, FTPClient)
        client.raw.set_pasv(False)
        assert client.fetch("act.bin") == data
        assert client.fetch("act.bin", tmp_path / "a.bin").bytes == len(data)
        client.send(data, "act2.bin")
        assert {e.name for e in client.ls()} == {"act.bin", "act2.bin"}
    assert (Path(srv.root) / "act2.bin").read_bytes() == data
    assert any(c.startswith(("PORT", "EPRT")) for c in srv.commands)
    assert not any(c.startswith(("PASV", "EPSV")) for c in srv.commands)
