"""INP-10 (all URLs, bad user input): one canonical parse for connect, credentials, display.

Malformed URLs (`` https://u:p@h/`` with a leading space, ``https://ho\\tst/pa\\nth``,
``http://[evil.com]/``, ``https://h:99999/``) are rejected, never silently cleaned
(CVE-2023-24329, CVE-2022-0391, CVE-2024-11168, CVE-2025-0938): nothing reaches the server.
``http://victim:x@attacker/`` connects to *attacker* and looks credentials up for
*attacker* only (requests CVE-2024-47081); ``HTTPS://H/`` is the same origin as
``https://h/``. Server side: a recording relay and the real HTTP server show where the
client went and which ``Authorization`` it sent. The general parser properties are in
``test_properties_urls.py``; here the property is end to end: whatever the user name and
password hold (``@``, ``:``, ``%``, UTF-8), the client connects to the host the parse says
and sends exactly the parsed credentials.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protoclients_fixtures import serve_http
from protoclients_fixtures.tap import TrafficTap, leaked

import protoclients as pc

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def http(tmp_path: Path) -> Iterator[tuple[Any, TrafficTap]]:
    root = tmp_path / "root"
    (root / "private").mkdir(parents=True)
    (root / "f.txt").write_bytes(b"public\n")
    (root / "private" / "f.txt").write_bytes(b"secret\n")
    with (
        serve_http(root, users={"victim": "attacker-side-pw"}) as srv,
        TrafficTap(srv.host, srv.port) as tap,
    ):
        yield srv, tap


def _auth(tap: TrafficTap) -> list[str]:
    """The ``Authorization`` values on the wire (the server's own log masks them)."""
    found = []
    for line in tap.client_bytes.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            found.append(value.strip().decode("latin-1"))
    return found


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "template",
    [
        " http://u:p@127.0.0.1:{port}/f.txt",
        "http://u:p@127.0.0.1:{port}/f.txt ",
        "http://127.0.0.1:{port}/f\t.txt",
        "http://127.0.\t0.1:{port}/f.txt",
        "http://127.0.0.1:{port}/pa\nth",
        "http://[127.0.0.1]:{port}/f.txt",
        "http://[evil.com]:{port}/",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:{port}x/",
        "http://127.0.0.1:-1/",
        "http://127.0.0.1:{port}:{port}/",
        "http:/127.0.0.1:{port}/f.txt",
        "http://u p:pw@127.0.0.1:{port}/f.txt",
        "http://127.0.0.1 :{port}/f.txt",
        "http://127.0.0.1\\@evil.example:{port}/",
    ],
)
def test_INP_10_malformed_urls_are_rejected_not_cleaned(
    http: tuple[Any, TrafficTap], template: str
) -> None:
    srv, tap = http
    url = template.format(port=tap.port)
    with pytest.raises(pc.InvalidURL) as info:
        pc.fetch(url)
    assert "pw" not in str(info.value) or "u p" in url
    assert tap.connections == [] and srv.requests == []


def test_INP_10_userinfo_cannot_pick_another_host(
    http: tuple[Any, TrafficTap], tmp_path: Path
) -> None:
    srv, tap = http
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine victim login victim password victim-host-pw\n"
        "machine 127.0.0.1 login victim password attacker-side-pw\n"
    )
    netrc.chmod(0o600)
    url = f"http://victim@127.0.0.1:{tap.port}/private/f.txt"
    assert pc.parse_url(url).host == "127.0.0.1"
    data = pc.fetch(url, netrc_file=str(netrc), use_keyring=False)
    assert data == b"secret\n"
    # The credentials looked up are those of the host connected to, never of "victim".
    assert set(_auth(tap)) == {_basic("victim", "attacker-side-pw")}
    assert not leaked(tap.client_bytes, "victim", "victim-host-pw")
    assert [r.path for r in srv.requests][-1] == "/private/f.txt"
    # With the password in the URL, the same parse decides where it goes.
    assert pc.fetch(f"http://victim:attacker-side-pw@127.0.0.1:{tap.port}/private/f.txt")
    assert set(_auth(tap)) == {_basic("victim", "attacker-side-pw")}
    assert {bytes(c.client_bytes[:4]) for c in tap.connections} == {b"GET "}


