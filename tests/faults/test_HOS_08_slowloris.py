"""HOS-08: slowloris servers must not hold a client past its timeout (+ a small epsilon).

A per-``recv`` timeout does not bound a server that sends one byte every 0.25 s (the stdlib
accepted such a greeting after 8.8 s with a 1 s timeout; measured here before the fix, with
a 1 s timeout: IMAP 52 s, HTTP 57 s for a 200-byte greeting / header). The tests use a
0.5 s timeout. Cases, for every protocol:

* greeting / response headers dribbled at 1 byte per 0.25 s (deadline rule);
* accept, then silence (plain and implicit TLS: the handshake never starts);
* silence after the STARTTLS go-ahead (the handshake never completes);
* a data stream dribbled after a normal start (minimum-progress rule: RETR, literal, body).

Each case asserts the typed error (:class:`OperationTimeoutError`), the elapsed time, that
the client closed the connection, and (downloads) that no final file exists.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures import HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp
from protoclients_fixtures import hostile_sessions as hs

import protoclients
from protoclients.errors import OperationTimeoutError

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 0.5
#: Scheduling slack on a loaded machine, plus one dribble interval.
EPSILON = 1.0
DRIBBLE = 0.25
_GREETINGS = {
    "imap": b"* OK " + b"x" * 200 + b"\r\n",
    "pop3": b"+OK " + b"x" * 200 + b"\r\n",
    "smtp": b"220 " + b"x" * 200 + b"\r\n",
    "ftp": b"220 " + b"x" * 200 + b"\r\n",
    "http": b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 200 + b"\r\nContent-Length: 0\r\n\r\n",
}
ALL = ["imap", "pop3", "smtp", "ftp", "http"]
IMPLICIT = {"imap": "imaps", "pop3": "pop3s", "smtp": "smtps", "ftp": "ftps", "http": "https"}


def _timed(call: Callable[[], Any]) -> tuple[float, BaseException | None]:
    import protoclients.protocols.http  # noqa: F401 - import cost is not part of the wait

    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


def _assert_timed_out(elapsed: float, exc: BaseException | None) -> None:
    assert isinstance(exc, OperationTimeoutError), repr(exc)
    assert elapsed <= TIMEOUT + EPSILON, f"held for {elapsed:.2f}s (timeout {TIMEOUT}s)"


def _assert_closed(srv: HostileServer) -> None:
    assert srv.wait(5), "the client did not close the connection"
    assert all(c.client_closed or c.completed for c in srv.connections)


@pytest.mark.parametrize("proto", ALL)
def test_HOS_08_dribbled_greeting(proto: str, pc_hostile: Callable[..., HostileServer]) -> None:
    srv = pc_hostile([h.dribble(_GREETINGS[proto], 1, DRIBBLE)], drain=0)
    elapsed, exc = _timed(lambda: hp.drive(proto, srv, timeout=TIMEOUT))
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)
    assert not hp.auth_commands(srv.lines)


@pytest.mark.parametrize("proto", ALL)
def test_HOS_08_dribbled_greeting_over_tls(
    proto: str, pc_hostile: Callable[..., HostileServer], pc_ca: TestCA
) -> None:
    """The same slowloris inside implicit TLS (each byte its own TLS record)."""
    srv = pc_hostile([h.dribble(_GREETINGS[proto], 1, DRIBBLE)], drain=0, implicit_tls=True)
    elapsed, exc = _timed(
        lambda: hp.drive(proto, srv, scheme=IMPLICIT[proto], timeout=TIMEOUT, ca_file=pc_ca.ca_file)
    )
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)
    assert not hp.auth_commands(srv.lines)


@pytest.mark.parametrize("proto", ALL)
def test_HOS_08_accept_then_silence(proto: str, pc_hostile: Callable[..., HostileServer]) -> None:
    srv = pc_hostile([h.stall(10)], drain=0)
    elapsed, exc = _timed(lambda: hp.drive(proto, srv, timeout=TIMEOUT))
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)


@pytest.mark.parametrize("proto", ALL)
def test_HOS_08_implicit_tls_handshake_silence(
    proto: str, pc_hostile: Callable[..., HostileServer], pc_ca: TestCA
) -> None:
    """The server accepts and never answers the ClientHello."""
    srv = pc_hostile([h.stall(10)], drain=0)
    elapsed, exc = _timed(
        lambda: hp.drive(proto, srv, scheme=IMPLICIT[proto], timeout=TIMEOUT, ca_file=pc_ca.ca_file)
    )
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)
    assert b"\x16\x03" in srv.received_plain  # a ClientHello was sent, nothing else
    assert not hp.leaks(srv.received_plain)


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_HOS_08_silence_after_starttls_go_ahead(
    proto: str, pc_hostile: Callable[..., HostileServer], pc_ca: TestCA
) -> None:
    script = [*hp.until_starttls(proto), h.send(hp.go_ahead(proto)), h.stall(10)]
    srv = pc_hostile(script, drain=0)
    elapsed, exc = _timed(
        lambda: hp.drive(proto, srv, timeout=TIMEOUT, tls="starttls", ca_file=pc_ca.ca_file)
    )
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)
    assert not hp.auth_commands(srv.lines)
    assert not hp.leaks(srv.received)


@pytest.mark.parametrize("proto", ["imap", "pop3", "ftp"])
def test_HOS_08_dribbled_reply_after_login(
    proto: str, pc_hostile: Callable[..., HostileServer]
) -> None:
    """A later reply (not the greeting) dribbled: the listing command's answer."""
    slow = h.dribble(b"x" * 400, 1, DRIBBLE)
    if proto == "imap":
        script = [*hs.imap_until_select(), h.expect(rb"^\S+ UID SEARCH"), h.send(b"* SEARCH"), slow]
    elif proto == "pop3":
        script = [*hs.pop3_login(), h.expect(rb"^STAT$"), slow]
    else:
        script = [*hs.ftp_until(rb"^PASV$"), slow]
    srv = pc_hostile(script, drain=0)
    elapsed, exc = _timed(lambda: hp.drive(proto, srv, timeout=TIMEOUT))
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)


