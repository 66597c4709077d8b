"""FLT-10 (HTTP, all; fault): idempotent operations are retried, with bounds; the rest not.

Scripted servers (``fixtures/hostile.py``, one script per connection):

* ``503`` + ``Retry-After: 2``, then ``200``: the GET waits about 2 s and succeeds (two
  requests); ``Retry-After: 99999999`` is capped (:data:`RETRY_AFTER_CAP`);
* ``429`` that persists: one try plus ``retries`` retries, then a temporary
  ``ServerError(429)``: attempts and time are bounded;
* the connection reset before the answer: a GET is retried, a POST is not (one request);
* SMTP: the connection reset during ``DATA``: an error, and ``MAIL``/``DATA`` are not
  re-sent on a new connection (the caller decides; there is no outbox).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h

import protoclients as pc
import protoclients.protocols.httpsession as httpsession

pytestmark = pytest.mark.timeout(60)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def _status(code: int, reason: str, retry_after: str | None = None) -> bytes:
    extra = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
    return (
        f"HTTP/1.1 {code} {reason}\r\n{extra}Content-Length: 4\r\nConnection: close\r\n\r\nbusy"
    ).encode()


def _script(method: bytes, reply: bytes | None) -> list[Any]:
    steps: list[Any] = [
        h.expect(rb"^" + method + rb" /x HTTP/1\.1$"),
        h.expect(rb"^$", skip_other=True),
    ]
    if reply is not None:
        steps.append(h.send(reply))
    steps.append(h.close())
    return steps


def _server(
    pc_hostile: Callable[..., HostileServer], method: bytes, replies: list[bytes | None]
) -> HostileServer:
    scripts = [_script(method, reply) for reply in replies]
    return pc_hostile(scripts[0], per_connection=scripts, drain=0.5, max_connections=8)


def _requests(srv: HostileServer, method: bytes = b"GET") -> int:
    return sum(line.startswith(method + b" /x ") for line in srv.lines)


def test_FLT_10_503_retry_after_is_honoured(pc_hostile: Callable[..., HostileServer]) -> None:
    srv = _server(pc_hostile, b"GET", [_status(503, "Service Unavailable", "2"), OK])
    started = time.monotonic()
    assert pc.fetch(srv.url("http", path="/x")) == b"ok"
    elapsed = time.monotonic() - started
    assert 1.8 <= elapsed < 10
    assert srv.wait(5)
    assert _requests(srv) == 2


def test_FLT_10_huge_retry_after_is_capped(
    pc_hostile: Callable[..., HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpsession, "RETRY_AFTER_CAP", 0.5)
    srv = _server(pc_hostile, b"GET", [_status(503, "Busy", "99999999"), OK])
    started = time.monotonic()
    assert pc.fetch(srv.url("http", path="/x")) == b"ok"
    assert time.monotonic() - started < 5
    assert srv.wait(5)
    assert _requests(srv) == 2


@pytest.mark.parametrize("retries", [0, 2])
def test_FLT_10_persistent_429_is_bounded(
    pc_hostile: Callable[..., HostileServer], retries: int
) -> None:
    replies: list[bytes | None] = [_status(429, "Too Many Requests", "0")] * (retries + 2)
    srv = _server(pc_hostile, b"GET", replies)
    started = time.monotonic()
    with pytest.raises(pc.ServerError) as info:
        pc.fetch(srv.url("http", path="/x"), retries=retries)
    assert info.value.status == 429 and info.value.temporary
    assert time.monotonic() - started < 15
    assert srv.wait(5)
    assert _requests(srv) == retries + 1


def test_FLT_10_reset_get_is_retried(pc_hostile: Callable[..., HostileServer]) -> None:
    srv = _server(pc_hostile, b"GET", [None, OK])
    assert pc.fetch(srv.url("http", path="/x")) == b"ok"
    assert srv.wait(5)
    assert _requests(srv) == 2


def test_FLT_10_reset_post_is_not_retried(pc_hostile: Callable[..., HostileServer]) -> None:
    srv = _server(pc_hostile, b"POST", [None, OK, OK])
    with pytest.raises(pc.ProtoClientError):
        pc.send(srv.url("http", path="/x"), b"once only", method="POST")
    assert srv.wait(5)
    assert _requests(srv, b"POST") == 1
    assert len(srv.connections) == 1


def test_FLT_10_smtp_data_is_not_retried(pc_hostile: Callable[..., HostileServer]) -> None:
    script = [
        h.send(b"220 scripted ESMTP\r\n"),
        h.expect(rb"^EHLO "),
        h.send(b"250-scripted\r\n250 8BITMIME\r\n"),
        h.expect(rb"^MAIL FROM:"),
        h.send(b"250 ok\r\n"),
        h.expect(rb"^RCPT TO:"),
        h.send(b"250 ok\r\n"),
        h.expect(rb"^DATA$"),
        h.send(b"354 go\r\n"),
        h.close(),
    ]
    srv = pc_hostile(script, drain=0.5)
    message = b"From: b@example.org\r\nTo: a@example.org\r\n\r\n" + b"x" * 70 + b"\r\n"
    with pytest.raises(pc.ProtoClientError):
        pc.send(srv.url("smtp", path="/client.example"), message * 1, timeout=5)
    assert srv.wait(5)
    assert len(srv.connections) == 1
    assert sum(line.upper().startswith(b"MAIL FROM") for line in srv.lines) == 1
