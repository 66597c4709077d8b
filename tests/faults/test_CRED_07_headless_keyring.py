"""CRED-07 (keyring / environment, credentials): a headless keyring is handled explicitly.

Each case runs a fresh Python in an ``env -i``-like environment (``PATH``, an empty
``HOME``, no D-Bus session) against the real FTP server of the parent test:

(a) no keyring backend at all: a clear "no keyring backend" message naming the
    alternatives (``~/.netrc``, ``PROTOCLIENTS_PASSWORD``), ``KeyringUnavailable``;
(b) ``keyrings.alt``'s plaintext backend (skipped when not installed) and a backend that
    says it is plaintext: storing (``protoclients auth set``) is refused unless
    ``--allow-plaintext``;
(c) ``PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring``: "stores nothing" is
    reported (``KeyringUnavailable``), not just "no password";
(d) a backend that raises ``KeyringLocked`` or never answers: a clear message, bounded by
    the keyring timeout (10 s), not a hang;
(e) ``PROTOCLIENTS_PASSWORD``: read once, removed from ``os.environ``, not inherited by
    child processes, never logged.

Server side: no connection at all when no password was found; ``USER alice``/``PASS ***``
when one was; the password never in the child's stdout/stderr.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from protoclients.credentials import KEYRING_TIMEOUT

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).resolve().parent

LOOKUP = """
import logging, sys, time
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
import protoclients as pc
started = time.monotonic()
try:
    entries = pc.ls(sys.argv[1], timeout=5)
    print("OK", sorted(e.name for e in entries))
except pc.ProtoClientError as exc:
    print("ERR", type(exc).__name__, exc)
print("ELAPSED", round(time.monotonic() - started, 1))
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 60) -> Any:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def ftp(pc_ftp_server: Any) -> Any:
    (pc_ftp_server.root / "f.txt").write_bytes(b"x")
    return pc_ftp_server


def _url(srv: Any) -> str:
    return srv.url.replace("://", "://alice@", 1)


def test_CRED_07_a_no_backend_is_explained(ftp: Any, home: Path) -> None:
    proc = _run(["-c", LOOKUP, _url(ftp)], _env(home))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ERR KeyringUnavailable")
    assert "no keyring backend is available" in proc.stdout
    assert "netrc" in proc.stdout and "PROTOCLIENTS_PASSWORD" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert ftp.commands == []  # nothing was attempted without a password