def test_INP_10_case_and_default_port_are_one_origin(http: tuple[Any, TrafficTap]) -> None:
    srv, tap = http
    url = pc.parse_url(f"HTTP://ALICE:Pw-Secret@127.0.0.1:{tap.port}/f.txt")
    assert (url.scheme, url.host, url.username) == ("http", "127.0.0.1", "ALICE")
    assert url.origin == pc.parse_url(f"http://127.0.0.1:{tap.port}/").origin
    assert pc.parse_url("HTTPS://H.Example/").origin == ("https", "h.example", 443)
    assert pc.parse_url("https://h.example:443/").origin == ("https", "h.example", 443)
    for shown in (str(url), repr(url), url.display()):
        assert "Pw-Secret" not in shown
    with pc.connect(url.replace(path="/")) as client:
        # A relative target stays on the origin; an absolute URL of the same origin in
        # other case is accepted; another origin is refused before any I/O.
        assert client.fetch("f.txt") == b"public\n"
        assert client.fetch(f"http://127.0.0.1:{tap.port}/f.txt") == b"public\n"
        with pytest.raises(pc.InvalidInput):
            client.fetch(f"http://localhost:{tap.port}/f.txt")
        with pytest.raises(pc.InvalidInput):
            client.fetch("https://127.0.0.1/f.txt")
    assert [r.path for r in srv.requests] == ["/f.txt", "/f.txt"]
    assert set(_auth(tap)) == {_basic("ALICE", "Pw-Secret")}


def test_INP_10_errors_and_results_never_show_the_password(
    http: tuple[Any, TrafficTap], tmp_path: Path
) -> None:
    _srv, tap = http
    url = f"http://victim:Wrong-Pw-123@127.0.0.1:{tap.port}/private/f.txt?token=tok-456"
    with pytest.raises(pc.AuthenticationError) as info:
        pc.fetch(url)
    for text in (str(info.value), repr(info.value), info.value.url or ""):
        assert "Wrong-Pw-123" not in text and "tok-456" not in text
    result = pc.fetch(
        f"http://victim:attacker-side-pw@127.0.0.1:{tap.port}/private/f.txt",
        dest=tmp_path / "out.txt",
    )
    assert "attacker-side-pw" not in result.url and "attacker-side-pw" not in repr(result)


_USERINFO = st.text(
    alphabet=st.sampled_from([*"abcXYZ09", "@", ":", "%", "/", "?", "#", " ", "ü", "€", "+"]),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(user=_USERINFO.filter(lambda u: ":" not in u), password=_USERINFO)
def test_INP_10_property_connect_and_credentials_follow_the_one_parse(
    http: tuple[Any, TrafficTap], user: str, password: str
) -> None:
    _srv, tap = http
    before = len(tap.connections)
    wire = len(tap.client_bytes)
    url = f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{tap.port}/f.txt"
    parsed = pc.parse_url(url)
    assert (parsed.host, parsed.port, parsed.username) == ("127.0.0.1", tap.port, user)
    assert parsed.password is not None and parsed.password.reveal() == password
    assert pc.fetch(url) == b"public\n"
    assert len(tap.connections) == before + 1  # it went where the parse said
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert _auth(tap)[-1] == expected and tap.client_bytes[wire:].count(b"Authorization") == 1
    shown = f"http://{quote(user, safe='')}@127.0.0.1:{tap.port}/f.txt"
    assert str(parsed) == shown and repr(parsed) == f"URL({shown!r})"


def test_INP_10_no_silent_cleanup() -> None:
    # urllib.parse would strip these characters (CVE-2022-0391); the URL model refuses.
    for text in ("https://h.example/pa\tth", "https://h.example/pa\rth", "https://h.exa\nmple/"):
        with pytest.raises(pc.InvalidURL):
            pc.parse_url(text)
