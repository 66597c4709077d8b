"""LOAD-02: many concurrent sessions across all five protocols, half the servers slow.

75 sessions run through a pool of 12 worker threads (the "pool limit") against the local
HTTP, FTP, SMTP, POP3 and IMAP servers; HTTP, POP3 and the FTP control connection go
through a :class:`FaultyRelay` that holds back every server reply (slow servers). Every
session carries its own id in what it moves and checks it on the way back:

* HTTP downloads ``s<i>.txt``; FTP uploads ``up<i>.txt`` and downloads it again;
* SMTP sends a message tagged ``<i>`` to one of 15 users; POP3 reads a user's own first
  message; IMAP appends a tagged message to a user's mailbox and fetches it back by UID.

Afterwards: every session succeeded with its own data (no cross-session mix-up), every SMTP
message sits in the right user's INBOX exactly once, and the process's open file descriptors
and threads are back to where they were before the sessions.
"""

from __future__ import annotations

import gc
import os
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from protoclients_fixtures import serve_ftp, serve_http, serve_mail
from protoclients_fixtures.hostile_relay import FaultyRelay

import protoclients

# Import every protocol module before the worker threads start: CPython 3.11 can raise
# "SystemError: AST constructor recursion depth mismatch" when two threads compile modules
# at once (gh-106905), which a stale or missing .pyc makes happen on first use.
import protoclients.protocols.ftp
import protoclients.protocols.http
import protoclients.protocols.imap
import protoclients.protocols.pop3
import protoclients.protocols.smtp

pytestmark = pytest.mark.timeout(120)

SESSIONS = 75
POOL = 12
USERS = 15
SLOW = 0.02


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settle(measure: Callable[[], int], baseline: int, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        value = measure()
        if value <= baseline or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _message(tag: str, to: str) -> bytes:
    return (
        f"From: load@example.org\r\nTo: {to}@example.org\r\nSubject: {tag}\r\n\r\nbody of {tag}\r\n"
    ).encode()


def test_LOAD_02_concurrent_sessions(tmp_path: Path) -> None:
    http_root = tmp_path / "http"
    ftp_root = tmp_path / "ftp"
    http_root.mkdir()
    ftp_root.mkdir()
    for i in range(SESSIONS):
        (http_root / f"s{i}.txt").write_bytes(f"session {i}\n".encode() * 100)
    users = {f"u{n}": f"pw-{n}-secret" for n in range(USERS)}
    with (
        serve_http(http_root) as http,
        serve_ftp(ftp_root) as ftp,
        serve_mail(tls=False, users=users) as mail,
    ):
        for name in users:
            mail.store.deliver(name, _message(f"first-{name}", name))
        slow = {"delay": SLOW, "slow_rate": 1.0, "seed": 2}
        with (
            FaultyRelay(http.host, http.port, **slow) as http_relay,
            FaultyRelay(ftp.host, ftp.port, **slow) as ftp_relay,
            FaultyRelay(mail.pop3.host, mail.pop3.port, **slow) as pop3_relay,
        ):
            ftp_user, ftp_password = next(iter(ftp.users.items()))
            ftp_base = ftp_relay.url(ftp.url.replace("://", f"://{ftp_user}@"))

            def session(i: int) -> str:
                kind = i % 5
                user = f"u{i % USERS}"
                password = users[user]
                if kind == 0:
                    body = protoclients.fetch(http_relay.url(http.url) + f"s{i}.txt", timeout=20)
                    assert body == f"session {i}\n".encode() * 100
                elif kind == 1:
                    data = f"upload of session {i}\n".encode() * 200
                    protoclients.send(
                        ftp_base + f"up{i}.txt", data, password=ftp_password, timeout=20
                    )
                    back = protoclients.fetch(
                        ftp_base + f"up{i}.txt", password=ftp_password, timeout=20
                    )
                    assert back == data
                elif kind == 2:
                    protoclients.send(mail.smtp_url, _message(f"smtp-{i}", user), timeout=20)
                elif kind == 3:
                    url = pop3_relay.url(mail.pop3_url).replace("://", f"://{user}@") + "1"
                    message = protoclients.fetch(url, password=password, timeout=20)
                    assert message["Subject"] == f"first-{user}"
                else:
                    base = mail.imap_url.replace("://", f"://{user}@")
                    with protoclients.connect(base, password=password, timeout=20) as client:
                        result = client.send(_message(f"imap-{i}", user), "INBOX")
                        uid = result.details["uid"]
                        message = client.fetch(f"INBOX;UID={uid}")
                        assert message["Subject"] == f"imap-{i}"
                return f"{kind}:{i}"

            threads_before = threading.active_count()
            fds_before = _open_fds()
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=POOL) as pool:
                results = list(pool.map(session, range(SESSIONS)))
            elapsed = time.monotonic() - started
            assert results == [f"{i % 5}:{i}" for i in range(SESSIONS)]
            assert http_relay.stats["slow"] > 0 and pop3_relay.stats["slow"] > 0
            # Every SMTP message in the right INBOX, exactly once.
            for i in range(2, SESSIONS, 5):
                user = f"u{i % USERS}"
                subjects = [
                    m.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0]
                    for m in mail.store.messages(user, "INBOX")
                ]
                assert subjects.count(f"smtp-{i}".encode()) == 1, (user, subjects)
            # Resources back to the baseline (server-side threads and sockets wind down).
            assert _settle(threading.active_count, threads_before) <= threads_before
            assert _settle(_open_fds, fds_before) <= fds_before
            rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
            assert rss_growth_kib < 200 * 1024, f"max RSS grew by {rss_growth_kib} KiB"
            assert elapsed < 60
