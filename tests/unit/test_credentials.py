"""Credential resolution order, netrc safety, headless keyring."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protoclients import ClientOptions, CredentialsNotFound, parse_url
from protoclients import credentials as creds
from protoclients.urls import Secret


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.delenv(creds.ENV_PASSWORD, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(creds, "_env_secret", None)
    monkeypatch.setattr(creds, "_env_read", False)


def _netrc(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / ".netrc"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_explicit_beats_everything(tmp_path: Path) -> None:
    _netrc(tmp_path, "machine h login alice password fromnetrc\n")
    found = creds.resolve_credentials(
        parse_url("ftp://alice:inurl@h/"), ClientOptions(), Secret("explicit")
    )
    assert found is not None and found.password.reveal() == "explicit"
    assert found.source == "argument"
    assert "explicit" not in repr(found)


def test_url_password_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    found = creds.resolve_credentials(parse_url("ftp://alice:inurl@h/"), ClientOptions())
    assert found is not None and found.source == "url"
    monkeypatch.setenv(creds.ENV_PASSWORD, "fromenv")
    found = creds.resolve_credentials(parse_url("ftp://alice@h/"), ClientOptions())
    assert found is not None and found.password.reveal() == "fromenv"
    assert found.source == "environment"
    assert creds.ENV_PASSWORD not in os.environ  # read once, not inherited by children


def test_netrc_exact_host_and_user(tmp_path: Path) -> None:
    _netrc(tmp_path, "machine h login alice password pw1\nmachine other login bob password pw2")
    found = creds.resolve_credentials(parse_url("ftp://h/"), ClientOptions())
    assert found is not None and (found.username, found.password.reveal()) == ("alice", "pw1")
    assert found.source == "netrc"
    assert creds.resolve_credentials(parse_url("ftp://h.evil/"), ClientOptions()) is None
    diag: list[str] = []
    assert creds.resolve_credentials(parse_url("ftp://bob@h/"), ClientOptions(),
                                     diagnostics=diag) is None
    assert any("alice" in d for d in diag)


def test_netrc_default_only_with_opt_in(tmp_path: Path) -> None:
    _netrc(tmp_path, "default login anon password pw\n")
    assert creds.resolve_credentials(parse_url("ftp://h/"), ClientOptions()) is None
    found = creds.resolve_credentials(parse_url("ftp://h/"), ClientOptions(netrc_default=True))
    assert found is not None and found.username == "anon"


def test_insecure_netrc_is_ignored_with_reason(tmp_path: Path) -> None:
    _netrc(tmp_path, "machine h login alice password pw\n", mode=0o644)
    diag: list[str] = []
    assert creds.resolve_credentials(parse_url("ftp://h/"), ClientOptions(),
                                     diagnostics=diag) is None
    assert any("readable by others" in d for d in diag)


def test_netrc_parse_error_does_not_print_contents(tmp_path: Path) -> None:
    _netrc(tmp_path, 'machine h login alice password "unterminated\nmacdef\n')
    diag: list[str] = []
    creds.resolve_credentials(parse_url("ftp://h/"), ClientOptions(), diagnostics=diag)
    assert all("unterminated" not in d for d in diag)


def test_missing_credentials_message_lists_options() -> None:
    with pytest.raises(CredentialsNotFound) as info:
        creds.resolve_credentials(parse_url("ftp://alice@h/"), ClientOptions(), required=True)
    text = str(info.value)
    assert creds.ENV_PASSWORD in text and "netrc" in text and "keyring" in text
    assert "no keyring backend" in text  # the headless case is explained, not a traceback


def test_keyring_status_headless() -> None:
    usable, why = creds.keyring_status()
    assert not usable and "netrc" in why
