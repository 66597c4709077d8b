"""``protoclients fetch/send/ls/delete`` as a user runs them: the installed console script,
in a subprocess, against the local servers (and a pseudo-terminal where a terminal matters).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)

KEYRING_OFF = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
MESSAGE = (
    b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n"
    b"Subject: cli transfer test\r\nMessage-ID: <cli-1@example.org>\r\n\r\nHello Alice.\r\n"
)


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "protoclients"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]


def _env(extra: dict[str, str] | None, home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PROTOCLIENTS_PASSWORD", "NETRC"}}
    env.update(KEYRING_OFF)
    if home is not None:
        env["HOME"] = str(home)
    env.update(extra or {})
    return env


def run(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    home: Path | None = None,
    timeout: float = 45,
) -> subprocess.CompletedProcess[bytes]:
    """Run the console script; stdin is /dev/null unless bytes are given."""
    return subprocess.run(
        [*_script(), *args],
        capture_output=True,
        env=_env(env, home),
        cwd=cwd,
        timeout=timeout,
        check=False,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def text(proc: subprocess.CompletedProcess[bytes]) -> tuple[str, str]:
    return proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def with_user(url: str, user: str, path: str = "") -> str:
    return url.replace("://", f"://{user}@", 1) + path


def run_on_pty(
    *args: str,
    cwd: Path | None = None,
    answer: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 45,
) -> tuple[int, bytes, bytes]:
    """Run with stdin and stderr on a pseudo-terminal, stdout on a pipe.

    Returns ``(exit code, stdout, what the terminal received)``; ``answer`` is typed
    once the terminal shows a prompt (text ending in ``:`` or ``]``).
    """
    master, slave = pty.openpty()
    full_env = _env({"COLUMNS": "120", "LINES": "40", "TERM": "xterm", **(env or {})})
    with subprocess.Popen(
        [*_script(), *args], stdin=slave, stdout=subprocess.PIPE, stderr=slave, cwd=cwd,
        env=full_env, start_new_session=True,  # no controlling terminal: getpass uses stdin
    ) as proc:
        os.close(slave)
        seen = bytearray()
        deadline = time.monotonic() + timeout
        answered = answer is None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if not answered and seen.rstrip().endswith((b":", b"]")):
                    assert answer is not None
                    os.write(master, answer)
                    answered = True
            elif proc.poll() is not None:
                break
        if proc.poll() is None:
            proc.kill()
        assert proc.stdout is not None
        out = proc.stdout.read()
        code = proc.wait(timeout=10)
    os.close(master)
    return code, out, bytes(seen)


# -- fetch ------------------------------------------------------------------------------------


def test_fetch_into_directory_keeps_a_safe_remote_name(pc_http_server: Any, tmp_path: Path) -> None:
    root = Path(pc_http_server.root)
    (root / ".profile").write_bytes(b"hidden remote name\n")
    proc = run("fetch", pc_http_server.url + ".profile", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "profile").read_bytes() == b"hidden remote name\n"
    assert not (tmp_path / ".profile").exists()
    # No -o: the current directory; a directory URL is saved as index.html (like wget).
    proc = run("fetch", pc_http_server.url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert b".profile" in (tmp_path / "index.html").read_bytes()


def test_fetch_never_overwrites_without_force(pc_http_server: Any, tmp_path: Path) -> None:
    (Path(pc_http_server.root) / "data.txt").write_bytes(b"new\n")
    target = tmp_path / "data.txt"
    target.write_bytes(b"precious\n")
    for args in (["-o", str(tmp_path)], ["-o", str(target)], []):
        proc = run("fetch", pc_http_server.url + "data.txt", *args, cwd=tmp_path)
        _out, err = text(proc)
        assert proc.returncode == 15, err
        assert err.count("\n") == 1 and "--force" in err and "exists" in err
        assert target.read_bytes() == b"precious\n"
    assert [r.method for r in pc_http_server.requests] == []  # refused before connecting
    proc = run("fetch", pc_http_server.url + "data.txt", "-o", str(target), "--force")
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == b"new\n"


def test_fetch_to_stdout_streams_binary(pc_http_server: Any) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    (Path(pc_http_server.root) / "blob.bin").write_bytes(data)
    proc = run("fetch", pc_http_server.url + "blob.bin", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == data
    assert proc.stderr == b""
    proc = run("fetch", pc_http_server.url + "blob.bin", "-o", "-", "--resume")
    assert proc.returncode == 2 and b"--resume" in proc.stderr


def test_fetch_to_a_closed_pipe_exits_quietly(pc_http_server: Any) -> None:
    (Path(pc_http_server.root) / "long.bin").write_bytes(os.urandom(16 * 1024 * 1024))
    with subprocess.Popen([*_script(), "fetch", pc_http_server.url + "long.bin", "-o", "-"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=_env(None)) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert len(proc.stdout.read(10)) == 10
        proc.stdout.close()  # like `| head -c 10`
        err = proc.stderr.read()
        code = proc.wait(timeout=30)
    assert code == 141, err
    assert err == b""


def test_fetch_resume_continues_a_part_file(pc_http_server: Any, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    (Path(pc_http_server.root) / "r.bin").write_bytes(data)
    (tmp_path / "r.bin.part").write_bytes(data[:50_000])
    proc = run("fetch", pc_http_server.url + "r.bin", "-o", str(tmp_path), "--resume", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["resumed_from"] == 50_000 and result["bytes"] == 150_000
    assert (tmp_path / "r.bin").read_bytes() == data
    assert not (tmp_path / "r.bin.part").exists()


def test_fetch_headers_only_over_http(pc_http_server: Any) -> None:
    (Path(pc_http_server.root) / "h.txt").write_bytes(b"0123456789")
    proc = run("fetch", pc_http_server.url + "h.txt", "--headers-only")
    out, err = text(proc)
    assert proc.returncode == 0, err
    assert out.startswith("200 ")
    assert "Content-Length: 10" in out
    assert [r.method for r in pc_http_server.requests] == ["HEAD"]
    proc = run("fetch", pc_http_server.url + "h.txt", "--headers-only", "--json")
    head = json.loads(proc.stdout)
    assert head["status"] == 200 and ["Content-Length", "10"] in head["headers"]
    proc = run("fetch", pc_http_server.url + "h.txt", "--headers-only", "-o", "x")
    assert proc.returncode == 2


def test_fetch_headers_only_is_refused_for_ftp(pc_ftp_server: Any) -> None:
    (Path(pc_ftp_server.root) / "f.txt").write_bytes(b"x")
    proc = run("fetch", pc_ftp_server.url + "f.txt", "--headers-only")
    assert proc.returncode == 12, proc.stderr
    assert b"--headers-only" in proc.stderr


def test_fetch_mail_message_mailbox_and_headers(pc_mail: Any, tmp_path: Path) -> None:
    password = pc_mail.users["alice"]
    uid = pc_mail.store.deliver("alice", MESSAGE)
    pc_mail.store.deliver("alice", MESSAGE.replace(b"cli-1", b"cli-2"))
    env = {"PROTOCLIENTS_PASSWORD": password}
    imap = with_user(pc_mail.imap_url, "alice")
    proc = run("fetch", f"{imap}INBOX;UID={uid}", "-o", str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / f"{uid}.eml").read_bytes().endswith(b"Hello Alice.\r\n")
    # A mailbox needs -o DIR; then every message is stored, re-runs skip what is there.
    proc = run("fetch", f"{imap}INBOX", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and b"-o DIR" in proc.stderr
    box = tmp_path / "box"
    box.mkdir()
    proc = run("fetch", f"{imap}INBOX", "-o", str(box), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 2
    assert len(list(box.glob("*.eml"))) == 2
    pop = with_user(pc_mail.pop3_url, "alice")
    popbox = tmp_path / "pop"
    popbox.mkdir()
    proc = run("fetch", pop, "-o", str(popbox), env=env)
    out, err = text(proc)
    assert proc.returncode == 0, err
    assert "2 message(s)" in out and len(list(popbox.iterdir())) == 2
    # --headers-only prints the header of one message.
    proc = run("fetch", f"{imap}INBOX;UID={uid}", "--headers-only", env=env)
    out, err = text(proc)
    assert proc.returncode == 0, err
    assert "Subject: cli transfer test" in out and "Hello Alice" not in out
    proc = run("fetch", pop + "1", "--headers-only", env=env)
    out, err = text(proc)
    assert proc.returncode == 0, err
    assert "Subject: cli transfer test" in out and "Hello Alice" not in out


# -- send -------------------------------------------------------------------------------------


def test_send_stdin_streams_to_http_and_ftp(
    pc_http_server: Any, pc_ftp_server: Any, tmp_path: Path
) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    user, password = next(iter(pc_http_server.users.items()))
    proc = run("send", with_user(pc_http_server.url, user, "in/s.bin"), "-", stdin=data,
               env={"PROTOCLIENTS_PASSWORD": password})
    assert proc.returncode == 0, proc.stderr
    assert (Path(pc_http_server.root) / "in" / "s.bin").read_bytes() == data
    put = [r for r in pc_http_server.requests if r.method == "PUT"][-1]
    assert "chunked" in {k.lower(): v for k, v in put.headers.items()}.get("transfer-encoding", "")
    src = tmp_path / "form.txt"
    src.write_bytes(b"a=1")
    proc = run("send", with_user(pc_http_server.url, user, "post/here"), str(src), "-X", "POST",
               "--content-type", "text/plain", env={"PROTOCLIENTS_PASSWORD": password})
    assert proc.returncode == 0, proc.stderr
    post = pc_http_server.requests[-1]
    assert post.method == "POST" and post.headers.get("Content-Type") == "text/plain"
    user, password = next(iter(pc_ftp_server.users.items()))
    proc = run("send", with_user(pc_ftp_server.url, user, "up.bin"), stdin=data,
               env={"PROTOCLIENTS_PASSWORD": password})
    assert proc.returncode == 0, proc.stderr
    assert (Path(pc_ftp_server.root) / "up.bin").read_bytes() == data


def test_send_checks_input_before_connecting(pc_ftp_server: Any, tmp_path: Path) -> None:
    url = with_user(pc_ftp_server.url, "alice", "x.txt")
    proc = run("send", url, str(tmp_path / "missing.txt"))
    _out, err = text(proc)
    assert proc.returncode == 2, err
    assert "no such file" in err and err.count("\n") == 1
    proc = run("send", url, str(tmp_path))
    assert proc.returncode == 2 and b"directory" in proc.stderr
    proc = run("send", url, "-", "--password-stdin", stdin=b"pw\ndata")
    assert proc.returncode == 2 and b"--password-stdin" in proc.stderr
    proc = run("send", url, "-", "--method", "POST", stdin=b"data")
    assert proc.returncode == 2 and b"--method is for http" in proc.stderr
    assert pc_ftp_server.commands == []


def test_send_message_over_smtp_and_imap_append(pc_mail: Any, tmp_path: Path) -> None:
    password = pc_mail.users["alice"]
    env = {"PROTOCLIENTS_PASSWORD": password}
    msg = tmp_path / "m.eml"
    msg.write_bytes(MESSAGE)
    proc = run("send", pc_mail.smtp_url, str(msg), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accepted"] == ["alice@example.org"]
    assert pc_mail.smtp_received[-1].mail_from == "bob@example.org"
    proc = run("send", with_user(pc_mail.imap_url, "alice", "Archive"), "-",
               stdin=MESSAGE.replace(b"cli-1", b"cli-3"), env=env)
    _out, err = text(proc)
    assert proc.returncode == 6, err  # no such mailbox: the server's words are shown
    proc = run("send", with_user(pc_mail.imap_url, "alice", "INBOX"), "-",
               stdin=MESSAGE.replace(b"cli-1", b"cli-3"), env=env)
    assert proc.returncode == 0, proc.stderr
    stored = [m.data for m in pc_mail.store.messages("alice", "INBOX")]
    assert any(b"cli-3" in d for d in stored)


# -- ls ---------------------------------------------------------------------------------------


def test_ls_tables_empty_and_json(pc_ftp_server: Any, pc_mail: Any) -> None:
    proc = run("ls", pc_ftp_server.url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"(empty)\n"
    proc = run("ls", pc_ftp_server.url, "--json")
    assert json.loads(proc.stdout) == []
    root = Path(pc_ftp_server.root)
    (root / "sub").mkdir()
    (root / "a.txt").write_bytes(b"12345")
    (root / "evil\x1b[31mred").write_bytes(b"x")
    proc = run("ls", pc_ftp_server.url)
    out, _ = text(proc)
    assert out.splitlines()[0].split() == ["NAME", "KIND", "SIZE", "MODIFIED"]
    assert "sub/" in out and "a.txt" in out and "5 B" in out
    assert "\x1b" not in out and "evil?[31mred" in out
    pc_mail.store.deliver("alice", MESSAGE, flags=["\\Seen"])
    env = {"PROTOCLIENTS_PASSWORD": pc_mail.users["alice"]}
    proc = run("ls", with_user(pc_mail.imap_url, "alice", "INBOX"), env=env)
    out, err = text(proc)
    assert proc.returncode == 0, err
    header = out.splitlines()[0].split()
    assert header == ["UID", "SIZE", "DATE", "FLAGS", "FROM", "SUBJECT"]
    assert "\\Seen" in out and "cli transfer test" in out and "bob@example.org" in out
    proc = run("ls", with_user(pc_mail.imap_url, "alice"), env=env)
    assert b"INBOX" in proc.stdout and b"mailbox" in proc.stdout
    proc = run("ls", with_user(pc_mail.pop3_url, "alice"), env=env)
    out, err = text(proc)
    assert proc.returncode == 0, err
    assert out.splitlines()[0].split() == ["#", "UIDL", "SIZE", "DATE", "FROM", "SUBJECT"]
    assert "cli transfer test" in out
    proc = run("ls", with_user(pc_mail.pop3_url, "alice"), "--brief", env=env)
    assert b"cli transfer test" not in proc.stdout and proc.returncode == 0


# -- delete -----------------------------------------------------------------------------------


def test_delete_needs_yes_without_a_terminal(pc_ftp_server: Any) -> None:
    target = Path(pc_ftp_server.root) / "d.txt"
    target.write_bytes(b"x")
    user, password = next(iter(pc_ftp_server.users.items()))
    url = with_user(pc_ftp_server.url, user, "d.txt")
    env = {"PROTOCLIENTS_PASSWORD": password}
    proc = run("delete", url, env=env)
    assert proc.returncode == 2 and b"--yes" in proc.stderr
    assert target.exists()
    proc = run("delete", url, "--yes", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["deleted"].endswith("/d.txt")
    assert not target.exists()


def test_delete_asks_on_a_terminal(pc_http_server: Any, tmp_path: Path) -> None:
    user, password = next(iter(pc_http_server.users.items()))
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {user} password {password}\n")
    netrc.chmod(0o600)
    target = Path(pc_http_server.root) / "t.txt"
    target.write_bytes(b"x")
    url = with_user(pc_http_server.url, user, "t.txt")
    code, out, seen = run_on_pty("delete", url, "--netrc-file", str(netrc), answer=b"n\n")
    assert code == 1 and b"Delete" in seen and b"nothing deleted" in seen
    assert target.exists()
    code, out, seen = run_on_pty("delete", url, "--netrc-file", str(netrc), answer=b"y\n")
    assert code == 0, seen
    assert not target.exists() and b"deleted" in out


# -- errors, Ctrl-C ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_error_classes_have_their_exit_codes(pc_https_server: Any, tmp_path: Path) -> None:
    proc = run("ls", f"ftp://127.0.0.1:{_free_port()}/")
    _out, err = text(proc)
    assert proc.returncode == 3, err
    assert err.startswith("protoclients: ls failed: ConnectionFailed") and err.count("\n") == 1
    proc = run("fetch", pc_https_server.url, "-o", "-")
    assert proc.returncode == 4, proc.stderr
    proc = run("fetch", pc_https_server.url, "-o", "-", "--cacert", str(pc_https_server.ca_file))
    assert proc.returncode == 0, proc.stderr
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        proc = run("fetch", f"http://127.0.0.1:{port}/x", "-o", "-", "--timeout", "0.5")
    assert proc.returncode == 8, proc.stderr
    proc = run("fetch", "http://127.0.0.1:1/x", "-o", str(tmp_path / "no" / "dir" / "x"))
    assert proc.returncode == 2, proc.stderr
    proc = run("fetch", f"ftp://127.0.0.1:{_free_port()}/x", "-o", "-", "--traceback")
    assert b"Traceback" in proc.stderr and proc.returncode != 0


class _SlowHandler(BaseHTTPRequestHandler):
    """Announces 64 MiB and sends 64 KiB every 20 ms (a slow download to interrupt)."""

    started: threading.Event

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(64 * 1024 * 1024))
        self.end_headers()
        chunk = b"x" * 65536
        with contextlib.suppress(OSError):
            for _ in range(1024):
                self.wfile.write(chunk)
                self.wfile.flush()
                self.started.set()
                time.sleep(0.02)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def slow_server() -> Iterator[tuple[str, threading.Event]]:
    started = threading.Event()
    handler = type("Handler", (_SlowHandler,), {"started": started})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/big.bin", started
    finally:
        server.shutdown()
        server.server_close()


def test_ctrl_c_exits_130_and_keeps_only_the_part_file(tmp_path: Path) -> None:
    part = tmp_path / "big.bin.part"
    with slow_server() as (url, started), subprocess.Popen(
        [*_script(), "fetch", url, "-o", str(tmp_path)], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(None),
    ) as proc:
        assert started.wait(20)
        deadline = time.monotonic() + 20
        while not (part.exists() and part.stat().st_size > 0):  # bytes on disk, not a timer
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert not (tmp_path / "big.bin").exists()
    assert part.stat().st_size > 0
    assert {p.name for p in tmp_path.iterdir()} <= {"big.bin.part", "big.bin.part.json"}


# -- progress ---------------------------------------------------------------------------------


def test_progress_bar_on_a_terminal_only(pc_http_server: Any, tmp_path: Path) -> None:
    (Path(pc_http_server.root) / "p.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    url = pc_http_server.url + "p.bin"
    code, _, seen = run_on_pty("fetch", url, "-o", str(tmp_path / "tty.bin"))
    assert code == 0, seen
    assert "━".encode() in seen and b"MiB" in seen and b"tty.bin" in seen
    proc = run("fetch", url, "-o", str(tmp_path / "piped.bin"))
    assert proc.returncode == 0 and proc.stderr == b""
    for quiet in ("-q", "--json", "-v"):
        code, _, seen = run_on_pty("fetch", url, "-o", str(tmp_path / f"{quiet}.bin"), quiet)
        assert code == 0 and "━".encode() not in seen, quiet
    user, password = next(iter(pc_http_server.users.items()))
    code, _out, seen = run_on_pty("send", with_user(pc_http_server.url, user, "up.bin"),
                                 str(tmp_path / "tty.bin"), env={"PROTOCLIENTS_PASSWORD": password})
    assert code == 0, seen
    assert "━".encode() in seen and b"tty.bin" in seen
    assert (Path(pc_http_server.root) / "up.bin").read_bytes() == (tmp_path / "tty.bin").read_bytes()


# -- credentials and -v -----------------------------------------------------------------------


def test_credentials_order_and_clear_error(pc_mail: Any, tmp_path: Path) -> None:
    password = pc_mail.users["alice"]
    url = with_user(pc_mail.imap_url, "alice")
    home = tmp_path / "home"
    home.mkdir()
    proc = run("ls", url, home=home)
    _out, err = text(proc)
    assert proc.returncode == 5, err
    assert err.count("\n") == 1 and "no password found for alice@127.0.0.1" in err
    for option in ("--password-stdin", "PROTOCLIENTS_PASSWORD", "--netrc-file", "auth set"):
        assert option in err
    assert "password=..." not in err
    proc = run("ls", url, "--password-stdin", stdin=password.encode() + b"\n", home=home)
    assert proc.returncode == 0, proc.stderr
    proc = run("ls", url, env={"PROTOCLIENTS_PASSWORD": password}, home=home)
    assert proc.returncode == 0, proc.stderr
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login alice password {password}\n")
    netrc.chmod(0o600)
    proc = run("ls", url, "--netrc-file", str(netrc), home=home)
    assert proc.returncode == 0, proc.stderr
    # Nothing found, stdin is a terminal: a hidden prompt.
    code, _, seen = run_on_pty("ls", url, answer=password.encode() + b"\n",
                               env={"HOME": str(home)})
    assert code == 0, seen
    assert b"Password for alice@127.0.0.1" in seen and password.encode() not in seen
    # stdin beats the environment: a wrong stdin password fails although the env one is right.
    proc = run("ls", url, "--password-stdin", stdin=b"wrong\n",
               env={"PROTOCLIENTS_PASSWORD": password}, home=home)
    assert proc.returncode == 5


def test_no_option_takes_a_password() -> None:
    import typer
    from protoclients_cli.app import app

    names: list[str] = []

    def walk(command: Any) -> None:
        for param in command.params:
            names.extend([*param.opts, *param.secondary_opts])
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    assert "--password-stdin" in names
    assert [n for n in names if "password" in n.lower() and n != "--password-stdin"] == []


def test_verbose_trace_redacts_http_and_ftp_secrets(
    pc_http_server: Any, pc_ftp_server: Any, tmp_path: Path
) -> None:
    user, password = next(iter(pc_http_server.users.items()))
    src = tmp_path / "v.txt"
    src.write_bytes(b"v\n")
    proc = run("send", with_user(pc_http_server.url, user, "v.txt"), str(src), "-v",
               env={"PROTOCLIENTS_PASSWORD": password})
    out, err = text(proc)
    assert proc.returncode == 0, err
    assert "> PUT" in err and "Authorization: Basic ***" in err
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert password not in out + err and token not in out + err
    user, password = next(iter(pc_ftp_server.users.items()))
    proc = run("ls", with_user(pc_ftp_server.url, user), "-v",
               env={"PROTOCLIENTS_PASSWORD": password})
    out, err = text(proc)
    assert proc.returncode == 0, err
    assert "PASS ***" in err and password not in out + err


# -- start-up ---------------------------------------------------------------------------------

_PROBE = """
import sys
from protoclients_cli.app import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(sys.modules), file=sys.stderr)
"""
_HEAVY = ("requests", "urllib3", "ssl", "email", "keyring", "rich", "pydantic", "ftplib")


def _modules(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                          timeout=30, check=False, env=_env(None), stdin=subprocess.DEVNULL)
    return set(json.loads(proc.stderr.strip().splitlines()[-1].replace("'", '"')))


@pytest.mark.parametrize("args", [["--help"], ["ls", "--help"], ["ls"], ["fetch", "--help"]])
def test_startup_loads_only_what_it_uses(args: list[str]) -> None:
    loaded = _modules(*args)
    assert not {m for m in loaded if m.split(".")[0] in _HEAVY}, args
    assert not {m for m in loaded if m.startswith("protoclients.protocols")}, args
    if args == ["--help"]:
        assert "protoclients" not in loaded


def test_ls_over_ftp_loads_only_ftp(pc_ftp_server: Any) -> None:
    loaded = _modules("ls", pc_ftp_server.url)
    assert not {m for m in loaded if m.split(".")[0] in {"requests", "email", "rich", "pydantic"}}
    protocols = {m for m in loaded if m.startswith("protoclients.protocols.")}
    others = ("http", "smtp", "pop3", "imap", "mail", "dirindex")
    assert protocols and not [m for m in protocols if m.split(".")[-1].startswith(others)]
