"""CRED-03 (netrc, all protocols): a secure, exact ``~/.netrc`` lookup.

An insecure file (mode 0644, or owned by another user) is ignored whichever way it is named
(``netrc_file=``, ``$NETRC``, ``~/.netrc``; requests accepts 0644); only an exact host match
counts; ``default`` only with ``netrc_default=True``; a user in the URL must match
``login``; the URL's user info cannot pick another machine; a last line without newline and
``macdef`` blocks parse; a parse error never prints the file. Server side: the FTP server
and a recording relay show which user logged in and which password crossed the wire.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures.tap import TrafficTap

import protoclients as pc

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ftp(pc_ftp_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.delenv("PROTOCLIENTS_PASSWORD", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (Path(pc_ftp_server.root) / "f.txt").write_bytes(b"data\n")
    with TrafficTap(pc_ftp_server.host, pc_ftp_server.port) as tap:
        pc_ftp_server.tap = tap
        pc_ftp_server.home = home
        yield pc_ftp_server


def _netrc(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _users(srv: Any) -> list[str]:
    return [c.split(" ", 1)[1] for c in srv.commands if c.upper().startswith("USER ")]


def _passwords_on_wire(srv: Any) -> list[str]:
    lines = srv.tap.client_bytes.decode("latin-1").split("\r\n")
    return [line[5:] for line in lines if line.upper().startswith("PASS ")]


def _fetch(srv: Any, user: str | None = "alice", **options: Any) -> bytes:
    userinfo = f"{user}@" if user else ""
    options.setdefault("use_keyring", False)
    return pc.fetch(srv.tap.url(f"ftp://{userinfo}127.0.0.1/") + "f.txt", **options)  # type: ignore[no-any-return]


def test_CRED_03_secure_exact_entry_is_used(ftp: Any, tmp_path: Path) -> None:
    good = ftp.users["alice"]
    path = _netrc(
        tmp_path / "netrc",
        f"machine 127.0.0.10 login alice password wrong-near-miss\n"
        f"machine 127.0.0.1 login alice password {good}",  # no final newline
    )
    assert _fetch(ftp, netrc_file=str(path)) == b"data\n"
    assert _users(ftp) == ["alice"]
    assert _passwords_on_wire(ftp) == [good]


@pytest.mark.parametrize("how", ["netrc_file", "NETRC", "home"])
def test_CRED_03_file_readable_by_others_is_ignored(
    ftp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    good = ftp.users["alice"]
    target = ftp.home / ".netrc" if how == "home" else tmp_path / "netrc"
    path = _netrc(target, f"machine 127.0.0.1 login alice password {good}\n", mode=0o644)
    options: dict[str, Any] = {}
    if how == "netrc_file":
        options["netrc_file"] = str(path)
    elif how == "NETRC":
        monkeypatch.setenv("NETRC", str(path))
    with pytest.raises(pc.CredentialsNotFound) as info:
        _fetch(ftp, **options)
    text = str(info.value)
    assert "readable by others" in text and "chmod 600" in text
    assert good not in text and good not in repr(info.value)
    assert ftp.tap.connections == [] and ftp.commands == []


@pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")
def test_CRED_03_file_of_another_user_is_ignored(ftp: Any, tmp_path: Path) -> None:
    good = ftp.users["alice"]
    path = _netrc(tmp_path / "netrc", f"machine 127.0.0.1 login alice password {good}\n")
    os.chown(path, 65534, 65534)
    with pytest.raises(pc.CredentialsNotFound) as info:
        _fetch(ftp, netrc_file=str(path))
    assert "another user" in str(info.value)
    assert ftp.tap.connections == []


def test_CRED_03_default_entry_only_when_opted_in(ftp: Any, tmp_path: Path) -> None:
    good = ftp.users["alice"]
    path = _netrc(tmp_path / "netrc", f"default login alice password {good}\n")
    # Without the opt-in: no credentials from `default`, so the anonymous login is used.
    assert _fetch(ftp, user=None, netrc_file=str(path)) == b"data\n"
    assert _users(ftp) == ["anonymous"]
    assert good not in _passwords_on_wire(ftp)
    # A named user without any other source: not found, and nothing was sent.
    with pytest.raises(pc.CredentialsNotFound):
        _fetch(ftp, netrc_file=str(path))
    assert len(ftp.tap.connections) == 1
    # Opted in: the default entry logs alice in.
    assert _fetch(ftp, user=None, netrc_file=str(path), netrc_default=True) == b"data\n"
    assert _users(ftp) == ["anonymous", "alice"]
    assert _passwords_on_wire(ftp)[-1] == good


def test_CRED_03_user_in_url_must_match_login(ftp: Any, tmp_path: Path) -> None:
    path = _netrc(tmp_path / "netrc", "machine 127.0.0.1 login bob password bobs-password\n")
    with pytest.raises(pc.CredentialsNotFound) as info:
        _fetch(ftp, user="alice", netrc_file=str(path))
    assert "'bob'" in str(info.value) and "bobs-password" not in str(info.value)
    assert ftp.tap.connections == []
    assert b"bobs-password" not in ftp.tap.client_bytes


def test_CRED_03_userinfo_cannot_select_another_machine(ftp: Any, tmp_path: Path) -> None:
    good = ftp.users["alice"]
    path = _netrc(
        tmp_path / "netrc",
        "machine h2 login alice password h2-only-password\n"
        f"machine 127.0.0.1 login alice password {good}\n",
    )
    # "ftp://h2:x@127.0.0.1/": the user is "h2", the host 127.0.0.1: h2's entry is not read.
    with pytest.raises(pc.AuthenticationError):
        pc.fetch(ftp.tap.url("ftp://h2:x@127.0.0.1/f.txt"), netrc_file=str(path), use_keyring=False)
    assert _users(ftp) == ["h2"]
    assert b"h2-only-password" not in ftp.tap.client_bytes


def test_CRED_03_macdef_and_comments_parse(ftp: Any, tmp_path: Path) -> None:
    good = ftp.users["alice"]
    path = _netrc(
        tmp_path / "netrc",
        "# a comment\n"
        "macdef init\n"
        "  cd /pub\n"
        "  passive\n"
        "\n"
        f"machine 127.0.0.1\n  login alice\n  password {good}",
    )
    assert _fetch(ftp, netrc_file=str(path)) == b"data\n"
    assert _passwords_on_wire(ftp) == [good]


def test_CRED_03_parse_error_never_prints_the_file(ftp: Any, tmp_path: Path) -> None:
    path = _netrc(
        tmp_path / "netrc",
        "machine 127.0.0.1 login alice password Secret-77 bogus-token Other-Secret-88\n",
    )
    with pytest.raises(pc.CredentialsNotFound) as info:
        _fetch(ftp, netrc_file=str(path))
    text = str(info.value) + repr(info.value)
    assert "Secret-77" not in text and "Other-Secret-88" not in text and "bogus" not in text
    assert "parse error at line 1" in text
    assert ftp.tap.connections == []
    # A quoted value running over a line end becomes a password with LF: refused, not echoed.
    path.write_text('machine 127.0.0.1 login alice password "Secret-77\nmachine x\n')
    with pytest.raises(pc.InvalidInput) as info2:
        _fetch(ftp, netrc_file=str(path))
    assert "Secret-77" not in str(info2.value) + repr(info2.value)
    assert ftp.tap.connections == []


def test_CRED_03_missing_named_file_is_an_error(ftp: Any, tmp_path: Path) -> None:
    with pytest.raises(pc.InvalidInput):
        _fetch(ftp, netrc_file=str(tmp_path / "absent"))
    assert ftp.tap.connections == []
