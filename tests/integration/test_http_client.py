"""The HTTP(S) client against the local HTTP(S) servers: every verb, faults, TLS, auth."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from protoclients_fixtures import LocalHTTPServer, TestCA, serve_http

import protoclients as pc
from protoclients.protocols.http import HTTPClient
from protoclients.transfer import PART_SUFFIX

pytestmark = pytest.mark.timeout(20)

BIG = os.urandom(3 * 1024 * 1024 + 17)  # more than one read buffer, odd size
SMALL = b"hello, world\n"


@pytest.fixture(autouse=True)
def _no_ambient_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No ~/.netrc, $NETRC, keyring or password variable from the machine running the tests."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.delenv("PROTOCLIENTS_PASSWORD", raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def srv(pc_http_server: LocalHTTPServer) -> LocalHTTPServer:
    root = pc_http_server.root
    (root / "big.bin").write_bytes(BIG)
    (root / "small.txt").write_bytes(SMALL)
    (root / "dir").mkdir()
    (root / "dir" / "inner.txt").write_bytes(b"inner\n")
    (root / "dir" / "caf\u00e9 & <co>.txt").write_bytes(b"x" * 5)
    (root / "dir" / "sub").mkdir()
    (root / "private").mkdir()
    (root / "private" / "secret.txt").write_bytes(b"top secret\n")
    return pc_http_server


def password(srv: LocalHTTPServer) -> str:
    return srv.users["alice"]


def client(srv: LocalHTTPServer, **kwargs: object) -> HTTPClient:
    kwargs.setdefault("use_keyring", False)
    c = pc.connect(srv.url, **kwargs)  # type: ignore[arg-type]
    assert isinstance(c, HTTPClient)
    return c


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gets(srv: LocalHTTPServer, path: str) -> list[object]:
    return [r for r in srv.requests if r.method == "GET" and r.path == path]


# -- fetch -----------------------------------------------------------------------------------


def test_fetch_to_memory_with_the_facade(srv: LocalHTTPServer) -> None:
    assert pc.fetch(srv.url + "small.txt") == SMALL
    assert pc.fetch(srv.url + "big.bin") == BIG
    request = gets(srv, "/big.bin")[0]
    assert request.headers["Accept-Encoding"] == "identity"  # type: ignore[attr-defined]


def test_fetch_to_path_dir_and_file_object(srv: LocalHTTPServer, tmp_path: Path) -> None:
    with client(srv) as c:
        result = c.fetch("big.bin", tmp_path / "copy.bin")
        assert isinstance(result, pc.TransferResult)
        assert result.path == tmp_path / "copy.bin"
        assert result.bytes == result.size == len(BIG)
        assert result.details["status"] == 200
        assert result.details["etag"]
        assert result.details["content_type"] == "application/octet-stream"
        assert (tmp_path / "copy.bin").read_bytes() == BIG

        into_dir = c.fetch("dir/inner.txt", tmp_path)
        assert into_dir.path == tmp_path / "inner.txt"
        assert (tmp_path / "inner.txt").read_bytes() == b"inner\n"

        buffer = io.BytesIO()
        by_obj = c.fetch("big.bin", buffer)
        assert by_obj.path is None
        assert buffer.getvalue() == BIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin", "inner.txt"]


def test_fetch_directory_url_into_a_dir_is_named_index_html(
    srv: LocalHTTPServer, tmp_path: Path
) -> None:
    result = pc.fetch(srv.url + "dir/", tmp_path)
    assert result.path == tmp_path / "index.html"
    assert result.path.read_bytes().startswith(b"<!DOCTYPE HTML>")


def test_fetch_root_url_into_a_dir_is_named_index_html(
    srv: LocalHTTPServer, tmp_path: Path
) -> None:
    result = pc.fetch(srv.url, tmp_path)
    assert result.path == tmp_path / "index.html"


def test_max_memory_bounds_fetch_to_memory(srv: LocalHTTPServer) -> None:
    with pytest.raises(pc.ResponseTooLarge, match="max_memory"):
        pc.fetch(srv.url + "big.bin", max_memory=1024 * 1024)
    assert pc.fetch(srv.url + "small.txt", max_memory=len(SMALL)) == SMALL


def test_progress_callback(srv: LocalHTTPServer, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    pc.fetch(srv.url + "big.bin", tmp_path / "p.bin", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (len(BIG), len(BIG))
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert all(t == len(BIG) for _, t in calls)


def test_relative_paths_join_the_client_url(srv: LocalHTTPServer) -> None:
    with pc.connect(srv.url + "dir/") as c:
        assert c.fetch("inner.txt") == b"inner\n"
        assert c.fetch("/small.txt") == SMALL
        with pytest.raises(pc.InvalidInput, match="use a new connection"):
            c.fetch("http://127.0.0.2:1/x")


def test_one_connection_is_reused_for_several_fetches(srv: LocalHTTPServer) -> None:
    with client(srv) as c:
        for _ in range(3):
            assert c.fetch("big.bin") == BIG
            assert c.fetch("small.txt") == SMALL
        session = c.raw
        adapter = session.get_adapter(srv.url)
        pools = adapter.poolmanager.pools  # type: ignore[attr-defined]
        keys = list(pools.keys())
        assert len(keys) == 1
        assert pools[keys[0]].num_connections == 1


# -- atomic downloads and resume (FLT-01) ---------------------------------------------------


def test_interrupted_download_leaves_no_final_file(srv: LocalHTTPServer, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    srv.faults.drop_after = 1_000_000
    with pytest.raises(pc.IncompleteTransferError, match="1000000 of"):
        pc.fetch(srv.url + "big.bin", dest)
    assert not dest.exists()
    part = tmp_path / ("big.bin" + PART_SUFFIX)
    assert part.read_bytes() == BIG[:1_000_000]


def test_interrupted_download_keeps_an_existing_file(srv: LocalHTTPServer, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"old content")
    srv.faults.drop_after = 10
    with pytest.raises(pc.IncompleteTransferError):
        pc.fetch(srv.url + "big.bin", dest)
    assert dest.read_bytes() == b"old content"


def test_resume_without_a_partial_file_downloads_everything(
    srv: LocalHTTPServer, tmp_path: Path
) -> None:
    result = pc.fetch(srv.url + "big.bin", tmp_path / "b.bin", resume=True)
    assert result.resumed_from == 0
    assert "Range" not in srv.requests[0].headers
    assert (tmp_path / "b.bin").read_bytes() == BIG


def test_resume_of_an_already_complete_part(srv: LocalHTTPServer, tmp_path: Path) -> None:
    dest = tmp_path / "small.txt"
    (tmp_path / ("small.txt" + PART_SUFFIX)).write_bytes(SMALL)
    result = pc.fetch(srv.url + "small.txt", dest, resume=True)
    assert result.bytes == 0
    assert result.resumed_from == len(SMALL)
    assert dest.read_bytes() == SMALL


def test_resume_of_a_part_larger_than_the_remote_file_restarts(
    srv: LocalHTTPServer, tmp_path: Path
) -> None:
    dest = tmp_path / "small.txt"
    (tmp_path / ("small.txt" + PART_SUFFIX)).write_bytes(b"x" * 100)
    result = pc.fetch(srv.url + "small.txt", dest, resume=True)
    assert dest.read_bytes() == SMALL
    assert result.resumed_from == 0


def test_resume_of_a_part_from_another_url_restarts(srv: LocalHTTPServer, tmp_path: Path) -> None:
    dest = tmp_path / "x.bin"
    srv.faults.drop_after = 1000
    with pytest.raises(pc.IncompleteTransferError):
        pc.fetch(srv.url + "big.bin", dest)
    srv.requests.clear()
    pc.fetch(srv.url + "small.txt", dest, resume=True)
    assert "Range" not in srv.requests[0].headers
    assert dest.read_bytes() == SMALL


def test_resume_into_a_file_object(srv: LocalHTTPServer) -> None:
    buffer = io.BytesIO(BIG[:1000])
    buffer.seek(0, io.SEEK_END)
    result = pc.fetch(srv.url + "big.bin", buffer, resume=True)
    assert result.resumed_from == 1000
    assert buffer.getvalue() == BIG


def test_range_headers_cannot_be_passed_by_hand(srv: LocalHTTPServer) -> None:
    with pytest.raises(pc.InvalidInput, match="resume"):
        pc.fetch(srv.url + "big.bin", headers={"Range": "bytes=0-1"})


# -- send -------------------------------------------------------------------------------------


def test_send_put_path_bytes_and_file_object(srv: LocalHTTPServer, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(BIG)
    with client(srv, password=password(srv)) as c:
        c.url = c.url.replace(username="alice")
        created = c.send(source, "up/a.bin")
        assert created.details["status"] == 201
        assert created.bytes == created.size == len(BIG)
        assert (srv.root / "up" / "a.bin").read_bytes() == BIG

        replaced = c.send(b"bytes body", "up/a.bin")
        assert replaced.details["status"] == 204
        assert (srv.root / "up" / "a.bin").read_bytes() == b"bytes body"

        with source.open("rb") as f:
            f.seek(10)
            c.send(f, "up/b.bin")
        assert (srv.root / "up" / "b.bin").read_bytes() == BIG[10:]

        c.send(b"", "up/empty.bin")
        assert (srv.root / "up" / "empty.bin").read_bytes() == b""
    put = next(r for r in srv.requests if r.method == "PUT")
    assert put.headers["Content-Length"] == str(len(BIG))
    assert put.headers["Content-Type"] == "application/octet-stream"


def test_send_post_with_the_facade(srv: LocalHTTPServer) -> None:
    url = srv.url_for("inbox/report.json", user="alice")
    result = pc.send(
        url,
        b'{"ok": true}',
        method="POST",
        content_type="application/json",
        password=password(srv),
        use_keyring=False,
    )
    assert result.details["status"] == 201
    assert result.details["location"] == "/inbox/report.json"
    assert (srv.root / "inbox" / "report.json").read_bytes() == b'{"ok": true}'
    post = next(r for r in srv.requests if r.method == "POST")
    assert post.headers["Content-Type"] == "application/json"


def test_send_progress_and_guessed_content_type(srv: LocalHTTPServer, tmp_path: Path) -> None:
    source = tmp_path / "page.html"
    source.write_bytes(BIG)
    calls: list[tuple[int, int | None]] = []
    url = srv.url_for("page.html", user="alice")
    pc.send(
        url,
        source,
        password=password(srv),
        use_keyring=False,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (len(BIG), len(BIG))
    assert len(calls) >= 2
    put = next(r for r in srv.requests if r.method == "PUT")
    assert put.headers["Content-Type"] == "text/html"


def test_send_of_a_path_streams_with_content_length_and_live_progress(
    srv: LocalHTTPServer, tmp_path: Path
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)  # several upload buffers, odd size
    source = tmp_path / "several.bin"
    source.write_bytes(data)
    calls: list[tuple[int, int | None]] = []
    url = srv.url_for("several.bin", user="alice")
    result = pc.send(
        url,
        source,
        password=password(srv),
        use_keyring=False,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert result.bytes == result.size == len(data)
    assert (srv.root / "several.bin").read_bytes() == data
    put = next(r for r in srv.requests if r.method == "PUT")
    assert put.headers["Content-Length"] == str(len(data))
    assert "Transfer-Encoding" not in put.headers
    done = [d for d, _ in calls]
    assert len(calls) >= 5
    assert done == sorted(done)
    assert all(total == len(data) for _, total in calls)
    assert calls[-1] == (len(data), len(data))


def test_send_of_a_path_over_https(pc_https_server: LocalHTTPServer, tmp_path: Path) -> None:
    data = os.urandom(4 * 1024 * 1024 + 5)
    source = tmp_path / "secure.bin"
    source.write_bytes(data)
    calls: list[tuple[int, int | None]] = []
    url = pc_https_server.url_for("up/secure.bin", user="alice")
    result = pc.send(
        url,
        source,
        password=pc_https_server.users["alice"],
        use_keyring=False,
        ca_file=pc_https_server.ca_file,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert result.details["status"] == 201
    assert result.bytes == len(data)
    assert (pc_https_server.root / "up" / "secure.bin").read_bytes() == data
    assert calls[-1] == (len(data), len(data))
    put = next(r for r in pc_https_server.requests if r.method == "PUT")
    assert put.headers["Content-Length"] == str(len(data))


def test_send_from_a_non_seekable_stream_is_chunked(srv: LocalHTTPServer) -> None:
    class Stream(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            chunk = self._data.read(min(len(b), 65536))
            b[: len(chunk)] = chunk
            return len(chunk)

    url = srv.url_for("stream.bin", user="alice")
    result = pc.send(url, Stream(BIG), password=password(srv), use_keyring=False)
    assert result.size is None
    assert result.bytes == len(BIG)
    assert (srv.root / "stream.bin").read_bytes() == BIG
    put = next(r for r in srv.requests if r.method == "PUT")
    assert put.headers["Transfer-Encoding"] == "chunked"


def test_send_refuses_other_methods_and_bad_sources(srv: LocalHTTPServer, tmp_path: Path) -> None:
    with client(srv) as c:
        with pytest.raises(pc.InvalidInput, match="PUT or POST"):
            c.send(b"x", "a", method="DELETE")
        with pytest.raises(pc.InvalidInput, match="not found"):
            c.send(tmp_path / "missing", "a")
        with pytest.raises(pc.InvalidInput, match="directory"):
            c.send(tmp_path, "a")
        with pytest.raises(pc.InvalidInput, match="binary"):
            c.send(io.StringIO("text"), "a")  # type: ignore[arg-type]
        with pytest.raises(pc.InvalidInput):
            c.send(b"x", "a", content_type="text/plain\r\nX-Evil: 1")
    assert srv.requests == []


def test_put_redirected_with_307_keeps_method_and_body(srv: LocalHTTPServer) -> None:
    srv.add_redirect("/old-upload", "/new/upload.bin", code=307)
    url = srv.url_for("old-upload", user="alice")
    result = pc.send(url, b"payload", password=password(srv), use_keyring=False)
    assert result.details["final_url"].endswith("/new/upload.bin")
    assert (srv.root / "new" / "upload.bin").read_bytes() == b"payload"
    assert [r.method for r in srv.requests] == ["PUT", "PUT"]


@pytest.mark.parametrize("code", [307, 308])
def test_put_of_a_path_redirected_keeps_method_and_body(
    srv: LocalHTTPServer, tmp_path: Path, code: int
) -> None:
    source = tmp_path / "moved.bin"
    source.write_bytes(BIG)
    srv.add_redirect("/old-upload", "/new/moved.bin", code=code)
    calls: list[tuple[int, int | None]] = []
    url = srv.url_for("old-upload", user="alice")
    result = pc.send(
        url,
        source,
        password=password(srv),
        use_keyring=False,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert result.details["final_url"].endswith("/new/moved.bin")
    assert result.bytes == result.size == len(BIG)
    assert (srv.root / "new" / "moved.bin").read_bytes() == BIG
    assert [r.method for r in srv.requests] == ["PUT", "PUT"]
    assert calls[-1] == (len(BIG), len(BIG))


def test_put_from_an_unrewindable_stream_redirected_fails_cleanly(srv: LocalHTTPServer) -> None:
    class Stream(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            return 0

    srv.add_redirect("/old-upload", "/new/upload.bin", code=307)
    url = srv.url_for("old-upload", user="alice")
    with pytest.raises(pc.ProtocolError, match="cannot be read again"):
        pc.send(url, Stream(), password=password(srv), use_keyring=False)
    assert not (srv.root / "new" / "upload.bin").exists()


def test_post_redirected_with_303_becomes_get(srv: LocalHTTPServer) -> None:
    srv.add_redirect("/form", "/small.txt", code=303)
    url = srv.url_for("form", user="alice")
    pc.send(url, b"a=1", method="POST", password=password(srv), use_keyring=False)
    assert [r.method for r in srv.requests] == ["POST", "GET"]
    assert "Content-Type" not in srv.requests[1].headers


# -- delete and ls ------------------------------------------------------------------------------


def test_delete(srv: LocalHTTPServer) -> None:
    url = srv.url_for("small.txt", user="alice")
    pc.delete(url, password=password(srv), use_keyring=False)
    assert not (srv.root / "small.txt").exists()
    with pytest.raises(pc.NotFoundError):
        pc.delete(url, password=password(srv), use_keyring=False)


def test_ls_python_style(srv: LocalHTTPServer) -> None:
    entries = pc.ls(srv.url + "dir")
    by_name = {e.name: e for e in entries}
    assert set(by_name) == {"inner.txt", "caf\u00e9 & <co>.txt", "sub"}
    assert by_name["sub"].kind == "dir"
    assert by_name["sub"].url == srv.url + "dir/sub/"
    assert by_name["inner.txt"].kind == "file"
    # Entry URLs can be fetched as they are.
    assert pc.fetch(by_name["caf\u00e9 & <co>.txt"].url) == b"x" * 5


def test_ls_nginx_style(srv: LocalHTTPServer) -> None:
    srv.index_style = "nginx"
    with client(srv) as c:
        entries = {e.name: e for e in c.ls()}
        assert entries["big.bin"].size == len(BIG)
        assert entries["big.bin"].modified is not None
        assert entries["dir"].kind == "dir"
        assert entries["dir"].size is None
        assert "private" in entries
        inner = {e.name: e for e in c.ls("dir/")}
        assert inner["caf\u00e9 & <co>.txt"].size == 5


def test_ls_of_a_file_is_refused(srv: LocalHTTPServer) -> None:
    (srv.root / "plain").mkdir()
    (srv.root / "plain" / "index.html").write_bytes(b"<html>no links</html>")
    assert pc.ls(srv.url + "plain/") == []
    with pytest.raises((pc.ProtocolError, pc.NotFoundError)):
        pc.ls(srv.url + "small.txt")


def test_ls_is_bounded_by_max_memory(srv: LocalHTTPServer) -> None:
    for i in range(200):
        (srv.root / "dir" / f"file-{i:04}.txt").write_bytes(b"")
    with pytest.raises(pc.ResponseTooLarge):
        pc.ls(srv.url + "dir/", max_memory=2048)
    with pytest.raises(pc.ResponseTooLarge):
        pc.ls(srv.url + "dir/", max_entries=100)
    assert len(pc.ls(srv.url + "dir/")) == 203


# -- authentication and secrets -------------------------------------------------------------------


def test_401_without_credentials_says_how_to_give_them(srv: LocalHTTPServer) -> None:
    with pytest.raises(pc.AuthenticationError) as info:
        pc.fetch(srv.url + "private/secret.txt")
    assert isinstance(info.value, pc.CredentialsNotFound)
    message = str(info.value)
    assert "password=" in message and "netrc" in message
    assert "Authorization" not in srv.requests[0].headers


def test_credentials_work_and_wrong_ones_are_reported(srv: LocalHTTPServer) -> None:
    url = srv.url_for("private/secret.txt", user="alice")
    assert pc.fetch(url, password=password(srv), use_keyring=False) == b"top secret\n"
    assert srv.requests[0].headers["Authorization"] == "Basic ***"
    with pytest.raises(pc.AuthenticationError) as info:
        pc.fetch(url, password="wrong-password", use_keyring=False)
    assert not isinstance(info.value, pc.CredentialsNotFound)
    assert "alice" in str(info.value)
    assert "wrong-password" not in str(info.value) + repr(info.value)


def test_password_in_the_url_is_used_and_never_shown(srv: LocalHTTPServer) -> None:
    pw = password(srv)
    url = f"http://alice:{pw}@127.0.0.1:{srv.port}/private/secret.txt"
    assert pc.fetch(url) == b"top secret\n"
    with pytest.raises(pc.NotFoundError) as info:
        pc.fetch(f"http://alice:{pw}@127.0.0.1:{srv.port}/private/missing?token=t0k3n-value")
    text = str(info.value) + repr(info.value)
    assert pw not in text
    assert "t0k3n-value" not in text


def test_password_is_never_sent_in_clear_to_a_remote_host() -> None:
    # example.invalid cannot resolve: had a connection been tried, this would be
    # ConnectionFailed. The refusal comes first.
    c = HTTPClient("http://alice@example.invalid/file", password="pw-123", use_keyring=False)
    with c, pytest.raises(pc.InsecureAuthError, match="unencrypted"):
        c.fetch()
    with pytest.raises(pc.InsecureAuthError):
        pc.send("http://alice:pw-123@example.invalid/x", b"data")
    # Without credentials nothing is refused (the failure is the connection).
    with pytest.raises(pc.ConnectionFailed):
        pc.fetch("http://example.invalid/file", retries=0)


def test_ambient_credentials_are_held_back_on_an_insecure_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A netrc entry (perhaps meant for FTP) must not make every plain-HTTP fetch from that
    # host fail: it is not sent, and nothing is refused before the server asks for it.
    netrc = Path(os.environ["HOME"]) / ".netrc"
    netrc.write_text("machine example.invalid login alice password pw-123\n")
    netrc.chmod(0o600)
    with pytest.raises(pc.ConnectionFailed):
        pc.fetch("http://example.invalid/file", retries=0, use_keyring=False)


def test_netrc_is_not_read_by_requests(
    srv: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A world-readable netrc that requests itself would happily use (CVE-2024-47081).
    netrc = Path(os.environ["HOME"]) / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login alice password {password(srv)}\n")
    netrc.chmod(0o644)
    monkeypatch.setenv("NETRC", str(netrc))
    with pytest.raises(pc.AuthenticationError):
        pc.fetch(srv.url + "private/secret.txt")
    assert all("Authorization" not in r.headers for r in srv.requests)
    # A private netrc is used, by protoclients' own rules.
    netrc.chmod(0o600)
    assert pc.fetch(srv.url + "private/secret.txt") == b"top secret\n"


def test_redirect_to_another_origin_drops_secrets(srv: LocalHTTPServer, tmp_path: Path) -> None:
    other_root = tmp_path / "other"
    other_root.mkdir()
    (other_root / "landing.txt").write_bytes(b"landed\n")
    with serve_http(other_root, users={}) as other:
        srv.add_redirect("/go", other.url + "landing.txt")
        url = srv.url_for("go", user="alice")
        body = pc.fetch(
            url,
            password=password(srv),
            use_keyring=False,
            headers={
                "X-Api-Key": "k-123456",
                "Cookie": "session=abcdef",
                "X-Tenant": "t-1",
                "X-Trace": "visible",
            },
            secret_headers=["X-Tenant"],
        )
        assert body == b"landed\n"
        first = srv.requests[0].headers
        assert first["Authorization"] == "Basic ***"
        assert first["X-Api-Key"] == "k-123456"
        landed = other.requests[0].headers
        for name in ("Authorization", "X-Api-Key", "Cookie", "X-Tenant"):
            assert name not in landed
        assert landed["X-Trace"] == "visible"


def test_same_origin_redirect_keeps_credentials(srv: LocalHTTPServer) -> None:
    srv.add_redirect("/old", "/private/secret.txt", code=301)
    url = srv.url_for("old", user="alice")
    assert pc.fetch(url, password=password(srv), use_keyring=False) == b"top secret\n"
    assert srv.requests[1].headers["Authorization"] == "Basic ***"


def test_too_many_redirects(srv: LocalHTTPServer) -> None:
    srv.add_redirect("/a", "/b")
    srv.add_redirect("/b", "/a")
    with pytest.raises(pc.ProtocolError, match="too many redirects"):
        pc.fetch(srv.url + "a")
    assert len(srv.requests) == 11


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "imap://127.0.0.1/INBOX", "data:,x"]
)
def test_redirect_to_other_schemes_is_refused(srv: LocalHTTPServer, target: str) -> None:
    srv.add_redirect("/go", target)
    with pytest.raises(pc.ProtocolError, match="only http and https"):
        pc.fetch(srv.url + "go")
    assert len(srv.requests) == 1


def test_https_to_http_downgrade_is_refused(
    srv: LocalHTTPServer, pc_https_server: LocalHTTPServer
) -> None:
    pc_https_server.add_redirect("/down", srv.url + "small.txt")
    url = pc_https_server.url_for("down", user="alice")
    options = {
        "ca_file": pc_https_server.ca_file,
        "password": password(pc_https_server),
        "use_keyring": False,
    }
    with pytest.raises(pc.TLSRequiredError, match="allow_downgrade"):
        pc.fetch(url, **options)
    assert srv.requests == []
    assert pc.fetch(url, allow_downgrade=True, **options) == SMALL
    assert "Authorization" not in srv.requests[0].headers


# -- errors ----------------------------------------------------------------------------------------


def test_error_mapping(srv: LocalHTTPServer) -> None:
    with client(srv, retries=0) as c:
        with pytest.raises(pc.NotFoundError) as not_found:
            c.fetch("missing.txt")
        assert not_found.value.reply is not None
        assert not_found.value.reply.startswith("404 Not Found")
        assert not_found.value.protocol == "http"
        srv.faults.status_once = 403
        with pytest.raises(pc.PermissionDeniedError):
            c.fetch("small.txt")
        srv.faults.status_once = 410
        with pytest.raises(pc.NotFoundError):
            c.fetch("small.txt")
        srv.faults.status_once = 503
        with pytest.raises(pc.ServerError) as unavailable:
            c.fetch("small.txt")
        assert unavailable.value.status == 503
        assert unavailable.value.temporary
        srv.faults.status_once = 500
        with pytest.raises(pc.ServerError) as broken:
            c.fetch("small.txt")
        assert broken.value.status == 500
        assert not broken.value.temporary
        srv.faults.status_once = 409
        with pytest.raises(pc.ServerError) as conflict:
            c.delete("small.txt")
        assert conflict.value.status == 409
        assert c.fetch("small.txt") == SMALL


def test_idempotent_requests_are_retried(srv: LocalHTTPServer) -> None:
    srv.faults.status_once = 503
    assert pc.fetch(srv.url + "small.txt") == SMALL
    assert len(srv.requests) == 2
    srv.requests.clear()
    srv.faults.status_once = 502
    url = srv.url_for("retried.bin", user="alice")
    pc.send(url, BIG[:200_000], password=password(srv), use_keyring=False)
    assert (srv.root / "retried.bin").read_bytes() == BIG[:200_000]  # body re-sent whole
    assert [r.method for r in srv.requests] == ["PUT", "PUT"]


def test_post_is_not_retried(srv: LocalHTTPServer) -> None:
    srv.faults.status_once = 503
    url = srv.url_for("posted.bin", user="alice")
    with pytest.raises(pc.ServerError):
        pc.send(url, b"once", method="POST", password=password(srv), use_keyring=False)
    assert [r.method for r in srv.requests] == ["POST"]


def test_header_injection_is_refused_before_connecting(srv: LocalHTTPServer) -> None:
    with pytest.raises(pc.InvalidInput):
        pc.fetch(srv.url + "small.txt", headers={"X-Test": "v\r\nX-Injected: 1"})
    with pytest.raises(pc.InvalidInput):
        pc.fetch(srv.url + "small.txt", headers={"X-Test\r\n": "v"})
    with pytest.raises(pc.InvalidURL):
        pc.fetch(srv.url + "small.txt%0d%0aX-Injected:%201")
    assert srv.requests == []


def test_connection_refused(tmp_path: Path) -> None:
    with serve_http(tmp_path, users={}) as gone:
        url = gone.url
    with pytest.raises(pc.ConnectionFailed, match="refused"):
        pc.fetch(url + "x?token=s3cr3t-value")
    with pytest.raises(pc.ConnectionFailed) as info:
        pc.fetch(url + "x?token=s3cr3t-value", retries=0)
    assert "s3cr3t-value" not in str(info.value) + repr(info.value)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (kernel backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        sock.close()


@pytest.mark.timeout(10)
def test_read_timeout(silent_server: str) -> None:
    with pytest.raises(pc.OperationTimeoutError, match=r"0\.5 s"):
        pc.fetch(silent_server + "x", timeout=0.5, retries=0)
    with pc.connect(silent_server, retries=0) as c, pytest.raises(TimeoutError):
        c.ls(timeout=0.3)


@pytest.mark.timeout(10)
def test_timeout_mid_body(tmp_path: Path) -> None:
    """The server announces 100 bytes, sends 10 and stalls: a timeout, not a hang."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
            stop.wait(5)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/f"
        with pytest.raises(pc.OperationTimeoutError, match=r"no data for 0\.5 s"):
            pc.fetch(url, tmp_path / "f", timeout=0.5, retries=0)
        assert not (tmp_path / "f").exists()
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_size_bomb_content_length_is_not_trusted(tmp_path: Path) -> None:
    """HOS-02: Content-Length 50 GB with a 3-byte body."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2)

    def serve() -> None:
        for _ in range(2):
            conn, _ = sock.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000000\r\n\r\nabc")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/f"
    try:
        with pytest.raises(pc.ResponseTooLarge):
            pc.fetch(url, retries=0)
        with pytest.raises(pc.IncompleteTransferError, match="3 of 50000000000"):
            pc.fetch(url, tmp_path / "f", retries=0)
    finally:
        thread.join(5)
        sock.close()


# -- TLS ---------------------------------------------------------------------------------------------


def test_https_with_ca_file(pc_https_server: LocalHTTPServer, tmp_path: Path) -> None:
    (pc_https_server.root / "f.bin").write_bytes(BIG)
    url = pc_https_server.url + "f.bin"
    result = pc.fetch(url, tmp_path / "f.bin", ca_file=pc_https_server.ca_file)
    assert (tmp_path / "f.bin").read_bytes() == BIG
    assert result.bytes == len(BIG)
    (pc_https_server.root / "d").mkdir()
    (pc_https_server.root / "d" / "x").write_bytes(b"")
    assert [e.name for e in pc.ls(pc_https_server.url + "d/", ca_file=pc_https_server.ca_file)] == [
        "x"
    ]


def test_https_without_the_ca_is_a_certificate_error(pc_https_server: LocalHTTPServer) -> None:
    (pc_https_server.root / "f").write_bytes(b"x")
    with pytest.raises(pc.CertificateError, match="certificate verification failed"):
        pc.fetch(pc_https_server.url + "f")
    assert pc_https_server.requests == []


def test_https_with_another_ca_is_a_certificate_error(
    pc_https_server: LocalHTTPServer,
) -> None:
    with TestCA() as other, pytest.raises(pc.CertificateError):
        pc.fetch(pc_https_server.url + "f", ca_file=other.ca_file)


def test_https_insecure_works_with_a_warning(
    pc_https_server: LocalHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    (pc_https_server.root / "f").write_bytes(b"insecure ok")
    with caplog.at_level(logging.WARNING, logger="protoclients"):
        assert pc.fetch(pc_https_server.url + "f", insecure=True) == b"insecure ok"
    assert "DISABLED" in caplog.text


def test_missing_ca_file_is_reported(pc_https_server: LocalHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(pc.TLSError, match="CA file"):
        pc.fetch(pc_https_server.url + "f", ca_file=str(tmp_path / "nope.pem"))


def test_tls_option_must_match_the_scheme(srv: LocalHTTPServer) -> None:
    with pytest.raises(pc.InvalidInput, match="STARTTLS"):
        pc.fetch(srv.url + "small.txt", tls="starttls")
    with pytest.raises(pc.InvalidInput):
        pc.fetch(srv.url + "small.txt", tls="implicit")


# -- the rest ------------------------------------------------------------------------------------


def test_raw_is_a_session_that_ignores_the_environment(srv: LocalHTTPServer) -> None:
    import requests

    with client(srv) as c:
        session = c.raw
        assert isinstance(session, requests.Session)
        assert session.trust_env is False
        assert session.get(srv.url + "small.txt", timeout=5).content == SMALL


def test_proxy_variables_are_not_used_for_loopback(
    srv: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9/")
    assert pc.fetch(srv.url + "small.txt") == SMALL


def test_unknown_keywords_are_refused(srv: LocalHTTPServer) -> None:
    with pytest.raises(pc.InvalidInput, match="colour"):
        pc.fetch(srv.url + "small.txt", colour="blue")


def test_trace_redacts_secrets(srv: LocalHTTPServer) -> None:
    lines: list[str] = []
    url = srv.url_for("private/secret.txt", user="alice")
    pc.fetch(
        url,
        password=password(srv),
        use_keyring=False,
        trace=lines.append,
        headers={"X-Api-Key": "k-987654"},
    )
    text = "\n".join(lines)
    assert "> GET " in text and "< 200" in text
    assert password(srv) not in text
    assert "k-987654" not in text
    assert "Authorization: Basic ***" in text


# -- scripted servers (FLT-10) ----------------------------------------------------------------


class Scripted:
    """A loopback server answering each connection with the next canned reply.

    ``None`` as a reply closes the connection without answering (after reading the request,
    body included); ``b""`` closes it right after the request head, body unread. Every reply
    should carry ``Connection: close``. Records the request heads and bodies it received.
    """

    def __init__(self, replies: list[bytes | None]) -> None:
        self.replies = list(replies)
        self.received: list[bytes] = []
        self.bodies: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.stop = threading.Event()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _accept(self) -> socket.socket | None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return None
            return conn
        return None

    def _serve(self) -> None:
        for reply in self.replies:
            conn = self._accept()
            if conn is None:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                head, _, body = data.partition(b"\r\n\r\n")
                self.received.append(head)
                if reply == b"":
                    continue  # hang up with the body unread
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                try:
                    while len(body) < length:
                        chunk = conn.recv(1024 * 1024)
                        if not chunk:
                            break
                        body += chunk
                except OSError:
                    pass
                self.bodies.append(body)
                if reply is not None:
                    conn.sendall(reply)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


OK_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    servers: list[Scripted] = []

    class Tracked(Scripted):
        def __init__(self, replies: list[bytes | None]) -> None:
            super().__init__(replies)
            servers.append(self)

    yield Tracked
    for server in servers:
        server.close()


def test_retry_after_is_honoured_up_to_a_cap(
    scripted: type[Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import protoclients.protocols.httpsession as session_module

    monkeypatch.setattr(session_module, "RETRY_AFTER_CAP", 0.3)
    busy = (
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 99999999\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    server = scripted([busy, OK_REPLY])
    started = time.monotonic()
    assert pc.fetch(server.url + "x") == b"ok"
    elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 3
    assert len(server.received) == 2


def test_429_is_retried_and_reported_when_it_persists(scripted: type[Scripted]) -> None:
    limited = (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\n"
        b"Content-Length: 4\r\nConnection: close\r\n\r\nslow"
    )
    server = scripted([limited, limited, limited])
    with pytest.raises(pc.ServerError) as info:
        pc.fetch(server.url + "x", retries=2)
    assert info.value.status == 429
    assert info.value.temporary
    assert len(server.received) == 3  # one try and two retries, then it stops


def test_connection_dropped_before_the_answer_get_is_retried(scripted: type[Scripted]) -> None:
    server = scripted([None, OK_REPLY])
    assert pc.fetch(server.url + "x") == b"ok"
    assert len(server.received) == 2


CREATED_REPLY = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("drop", [None, b""], ids=["after-the-body", "mid-body"])
def test_put_of_a_path_is_replayed_whole_after_a_dropped_connection(
    scripted: type[Scripted], tmp_path: Path, drop: bytes | None
) -> None:
    data = os.urandom(8 * 1024 * 1024 + 1)  # more than the socket buffers hold
    source = tmp_path / "retry.bin"
    source.write_bytes(data)
    calls: list[tuple[int, int | None]] = []
    server = scripted([drop, CREATED_REPLY])
    result = pc.send(server.url + "x", source, progress=lambda d, t: calls.append((d, t)))
    assert result.details["status"] == 201
    assert result.bytes == len(data)
    assert len(server.received) == 2
    assert server.bodies[-1] == data
    assert calls[-1] == (len(data), len(data))


def test_connection_dropped_before_the_answer_post_is_not_retried(
    scripted: type[Scripted],
) -> None:
    server = scripted([None, OK_REPLY])
    with pytest.raises(pc.ConnectionFailed, match="closed the connection"):
        pc.send(server.url + "x", b"body", method="POST")
    assert len(server.received) == 1


def test_secrets_in_the_server_reply_are_scrubbed(scripted: type[Scripted]) -> None:
    echo = (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nConnection: close\r\n"
        b"Content-Length: 70\r\n\r\n<p>No /x?token=t0k3n-value for alice:pa55word-here, sorry</p>         "
    )
    server = scripted([echo])
    url = server.url.replace("http://", "http://alice:pa55word-here@") + "x?token=t0k3n-value"
    with pytest.raises(pc.NotFoundError) as info:
        pc.fetch(url)
    text = str(info.value) + repr(info.value)
    assert "t0k3n-value" not in text
    assert "pa55word-here" not in text
    assert "sorry" in text  # the rest of the reply is shown, tags stripped
    assert "<p>" not in text


def test_big_upload_without_credentials_is_refused_cleanly(srv: LocalHTTPServer) -> None:
    data = BIG * 2  # larger than what the server drains before answering 401
    with pytest.raises(pc.AuthenticationError):
        pc.send(srv.url + "big-upload.bin", data)
    assert not (srv.root / "big-upload.bin").exists()


def test_chunked_response_is_read_whole(scripted: type[Scripted], tmp_path: Path) -> None:
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(BIG[i : i + 100_000]), BIG[i : i + 100_000])
        for i in range(0, len(BIG), 100_000)
    )
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunks
        + b"0\r\n\r\n"
    )
    server = scripted([reply, reply[: len(reply) // 2]])
    result = pc.fetch(server.url + "c.bin", tmp_path / "c.bin")
    assert result.size == len(BIG)
    assert (tmp_path / "c.bin").read_bytes() == BIG
    with pytest.raises(pc.IncompleteTransferError):
        pc.fetch(server.url + "c.bin", tmp_path / "d.bin")
    assert not (tmp_path / "d.bin").exists()


def test_compressed_body_despite_identity_is_decoded(scripted: type[Scripted]) -> None:
    import gzip

    body = gzip.compress(BIG[:100_000])
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    server = scripted([reply])
    assert pc.fetch(server.url + "z") == BIG[:100_000]
