"""The installed ``protoclients`` console script, run as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "protoclients"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 45) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    full_env.update(env or {})
    return subprocess.run([*_script(), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def test_help_lists_commands() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("fetch", "send", "ls", "delete", "serve", "demo"):
        assert command in proc.stdout


def test_python_dash_m_works() -> None:
    proc = subprocess.run([sys.executable, "-m", "protoclients", "version"], capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 0 and proc.stdout.strip()


def test_fetch_ls_send_delete_over_http(pc_http_server: Any, tmp_path: Path) -> None:
    srv = pc_http_server
    (Path(srv.root) / "hello.txt").write_bytes(b"hello cli\n")
    out = tmp_path / "out"
    out.mkdir()
    proc = run("fetch", srv.url + "hello.txt", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert (out / "hello.txt").read_bytes() == b"hello cli\n"
    assert json.loads(proc.stdout)["bytes"] == 10

    proc = run("ls", srv.url, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "hello.txt" in [e["name"] for e in json.loads(proc.stdout)]

    user, password = next(iter(srv.users.items()))
    src = tmp_path / "up.txt"
    src.write_bytes(b"uploaded\n")
    url = srv.url.replace("://", f"://{user}@", 1) + "up.txt"
    proc = run("send", url, str(src), env={"PROTOCLIENTS_PASSWORD": password})
    assert proc.returncode == 0, proc.stderr
    assert (Path(srv.root) / "up.txt").read_bytes() == b"uploaded\n"
    assert password not in proc.stdout + proc.stderr

    proc = run("delete", url, "--yes", env={"PROTOCLIENTS_PASSWORD": password})
    assert proc.returncode == 0, proc.stderr
    assert not (Path(srv.root) / "up.txt").exists()


def test_fetch_to_stdout(pc_ftp_server: Any) -> None:
    (Path(pc_ftp_server.root) / "a.txt").write_bytes(b"via ftp\n")
    proc = run("fetch", pc_ftp_server.url + "a.txt", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "via ftp\n"


def test_errors_are_one_line_with_exit_code(pc_http_server: Any, tmp_path: Path) -> None:
    proc = run("fetch", pc_http_server.url + "missing.txt", "-o", str(tmp_path / "m"))
    assert proc.returncode == 6
    assert proc.stderr.count("\n") == 1 and "NotFoundError" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m").exists()
    proc = run("fetch", "gopher://h/")
    assert proc.returncode == 2


def test_wrong_password_exit_code_and_no_secret(pc_ftp_server: Any, tmp_path: Path) -> None:
    user = next(iter(pc_ftp_server.users))
    url = pc_ftp_server.url.replace("://", f"://{user}@", 1) + "x"
    proc = run("ls", url, env={"PROTOCLIENTS_PASSWORD": "wrong-Pa55word"})
    assert proc.returncode == 5, proc.stderr
    assert "wrong-Pa55word" not in proc.stdout + proc.stderr


def test_serve_prints_urls_and_stops_on_sigint(tmp_path: Path) -> None:
    with subprocess.Popen([*_script(), "serve", "http", "ftp", "smtp", "pop3", "imap", "--tls",
                           "--root", str(tmp_path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            lines = []
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if "Press Ctrl-C" in line:
                    break
            text = "".join(lines)
            assert "http://127.0.0.1:" in text and "ftp://127.0.0.1:" in text
            assert "https://127.0.0.1:" in text and "CA file:" in text
            for scheme in ("smtp", "smtps", "pop3", "pop3s", "imap", "imaps"):
                assert f"{scheme}://127.0.0.1:" in text
            url = next(w for w in text.split() if w.startswith("http://"))
            (tmp_path / "served.txt").write_bytes(b"served\n")
            import protoclients

            assert protoclients.fetch(url + "served.txt") == b"served\n"
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
    assert proc.returncode in (0, 130)


@pytest.mark.timeout(120)
def test_demo_round_trip() -> None:
    proc = run("demo", timeout=100)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all round trips succeeded" in proc.stdout
    for label in ("HTTP:", "HTTPS:", "FTP:", "FTPS:", "SMTPS -> IMAPS and POP3S"):
        assert label in proc.stdout
