"""The local HTTP(S) test server, driven with raw requests, sockets and curl."""

from __future__ import annotations

import email.utils
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import requests
from protoclients_fixtures import LocalHTTPServer, TestCA, serve, serve_http

pytestmark = pytest.mark.timeout(10)

DATA = bytes(range(256)) * 40  # 10240 bytes


def auth(srv: LocalHTTPServer) -> tuple[str, str]:
    return ("alice", srv.users["alice"])


@pytest.fixture
def srv(pc_http_server: LocalHTTPServer) -> LocalHTTPServer:
    (pc_http_server.root / "data.bin").write_bytes(DATA)
    (pc_http_server.root / "dir").mkdir()
    (pc_http_server.root / "dir" / "inner.txt").write_text("inner\n")
    return pc_http_server


def raw_request(srv: LocalHTTPServer, target: str, method: str = "GET") -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side normalisation of the path)."""
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# --- basics -----------------------------------------------------------------------------


def test_url_and_attributes(srv: LocalHTTPServer) -> None:
    assert srv.url == f"http://127.0.0.1:{srv.port}/"
    assert srv.url.endswith("/")
    assert srv.host == "127.0.0.1"
    assert srv.port > 0
    assert srv.ca_file is None
    assert list(srv.users) == ["alice"]
    assert len(srv.users["alice"]) >= 12
    assert srv.users["alice"] not in repr(srv)
    assert srv.url_for("/dir/x.txt", user="alice") == f"http://alice@127.0.0.1:{srv.port}/dir/x.txt"


def test_get_whole_file_with_validators(srv: LocalHTTPServer) -> None:
    r = requests.get(srv.url + "data.bin", timeout=5)
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["Content-Length"] == str(len(DATA))
    assert r.headers["Accept-Ranges"] == "bytes"
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"', r.headers["ETag"])
    st = (srv.root / "data.bin").stat()
    assert email.utils.parsedate_to_datetime(r.headers["Last-Modified"]).timestamp() == int(
        st.st_mtime
    )


def test_head_has_headers_but_no_body(srv: LocalHTTPServer) -> None:
    r = requests.head(srv.url + "data.bin", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(DATA))
    assert r.content == b""


def test_etag_changes_when_file_changes(srv: LocalHTTPServer) -> None:
    first = requests.head(srv.url + "data.bin", timeout=5).headers["ETag"]
    (srv.root / "data.bin").write_bytes(DATA + b"x")
    second = requests.head(srv.url + "data.bin", timeout=5).headers["ETag"]
    assert first != second


def test_missing_file_is_404(srv: LocalHTTPServer) -> None:
    assert requests.get(srv.url + "nope.txt", timeout=5).status_code == 404


def test_conditional_get_304(srv: LocalHTTPServer) -> None:
    etag = requests.head(srv.url + "data.bin", timeout=5).headers["ETag"]
    r = requests.get(srv.url + "data.bin", headers={"If-None-Match": etag}, timeout=5)
    assert r.status_code == 304
    assert r.content == b""


# --- ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=100-", 100, len(DATA) - 1),
        ("bytes=100-199", 100, 199),
        ("bytes=-50", len(DATA) - 50, len(DATA) - 1),
        ("bytes=10000-999999", 10000, len(DATA) - 1),
        ("bytes=0-0", 0, 0),
    ],
)
def test_single_ranges(srv: LocalHTTPServer, header: str, start: int, end: int) -> None:
    r = requests.get(srv.url + "data.bin", headers={"Range": header}, timeout=5)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert r.headers["Content-Length"] == str(end - start + 1)
    assert r.content == DATA[start : end + 1]


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", "bytes=99999-", "bytes=-0"])
def test_unsatisfiable_range_is_416(srv: LocalHTTPServer, header: str) -> None:
    r = requests.get(srv.url + "data.bin", headers={"Range": header}, timeout=5)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "lines=1-2", "bytes=9-3"])
def test_unsupported_or_invalid_range_gives_full_body(srv: LocalHTTPServer, header: str) -> None:
    r = requests.get(srv.url + "data.bin", headers={"Range": header}, timeout=5)
    assert r.status_code == 200
    assert r.content == DATA


def test_if_range_with_matching_and_stale_etag(srv: LocalHTTPServer) -> None:
    etag = requests.head(srv.url + "data.bin", timeout=5).headers["ETag"]
    ok = requests.get(
        srv.url + "data.bin", headers={"Range": "bytes=10-", "If-Range": etag}, timeout=5
    )
    assert ok.status_code == 206
    assert ok.content == DATA[10:]
    stale = requests.get(
        srv.url + "data.bin", headers={"Range": "bytes=10-", "If-Range": '"old"'}, timeout=5
    )
    assert stale.status_code == 200
    assert stale.content == DATA
    weak = requests.get(
        srv.url + "data.bin", headers={"Range": "bytes=10-", "If-Range": "W/" + etag}, timeout=5
    )
    assert weak.status_code == 200


def test_if_range_with_date(srv: LocalHTTPServer) -> None:
    last_modified = requests.head(srv.url + "data.bin", timeout=5).headers["Last-Modified"]
    ok = requests.get(
        srv.url + "data.bin", headers={"Range": "bytes=5-", "If-Range": last_modified}, timeout=5
    )
    assert ok.status_code == 206
    old = email.utils.formatdate(0, usegmt=True)
    stale = requests.get(
        srv.url + "data.bin", headers={"Range": "bytes=5-", "If-Range": old}, timeout=5
    )
    assert stale.status_code == 200
    assert stale.content == DATA


# --- index pages ------------------------------------------------------------------------


def test_index_page_python_style(srv: LocalHTTPServer) -> None:
    (srv.root / "a b&c.txt").write_text("x")
    r = requests.get(srv.url, timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<title>Directory listing for /</title>" in r.text
    assert '<li><a href="a%20b%26c.txt">a b&amp;c.txt</a></li>' in r.text
    assert '<li><a href="data.bin">data.bin</a></li>' in r.text
    assert '<li><a href="dir/">dir/</a></li>' in r.text


def test_directory_without_slash_redirects(srv: LocalHTTPServer) -> None:
    r = requests.get(srv.url + "dir", timeout=5, allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == "/dir/"
    assert "inner.txt" in requests.get(srv.url + "dir", timeout=5).text


def test_index_page_nginx_style(srv: LocalHTTPServer) -> None:
    srv.index_style = "nginx"
    r = requests.get(srv.url, timeout=5)
    assert "<title>Index of /</title>" in r.text
    assert '<a href="../">../</a>' in r.text
    lines = r.text.split("\r\n")
    dir_line = next(line for line in lines if 'href="dir/"' in line)
    file_line = next(line for line in lines if 'href="data.bin"' in line)
    assert lines.index(dir_line) < lines.index(file_line)  # directories first
    assert re.search(r"\d\d-\w{3}-\d{4} \d\d:\d\d +-$", dir_line)
    assert re.search(rf"\d\d-\w{{3}}-\d{{4}} \d\d:\d\d +{len(DATA)}$", file_line)


def test_nginx_index_via_constructor(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with serve_http(tmp_path, users={}, index_style="nginx") as srv:
        assert "Index of /" in requests.get(srv.url, timeout=5).text


# --- writes & auth ----------------------------------------------------------------------


def test_put_requires_auth(srv: LocalHTTPServer) -> None:
    r = requests.put(srv.url + "up.bin", data=b"abc", timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="protoclients"'
    assert not (srv.root / "up.bin").exists()
    wrong = requests.put(srv.url + "up.bin", data=b"abc", auth=("alice", "wrong"), timeout=5)
    assert wrong.status_code == 401
    nobody = requests.put(srv.url + "up.bin", data=b"abc", auth=("bob", "x"), timeout=5)
    assert nobody.status_code == 401


def test_put_creates_then_replaces(srv: LocalHTTPServer) -> None:
    r = requests.put(srv.url + "new/sub/up.bin", data=DATA, auth=auth(srv), timeout=5)
    assert r.status_code == 201
    assert (srv.root / "new" / "sub" / "up.bin").read_bytes() == DATA
    again = requests.put(srv.url + "new/sub/up.bin", data=b"v2", auth=auth(srv), timeout=5)
    assert again.status_code == 204
    assert (srv.root / "new" / "sub" / "up.bin").read_bytes() == b"v2"
    assert not [p for p in (srv.root / "new" / "sub").iterdir() if p.name.startswith(".")]


def test_put_chunked_body(srv: LocalHTTPServer) -> None:
    parts = (DATA[i : i + 1000] for i in range(0, len(DATA), 1000))
    r = requests.put(srv.url + "chunked.bin", data=parts, auth=auth(srv), timeout=5)
    assert r.status_code == 201
    assert (srv.root / "chunked.bin").read_bytes() == DATA


def test_put_onto_directory_is_refused(srv: LocalHTTPServer) -> None:
    assert requests.put(srv.url + "dir", data=b"x", auth=auth(srv), timeout=5).status_code == 409
    assert requests.put(srv.url + "dir/", data=b"x", auth=auth(srv), timeout=5).status_code == 405


def test_post_stores_body(srv: LocalHTTPServer) -> None:
    r = requests.post(srv.url + "posted.txt", data=b"hello", auth=auth(srv), timeout=5)
    assert r.status_code == 201
    assert (srv.root / "posted.txt").read_bytes() == b"hello"
    r = requests.post(srv.url + "posted.txt", data=b"again", auth=auth(srv), timeout=5)
    assert r.status_code == 200
    assert (srv.root / "posted.txt").read_bytes() == b"again"
    assert requests.post(srv.url + "x.txt", data=b"x", timeout=5).status_code == 401


def test_delete(srv: LocalHTTPServer) -> None:
    assert requests.delete(srv.url + "data.bin", timeout=5).status_code == 401
    assert requests.delete(srv.url + "data.bin", auth=auth(srv), timeout=5).status_code == 204
    assert not (srv.root / "data.bin").exists()
    assert requests.delete(srv.url + "data.bin", auth=auth(srv), timeout=5).status_code == 404
    assert requests.delete(srv.url + "dir/", auth=auth(srv), timeout=5).status_code == 409
    (srv.root / "empty").mkdir()
    assert requests.delete(srv.url + "empty/", auth=auth(srv), timeout=5).status_code == 204
    assert not (srv.root / "empty").exists()
    assert requests.delete(srv.url, auth=auth(srv), timeout=5).status_code == 403


def test_private_area_needs_auth_for_reads(srv: LocalHTTPServer) -> None:
    (srv.root / "private").mkdir()
    (srv.root / "private" / "secret.txt").write_text("s3cret")
    assert requests.get(srv.url + "private/secret.txt", timeout=5).status_code == 401
    assert requests.get(srv.url + "private/", timeout=5).status_code == 401
    r = requests.get(srv.url + "private/secret.txt", auth=auth(srv), timeout=5)
    assert r.status_code == 200
    assert r.text == "s3cret"


def test_no_users_means_no_auth(tmp_path: Path) -> None:
    with serve_http(tmp_path, users={}) as srv:
        assert srv.users == {}
        assert requests.put(srv.url + "open.txt", data=b"x", timeout=5).status_code == 201
        assert requests.delete(srv.url + "open.txt", timeout=5).status_code == 204


def test_custom_users(tmp_path: Path) -> None:
    with serve_http(tmp_path, users={"bob": "pw1", "carol": "pw2"}) as srv:
        ok = requests.put(srv.url + "f", data=b"x", auth=("carol", "pw2"), timeout=5)
        assert ok.status_code == 201


def test_other_methods(srv: LocalHTTPServer) -> None:
    assert requests.options(srv.url, timeout=5).headers["Allow"].startswith("GET")
    r = requests.request("PROPFIND", srv.url, timeout=5)
    assert r.status_code == 405
    assert "Allow" in r.headers


# --- traversal --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/../etc/passwd",
        "/dir/../../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E%2Fetc%2Fpasswd",
        "/dir/%2e%2e/%2e%2e/etc/passwd",
        "/..%5c..%5cetc%5cpasswd",
        "/a%00b",
    ],
)
def test_traversal_is_refused(srv: LocalHTTPServer, target: str) -> None:
    status, body = raw_request(srv, target)
    assert status in (400, 403, 404)
    assert b"root:" not in body


def test_symlink_out_of_root_is_refused(srv: LocalHTTPServer, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    os.symlink(outside, srv.root / "link.txt")
    r = requests.get(srv.url + "link.txt", timeout=5)
    assert r.status_code == 403
    assert "outside" not in r.text


def test_traversal_put_is_refused(srv: LocalHTTPServer, tmp_path: Path) -> None:
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        user, password = auth(srv)
        token = __import__("base64").b64encode(f"{user}:{password}".encode()).decode()
        sock.sendall(
            b"PUT /%2e%2e/escaped.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
            + f"Authorization: Basic {token}\r\nConnection: close\r\n\r\nx".encode()
        )
        reply = sock.recv(65536)
    assert reply.split(b" ", 2)[1] == b"403"
    assert not (srv.root.parent / "escaped.txt").exists()


# --- redirects & recording --------------------------------------------------------------


def test_redirects(srv: LocalHTTPServer) -> None:
    srv.add_redirect("/old", "/data.bin")
    srv.add_redirect("/moved", srv.url + "dir/inner.txt", code=301)
    srv.add_redirect("/post-here", "/dir/", code=307)
    r = requests.get(srv.url + "old", timeout=5, allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == "/data.bin"
    assert requests.get(srv.url + "old", timeout=5).content == DATA
    r = requests.get(srv.url + "moved?x=1", timeout=5)
    assert r.text == "inner\n"
    assert r.history[0].status_code == 301
    assert (
        requests.put(srv.url + "post-here", data=b"x", timeout=5, allow_redirects=False).status_code
        == 307
    )
    with pytest.raises(ValueError):
        srv.add_redirect("/x", "/y", code=200)


def test_requests_are_recorded_with_masked_auth(srv: LocalHTTPServer) -> None:
    srv.requests.clear()
    requests.get(srv.url + "data.bin?a=1", headers={"Range": "bytes=0-1"}, timeout=5)
    requests.put(srv.url + "r.txt", data=b"x", auth=auth(srv), timeout=5)
    assert [(r.method, r.path) for r in srv.requests] == [
        ("GET", "/data.bin?a=1"),
        ("PUT", "/r.txt"),
    ]
    first, second = srv.requests
    assert first.headers["Range"] == "bytes=0-1"
    assert first.headers["range"] == "bytes=0-1"  # case-insensitive lookups
    assert first.query == "a=1"
    assert second.headers["Authorization"] == "Basic ***"
    assert srv.users["alice"] not in repr(srv.requests)


# --- faults -----------------------------------------------------------------------------


def test_fault_drop_after(srv: LocalHTTPServer) -> None:
    srv.faults.drop_after = 100
    with requests.get(srv.url + "data.bin", stream=True, timeout=5) as r:
        assert r.headers["Content-Length"] == str(len(DATA))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            r.content  # noqa: B018
    assert srv.faults.drop_after is None  # one-shot
    assert requests.get(srv.url + "data.bin", timeout=5).content == DATA


def test_fault_drop_after_with_http_client(srv: LocalHTTPServer) -> None:
    srv.faults.drop_after = 10
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        conn.request("GET", "/data.bin", headers={"Range": "bytes=1000-"})
        resp = conn.getresponse()
        assert resp.status == 206
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
        assert info.value.partial == DATA[1000:1010]
    finally:
        conn.close()


def test_fault_ignore_range(srv: LocalHTTPServer) -> None:
    srv.faults.ignore_range = True
    r = requests.get(srv.url + "data.bin", headers={"Range": "bytes=100-"}, timeout=5)
    assert r.status_code == 200
    assert r.content == DATA
    assert "Content-Range" not in r.headers


def test_fault_wrong_range(srv: LocalHTTPServer) -> None:
    srv.faults.wrong_range = True
    r = requests.get(srv.url + "data.bin", headers={"Range": "bytes=100-"}, timeout=5)
    assert r.status_code == 206
    start = int(r.headers["Content-Range"].split()[1].split("-")[0])
    assert start != 100
    assert r.content == DATA[start : start + len(r.content)]
    r = requests.get(srv.url + "data.bin", headers={"Range": "bytes=0-9"}, timeout=5)
    assert not r.headers["Content-Range"].startswith("bytes 0-")


def test_fault_status_once(srv: LocalHTTPServer) -> None:
    srv.faults.status_once = 503
    first = requests.get(srv.url + "data.bin", timeout=5)
    assert first.status_code == 503
    assert requests.get(srv.url + "data.bin", timeout=5).status_code == 200


def test_faults_reset(srv: LocalHTTPServer) -> None:
    srv.faults.ignore_range = True
    srv.faults.drop_after = 3
    srv.faults.reset()
    assert srv.faults.drop_after is None
    assert not srv.faults.ignore_range


# --- TLS --------------------------------------------------------------------------------


def test_https_verified_with_ca_file(pc_https_server: LocalHTTPServer, pc_ca: TestCA) -> None:
    srv = pc_https_server
    (srv.root / "f.txt").write_text("tls")
    assert srv.url.startswith("https://127.0.0.1:")
    assert srv.ca_file == pc_ca.ca_file
    assert requests.get(srv.url + "f.txt", verify=srv.ca_file, timeout=5).text == "tls"
    localhost = srv.url.replace("127.0.0.1", "localhost")
    assert requests.get(localhost + "f.txt", verify=srv.ca_file, timeout=5).text == "tls"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(srv.url + "f.txt", timeout=5)  # system trust store: not trusted


def test_https_client_context(pc_https_server: LocalHTTPServer, pc_ca: TestCA) -> None:
    ctx = pc_ca.client_context()
    conn = http.client.HTTPSConnection(
        pc_https_server.host, pc_https_server.port, context=ctx, timeout=5
    )
    try:
        conn.request("GET", "/")
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
    finally:
        conn.close()


def test_https_drop_after(pc_https_server: LocalHTTPServer) -> None:
    srv = pc_https_server
    (srv.root / "big.bin").write_bytes(DATA)
    srv.faults.drop_after = 50
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(srv.url + "big.bin", verify=srv.ca_file, timeout=5).content  # noqa: B018


def test_https_with_own_ca(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("own")
    with serve_http(tmp_path, tls=True) as srv:
        assert srv.ca is not None
        ca_file = srv.ca_file
        assert ca_file is not None
        assert requests.get(srv.url + "f", verify=ca_file, timeout=5).text == "own"
    assert not os.path.exists(ca_file)  # private CA cleaned up


# --- curl -------------------------------------------------------------------------------

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


@needs_curl
def test_curl_https_download_and_resume(pc_https_server: LocalHTTPServer, tmp_path: Path) -> None:
    srv = pc_https_server
    (srv.root / "data.bin").write_bytes(DATA)
    out = tmp_path / "out.bin"
    out.write_bytes(DATA[:1000])
    subprocess.run(
        ["curl", "-sS", "--fail", "--max-time", "5", "--cacert", str(srv.ca_file),
         "-C", "-", "-o", str(out), srv.url + "data.bin"],
        check=True,
        timeout=10,
    )  # fmt: skip
    assert out.read_bytes() == DATA
    assert srv.requests[-1].headers["Range"] == "bytes=1000-"


@needs_curl
def test_curl_upload_with_auth(pc_https_server: LocalHTTPServer, tmp_path: Path) -> None:
    srv = pc_https_server
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    user, password = auth(srv)
    subprocess.run(
        ["curl", "-sS", "--fail", "--max-time", "5", "--cacert", str(srv.ca_file),
         "-u", f"{user}:{password}", "-T", str(src), srv.url + "up/src.bin"],
        check=True,
        timeout=10,
    )  # fmt: skip
    assert (srv.root / "up" / "src.bin").read_bytes() == DATA
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "5", "-o", os.devnull, "-w", "%{http_code}",
         "--cacert", str(srv.ca_file), "-T", str(src), srv.url + "up/anon.bin"],
        check=False,
        capture_output=True,
        timeout=10,
    )  # fmt: skip
    assert result.stdout == b"401"


# --- the multi-server helper ------------------------------------------------------------


def test_serve_several_servers(tmp_path: Path) -> None:
    (tmp_path / "shared.txt").write_text("both")
    with serve("http", "ftp", tls=True, root=tmp_path, users={"alice": "pw"}) as servers:
        assert set(servers.urls) == {"http", "ftp"}
        assert servers.urls["http"].startswith("https://")
        assert servers.urls["ftp"].startswith("ftp://")
        assert servers.users == {"alice": "pw"}
        assert servers.ca_file is not None
        http_url = servers.urls["http"]
        assert (
            requests.get(http_url + "shared.txt", verify=servers.ca_file, timeout=5).text == "both"
        )
        assert servers["ftp"].tls == "explicit"
        ca_file = servers.ca_file
    assert not os.path.exists(ca_file)


def test_stopped_server_frees_port(tmp_path: Path) -> None:
    with serve_http(tmp_path) as srv:
        port = srv.port
        requests.get(srv.url, timeout=5)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_silent_tls_client_does_not_block_others(
    pc_https_server: LocalHTTPServer,
) -> None:
    srv = pc_https_server
    (srv.root / "f.txt").write_text("still serving")
    with socket.create_connection((srv.host, srv.port), timeout=5):  # never shakes hands
        r = requests.get(srv.url + "f.txt", verify=srv.ca_file, timeout=5)
        assert r.text == "still serving"


def test_plain_http_to_https_server_fails_cleanly(pc_https_server: LocalHTTPServer) -> None:
    plain = pc_https_server.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain, timeout=5)
    assert requests.get(pc_https_server.url, verify=pc_https_server.ca_file, timeout=5).ok
