"""FLT-07 (SMTP, no data loss): the outbox removes a message only after the server's ``250``.

Scripted SMTP servers (``fixtures/hostile.py``) fail in each way of the catalogue and the
real local mail server (``pc_mail``) then accepts what is still queued:

* drop after the final ``.``: state ``"unknown"``, the message kept and sent again at the
  next flush (at-least-once);
* ``451`` after the data: ``"retry"`` with ``next_attempt`` in the future, not sent before;
* ``552`` after the data: moved to ``failed/`` with the server's text;
* ``421`` in the middle of a session: the messages after it stay queued, untried;
* some recipients refused: the accepted ones never get the message again.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h

import protoclients as pc
from protoclients.outbox import Outbox

pytestmark = pytest.mark.timeout(60)

NOW = 1_700_000_000.0
MESSAGE = b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: s\r\n\r\n.dot\r\nbody\r\n"
EHLO = [
    h.send(b"220 scripted ESMTP\r\n"),
    h.expect(rb"^EHLO "),
    h.send(b"250-scripted\r\n250 8BITMIME\r\n"),
]


def _transaction(final: list[Any], rcpts: tuple[bytes, ...] = (b"250 2.1.5 ok\r\n",)) -> list[Any]:
    steps: list[Any] = [h.expect(rb"^MAIL FROM:<bob@example\.org>"), h.send(b"250 2.1.0 ok\r\n")]
    for reply in rcpts:
        steps += [h.expect(rb"^RCPT TO:"), h.send(reply)]
    return [
        *steps,
        h.expect(rb"^DATA$"),
        h.send(b"354 go ahead\r\n"),
        h.expect(rb"^\.$", skip_other=True),
        *final,
    ]


def _url(srv: HostileServer) -> str:
    return srv.url("smtp", path="/client.example")


def _files(box: Outbox) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in box.directory.glob("*.eml")}


def test_FLT_07_outbox_drop_after_final_dot_is_unknown_then_sent(
    pc_hostile: Callable[..., HostileServer], pc_mail: Any, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox")
    ident = box.add(MESSAGE)
    before = _files(box)
    srv = pc_hostile([*EHLO, *_transaction([h.close()])], drain=1.0)
    [result] = box.flush(_url(srv), now=NOW, timeout=5)
    assert result.id == ident and result.state == "unknown" and result.attempts == 1
    assert "duplicate" in (result.error or "")
    assert _files(box) == before  # kept, byte for byte
    [entry] = box.pending()
    assert entry.state == "unknown" and entry.next_attempt <= NOW  # due at the next flush

    [again] = box.flush(pc_mail.smtp_url, now=NOW + 1, timeout=5)
    assert again.state == "sent" and again.attempts == 2
    assert again.reply is not None and again.reply.startswith("250")
    assert box.pending() == [] and list(box.directory.glob("*.eml")) == []
    assert list(box.directory.glob("*.json")) == []
    [envelope] = pc_mail.smtp_received
    assert envelope.rcpt_tos == ["alice@example.org"]
    assert b"\r\n.dot\r\nbody" in envelope.data  # dot-stuffing undone by the server


def test_FLT_07_outbox_451_retries_with_backoff_not_before_due(
    pc_hostile: Callable[..., HostileServer], pc_mail: Any, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox", backoff=30, max_backoff=100)
    box.add(MESSAGE)
    before = _files(box)
    reply = b"451 4.3.0 Local error in processing\r\n"
    srv = pc_hostile([*EHLO, *_transaction([h.send(reply)])], drain=1.0)
    [result] = box.flush(_url(srv), now=NOW, timeout=5)
    assert result.state == "retry" and result.next_attempt == NOW + 30
    assert "Local error in processing" in (result.error or "")
    assert _files(box) == before
    [entry] = box.pending()
    assert entry.state == "retry" and entry.attempts == 1 and entry.next_attempt == NOW + 30
    assert "451" in (entry.last_error or "")

    # Not due yet: no connection at all (this URL would fail if one were tried).
    assert box.flush("smtp://127.0.0.1:9/", now=NOW + 29, timeout=5) == []
    assert box.pending()[0].attempts == 1

    # A second temporary failure doubles the delay (a refused connection is temporary too).
    [second] = box.flush("smtp://127.0.0.1:9/", now=NOW + 30, timeout=5)
    assert second.state == "retry" and second.next_attempt == NOW + 30 + 60
    [third] = box.flush("smtp://127.0.0.1:9/", now=NOW + 90, timeout=5)
    assert third.next_attempt == NOW + 90 + 100  # capped by max_backoff
    assert _files(box) == before

    [sent] = box.flush(pc_mail.smtp_url, now=NOW + 190, timeout=5)
    assert sent.state == "sent" and sent.attempts == 4
    assert box.pending() == [] and len(pc_mail.smtp_received) == 1


def test_FLT_07_outbox_552_goes_to_failed_with_the_server_text(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox")
    ident = box.add(MESSAGE)
    reply = b"552 5.3.4 Message size exceeds fixed limit\r\n"
    srv = pc_hostile([*EHLO, *_transaction([h.send(reply)])], drain=1.0)
    [result] = box.flush(_url(srv), now=NOW, timeout=5)
    assert result.state == "failed" and result.next_attempt is None
    assert "Message size exceeds fixed limit" in (result.error or "")
    assert box.pending() == []
    [dead] = box.failed()
    assert dead.id == ident and dead.state == "failed"
    assert dead.path == box.directory / "failed" / f"{ident}.eml"
    assert dead.path.read_bytes() == MESSAGE
    assert "552 5.3.4 Message size exceeds fixed limit" in (dead.last_error or "")
    # Nothing left to send: a later flush opens no connection.
    assert box.flush("smtp://127.0.0.1:9/", now=NOW + 10_000) == []


def test_FLT_07_outbox_421_mid_session_keeps_the_rest_queued(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox", backoff=10)
    first, second, third = (box.add(MESSAGE) for _ in range(3))
    script = [
        *EHLO,
        *_transaction([h.send(b"250 2.0.0 queued as A1\r\n")]),
        # (A 421 to MAIL FROM on a reused connection is taken for an idle timeout: the
        # client reconnects once; a 421 to RCPT is the server going away mid-transaction.)
        h.expect(rb"^MAIL FROM:"),
        h.send(b"250 2.1.0 ok\r\n"),
        h.expect(rb"^RCPT TO:"),
        h.send(b"421 4.3.2 Service shutting down\r\n"),
        h.close(),
    ]
    srv = pc_hostile(script, drain=1.0)
    results = box.flush(_url(srv), now=NOW, timeout=5)
    assert [(r.id, r.state) for r in results] == [(first, "sent"), (second, "retry")]
    assert "shutting down" in (results[1].error or "")
    pending = {e.id: e for e in box.pending()}
    assert set(pending) == {second, third}
    assert pending[second].state == "retry" and pending[second].next_attempt == NOW + 10
    assert pending[third].state == "queued" and pending[third].attempts == 0
    assert pending[third].path.read_bytes() == MESSAGE
    assert srv.wait(10)
    assert sum(line.upper().startswith(b"MAIL FROM") for line in srv.lines) == 2
    assert [line.upper() for line in srv.lines].count(b"DATA") == 1


def test_FLT_07_outbox_partial_recipients_not_resent(
    pc_hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox", backoff=5)
    to = ["alice@example.org", "carol@example.org", "dave@example.org"]
    ident = box.add(MESSAGE, to=to)
    replies = (b"250 2.1.5 ok\r\n", b"450 4.2.1 carol is busy\r\n", b"550 5.1.1 no dave\r\n")
    srv = pc_hostile([*EHLO, *_transaction([h.send(b"250 2.0.0 ok\r\n")], replies)], drain=1.0)
    [result] = box.flush(_url(srv), now=NOW, timeout=5)
    assert result.state == "retry" and result.accepted == ["alice@example.org"]
    assert set(result.refused) == {"carol@example.org", "dave@example.org"}
    [entry] = box.pending()
    assert entry.recipients == ["carol@example.org"]
    assert entry.delivered == ["alice@example.org"]
    assert entry.refused == {"dave@example.org": [550, "5.1.1 no dave"]}

    again = pc_hostile([*EHLO, *_transaction([h.send(b"250 2.0.0 ok\r\n")])], drain=1.0)
    [last] = box.flush(_url(again), now=NOW + 5, timeout=5)
    assert again.wait(10)
    assert [line for line in again.lines if line.upper().startswith(b"RCPT")] == [
        b"RCPT TO:<carol@example.org>"
    ]
    # Delivered to alice and carol, refused for good to dave: kept in failed/ as "partial".
    assert last.state == "partial" and box.pending() == []
    [dead] = box.failed()
    assert dead.id == ident and dead.delivered == ["alice@example.org", "carol@example.org"]
    assert dead.recipients == [] and "dave@example.org" in dead.refused


def test_FLT_07_outbox_lock_stops_a_second_flush(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    box.add(MESSAGE)
    fd = os.open(box.directory / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(pc.TransferInProgress):
            box.flush("smtp://127.0.0.1:9/", now=NOW)
    finally:
        os.close(fd)
    assert box.pending()[0].attempts == 0


def test_FLT_07_outbox_add_checks_and_stores_exact_bytes(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    with pytest.raises(pc.InvalidInput):
        box.add(b"Subject: no recipients\r\n\r\nbody\r\n")
    assert list(box.directory.iterdir()) == []  # nothing half-queued

    path = tmp_path / "m.eml"
    path.write_bytes(MESSAGE)
    ident = box.add(path, from_="x@example.org")
    [entry] = [e for e in box.pending() if e.id == ident]
    assert entry.path.read_bytes() == MESSAGE and entry.mail_from == "x@example.org"
    assert entry.recipients == ["alice@example.org"] and entry.state == "queued"

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Bcc"] = "bob@example.org", "alice@example.org", "eve@example.org"
    msg["Subject"] = "s"
    msg.set_content(".leading dot\n")
    ident = box.add(msg)
    [stored] = [e for e in box.pending() if e.id == ident]
    data = stored.path.read_bytes()
    assert b"Bcc" not in data and b"\r\n.leading dot\r\n" in data
    assert stored.recipients == ["alice@example.org", "eve@example.org"]
