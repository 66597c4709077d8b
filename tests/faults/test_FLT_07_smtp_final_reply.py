"""FLT-07 (SMTP, no data loss): nothing is reported sent before the server's final 2xx.

Scripted SMTP servers (``fixtures/hostile.py``) answer one transaction each way:

* the connection drops after the final ``.``, before any reply: ``DeliveryStatusUnknown``
  (an ``IncompleteTransferError``: the message may or may not have been delivered);
* ``421`` in the middle of the session (to ``MAIL FROM``): a temporary ``ServerError``;
* ``451`` after the data: ``MessageRefused``, ``temporary=True``, the server text kept;
* ``552`` after the data: ``MessageRefused``, ``temporary=False``, the server text kept;
* a slow final ``250``: the result comes only after it.

In every failing case ``send`` raises (never returns a result) and ``DATA`` is not re-sent
automatically: the server's transcript holds exactly one ``MAIL FROM``. Queued retries with
a dead-letter folder are the outbox's job (test_FLT_07_outbox.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h

import protoclients as pc
from protoclients.protocols.smtp import DeliveryStatusUnknown, MessageRefused

pytestmark = pytest.mark.timeout(60)

MESSAGE = b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: s\r\n\r\nbody\r\n"


def _until_data(mail_reply: bytes = b"250 2.1.0 ok\r\n") -> list[Any]:
    return [
        h.send(b"220 scripted ESMTP\r\n"),
        h.expect(rb"^EHLO "),
        h.send(b"250-scripted\r\n250 8BITMIME\r\n"),
        h.expect(rb"^MAIL FROM:<bob@example\.org>"),
        h.send(mail_reply),
    ]


def _data(final: list[Any]) -> list[Any]:
    return [
        *_until_data(),
        h.expect(rb"^RCPT TO:<alice@example\.org>"),
        h.send(b"250 2.1.5 ok\r\n"),
        h.expect(rb"^DATA$"),
        h.send(b"354 go ahead\r\n"),
        h.expect(rb"^\.$", skip_other=True),
        *final,
    ]


def _one_transaction(srv: HostileServer) -> None:
    assert srv.wait(10)
    lines = [line.upper() for line in srv.lines]
    assert sum(line.startswith(b"MAIL FROM") for line in lines) == 1
    assert sum(line == b"DATA" for line in lines) <= 1


def _send(srv: HostileServer, **kwargs: Any) -> Any:
    return pc.send(srv.url("smtp", path="/client.example"), MESSAGE, timeout=5, **kwargs)


def test_FLT_07_drop_after_final_dot_is_unknown(pc_hostile: Callable[..., HostileServer]) -> None:
    srv = pc_hostile(_data([h.close()]), drain=1.0)
    with pytest.raises(DeliveryStatusUnknown) as info:
        _send(srv)
    assert isinstance(info.value, pc.IncompleteTransferError)
    assert "unknown" in str(info.value) and "duplicate" in str(info.value)
    _one_transaction(srv)
    assert srv.lines[-1] == b"."  # the whole message went, then nothing more


def test_FLT_07_421_mid_session_is_temporary(pc_hostile: Callable[..., HostileServer]) -> None:
    srv = pc_hostile(
        [*_until_data(b"421 4.3.2 Service shutting down, try later\r\n"), h.close()], drain=1.0
    )
    with pytest.raises(pc.ServerError) as info:
        _send(srv)
    assert info.value.status == 421 and info.value.temporary
    assert "shutting down" in (info.value.reply or "")
    _one_transaction(srv)
    assert b"DATA" not in srv.lines


@pytest.mark.parametrize(
    ("reply", "temporary"),
    [
        (b"451 4.3.0 Local error in processing, queued nothing\r\n", True),
        (b"552 5.3.4 Message size exceeds fixed limit\r\n", False),
        (b"554 5.7.1 Rejected: looks like spam \x1b[31mRED\r\n", False),
    ],
)
def test_FLT_07_refusal_after_data_is_typed_with_the_server_text(
    pc_hostile: Callable[..., HostileServer], reply: bytes, temporary: bool
) -> None:
    srv = pc_hostile(_data([h.send(reply)]), drain=1.0)
    with pytest.raises(MessageRefused) as info:
        _send(srv)
    error = info.value
    assert error.status == int(reply[:3]) and error.temporary is temporary
    text = reply[4:].split(b"\x1b")[0].decode().strip()
    assert text in (error.reply or "")
    assert "\x1b" not in str(error)  # the server text is shown escaped
    _one_transaction(srv)


def test_FLT_07_result_only_after_the_final_250(pc_hostile: Callable[..., HostileServer]) -> None:
    srv = pc_hostile(_data([h.send_later(b"250 2.0.0 queued as X1\r\n", delay=0.8)]), drain=1.0)
    started = time.monotonic()
    result = _send(srv)
    assert time.monotonic() - started >= 0.7
    assert result.accepted == ["alice@example.org"]
    assert result.details["reply"].startswith("250 2.0.0 queued as X1")
    _one_transaction(srv)


def test_FLT_07_silence_after_final_dot_times_out_as_unknown(
    pc_hostile: Callable[..., HostileServer],
) -> None:
    srv = pc_hostile(_data([h.stall(max_time=8)]), drain=1.0)
    started = time.monotonic()
    with pytest.raises(DeliveryStatusUnknown, match="timed out"):
        pc.send(srv.url("smtp", path="/client.example"), MESSAGE, timeout=1)
    assert time.monotonic() - started < 6
    _one_transaction(srv)
