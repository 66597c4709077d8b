"""INP-01 (FTP, bad user input): CR, LF and NUL in paths never reach the control connection.

Paths such as ``pub\\r\\nDELE important`` given to any verb, and URLs that smuggle them
percent-encoded (``ftp://h/pub%0d%0aDELE%20x``, ``ftp://h/a%00b``), are refused with
``InvalidInput`` before a byte is sent (decode first, then validate: curl CVE-2018-1000120,
bpo-30119). Proof on the server side: the real FTP server's command log and the raw bytes
seen by a recording relay hold no ``DELE`` and nothing after the refused call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc

pytestmark = pytest.mark.timeout(60)

BAD_PATHS = ["pub\r\nDELE important", "a\nb", "x\0y", "pub\rDELE important", "\r\nQUIT"]
BAD_URL_PATHS = ["pub%0d%0aDELE%20important", "a%00b", "pub%0aDELE%20important", "x%0D"]


@pytest.fixture
def tapped(pc_ftp_server: Any) -> Iterator[tuple[Any, TrafficTap]]:
    (Path(pc_ftp_server.root) / "important").write_bytes(b"keep me\n")
    (Path(pc_ftp_server.root) / "pub").mkdir()
    with TrafficTap(pc_ftp_server.host, pc_ftp_server.port) as tap:
        yield pc_ftp_server, tap


def _url(tap: TrafficTap, path: str = "") -> str:
    return tap.url("ftp://alice@127.0.0.1/") + path


def _no_dele(srv: Any, tap: TrafficTap) -> None:
    assert not any(c.upper().startswith("DELE") for c in srv.commands)
    assert b"DELE" not in tap.client_bytes.upper()
    assert (Path(srv.root) / "important").read_bytes() == b"keep me\n"


@pytest.mark.parametrize("path", BAD_URL_PATHS)
@pytest.mark.parametrize("verb", ["fetch", "ls", "delete"])
def test_INP_01_encoded_control_chars_in_url_rejected_before_connecting(
    tapped: tuple[Any, TrafficTap], path: str, verb: str
) -> None:
    srv, tap = tapped
    password = srv.users["alice"]
    with pytest.raises(pc.InvalidInput) as info:
        getattr(pc, verb)(_url(tap, path), password=password)
    assert isinstance(info.value, pc.InvalidURL)
    text = str(info.value)
    assert "\r" not in text and "\n" not in text and "\0" not in text
    assert password not in text
    # Nothing at all reached the server: not even a connection.
    assert tap.connections == []
    assert srv.commands == []
    _no_dele(srv, tap)


def test_INP_01_encoded_control_chars_in_send_url(
    tapped: tuple[Any, TrafficTap], tmp_path: Path
) -> None:
    srv, tap = tapped
    with pytest.raises(pc.InvalidInput):
        pc.send(_url(tap, "up%0d%0aDELE%20important"), b"data", password=srv.users["alice"])
    assert tap.connections == [] and srv.commands == []
    _no_dele(srv, tap)


def test_INP_01_raw_control_chars_in_paths_rejected_on_every_verb(
    tapped: tuple[Any, TrafficTap],
) -> None:
    srv, tap = tapped
    with pc.connect(_url(tap), password=srv.users["alice"]) as client:
        client.ls()  # logged in, one command exchange done
        commands_before = list(srv.commands)
        bytes_before = tap.client_bytes
        for bad in BAD_PATHS:
            calls = [
                lambda b=bad: client.fetch(b),
                lambda b=bad: client.ls(b),
                lambda b=bad: client.delete(b),
                lambda b=bad: client.send(b"x", b),
                lambda b=bad: client.mkdir(b),
                lambda b=bad: client.rename("important", b),
                lambda b=bad: client.rename(b, "elsewhere"),
                lambda b=bad: client.size(b),
                lambda b=bad: client.modified(b),
            ]
            for call in calls:
                with pytest.raises(pc.InvalidInput) as info:
                    call()
                # The offending value is not echoed.
                text = str(info.value)
                assert "DELE" not in text and "QUIT" not in text
                assert "\r" not in text and "\n" not in text and "\0" not in text
        # The control connection saw nothing more; the session is still usable.
        assert srv.commands == commands_before
        assert tap.client_bytes == bytes_before
        assert {e.name for e in client.ls()} == {"important", "pub"}
    _no_dele(srv, tap)


_CONTROL = st.sampled_from(["\r", "\n", "\0", "\r\n"])
_SAFE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"),
    max_size=12,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(head=_SAFE, bad=_CONTROL, tail=_SAFE)
def test_INP_01_property_any_control_char_anywhere_is_refused(
    tapped: tuple[Any, TrafficTap], head: str, bad: str, tail: str
) -> None:
    srv, tap = tapped
    path = f"{head}{bad}DELE important{tail}"
    before = len(tap.connections)
    with pytest.raises(pc.InvalidInput):
        pc.fetch(_url(tap, _percent(path)), password=srv.users["alice"])
    assert len(tap.connections) == before
    with pc.connect(_url(tap), password=srv.users["alice"]) as client:
        commands = len(srv.commands)
        with pytest.raises(pc.InvalidInput):
            client.fetch(path)
        assert len(srv.commands) == commands
    _no_dele(srv, tap)


def _percent(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")
