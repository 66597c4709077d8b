"""``protoclients serve`` as a subprocess: the JSON document, the servers, users, ports, signals.

Readiness is the printed document itself (everything in it is listening when it is printed),
never a sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import protoclients

pytestmark = pytest.mark.timeout(90)


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "protoclients"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]


@contextlib.contextmanager
def serving(*args: str, stdin_text: str | None = None) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """Start ``protoclients serve ARGS --json``; yield the process and its first document.

    The process is stopped with SIGINT on the way out if the test did not stop it."""
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    proc = subprocess.Popen(
        [*_script(), "serve", *args, "--json"],
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        if stdin_text is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin_text)
            proc.stdin.close()
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=30)
            assert proc.stderr is not None
            pytest.fail(f"serve printed nothing (exit {proc.returncode}): {proc.stderr.read()}")
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    """Send ``sig``, wait; return the exit code and stderr."""
    proc.send_signal(sig)
    code = proc.wait(timeout=30)
    assert proc.stderr is not None
    return code, proc.stderr.read()


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def with_user(url: str, user: str) -> str:
    return url.replace("://", f"://{user}@", 1)


def servers_by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in doc["servers"]}


def test_all_servers_with_tls_work_and_stop_on_sigint(tmp_path: Path) -> None:
    with serving("--tls", "--root", str(tmp_path)) as (proc, doc):
        servers = servers_by_name(doc)
        assert list(servers) == [
            "http", "https", "ftp", "ftp-tls", "ftps", "smtp", "smtps", "pop3", "pop3s",
            "imap", "imaps",
        ]
        assert doc["root"] == str(tmp_path)
        ca = doc["ca_file"]
        assert ca and Path(ca).is_file()
        [user] = doc["users"]
        assert user["name"] == "alice" and user["password_source"] == "generated"
        pw = user["password"]
        opts = {"password": pw, "ca_file": ca, "timeout": 20}

        (tmp_path / "hello.txt").write_bytes(b"hello serve\n")
        assert protoclients.fetch(servers["http"]["url"] + "hello.txt") == b"hello serve\n"
        assert protoclients.fetch(servers["https"]["url"] + "hello.txt", ca_file=ca) == (
            b"hello serve\n"
        )
        src = tmp_path.parent / f"{tmp_path.name}-up.txt"
        src.write_bytes(b"uploaded\n")
        protoclients.send(with_user(servers["http"]["url"], "alice") + "up.txt", src, **opts)
        assert (tmp_path / "up.txt").read_bytes() == b"uploaded\n"
        for name, tls in (("ftp", None), ("ftp-tls", "starttls"), ("ftps", None)):
            extra = {"tls": tls} if tls else {}
            entries = protoclients.ls(with_user(servers[name]["url"], "alice"), **opts, **extra)
            assert {"hello.txt", "up.txt"} <= {e.name for e in entries}, name
        assert servers["ftp-tls"]["tls"] == "starttls"
        assert servers["smtp"]["starttls_offered"] is True

        msg = protoclients.compose(
            from_="alice@example.test", to="alice@example.test", subject="via serve", text="hi\n"
        )
        protoclients.send(with_user(servers["smtps"]["url"], "alice"), msg, **opts)
        protoclients.send(
            with_user(servers["smtp"]["url"], "alice"), msg, tls="starttls", **opts
        )
        imap = protoclients.ls(with_user(servers["imaps"]["url"], "alice") + "INBOX", **opts)
        assert [e.details["subject"] for e in imap] == ["via serve", "via serve"]
        pop = protoclients.ls(with_user(servers["pop3"]["url"], "alice"), **opts)
        assert len(pop) == 2
        code, err = stop(proc)
    assert code == 0, err
    assert "Traceback" not in err
    for server in servers.values():
        assert port_is_free(server["port"]), server
    assert not Path(ca).exists()


def test_sigterm_stops_cleanly_and_removes_temp_root() -> None:
    with serving("http", "smtp") as (proc, doc):
        assert [s["name"] for s in doc["servers"]] == ["http", "smtp"]
        assert doc["ca_file"] is None
        root = Path(doc["root"])
        assert root.is_dir()
        code, err = stop(proc, signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err
    assert not root.exists()
    assert all(port_is_free(s["port"]) for s in doc["servers"])


def _free_run(count: int) -> int:
    """A base port with ``count`` consecutive free ports (found by binding port 0)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base + count <= 65535 and all(port_is_free(base + i) for i in range(count)):
            return base
    pytest.skip("no run of consecutive free ports found")


