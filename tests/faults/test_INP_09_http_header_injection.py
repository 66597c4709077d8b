"""INP-09 (HTTP, bad user input): no CRLF in header values, paths, methods or hosts.

A header value ``v\\r\\nX-Injected: 1``, a URL path with CRLF (raw or ``%0d%0a``), a method
with CRLF and a host with CRLF/NUL are refused with ``InvalidInput``/``InvalidURL`` before
connecting (CVE-2019-9740/-9947, CVE-2019-18348, CVE-2020-26116, curl CVE-2014-8150). The
real HTTP server behind a recording relay saw no connection at all; a valid request made
afterwards on the same client carries no injected header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc

pytestmark = pytest.mark.timeout(60)

VALUES = ["v\r\nX-Injected: 1", "v\nX-Injected: 1", "v\rX-Injected: 1", "v\0", "v\x7f"]


@pytest.fixture
def http(pc_http_server: Any) -> Iterator[tuple[Any, TrafficTap]]:
    (pc_http_server.root / "f.txt").write_bytes(b"hello\n")
    with TrafficTap(pc_http_server.host, pc_http_server.port) as tap:
        yield pc_http_server, tap


def _nothing_sent(srv: Any, tap: TrafficTap) -> None:
    assert tap.connections == []
    assert srv.requests == []


@pytest.mark.parametrize("value", VALUES)
def test_INP_09_header_values_refused_before_connecting(
    http: tuple[Any, TrafficTap], value: str
) -> None:
    srv, tap = http
    base = tap.url("http://127.0.0.1/")
    calls: list[Callable[[], Any]] = [
        lambda: pc.fetch(base + "f.txt", headers={"X-Custom": value}),
        lambda: pc.send(base + "up.txt", b"x", headers={"X-Custom": value}),
        lambda: pc.send(base + "up.txt", b"x", content_type="text/plain" + value),
        lambda: pc.delete(base + "f.txt", headers={"X-Custom": value}),
        lambda: pc.ls(base, headers={"X-Custom": value}),
        lambda: pc.fetch(base + "f.txt", headers={"Authorization": value}),
    ]
    for call in calls:
        with pytest.raises(pc.InvalidInput) as info:
            call()
        assert "X-Injected" not in str(info.value)  # the value is never echoed
    # A bad header *name* is shown, escaped (names are not secret): no raw CR/LF.
    with pytest.raises(pc.InvalidInput) as info:
        pc.fetch(base + "f.txt", headers={"X-Custom" + value: "v"})
    assert not any(c in str(info.value) for c in "\r\n\0")
    _nothing_sent(srv, tap)


@pytest.mark.parametrize("method", ["PUT\r\nX-Injected: 1", "POST ", "GET", "PUT\0"])
def test_INP_09_method_refused(http: tuple[Any, TrafficTap], method: str) -> None:
    srv, tap = http
    with pytest.raises(pc.InvalidInput) as info:
        pc.send(tap.url("http://127.0.0.1/") + "up.txt", b"x", method=method)
    assert "X-Injected" not in str(info.value)
    _nothing_sent(srv, tap)


@pytest.mark.parametrize(
    "path", ["f.txt%0d%0aX-Injected:%201", "f%0a.txt", "f%00.txt", "a%0D%0A%0D%0AGET%20/"]
)
def test_INP_09_encoded_crlf_in_url_path_refused(http: tuple[Any, TrafficTap], path: str) -> None:
    srv, tap = http
    base = tap.url("http://127.0.0.1/")
    for verb in (pc.fetch, pc.ls, pc.delete):
        with pytest.raises(pc.InvalidURL):
            verb(base + path)
    with pytest.raises(pc.InvalidURL):
        pc.fetch(base + "f.txt?q=" + path)
    _nothing_sent(srv, tap)


def test_INP_09_raw_crlf_in_paths_and_hosts_refused(http: tuple[Any, TrafficTap]) -> None:
    srv, tap = http
    base = tap.url("http://127.0.0.1/")
    for url in (
        base + "f.txt\r\nX-Injected: 1",
        base + "f.txt\nX",
        f"http://127.0.0.1\r\nX-Injected: 1:{tap.port}/f.txt",
        f"http://127.0.0.1%0d%0aX-Injected:1:{tap.port}/f.txt",
        f"http://127.0.0.1%00:{tap.port}/",
        f"http://exa\0mple:{tap.port}/",
    ):
        with pytest.raises(pc.InvalidURL):
            pc.fetch(url)
    with pc.connect(base) as client:
        for relative in ("f.txt\r\nX-Injected: 1", "a\nb", "a\0"):
            with pytest.raises(pc.InvalidInput):
                client.fetch(relative)
        assert tap.connections == [] and srv.requests == []
        # The same client still works, and what it sends carries nothing injected.
        assert client.fetch("f.txt", headers={"X-Custom": "v\tok"}) == b"hello\n"
    assert [r.method for r in srv.requests] == ["GET"]
    assert srv.requests[0].headers.get("X-Custom") == "v\tok"
    assert b"X-Injected" not in tap.client_bytes
    head = tap.client_bytes.split(b"\r\n\r\n")[0]
    assert head.startswith(b"GET /f.txt HTTP/1.1\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in head.split(b"\r\n"))
