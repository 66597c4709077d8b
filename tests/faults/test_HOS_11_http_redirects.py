"""HOS-11 (HTTP, hostile server): redirect loops, foreign schemes, https -> http.

The real HTTP server sends a chain of 31 redirects: the client stops after 10 hops with a
``ProtocolError`` ("too many redirects"), having made exactly 11 requests. Redirects to
``file:///etc/passwd``, ``ftp://``, ``imap://``, ``data:`` and ``javascript:`` are refused
after the one request (only http/https are followed; curl CVE-2022-27774,
CVE-2025-14524); an https -> http redirect is refused by default. Server side: the request
logs of both servers show exactly the requests made, and nothing else was contacted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc
from protoclients.protocols.httpredirects import MAX_REDIRECTS

pytestmark = pytest.mark.timeout(60)


def test_HOS_11_redirect_chain_is_bounded(pc_http_server: Any, tmp_path: Path) -> None:
    srv = pc_http_server
    for i in range(31):
        srv.add_redirect(f"/r{i}", f"/r{i + 1}", code=302 if i % 2 else 301)
    (srv.root / "r31").write_bytes(b"the end\n")
    for call in (
        lambda: pc.fetch(srv.url + "r0"),
        lambda: pc.fetch(srv.url + "r0", dest=tmp_path / "out"),
    ):
        before = len(srv.requests)
        with pytest.raises(pc.ProtocolError, match="too many redirects"):
            call()
        paths = [r.path for r in srv.requests[before:]]
        assert paths == [f"/r{i}" for i in range(MAX_REDIRECTS + 1)]
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob("*.part"))


def test_HOS_11_loop_is_bounded(pc_http_server: Any) -> None:
    srv = pc_http_server
    srv.add_redirect("/a", "/b")
    srv.add_redirect("/b", "/a")
    with pytest.raises(pc.ProtocolError, match="too many redirects"):
        pc.fetch(srv.url + "a")
    assert len(srv.requests) == MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "ftp://127.0.0.1/pub/x",
        "imap://alice@127.0.0.1/INBOX",
        "data:text/plain;base64,aGk=",
        "javascript:alert(1)",
        "gopher://127.0.0.1:70/x",
    ],
)
def test_HOS_11_only_http_and_https_are_followed(
    pc_http_server: Any, tmp_path: Path, location: str
) -> None:
    srv = pc_http_server
    srv.add_redirect("/go", location)
    with pytest.raises(pc.ProtocolError, match="only http and https"):
        pc.fetch(srv.url + "go", dest=tmp_path / "out")
    assert [r.path for r in srv.requests] == ["/go"]
    assert not (tmp_path / "out").exists()


def test_HOS_11_https_to_http_downgrade_refused(pc_https_server: Any, pc_http_server: Any) -> None:
    tls, plain = pc_https_server, pc_http_server
    (plain.root / "x").write_bytes(b"plain\n")
    with TrafficTap(plain.host, plain.port) as tap:
        tls.add_redirect("/down", f"http://127.0.0.1:{tap.port}/x")
        with pytest.raises(pc.TLSRequiredError, match="https to plain http"):
            pc.fetch(tls.url + "down", ca_file=tls.ca_file)
        assert tap.connections == [] and plain.requests == []
        # Opting in is explicit, per call.
        assert pc.fetch(tls.url + "down", ca_file=tls.ca_file, allow_downgrade=True) == b"plain\n"
    assert [r.path for r in tls.requests] == ["/down", "/down"]
    assert [r.path for r in plain.requests] == ["/x"]


@pytest.mark.parametrize(
    "location", [b"/x\x1b]8;;http://evil\x07", b"/x\x00y", b"/x\x7f", b"http://exa mple/"]
)
def test_HOS_11_redirect_with_control_characters_refused(
    pc_hostile: Callable[..., HostileServer], location: bytes
) -> None:
    srv = pc_hostile(
        [
            h.expect(rb"^GET /bad HTTP/1.1"),
            h.send(
                b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            h.close(),
        ]
    )
    with pytest.raises(pc.ProtocolError) as info:
        pc.fetch(srv.url("http", path="/bad"), retries=0)
    assert "\x1b" not in str(info.value) and "\x07" not in str(info.value)
    assert srv.wait(5)
    assert [line for line in srv.lines if line.startswith(b"GET ")] == [b"GET /bad HTTP/1.1"]
