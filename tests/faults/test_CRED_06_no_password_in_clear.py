"""CRED-06 (SMTP, IMAP, POP3, FTP, HTTP; credentials): no password over an unencrypted link.

Real servers without TLS, offering ``AUTH PLAIN LOGIN`` (SMTP), ``LOGIN`` (IMAP),
``USER``/``PASS`` (POP3, FTP) and Basic auth (HTTP), reached under a name that is not
loopback (``mail.example.test`` resolved to 127.0.0.1 inside the test, like curl
``--resolve``): the client raises ``InsecureAuthError`` before connecting, unless
``allow_insecure_auth=True``; an IMAP server announcing ``LOGINDISABLED`` never gets a
password, even then. Server side: a recording relay in front of each server shows no
connection at all (refused) or, when allowed, the login that was asked for; the servers'
logs hold no authentication command when refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures import serve_http, serve_imap, serve_mail
from protoclients_fixtures.tap import TrafficTap, leaked, resolve_to_loopback

import protoclients as pc

pytestmark = pytest.mark.timeout(60)

REMOTE = "mail.example.test"
AUTH_WORDS = ("AUTH", "LOGIN", "AUTHENTICATE", "USER", "PASS", "APOP")
MESSAGE = b"From: alice@example.org\r\nTo: alice@example.org\r\nSubject: s\r\n\r\nx\r\n"


@pytest.fixture
def remote() -> Iterator[None]:
    with resolve_to_loopback(REMOTE):
        yield


def _remote_url(tap: TrafficTap, scheme: str, user: str = "alice", path: str = "/") -> str:
    return f"{scheme}://{user}@{REMOTE}:{tap.port}{path}"


def _auth_lines(tap: TrafficTap) -> list[str]:
    found = []
    for line in tap.client_lines():
        words = line.upper().split()
        # IMAP lines start with a tag; the others with the command.
        if any(w in AUTH_WORDS for w in words[:2]):
            found.append(line)
    return found


@pytest.fixture
def mail() -> Iterator[Any]:
    with serve_mail(tls=False) as servers:
        yield servers


@pytest.mark.parametrize("scheme", ["smtp", "pop3", "imap"])
def test_CRED_06_mail_password_refused_in_clear(remote: None, mail: Any, scheme: str) -> None:
    server = {"smtp": mail.smtp, "pop3": mail.pop3, "imap": mail.imap}[scheme]
    password = mail.users["alice"]
    with TrafficTap(server.host, server.port) as tap:
        url = _remote_url(tap, scheme)

        def run(**options: Any) -> Any:
            if scheme == "smtp":
                return pc.send(url, MESSAGE, password=password, **options)
            return pc.ls(url, password=password, **options)

        with pytest.raises(pc.InsecureAuthError) as info:
            run()
        assert "allow_insecure_auth" in str(info.value)
        assert not leaked(str(info.value) + repr(info.value), "alice", password)
        assert tap.connections == []  # refused before connecting
        if scheme != "smtp":
            assert server.commands == []
        # The opt-in works: the same call logs in (proving the refusal was the client's).
        run(allow_insecure_auth=True)
        assert _auth_lines(tap)
    if scheme == "smtp":
        assert [e.authenticated_as for e in mail.smtp_received] == ["alice"]


def test_CRED_06_pop3_apop_counts_as_clear_too(remote: None, mail: Any) -> None:
    with TrafficTap(mail.pop3.host, mail.pop3.port) as tap:
        with pytest.raises(pc.InsecureAuthError):
            pc.ls(_remote_url(tap, "pop3", "alice;AUTH=+APOP"), password=mail.users["alice"])
        assert tap.connections == []


def test_CRED_06_imap_logindisabled_is_never_overridden(remote: None) -> None:
    with serve_imap(login_disabled=True) as imap, TrafficTap(imap.host, imap.port) as tap:
        password = imap.users["alice"]
        for options in ({}, {"allow_insecure_auth": True}):
            with pytest.raises(pc.InsecureAuthError) as info:
                pc.ls(_remote_url(tap, "imap"), password=password, **options)
            assert not leaked(str(info.value), "alice", password)
        # Even on loopback (where a clear password is otherwise accepted) and forced LOGIN.
        with pytest.raises(pc.AuthenticationError):
            pc.ls(tap.url("imap://alice;AUTH=LOGIN@127.0.0.1/"), password=password)
        with pytest.raises(pc.AuthenticationError):
            pc.ls(tap.url("imap://alice@127.0.0.1/"), password=password)
        assert not any(
            w in c.upper().split()[1:2] for c in imap.commands for w in ("LOGIN", "AUTHENTICATE")
        ), imap.commands
        assert _auth_lines(tap) == []
        assert not leaked(tap.client_bytes, "alice", password)


def test_CRED_06_ftp_password_refused_in_clear(remote: None, pc_ftp_server: Any) -> None:
    password = pc_ftp_server.users["alice"]
    with TrafficTap(pc_ftp_server.host, pc_ftp_server.port) as tap:
        with pytest.raises(pc.InsecureAuthError):
            pc.ls(_remote_url(tap, "ftp"), password=password)
        assert tap.connections == [] and pc_ftp_server.commands == []
        # Anonymous FTP sends no secret, so it is allowed.
        pc.ls(f"ftp://{REMOTE}:{tap.port}/")
        assert [c for c in pc_ftp_server.commands if c.startswith("USER")] == ["USER anonymous"]
        pc.ls(_remote_url(tap, "ftp"), password=password, allow_insecure_auth=True)
        assert "USER alice" in pc_ftp_server.commands


def test_CRED_06_http_basic_refused_in_clear(remote: None, tmp_path: Path) -> None:
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "f").write_bytes(b"x")
    with serve_http(tmp_path) as srv, TrafficTap(srv.host, srv.port) as tap:
        password = srv.users["alice"]
        with pytest.raises(pc.InsecureAuthError):
            pc.fetch(_remote_url(tap, "http", path="/private/f"), password=password)
        assert tap.connections == [] and srv.requests == []
        assert (
            pc.fetch(
                _remote_url(tap, "http", path="/private/f"),
                password=password,
                allow_insecure_auth=True,
            )
            == b"x"
        )
        assert b"Authorization: Basic" in tap.client_bytes
