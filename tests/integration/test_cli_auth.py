"""``protoclients auth set|show|delete|list``: the installed console script in subprocesses,
with real keyring code paths (test backends from cli_keyring_backend.py, keyring's own fail
and null backends) and a real IMAP server for the stored credential."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)

HERE = Path(__file__).resolve().parent
FILE_BACKEND = "cli_keyring_backend.FileKeyring"
PLAINTEXT_BACKEND = "cli_keyring_backend.PlaintextFileKeyring"
SECRET = "s3cret-Tok3n!"


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "protoclients"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]


def _env(tmp_path: Path, backend: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PROTOCLIENTS_PASSWORD", "NETRC"}}
    env.update(
        {
            "PYTHON_KEYRING_BACKEND": backend,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
            "PC_TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
            "HOME": str(tmp_path),  # no ~/.netrc of the machine's user
        }
    )
    env.update(extra or {})
    return env


def run(
    tmp_path: Path,
    *args: str,
    backend: str = FILE_BACKEND,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_script(), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_env(tmp_path, backend, env),
        timeout=timeout,
        check=False,
    )


def stored(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "keyring.json"
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    return {k.split("\0", 1)[1]: v for k, v in data.items()}


def no_leak(proc: subprocess.CompletedProcess[str], secret: str = SECRET) -> None:
    assert secret not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


# -- set / show / list / delete -----------------------------------------------------------


def test_set_with_password_stdin_show_list_delete(tmp_path: Path) -> None:
    url = "imaps://alice@mail.example.org/"
    proc = run(tmp_path, "auth", "set", url, "--password-stdin", stdin=SECRET + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "stored the secret for alice@mail.example.org" in proc.stdout
    no_leak(proc)
    entries = stored(tmp_path)
    assert entries["alice@mail.example.org"] == SECRET
    assert SECRET not in entries["protoclients-index"]  # the index holds names only

    proc = run(tmp_path, "auth", "show", url)
    assert proc.returncode == 0, proc.stderr
    assert "source: keyring: entry alice@mail.example.org" in proc.stdout
    no_leak(proc)

    proc = run(tmp_path, "auth", "show", url, "--json")
    doc = json.loads(proc.stdout)
    assert doc["source"] == "keyring" and doc["user"] == "alice"
    assert [c["source"] for c in doc["checks"]] == [
        "argument", "url", "environment", "keyring", "netrc"
    ]

    proc = run(tmp_path, "auth", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["entries"] == [
        {"entry": "alice@mail.example.org", "user": "alice", "present": True}
    ]
    assert doc["service"] == "protoclients"
    no_leak(proc)

    proc = run(tmp_path, "auth", "delete", url)
    assert proc.returncode == 0, proc.stderr
    assert "alice@mail.example.org" not in stored(tmp_path)
    proc = run(tmp_path, "auth", "list")
    assert proc.returncode == 0 and "no entries" in proc.stdout
    proc = run(tmp_path, "auth", "delete", url)
    assert proc.returncode == 6 and "no keyring entry alice@mail.example.org" in proc.stderr
    proc = run(tmp_path, "auth", "show", url)
    assert proc.returncode == 5 and "source: none" in proc.stdout


def test_port_in_url_gives_host_port_entry_and_replace(tmp_path: Path) -> None:
    proc = run(tmp_path, "auth", "set", "--password-stdin", "smtp://bob@h.example:587/",
               stdin="one\n")
    assert proc.returncode == 0, proc.stderr
    proc = run(tmp_path, "--json", "auth", "set", "--password-stdin",
               "smtp://bob@h.example:587/", stdin="two\n")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["replaced"] is True
    assert stored(tmp_path)["bob@h.example:587"] == "two"
    # The port-specific entry serves only that port; --user overrides the URL's user.
    assert run(tmp_path, "auth", "show", "smtp://bob@h.example:587/").returncode == 0
    assert run(tmp_path, "auth", "show", "smtp://bob@h.example/").returncode == 5
    assert run(tmp_path, "auth", "show", "--user", "bob", "smtp://h.example:587/").returncode == 0
    proc = run(tmp_path, "auth", "list", "smtp://h.example:587/")
    assert proc.stdout.strip() == "bob@h.example:587"
    proc = run(tmp_path, "auth", "list", "smtp://other.example/")
    assert "no entries" in proc.stdout


def test_list_marks_entries_removed_outside(tmp_path: Path) -> None:
    for user in ("ann", "ben"):
        proc = run(tmp_path, "auth", "set", "--password-stdin", f"pop3s://{user}@h.example/",
                   stdin="pw\n")
        assert proc.returncode == 0, proc.stderr
    path = tmp_path / "keyring.json"
    data = json.loads(path.read_text())
    del data["protoclients\0ben@h.example"]
    path.write_text(json.dumps(data))
    proc = run(tmp_path, "auth", "list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "ann@h.example",
        "ben@h.example  (missing: removed outside protoclients)",
    ]


def test_show_reports_environment_without_consuming_and_netrc(tmp_path: Path) -> None:
    url = "ftp://carol@files.example/"
    netrc = tmp_path / "netrc"
    netrc.write_text("machine files.example login carol password fromnetrc\n")
    netrc.chmod(0o600)
    proc = run(tmp_path, "auth", "show", url, "--netrc-file", str(netrc), "--json",
               env={"PROTOCLIENTS_PASSWORD": SECRET})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["source"] == "environment"
    found = {c["source"]: c["found"] for c in doc["checks"]}
    assert found == {"argument": False, "url": False, "environment": True, "keyring": False,
                     "netrc": True}
    no_leak(proc)
    assert "fromnetrc" not in proc.stdout

    proc = run(tmp_path, "auth", "show", url, "--netrc-file", str(netrc))
    assert proc.returncode == 0
    assert "source: netrc:" in proc.stdout and "login carol" in proc.stdout

    netrc.chmod(0o644)
    proc = run(tmp_path, "auth", "show", url, "--netrc-file", str(netrc))
    assert proc.returncode == 5
    assert "readable by others" in proc.stdout and "chmod 600" in proc.stdout

    # --password-stdin is reported, never read.
    proc = run(tmp_path, "auth", "show", url, "--password-stdin", stdin=SECRET + "\n")
    assert proc.returncode == 0 and "source: argument" in proc.stdout


# -- refusals -----------------------------------------------------------------------------


def test_no_keyring_backend_explains_alternatives(tmp_path: Path) -> None:
    proc = run(tmp_path, "auth", "set", "--password-stdin", "imaps://alice@h.example/",
               backend="keyring.backends.fail.Keyring", stdin=SECRET + "\n")
    assert proc.returncode == 5
    assert "no keyring backend is available" in proc.stderr
    assert ".netrc" in proc.stderr and "PROTOCLIENTS_PASSWORD" in proc.stderr
    assert proc.stderr.count("\n") == 1
    no_leak(proc)
    proc = run(tmp_path, "auth", "show", "imaps://alice@h.example/",
               backend="keyring.backends.fail.Keyring")
    assert proc.returncode == 5 and "no keyring backend is available" in proc.stdout
    proc = run(tmp_path, "auth", "list", backend="keyring.backends.fail.Keyring")
    assert proc.returncode == 5 and "Traceback" not in proc.stderr


def test_null_backend_stores_nothing(tmp_path: Path) -> None:
    proc = run(tmp_path, "auth", "set", "--password-stdin", "imaps://alice@h.example/",
               backend="keyring.backends.null.Keyring", stdin=SECRET + "\n")
    assert proc.returncode == 5
    assert "stores nothing" in proc.stderr
    no_leak(proc)


def test_plaintext_backend_needs_opt_in(tmp_path: Path) -> None:
    args = ("auth", "set", "--password-stdin", "imaps://alice@h.example/")
    proc = run(tmp_path, *args, backend=PLAINTEXT_BACKEND, stdin=SECRET + "\n")
    assert proc.returncode == 5
    assert "plaintext" in proc.stderr and "--allow-plaintext" in proc.stderr
    assert stored(tmp_path) == {}
    proc = run(tmp_path, *args, "--allow-plaintext", backend=PLAINTEXT_BACKEND,
               stdin=SECRET + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "UNENCRYPTED" in proc.stderr
    assert stored(tmp_path)["alice@h.example"] == SECRET
    no_leak(proc)


def test_bad_input_is_refused_before_storing(tmp_path: Path) -> None:
    proc = run(tmp_path, "auth", "set", "imaps://h.example/", "--password-stdin", stdin="x\n")
    assert proc.returncode == 2 and "no user name" in proc.stderr
    proc = run(tmp_path, "auth", "set", f"imaps://alice:{SECRET}@h.example/")
    assert proc.returncode == 2 and "leave the password out of the URL" in proc.stderr
    no_leak(proc)
    proc = run(tmp_path, "auth", "set", "imaps://alice@h.example/")  # stdin: /dev/null
    assert proc.returncode == 2 and "--password-stdin" in proc.stderr
    proc = run(tmp_path, "auth", "set", "imaps://alice@h.example/", "--password-stdin",
               stdin="\n")
    assert proc.returncode == 2
    assert stored(tmp_path) == {}


def test_hanging_keyring_times_out(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run(tmp_path, "--timeout", "1", "auth", "set", "--password-stdin",
               "imaps://alice@h.example/", backend="cli_keyring_backend.HangingKeyring",
               stdin="pw\n")
    assert proc.returncode == 8, proc.stderr
    assert "did not answer within 1 s" in proc.stderr
    assert time.monotonic() - started < 20


# -- the prompt and a real login ------------------------------------------------------------


def _read_until(fd: int, marker: bytes, deadline: float) -> bytes:
    seen = b""
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_set_prompts_with_hidden_input_on_a_terminal(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    try:
        with subprocess.Popen([*_script(), "auth", "set", "imaps://dave@h.example/"],
                              stdin=slave, stdout=slave, stderr=slave,
                              env=_env(tmp_path, FILE_BACKEND), start_new_session=True) as proc:
            os.close(slave)
            slave = -1
            deadline = time.monotonic() + 30
            _read_until(master, b"Password or token for dave@h.example: ", deadline)
            os.write(master, SECRET.encode() + b"\n")
            _read_until(master, b"Again", deadline)
            os.write(master, SECRET.encode() + b"\n")
            rest = _read_until(master, b"stored", deadline)
            assert proc.wait(timeout=30) == 0
        assert SECRET.encode() not in rest  # not echoed
        assert stored(tmp_path)["dave@h.example"] == SECRET
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_stored_credential_is_used_by_a_command(tmp_path: Path, pc_mail: Any) -> None:
    password = pc_mail.users["alice"]
    url = pc_mail.imaps_url.replace("://", "://alice@", 1)
    proc = run(tmp_path, "auth", "set", "--password-stdin", url, stdin=password + "\n")
    assert proc.returncode == 0, proc.stderr
    pc_mail.store.deliver("alice", b"Subject: kept\r\n\r\nbody\r\n")
    proc = run(tmp_path, "ls", url + "INBOX", "--cacert", pc_mail.ca_file, "--json")
    assert proc.returncode == 0, proc.stderr
    assert [e["details"]["subject"] for e in json.loads(proc.stdout)] == ["kept"]
    no_leak(proc, password)


def test_show_url_password_is_reported_not_printed(tmp_path: Path) -> None:
    proc = run(tmp_path, "auth", "show", f"imaps://alice:{SECRET}@h.example/", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["source"] == "url" and doc["url"] == "imaps://alice@h.example/"
    no_leak(proc)


@pytest.mark.parametrize("command", ["set", "show", "delete", "list"])
def test_help_has_examples(tmp_path: Path, command: str) -> None:
    proc = run(tmp_path, "auth", command, "--help")
    assert proc.returncode == 0
    assert f"protoclients auth {command} " in proc.stdout.split("Example", 1)[1]