def test_HOS_08_dribbled_smtp_final_reply(pc_hostile: Callable[..., HostileServer]) -> None:
    """The reply after the message's final dot, dribbled: not reported as sent, in time."""
    script = [
        *hs.smtp_until_data(),
        h.send(b"354 go\r\n"),
        h.expect(rb"^\.$", skip_other=True),
        h.dribble(b"250 " + b"x" * 300 + b"\r\n", 1, DRIBBLE),
    ]
    srv = pc_hostile(script, drain=0)
    url = srv.url("smtp")
    elapsed, exc = _timed(lambda: protoclients.send(url, hp.MESSAGE, timeout=TIMEOUT, retries=0))
    assert isinstance(exc, protoclients.ProtoClientError), repr(exc)
    assert "timed out" in str(exc) or isinstance(exc, OperationTimeoutError)
    assert "unknown" in str(exc)  # delivery status unknown: never "sent"
    assert elapsed <= TIMEOUT + EPSILON
    _assert_closed(srv)


# -- data streams: the minimum-progress rule -------------------------------------------------


def _fetch(srv: HostileServer, scheme: str, path: str, dest: Path) -> Callable[[], Any]:
    url = srv.url(scheme, user=None if scheme == "http" else "alice", path=path)
    return lambda: protoclients.fetch(
        url, dest, password=None if scheme == "http" else "pw", timeout=TIMEOUT, retries=0
    )


def _no_final_file(dest: Path) -> None:
    assert not dest.exists()
    part = dest.with_name(dest.name + ".part")
    assert not part.exists() or part.stat().st_size < 1000


def test_HOS_08_dribbled_http_body(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    script = [
        h.expect(rb"^GET "),
        h.expect(rb"^$", skip_other=True),
        h.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        h.dribble(b"y" * 1000, 1, DRIBBLE),
    ]
    srv = pc_hostile(script, drain=0)
    dest = tmp_path / "body.bin"
    elapsed, exc = _timed(_fetch(srv, "http", "/body.bin", dest))
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)
    _no_final_file(dest)


def test_HOS_08_dribbled_pop3_message(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    script = [
        *hs.pop3_until_retr(size=1000),
        h.send(b"+OK 1000 octets\r\n"),
        h.dribble(b"Subject: slow\r\n\r\n" + b"y" * 980, 1, DRIBBLE),
    ]
    srv = pc_hostile(script, drain=0)
    dest = tmp_path / "1.eml"
    elapsed, exc = _timed(_fetch(srv, "pop3", "/1", dest))
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)
    _no_final_file(dest)
    assert not any(line.startswith(b"DELE") for line in srv.lines)


def test_HOS_08_dribbled_imap_literal(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    script = [
        *hs.imap_until_fetch(),
        h.send(b"* 1 FETCH (UID 1 BODY[] {1000}\r\n"),
        h.dribble(b"y" * 1000, 1, DRIBBLE),
    ]
    srv = pc_hostile(script, drain=0)
    dest = tmp_path / "1.eml"
    elapsed, exc = _timed(_fetch(srv, "imap", "/INBOX;UID=1", dest))
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)
    _no_final_file(dest)


def test_HOS_08_dribbled_ftp_retr(pc_hostile: Callable[..., HostileServer], tmp_path: Path) -> None:
    def feed(conn: socket.socket) -> None:
        hs.dribble_to(conn, b"y" * 1000, DRIBBLE)

    with hs.data_listener(feed) as data:
        replies = (b"200 binary\r\n", b"213 1000\r\n", b"213 20240101000000\r\n", data.pasv_reply())
        script = [*hs.ftp_until(rb"^RETR ", replies), h.send(b"150 here it comes\r\n"), h.stall(10)]
        srv = pc_hostile(script, drain=0)
        dest = tmp_path / "f.bin"
        elapsed, exc = _timed(_fetch(srv, "ftp", "/f.bin", dest))
    _assert_timed_out(elapsed, exc)
    _assert_closed(srv)
    _no_final_file(dest)
