"""CRED-05 (all protocols, credentials): no secret in traces, logs, errors or printed URLs.

For HTTP, FTP, SMTP, POP3 and IMAP, with the protocol trace on and every logger at DEBUG,
a successful session, a rejected password, a TLS failure (unknown CA), a refused connection
and a server error are provoked with URLs that carry user info (and, for HTTP, a
``?token=``). Everything captured — trace lines, log records, stdout/stderr, ``str``/``repr``
of the exception and its formatted traceback, result objects — must hold none of: the
password, base64 of ``\\0user\\0password`` or ``user:password`` or of the password alone, the
token. Authentication commands appear masked (``AUTH PLAIN ***``, ``LOGIN user ***``,
``PASS ***``, ``Authorization: Basic ***``). Server side: the servers' own command logs saw
the authentication happen (so the masking hid something real).
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from protoclients_fixtures.tap import secret_forms

import protoclients as pc

pytestmark = pytest.mark.timeout(60)

TOKEN = "tok-2718281828"
WRONG = "Wr0ng-Pa55-word!"
MESSAGE = b"From: alice@example.org\r\nTo: alice@example.org\r\nSubject: t\r\n\r\nx\r\n"


class Capture:
    """Collects every text a user could see."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
        self.caplog = caplog
        self.capsys = capsys
        self.trace: list[str] = []
        self.texts: list[str] = []
        caplog.set_level(logging.DEBUG)

    def run(self, call: Callable[[], Any]) -> BaseException | None:
        try:
            result = call()
        except pc.ProtoClientError as exc:
            self.texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
            self.texts.append(exc.url or "")
            return exc
        self.texts.append(repr(result))
        return None

    def everything(self) -> str:
        out, err = self.capsys.readouterr()
        records = [r.getMessage() for r in self.caplog.records]
        return "\n".join([*self.trace, *self.texts, *records, out, err])

    def assert_clean(self, user: str, *passwords: str) -> str:
        text = self.everything()
        blob = text.encode("utf-8", "replace")
        for password in passwords:
            for form in secret_forms(user, password):
                assert form not in blob, f"secret form {form!r} leaked"
        assert TOKEN not in text
        return text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cap(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Capture:
    return Capture(caplog, capsys)


def _with_user(url: str, password: str, extra: str = "") -> str:
    return url.replace("://", f"://alice:{password}@", 1) + extra


def test_CRED_05_http(cap: Capture, pc_http_server: Any, pc_https_server: Any) -> None:
    good = pc_http_server.users["alice"]
    (pc_http_server.root / "private").mkdir()
    (pc_http_server.root / "private" / "f").write_bytes(b"x")
    t = cap.trace.append
    base = pc_http_server.url
    ok = _with_user(base, good, f"private/f?token={TOKEN}")
    assert cap.run(lambda: pc.fetch(ok, trace=t)) is None
    assert isinstance(
        cap.run(lambda: pc.fetch(_with_user(base, WRONG, f"private/f?token={TOKEN}"), trace=t)),
        pc.AuthenticationError,
    )
    assert isinstance(
        cap.run(lambda: pc.fetch(_with_user(base, good, f"private/none?token={TOKEN}"), trace=t)),
        pc.NotFoundError,
    )
    tls = pc_https_server.url
    assert isinstance(
        cap.run(lambda: pc.fetch(_with_user(tls, good, f"f?token={TOKEN}"), trace=t)),
        pc.CertificateError,
    )
    closed = f"http://127.0.0.1:{_closed_port()}/"
    assert isinstance(
        cap.run(lambda: pc.fetch(_with_user(closed, good, f"x?token={TOKEN}"), trace=t, retries=0)),
        pc.ConnectionFailed,
    )
    text = cap.assert_clean("alice", good, WRONG)
    assert "Authorization: Basic ***" in text
    assert "token=***" in text
    # The server did receive credentials (masked in its own log).
    assert "Basic ***" in {r.headers.get("Authorization") for r in pc_http_server.requests}


def test_CRED_05_ftp(cap: Capture, pc_ftp_server: Any, pc_ftps_implicit_server: Any) -> None:
    good = pc_ftp_server.users["alice"]
    (pc_ftp_server.root / "f").write_bytes(b"x")
    t = cap.trace.append
    assert cap.run(lambda: pc.fetch(_with_user(pc_ftp_server.url, good, "f"), trace=t)) is None
    assert isinstance(
        cap.run(lambda: pc.fetch(_with_user(pc_ftp_server.url, WRONG, "f"), trace=t)),
        pc.AuthenticationError,
    )
    assert isinstance(
        cap.run(lambda: pc.fetch(_with_user(pc_ftp_server.url, good, "none"), trace=t)),
        pc.NotFoundError,
    )
    assert isinstance(
        cap.run(lambda: pc.ls(_with_user(pc_ftps_implicit_server.url, good), trace=t)),
        pc.CertificateError,
    )
    closed = f"ftp://127.0.0.1:{_closed_port()}/"
    assert isinstance(
        cap.run(lambda: pc.ls(_with_user(closed, good), trace=t)), pc.ConnectionFailed
    )
    text = cap.assert_clean("alice", good, WRONG)
    assert "PASS ***" in text
    assert pc_ftp_server.commands.count("PASS ***") == 3  # good, wrong, good


def _mail_cases(cap: Capture, mail: Any, scheme: str) -> str:
    good = mail.users["alice"]
    t = cap.trace.append
    plain = mail.urls[scheme]
    implicit = mail.urls[scheme + "s"]

    def verb(url: str, password: str) -> Callable[[], Any]:
        if scheme == "smtp":
            return lambda: pc.send(url, MESSAGE, password=password, trace=t)
        return lambda: pc.ls(url, password=password, trace=t)

    user_plain = plain.replace("://", "://alice@", 1)
    assert cap.run(verb(user_plain, good)) is None
    assert isinstance(cap.run(verb(user_plain, WRONG)), pc.AuthenticationError)
    assert isinstance(
        cap.run(verb(implicit.replace("://", "://alice@", 1), good)), pc.CertificateError
    )
    closed = f"{scheme}://alice@127.0.0.1:{_closed_port()}/"
    assert isinstance(cap.run(verb(closed, good)), pc.ConnectionFailed)
    if scheme != "smtp":
        missing = user_plain + ("NoSuchBox" if scheme == "imap" else "99")
        assert isinstance(cap.run(verb(missing, good)), pc.NotFoundError)
    else:
        refused = lambda: pc.send(  # noqa: E731
            user_plain, MESSAGE, password=good, to="nobody@example.org", trace=t
        )
        mail.store.auto_create = False
        assert isinstance(cap.run(refused), pc.ServerError)
    return cap.assert_clean("alice", good, WRONG)


def test_CRED_05_smtp(cap: Capture, pc_mail: Any) -> None:
    text = _mail_cases(cap, pc_mail, "smtp")
    assert "AUTH PLAIN ***" in text


def test_CRED_05_pop3(cap: Capture, pc_mail: Any) -> None:
    text = _mail_cases(cap, pc_mail, "pop3")
    assert "PASS ***" in text
    assert pc_mail.pop3.commands.count("PASS ***") >= 2


def test_CRED_05_imap(cap: Capture, pc_mail: Any) -> None:
    text = _mail_cases(cap, pc_mail, "imap")
    assert "AUTHENTICATE PLAIN" in text
    assert sum("AUTHENTICATE" in c for c in pc_mail.imap.commands) >= 2


def test_CRED_05_imap_login_is_masked(cap: Capture, pc_mail: Any) -> None:
    good = pc_mail.users["alice"]
    url = pc_mail.imap_url.replace("://", "://alice;AUTH=LOGIN@", 1)
    assert cap.run(lambda: pc.ls(url, password=good, trace=cap.trace.append)) is None
    text = cap.assert_clean("alice", good)
    assert any(line.endswith("LOGIN alice ***") for line in cap.trace)
    assert "LOGIN alice ***" in " ".join(pc_mail.imap.commands)
    assert "LOGIN alice ***" in text
