"""INP-03 (IMAP, bad user input): passwords and user names are quoted, never spliced.

Passwords with ``"``, ``\\``, ``{5}``, spaces and UTF-8, and a user name with a space, log in
against the real IMAP server with ``LOGIN`` (quoted string or literal) and with
``AUTHENTICATE PLAIN``: exactly one login command goes out and the server accepts it.
Passwords with CR, LF or NUL are refused before connecting, with a message that does not
echo the value (CVE-2025-15366; yahoo/imapnio PR #180).
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protoclients_fixtures.tap import TrafficTap, leaked

import protoclients as pc

pytestmark = pytest.mark.timeout(60)

QUOTABLE = ['pa"ss', "back\\slash", "{5}", "with space", "Grüße-密码", '"\\{5}\r'[:-1], "NIL"]
FORBIDDEN = ["pw\r\nA1 DELETE INBOX", "pw\nx", "pw\rx", "pw\0x"]


def _unquote(arg: bytes) -> bytes:
    assert arg[:1] == b'"' and arg[-1:] == b'"'
    return re.sub(rb"\\(.)", rb"\1", arg[1:-1])


def _login_args(wire: bytes) -> tuple[bytes, bytes]:
    """The two arguments of the one LOGIN command on the wire (quoted/atom/literal)."""
    commands = [line for line in wire.split(b"\r\n") if b" LOGIN " in line.upper()[:20]]
    assert len(commands) == 1, wire
    start = wire.index(commands[0])
    rest = wire[start:].split(b" ", 2)[2]
    args: list[bytes] = []
    while len(args) < 2:
        if rest.startswith(b"{"):
            size = int(re.match(rb"\{([0-9]+)\+?\}\r\n", rest).group(1))  # type: ignore[union-attr]
            rest = rest[rest.index(b"\r\n") + 2 :]
            args.append(rest[:size])
            rest = rest[size:].lstrip(b" ")
        elif rest.startswith(b'"'):
            match = re.match(rb'"(?:[^"\\]|\\.)*"', rest)
            assert match is not None
            args.append(_unquote(match.group(0)))
            rest = rest[match.end() :].lstrip(b" ")
        else:
            word = re.match(rb"[^ \r]+", rest)
            assert word is not None
            args.append(word.group(0))
            rest = rest[word.end() :].lstrip(b" ")
    assert rest.startswith(b"\r\n"), "more than two arguments after LOGIN"
    return args[0], args[1]


def _login(mail: Any, tap: TrafficTap, user: str, password: str, mech: str) -> None:
    userinfo = user.replace(" ", "%20") + (f";AUTH={mech}" if mech else "")
    url = tap.url(f"imap://{userinfo}@127.0.0.1/")
    with pc.connect(url, password=password) as client:
        assert [e.name for e in client.ls("INBOX")] == []


@pytest.mark.parametrize("password", QUOTABLE)
def test_INP_03_login_quotes_or_literal(pc_mail: Any, password: str) -> None:
    pc_mail.store.add_user("bob", password)
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        _login(pc_mail, tap, "bob", password, "LOGIN")
        user_arg, password_arg = _login_args(tap.client_bytes)
    assert user_arg == b"bob"
    assert password_arg == password.encode("utf-8")
    logins = [c for c in pc_mail.imap.commands if " LOGIN " in c.upper()]
    assert len(logins) == 1
    assert not any("DELETE" in c.upper() for c in pc_mail.imap.commands)


@pytest.mark.parametrize("password", QUOTABLE)
def test_INP_03_authenticate_plain_carries_the_exact_password(pc_mail: Any, password: str) -> None:
    pc_mail.store.add_user("bob", password)
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        _login(pc_mail, tap, "bob", password, "")
    auths = [c for c in pc_mail.imap.commands if " AUTHENTICATE " in c.upper()]
    assert len(auths) == 1 and " LOGIN " not in " ".join(pc_mail.imap.commands).upper()
    expected = base64.b64encode(b"\0bob\0" + password.encode("utf-8"))
    assert tap.client_bytes.count(expected) == 1


@pytest.mark.parametrize("password", FORBIDDEN)
@pytest.mark.parametrize("mech", ["LOGIN", "PLAIN", ""])
def test_INP_03_crlf_nul_password_refused_without_echo(
    pc_mail: Any, password: str, mech: str
) -> None:
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        with pytest.raises(pc.InvalidInput) as info:
            _login(pc_mail, tap, "alice", password, mech)
        for text in (str(info.value), repr(info.value)):
            assert "DELETE" not in text and "pw" not in text and "\r" not in text
        assert not leaked(str(info.value), "alice", password)
        assert tap.connections == []  # refused before connecting
    assert pc_mail.imap.commands == []


@pytest.mark.parametrize("mech", ["LOGIN", "PLAIN"])
def test_INP_03_user_name_with_space_is_one_argument(pc_mail: Any, mech: str) -> None:
    # The test server has no user "al ice": the login fails, but what went out is checked.
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        with pytest.raises(pc.AuthenticationError) as info:
            _login(pc_mail, tap, "al ice", 'p"w', mech)
        assert 'p"w' not in str(info.value)
        if mech == "LOGIN":
            assert _login_args(tap.client_bytes) == (b"al ice", b'p"w')
        else:
            assert base64.b64encode(b'\0al ice\0p"w') in tap.client_bytes
    names = (" LOGIN ", " AUTHENTICATE ")
    assert sum(any(n in c.upper() for n in names) for c in pc_mail.imap.commands) == 1


def test_INP_03_crlf_in_user_name_refused(pc_mail: Any) -> None:
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        url = tap.url("imap://alice@127.0.0.1/")
        for user in ("alice\r\nA1 DELETE INBOX", "alice\0"):
            with pytest.raises(pc.InvalidInput) as info:
                pc.ls(url, username=user, password=pc_mail.users["alice"])
            assert "DELETE" not in str(info.value)
        assert tap.connections == []
    assert pc_mail.imap.commands == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    password=st.text(
        alphabet=st.sampled_from([*'ab "\\{}()*%5+', "ü", "€"]), min_size=1, max_size=24
    )
)
def test_INP_03_property_any_printable_password_logs_in(pc_mail: Any, password: str) -> None:
    pc_mail.store.add_user("bob", password)  # updates the password of an existing user
    before = len(pc_mail.imap.commands)
    with TrafficTap(pc_mail.imap.host, pc_mail.imap.port) as tap:
        _login(pc_mail, tap, "bob", password, "LOGIN")
        assert _login_args(tap.client_bytes) == (b"bob", password.encode("utf-8"))
    new = pc_mail.imap.commands[before:]
    assert sum(" LOGIN " in c.upper() for c in new) == 1