def test_CRED_07_c_null_backend_reports_no_store(ftp: Any, home: Path) -> None:
    env = _env(home, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    proc = _run(["-c", LOOKUP, _url(ftp)], env)
    assert proc.stdout.startswith("ERR KeyringUnavailable"), proc.stdout + proc.stderr
    assert "stores nothing" in proc.stdout
    assert ftp.commands == []


@pytest.mark.parametrize("backend", ["LockedKeyring", "SlowKeyring"])
def test_CRED_07_d_locked_or_hanging_backend_is_bounded(ftp: Any, home: Path, backend: str) -> None:
    env = _env(home, PYTHONPATH=str(HERE), PYTHON_KEYRING_BACKEND=f"keyring_fakes.{backend}")
    started = time.monotonic()
    proc = _run(["-c", LOOKUP, _url(ftp)], env, timeout=KEYRING_TIMEOUT + 30)
    elapsed = time.monotonic() - started
    assert proc.stdout.startswith("ERR KeyringUnavailable"), proc.stdout + proc.stderr
    if backend == "LockedKeyring":
        assert "KeyringLocked" in proc.stdout
        assert elapsed < KEYRING_TIMEOUT
    else:
        assert f"did not answer within {KEYRING_TIMEOUT:.0f} s" in proc.stdout
        assert KEYRING_TIMEOUT - 1 <= elapsed < KEYRING_TIMEOUT + 20  # bounded, not 60 s
    assert ftp.commands == []


def test_CRED_07_e_password_from_environment(ftp: Any, home: Path) -> None:
    password = ftp.users["alice"]
    script = """
import logging, os, subprocess, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
import protoclients as pc
print("BEFORE", "PROTOCLIENTS_PASSWORD" in os.environ)
print("FIRST", sorted(e.name for e in pc.ls(sys.argv[1], trace=print)))
print("AFTER", "PROTOCLIENTS_PASSWORD" in os.environ)
child = subprocess.run(
    [sys.executable, "-c", "import os; print(os.environ.get('PROTOCLIENTS_PASSWORD'))"],
    capture_output=True, text=True, check=True,
)
print("CHILD", child.stdout.strip())
print("SECOND", sorted(e.name for e in pc.ls(sys.argv[1])))
"""
    env = _env(
        home, PROTOCLIENTS_PASSWORD=password, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring"
    )
    proc = _run(["-c", script, _url(ftp)], env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "BEFORE True" in lines
    assert "FIRST ['f.txt']" in lines
    assert "AFTER False" in lines  # removed once read
    assert "CHILD None" in lines  # not inherited
    assert "SECOND ['f.txt']" in lines  # read once, kept in memory
    assert password not in proc.stdout and password not in proc.stderr
    assert "PASS ***" in proc.stdout  # the trace shows the command, masked
    assert ftp.commands.count("USER alice") == 2 and ftp.commands.count("PASS ***") == 2


def test_CRED_07_e_env_password_not_read_without_a_user(ftp: Any, home: Path) -> None:
    # An anonymous URL does not consume (or send) the variable.
    script = (
        "import os, protoclients as pc, sys\n"
        "pc.ls(sys.argv[1])\n"
        "print('KEPT', 'PROTOCLIENTS_PASSWORD' in os.environ)\n"
    )
    proc = _run(["-c", script, ftp.url], _env(home, PROTOCLIENTS_PASSWORD="never-sent-9"))
    assert proc.returncode == 0, proc.stderr
    assert "KEPT True" in proc.stdout
    assert "USER anonymous" in ftp.commands


def _auth_set(url: str, env: dict[str, str], *extra: str) -> Any:
    args = ["-m", "protoclients", "auth", "set", "--password-stdin", *extra, url]
    return _run(args, env, stdin="stored-Secret-42\n")


def test_CRED_07_b_plaintext_backend_refused_for_storing(ftp: Any, home: Path) -> None:
    env = _env(home, PYTHONPATH=str(HERE), PYTHON_KEYRING_BACKEND="keyring_fakes.PlaintextKeyring")
    store = home / "plaintext-keyring.json"
    proc = _auth_set(_url(ftp), env)
    assert proc.returncode != 0
    assert "plaintext" in (proc.stdout + proc.stderr).lower()
    assert "stored-Secret-42" not in proc.stdout + proc.stderr
    assert not store.exists()
    # Opted in: stored, and a lookup then uses it (the server sees alice log in).
    ftp_password = ftp.users["alice"]
    proc = _run(
        ["-m", "protoclients", "auth", "set", "--password-stdin", "--allow-plaintext", _url(ftp)],
        env,
        stdin=ftp_password + "\n",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert store.exists()
    looked_up = _run(["-c", LOOKUP, _url(ftp)], env)
    assert looked_up.stdout.startswith("OK ['f.txt']"), looked_up.stdout + looked_up.stderr
    assert ftp_password not in looked_up.stdout + looked_up.stderr
    assert "USER alice" in ftp.commands


@pytest.mark.skipif(
    importlib.util.find_spec("keyrings") is None
    or importlib.util.find_spec("keyrings.alt") is None,
    reason="keyrings.alt is not installed here; the PlaintextKeyring stand-in in "
    "keyring_fakes.py covers the same refusal",
)
def test_CRED_07_b_keyrings_alt_plaintext_refused(ftp: Any, home: Path) -> None:
    env = _env(home, PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring")
    proc = _auth_set(_url(ftp), env)
    assert proc.returncode != 0
    assert "plaintext" in (proc.stdout + proc.stderr).lower()
    assert not any(
        "stored-Secret-42" in p.read_text(errors="replace") for p in home.rglob("*") if p.is_file()
    )


def test_CRED_07_no_dbus_in_the_child_environment(home: Path) -> None:
    # The premise of the cases above: nothing points the child at a session bus.
    env = _env(home)
    assert not any(k.startswith(("DBUS_", "XDG_RUNTIME")) for k in env)
    proc = _run(["-c", "import keyring; print(type(keyring.get_keyring()).__module__)"], env)
    assert proc.stdout.strip() == "keyring.backends.fail", proc.stdout + proc.stderr
    assert os.environ.get("PROTOCLIENTS_PASSWORD") is None
