"""No secret in the CLI's output: ``-v`` traces a failing login on every protocol.

A known user with a WRONG password, given on stdin (``--password-stdin``) or in
``PROTOCLIENTS_PASSWORD``: the exit code is the authentication error's, the trace shows
that a secret was redacted, and stdout + stderr contain neither the password nor any
base64 (or percent/hex) form of it, at any alignment, alone or in the SASL/Basic blobs.
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from protoclients.errors import AuthenticationError

pytestmark = pytest.mark.timeout(120)

USER = "alice"
#: Wrong on purpose; printable, with the characters base64 and URLs treat specially.
WRONG = "wR0ng Secret+/Pass=9!"


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "protoclients"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]


def forbidden_forms(user: str, password: str) -> set[str]:
    """Every string whose presence in the output would leak ``password``.

    The password itself, percent- and hex-encoded; and the base64 encodings (standard and
    URL-safe) of every 3-byte-aligned run of at least 6 bytes, of the password and of the
    blobs it travels in (``\\0user\\0password``, ``user\\0user\\0password``,
    ``user:password``), that holds at least 3 bytes of the password. A base64 encoding of
    any larger blob holding the password contains one of these, whatever the alignment.
    """
    pw = password.encode()
    forms = {password, quote(password), quote(password, safe=""), pw.hex(), pw.hex().upper()}
    blobs = [pw, b"\0" + user.encode() + b"\0" + pw, user.encode() + b"\0" + pw,
             (user + ":").encode() + pw]
    for blob in blobs:
        start = blob.index(pw)
        end = start + len(pw)
        for i in range(len(blob)):
            for j in range(i + 6, len(blob) + 1, 3):
                if min(j, end) - max(i, start) < 3:
                    continue
                chunk = blob[i:j]
                forms.add(base64.b64encode(chunk).decode())
                forms.add(base64.urlsafe_b64encode(chunk).decode())
        # The whole blob, padded, as a client would send it on its own.
        forms.add(base64.b64encode(blob).decode())
    return forms


def test_forbidden_forms_catch_a_leak_at_any_alignment() -> None:
    forms = forbidden_forms(USER, WRONG)
    for prefix in (b"", b"x", b"xy", b"\0alice\0"):
        leaked = base64.b64encode(prefix + WRONG.encode() + b"tail").decode()
        assert any(f in leaked for f in forms), prefix
    assert not any(f in "AUTH PLAIN ***  PASS ***  Authorization: Basic ***" for f in forms)
    assert binascii.b2a_base64(b"\0alice\0" + WRONG.encode(), newline=False).decode() in forms


def _eml(tmp_path: Path) -> Path:
    path = tmp_path / "msg.eml"
    path.write_bytes(
        b"From: alice@example.test\r\nTo: alice@example.test\r\nSubject: x\r\n\r\nhello\r\n"
    )
    return path


def _with_user(url: str, path: str = "") -> str:
    return url.replace("://", f"://{USER}@", 1) + path


# (name, fixture, builds the argv after the global options from the server and a tmp dir)
Case = tuple[str, str, Callable[[Any, Path], list[str]]]
CASES: list[Case] = [
    ("http-put-401", "pc_http_server",
     lambda s, t: ["send", _with_user(s.url, "up.txt"), str(_eml(t))]),
    ("http-get-401", "pc_http_server", lambda s, t: ["ls", _with_user(s.url, "private/")]),
    ("ftp", "pc_ftp_server", lambda s, t: ["ls", _with_user(s.url)]),
    ("ftps-explicit", "pc_ftps_server",
     lambda s, t: ["ls", _with_user(s.url), "--tls", "starttls", "--cacert", s.ca_file]),
    ("ftps-implicit", "pc_ftps_implicit_server",
     lambda s, t: ["ls", _with_user(s.url), "--cacert", s.ca_file]),
    ("smtp-auth", "pc_mail", lambda s, t: ["send", _with_user(s.smtp_url), str(_eml(t))]),
    ("smtps-auth", "pc_mail",
     lambda s, t: ["send", _with_user(s.smtps_url), str(_eml(t)), "--cacert", s.ca_file]),
    ("pop3", "pc_mail", lambda s, t: ["ls", _with_user(s.pop3_url)]),
    ("pop3s", "pc_mail", lambda s, t: ["ls", _with_user(s.pop3s_url), "--cacert", s.ca_file]),
    ("imap", "pc_mail", lambda s, t: ["ls", _with_user(s.imap_url, "INBOX")]),
    ("imap-starttls", "pc_mail",
     lambda s, t: ["ls", _with_user(s.imap_url, "INBOX"), "--tls", "starttls",
                   "--cacert", s.ca_file]),
]


@pytest.mark.parametrize("source", ["stdin", "env"])
@pytest.mark.parametrize(("name", "fixture", "argv"), CASES, ids=[c[0] for c in CASES])
def test_failed_login_with_trace_leaks_nothing(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    name: str,
    fixture: str,
    argv: Callable[[Any, Path], list[str]],
    source: str,
) -> None:
    server = request.getfixturevalue(fixture)
    assert USER in server.users and server.users[USER] != WRONG
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "NETRC": str(tmp_path / "no-netrc")}
    env.pop("PROTOCLIENTS_PASSWORD", None)
    options = ["-v"]
    stdin = ""
    if source == "stdin":
        options.append("--password-stdin")
        stdin = WRONG + "\n"
    else:
        env["PROTOCLIENTS_PASSWORD"] = WRONG
    proc = subprocess.run(
        [*_script(), *options, *argv(server, tmp_path)], input=stdin, capture_output=True,
        text=True, env=env, timeout=90, check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == AuthenticationError.exit_code, output
    assert "* " in proc.stderr and "***" in proc.stderr, "no redacted trace line: " + output
    leaks = sorted(f for f in forbidden_forms(USER, WRONG) if f in output)
    assert not leaks, f"{name}: secret form(s) {leaks[:3]} in the output:\n{output}"