def test_port_base_gives_consecutive_ports_in_documented_order() -> None:
    base = _free_run(7)
    with serving("imap", "http", "ftp", "--tls", "--port-base", str(base)) as (proc, doc):
        got = [(s["name"], s["port"]) for s in doc["servers"]]
        # http, https, ftp, ftp-tls, ftps, ... imap, imaps: 7 ports from base.
        assert got == [
            ("http", base), ("https", base + 1), ("ftp", base + 2), ("ftp-tls", base + 3),
            ("ftps", base + 4), ("imap", base + 5), ("imaps", base + 6),
        ]
        entries = protoclients.ls(doc["servers"][0]["url"])
        assert entries == []
        code, _ = stop(proc)
    assert code == 0


def test_busy_port_is_an_error_naming_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [*_script(), "serve", "http", "--port-base", str(port)],
            capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
        )
    assert proc.returncode == 2
    assert f"127.0.0.1:{port}" in proc.stderr and "in use" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_users_with_passwords_from_stdin(tmp_path: Path) -> None:
    secrets = "pw-for-bob-1234\npw-for-carol-5678\n"
    with serving("ftp", "pop3", "-u", "bob", "--user", "carol", "--password-stdin",
                 "--root", str(tmp_path), stdin_text=secrets) as (proc, doc):
        assert doc["users"] == [
            {"name": "bob", "password": None, "password_source": "stdin"},
            {"name": "carol", "password": None, "password_source": "stdin"},
        ]
        servers = servers_by_name(doc)
        (tmp_path / "f.txt").write_bytes(b"x")
        for user, pw in (("bob", "pw-for-bob-1234"), ("carol", "pw-for-carol-5678")):
            assert [e.name for e in protoclients.ls(
                with_user(servers["ftp"]["url"], user), password=pw, timeout=20)] == ["f.txt"]
            assert protoclients.ls(
                with_user(servers["pop3"]["url"], user), password=pw, timeout=20) == []
        with pytest.raises(protoclients.AuthenticationError):
            protoclients.ls(with_user(servers["ftp"]["url"], "bob"), password="nope", timeout=20)
        code, err = stop(proc)
    assert code == 0
    assert "pw-for" not in err


def test_table_output_lists_urls_user_and_password() -> None:
    with subprocess.Popen(
        [*_script(), "serve", "pop3", "--user", "dave"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if "Press Ctrl-C" in line:
                    break
            text = "".join(lines)
            assert "pop3://127.0.0.1:" in text and "CA file" not in text
            password = text.split("user dave  password ", 1)[1].split()[0]
            url = next(w for w in text.split() if w.startswith("pop3://"))
            assert protoclients.ls(with_user(url, "dave"), password=password, timeout=20) == []
        finally:
            code, err = stop(proc)
    assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--user", "eve:hunter2hunter2"], "a name only"),
        (["--user", "bad name"], "user name"),
        (["gopher"], "unknown server"),
        (["--password-stdin", "-u", "a", "-u", "b"], "no password line for user"),
    ],
)
def test_usage_errors(args: list[str], needle: str) -> None:
    proc = subprocess.run(
        [*_script(), "serve", *args], capture_output=True, text=True, timeout=60, check=False,
        input="only-one-line\n",
    )
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
