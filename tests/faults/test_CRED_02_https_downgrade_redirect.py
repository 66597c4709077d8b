"""CRED-02 (HTTP, credentials): an https URL with Basic auth redirected to http.

The real HTTPS server answers ``/private/report`` with a redirect to the same host over plain
``http://`` (a second real server behind a recording relay). The client refuses the
downgrade (``TLSRequiredError``; requests CVE-2018-18074) and the plain server receives
nothing; with ``allow_downgrade=True`` it follows, but neither the ``Authorization`` header,
nor a custom secret header, nor any form of the password crosses to the other origin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from protoclients_fixtures.tap import TrafficTap, leaked

import protoclients as pc

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def servers(pc_https_server: Any, pc_http_server: Any) -> Iterator[tuple[Any, Any, TrafficTap]]:
    (pc_https_server.root / "private").mkdir()
    (pc_https_server.root / "private" / "report").write_bytes(b"tls copy\n")
    (pc_http_server.root / "report").write_bytes(b"plain copy\n")
    with TrafficTap(pc_http_server.host, pc_http_server.port) as tap:
        pc_https_server.add_redirect("/private/report", f"http://127.0.0.1:{tap.port}/report")
        yield pc_https_server, pc_http_server, tap


def _url(srv: Any, path: str) -> str:
    return srv.url.replace("://", "://alice@", 1) + path


def test_CRED_02_downgrade_refused(servers: tuple[Any, Any, TrafficTap]) -> None:
    tls, plain, tap = servers
    password = tls.users["alice"]
    with pytest.raises(pc.TLSRequiredError) as info:
        pc.fetch(
            _url(tls, "private/report"),
            password=password,
            ca_file=tls.ca_file,
            headers={"X-Api-Key": "k-314159"},
        )
    assert "downgrade" in str(info.value) or "http" in str(info.value)
    assert not leaked(str(info.value) + repr(info.value), "alice", password)
    # The TLS server got the authenticated request; the plain one got nothing at all.
    assert [r.path for r in tls.requests] == ["/private/report"]
    assert tap.connections == [] and plain.requests == []


def test_CRED_02_allowed_downgrade_strips_every_credential(
    servers: tuple[Any, Any, TrafficTap],
) -> None:
    tls, plain, tap = servers
    password = tls.users["alice"]
    body = pc.fetch(
        _url(tls, "private/report"),
        password=password,
        ca_file=tls.ca_file,
        allow_downgrade=True,
        headers={"X-Api-Key": "k-314159", "X-Plain": "visible"},
        secret_headers=["X-Plain-Secret"],
    )
    assert body == b"plain copy\n"
    [request] = plain.requests
    assert request.path == "/report"
    wire = tap.client_bytes
    assert b"authorization" not in wire.lower()
    assert b"k-314159" not in wire
    assert b"X-Plain: visible" in wire  # ordinary headers do follow
    assert not leaked(wire, "alice", password)


def test_CRED_02_same_origin_redirect_keeps_auth(servers: tuple[Any, Any, TrafficTap]) -> None:
    tls, _plain, _tap = servers
    password = tls.users["alice"]
    (tls.root / "private" / "new").write_bytes(b"moved\n")
    tls.add_redirect("/private/old", "/private/new")
    assert pc.fetch(_url(tls, "private/old"), password=password, ca_file=tls.ca_file) == b"moved\n"
    paths = [r.path for r in tls.requests]
    assert paths == ["/private/old", "/private/new"]  # both authenticated (else 401)
