"""``protoclients probe``: the installed console script as a subprocess, table and --json."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "protoclients"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]


def run(*args: str, stdin: str | None = None, timeout: float = 45) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "NO_COLOR": "1"}
    env.pop("PROTOCLIENTS_PASSWORD", None)
    return subprocess.run([*_script(), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False, input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_help_has_examples() -> None:
    proc = run("probe", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "protoclients probe smtp://mail.example.org:587/ --tls starttls" in proc.stdout
    assert "--login" in proc.stdout and "--insecure" in proc.stdout


def test_smtp_starttls_table(pc_mail: Any, pc_ca: Any) -> None:
    proc = run("probe", pc_mail.smtp_url, "--tls", "starttls", "--cacert", pc_ca.ca_file)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Protocol    SMTP, STARTTLS (required)" in out
    assert "Greeting    220 " in out
    assert "EHLO (before STARTTLS: plaintext, unauthenticated)" in out
    assert "EHLO (over TLS, unauthenticated)" in out
    assert out.index("before STARTTLS") < out.index("over TLS")
    assert "Verified    yes" in _lines(out)
    for label in ("Subject", "Issuer", "SANs", "Not before", "Not after", "Serial", "SHA-256"):
        assert any(line.startswith(label) for line in _lines(out)), label
    assert "days left" in out and "IP:127.0.0.1" in out
    assert "\x1b[" not in out  # no colour codes when piped
    assert proc.stderr == ""


def test_imaps_json(pc_mail: Any, pc_ca: Any) -> None:
    proc = run("probe", pc_mail.imaps_url, "--json", "--cacert", pc_ca.ca_file)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["protocol"] == "imap" and doc["tls_mode"] == "implicit"
    assert doc["greeting"].startswith("* OK")
    assert [c["stage"] for c in doc["capabilities"]] == ["tls"]
    assert "IMAP4REV1" in doc["capabilities"][0]["items"]
    assert doc["tls"]["verified"] is True
    cert = doc["tls"]["certificate"]
    assert cert["days_left"] > 0 and len(cert["sha256"].split(":")) == 32
    assert doc["error"] is None


def test_pop3_and_ftp_and_http_tables(pc_mail: Any, pc_ftp_server: Any,
                                      pc_http_server: Any) -> None:
    pop = run("probe", pc_mail.pop3_url)
    assert pop.returncode == 0, pop.stderr
    assert "CAPA (plaintext, unauthenticated)" in pop.stdout
    assert "STLS is offered" in pop.stdout
    assert "TLS         none: the connection was plaintext" in pop.stdout

    ftp = run("probe", pc_ftp_server.url)
    assert ftp.returncode == 0, ftp.stderr
    assert "FEAT (plaintext, unauthenticated)" in ftp.stdout
    assert any(line.startswith("System      UNIX") for line in _lines(ftp.stdout))

    pc_http_server.add_redirect("/old", "/new")
    http = run("probe", pc_http_server.url + "old")
    assert http.returncode == 0, http.stderr
    assert "STATUS      HTTP/1.1 302 FOUND" in http.stdout.upper()
    assert f"Location    {pc_http_server.url}new" in http.stdout
    assert "Server      Werkzeug" in http.stdout


def test_unverified_certificate_fails_with_exit_4_and_no_details(pc_https_server: Any) -> None:
    proc = run("probe", pc_https_server.url)
    assert proc.returncode == 4
    assert "Verified    NO: certificate verification failed" in proc.stdout
    assert "Subject" not in proc.stdout and "SHA-256" not in proc.stdout
    assert "--insecure" in proc.stdout
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and "CertificateError" in errors[0]

    as_json = run("probe", pc_https_server.url, "--json")
    assert as_json.returncode == 4
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False and doc["error"]["kind"] == "CertificateError"
    assert doc["error"]["exit_code"] == 4
    assert doc["tls"]["verified"] is False and doc["tls"]["certificate"] is None


def test_insecure_shows_the_unverified_certificate_loudly(pc_https_server: Any) -> None:
    proc = run("probe", "--insecure", pc_https_server.url)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" in proc.stderr and "NOT verified" in proc.stderr
    lines = _lines(proc.stdout)
    assert any(line.startswith("Verified    NO: certificate verification failed") for line in lines)
    assert any(line.startswith("Subject") for line in lines)
    assert any(line.startswith("SHA-256") for line in lines)
    assert "Status      HTTP/1.1 200 OK" in proc.stdout


def test_starttls_refused_prints_what_was_learnt(pc_ftp_server: Any) -> None:
    proc = run("probe", pc_ftp_server.url, "--tls", "starttls", "--json")
    assert proc.returncode == 4
    doc = json.loads(proc.stdout)
    assert doc["error"]["kind"] == "TLSRequiredError"
    assert doc["greeting"].startswith("220")
    assert [c["stage"] for c in doc["capabilities"]] == ["before-starttls"]
    assert "TLSRequiredError" in proc.stderr


def test_login_with_password_stdin_and_trace(pc_mail: Any, pc_ca: Any) -> None:
    password = pc_mail.users["alice"]
    url = pc_mail.imap_url.replace("://", "://alice@", 1)
    proc = run("probe", url, "--tls", "starttls", "--login", "--password-stdin", "--cacert",
               pc_ca.ca_file, "-v", stdin=password + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "CAPABILITY (after login)" in proc.stdout
    assert "Login       alice: ok" in proc.stdout
    assert "STARTTLS" in proc.stderr  # the trace
    assert password not in proc.stdout + proc.stderr

    wrong = "wrong-" + password
    bad = run("probe", url, "--tls", "starttls", "--login", "--password-stdin", "--cacert",
              pc_ca.ca_file, "-v", "--json", stdin=wrong + "\n")
    assert bad.returncode == 5
    doc = json.loads(bad.stdout)
    assert doc["login"] == {"user": "alice", "ok": False, "mechanism": None}
    assert wrong not in bad.stdout + bad.stderr


def test_login_without_user_is_a_usage_error(pc_mail: Any) -> None:
    proc = run("probe", pc_mail.pop3_url, "--login")
    assert proc.returncode == 2
    assert "user" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_quiet_prints_nothing_on_success(pc_mail: Any, pc_ca: Any) -> None:
    proc = run("probe", pc_mail.smtps_url, "-q", "--cacert", pc_ca.ca_file)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""


def test_hostile_greeting_cannot_paint_the_terminal() -> None:
    """A server's escape sequences are shown escaped in the table (and JSON-escaped)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            conn.sendall(b"220 \x1b[2J\x1b]8;;http://evil/\x07mail\r\n")
            reader = conn.makefile("rb")
            for line in reader:
                if line.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-hi\r\n250 X-\x1b[31mRED\r\n")
                elif line.upper().startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    break
            reader.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        proc = run("probe", f"smtp://127.0.0.1:{port}/")
    finally:
        thread.join(10)
        listener.close()
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "Greeting    220 \\x1b[2J" in proc.stdout
    assert "\\x1b[31mRED" in proc.stdout
