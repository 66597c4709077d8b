"""``protoclients mail send``: the installed console script against the local mail servers
(SMTP to the store, IMAP for ``--save-to``), and a bare listening socket to prove that bad
input and ``--dry-run`` connect to nothing."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)

EXIT_PARTIAL = 16
EXIT_NOT_SAVED = 17


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "protoclients"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | bytes | None = None,
    timeout: float = 45,
) -> subprocess.CompletedProcess[bytes]:
    full_env = {k: v for k, v in os.environ.items() if k != "PROTOCLIENTS_PASSWORD"}
    full_env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    full_env.update(env or {})
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        [*_script(), *args], input=data, stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True, env=full_env, timeout=timeout, check=False,
    )


def out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode("utf-8", "replace")


def err(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode("utf-8", "replace")


@contextlib.contextmanager
def silent_listener() -> Iterator[tuple[str, socket.socket]]:
    """A listening socket nobody answers on: ``("127.0.0.1:PORT", sock)``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"127.0.0.1:{sock.getsockname()[1]}", sock


def assert_no_connection(sock: socket.socket) -> None:
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        conn, _ = sock.accept()
        conn.close()


@pytest.fixture
def mail(pc_mail: Any) -> Any:
    pc_mail.store.add_user("bob", "bob-password")
    return pc_mail


def smtps(mail: Any) -> str:
    return str(mail.smtps_url)


def sent_folder(mail: Any) -> str:
    return str(mail.imaps_url).replace("://", "://alice@", 1) + "Sent"


def alice_env(mail: Any) -> dict[str, str]:
    return {"PROTOCLIENTS_PASSWORD": mail.users["alice"]}


def parse(data: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


# -- delivery -------------------------------------------------------------------------------


def test_send_to_cc_bcc_no_bcc_header(mail: Any) -> None:
    proc = run("mail", "send", "--from", "Alice <alice@example.org>", "--to", "alice@example.org",
               "--bcc", "bob@example.org", "--subject", "Grüße", "--body", "hello\n.dot\n",
               "--cacert", mail.ca_file, smtps(mail))
    assert proc.returncode == 0, err(proc)
    lines = out(proc).splitlines()
    assert "accepted  alice@example.org (to)" in lines
    assert "accepted  bob@example.org (bcc)" in lines
    [envelope] = mail.smtp_received
    assert envelope.rcpt_tos == ["alice@example.org", "bob@example.org"]
    assert b"\nBcc:" not in envelope.data and b"bob@example.org" not in envelope.data
    [to_alice] = mail.store.messages("alice", "INBOX")
    [to_bob] = mail.store.messages("bob", "INBOX")
    assert to_alice.data == to_bob.data == envelope.data
    msg = parse(to_bob.data)
    assert msg["Subject"] == "Grüße" and msg["Bcc"] is None
    assert msg.get_content() == "hello\n.dot\n"


def test_save_to_appends_the_same_bytes_seen(mail: Any) -> None:
    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--cc", "alice@example.org", "-s", "kept", "--body", "x", "--save-to",
               sent_folder(mail), "--cacert", mail.ca_file, "--json", smtps(mail),
               env=alice_env(mail))
    assert proc.returncode == 0, err(proc)
    doc = json.loads(out(proc))
    assert doc["sent"] is True and doc["partial"] is False
    assert doc["accepted"] == ["bob@example.org", "alice@example.org"]
    assert doc["saved"]["mailbox"] == "Sent" and doc["saved"]["uid"] == 1
    assert doc["save_error"] is None
    [envelope] = mail.smtp_received
    [copy] = mail.store.messages("alice", "Sent")
    assert copy.data == envelope.data
    assert copy.flags == {"\\Seen"}
    assert doc["message_id"] == parse(copy.data)["Message-ID"]
    assert mail.users["alice"] not in out(proc) + err(proc)


def test_body_from_stdin_html_attachment_and_headers(mail: Any, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    page = tmp_path / "body.html"
    page.write_text("<p>Hello</p>\n", encoding="utf-8")
    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "-s", "Report", "--body-file", "-", "--html", str(page), "--attach", str(report),
               "-H", "X-Report-Id: 42", "--cacert", mail.ca_file, smtps(mail),
               stdin="Plain text\nfrom stdin\n")
    assert proc.returncode == 0, err(proc)
    [stored] = mail.store.messages("bob", "INBOX")
    msg = parse(stored.data)
    assert msg["X-Report-Id"] == "42"
    body = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert body is not None and body.get_content() == "Plain text\nfrom stdin\n"
    assert html is not None and "<p>Hello</p>" in html.get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_content() == "a,b\n1,2\n"


def test_password_stdin_and_verbose_trace_hide_the_password(mail: Any) -> None:
    url = smtps(mail).replace("://", "://alice@", 1)
    password = mail.users["alice"]
    proc = run("-v", "mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--body", "auth", "--password-stdin", "--cacert", mail.ca_file, url,
               stdin=password + "\n")
    assert proc.returncode == 0, err(proc)
    assert mail.smtp_received[0].authenticated_as == "alice"
    text = out(proc) + err(proc)
    assert password not in text
    assert base64.b64encode(f"\0alice\0{password}".encode()).decode() not in text
    assert "AUTH PLAIN ***" in text


# -- partial and failed delivery ------------------------------------------------------------------


def test_partial_delivery_exit_code(mail: Any) -> None:
    mail.store.auto_create = False
    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--cc", "nobody@example.org", "--body", "x", "--cacert", mail.ca_file,
               smtps(mail))
    assert proc.returncode == EXIT_PARTIAL, err(proc)
    lines = out(proc).splitlines()
    assert "accepted  bob@example.org (to)" in lines
    assert any(line.startswith("refused   nobody@example.org (cc): 550") for line in lines)
    assert "1 recipient(s) refused" in err(proc)
    assert len(mail.store.messages("bob", "INBOX")) == 1

    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--to", "nobody@example.org", "--body", "x", "--cacert", mail.ca_file,
               "--json", smtps(mail))
    assert proc.returncode == EXIT_PARTIAL
    doc = json.loads(out(proc))
    assert doc["partial"] is True and doc["refused"]["nobody@example.org"]["code"] == 550


def test_every_recipient_refused(mail: Any) -> None:
    mail.store.auto_create = False
    proc = run("mail", "send", "--from", "alice@example.org", "--to", "nobody@example.org",
               "--body", "x", "--cacert", mail.ca_file, smtps(mail))
    assert proc.returncode == 11
    assert out(proc).startswith("refused   nobody@example.org (to): 550")
    assert err(proc).count("\n") == 1 and "RecipientsRefused" in err(proc)
    assert mail.smtp_received == []


def test_sent_but_not_saved(mail: Any) -> None:
    folder = sent_folder(mail).replace("/Sent", "/NoSuchFolder")
    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--body", "x", "--save-to", folder, "--cacert", mail.ca_file, smtps(mail),
               env=alice_env(mail))
    assert proc.returncode == EXIT_NOT_SAVED, err(proc)
    assert "WAS sent but NOT saved" in err(proc) and "NoSuchFolder" in err(proc)
    assert "accepted  bob@example.org (to)" in out(proc)
    assert len(mail.store.messages("bob", "INBOX")) == 1

    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--body", "x", "--save-to", folder, "--cacert", mail.ca_file, "--json",
               smtps(mail), env=alice_env(mail))
    assert proc.returncode == EXIT_NOT_SAVED
    doc = json.loads(out(proc))
    assert doc["sent"] is True and doc["saved"] is None and "NoSuchFolder" in doc["save_error"]


def test_save_to_without_password_fails_before_sending(mail: Any, tmp_path: Path) -> None:
    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--body", "x", "--save-to", sent_folder(mail), "--cacert", mail.ca_file,
               smtps(mail), env={"HOME": str(tmp_path)})
    assert proc.returncode == 5, err(proc)
    assert "CredentialsNotFound" in err(proc)
    assert mail.smtp_received == []


# -- dry run and bad input: nothing connects -----------------------------------------------------


def test_dry_run_prints_exact_message_and_connects_to_nothing(mail: Any) -> None:
    with silent_listener() as (hostport, sock):
        proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
                   "--bcc", "carol@example.org", "-s", "Dry", "--body", "..x\n",
                   "--save-to", f"imap://alice@{hostport}/Sent", "--dry-run",
                   f"smtp://alice@{hostport}/")
        assert proc.returncode == 0, err(proc)
        assert_no_connection(sock)
    data = proc.stdout
    assert data.startswith(b"From: alice@example.org\r\n")
    assert b"\r\n\r\n..x\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert b"Bcc" not in data and b"carol" not in data
    stderr = err(proc)
    assert "nothing was sent" in stderr
    assert "RCPT TO:<carol@example.org>  (bcc)" in stderr
    assert "would save a copy to" in stderr

    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--bcc", "carol@example.org", "--body", "x", "--dry-run", "--json",
               smtps(mail))
    assert proc.returncode == 0, err(proc)
    doc = json.loads(out(proc))
    assert doc["dry_run"] is True and doc["mail_from"] == "alice@example.org"
    assert doc["recipients"] == [{"address": "bob@example.org", "role": "to"},
                                 {"address": "carol@example.org", "role": "bcc"}]
    assert doc["size"] == len(doc["message"].encode()) and "Bcc" not in doc["message"]
    assert mail.smtp_received == [] and mail.store.messages("bob", "INBOX") == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--to", "not an address"], "to must be one address"),
        (["--to", "bob@example.org", "-s", "hi\r\nBcc: evil@example.org"], "subject contains"),
        (["--to", "bob@example.org", "-H", "X-A: b\nBcc: evil@example.org"], "header X-A"),
        (["--to", "bob@example.org", "-H", "Bcc: evil@example.org"], "own parameter"),
        (["--to", "bob@example.org", "-H", "no colon"], "Name: value"),
        (["--to", "bob@example.org", "--attach", "/nonexistent/file.pdf"], "does not exist"),
        (["--to", "bob@example.org", "--body-file", "/nonexistent/body.txt"], "cannot read"),
        ([], "no recipient"),
        (["--to", "bob@example.org", "--body", "x", "--body-file", "-"], "not both"),
    ],
)
def test_bad_input_refused_before_any_connection(extra: list[str], message: str) -> None:
    with silent_listener() as (hostport, sock):
        args = ["mail", "send", "--from", "alice@example.org", *extra]
        if "--body" not in extra and "--body-file" not in extra:
            args += ["--body", "x"]
        proc = run(*args, "--save-to", f"imap://alice@{hostport}/Sent",
                   f"smtp://alice@{hostport}/", env={"PROTOCLIENTS_PASSWORD": "pw"})
        assert proc.returncode == 2, err(proc)
        assert message in err(proc)
        assert "Traceback" not in err(proc)
        assert_no_connection(sock)


@pytest.mark.parametrize(
    ("url", "save_to", "message"),
    [
        ("http://{hp}/", None, "smtp:// or smtps://"),
        ("smtp://{hp}/", "https://{hp}/Sent", "imap:// or imaps://"),
        ("smtp://{hp}/", "imap://alice@{hp}/", "mailbox URL"),
        ("smtp://{hp}/", "imap://alice@{hp}/INBOX;UID=3", "mailbox URL"),
    ],
)
def test_bad_urls_refused_before_any_connection(url: str, save_to: str | None,
                                                message: str) -> None:
    with silent_listener() as (hostport, sock):
        args = ["mail", "send", "--from", "a@example.org", "--to", "b@example.org", "--body", "x"]
        if save_to is not None:
            args += ["--save-to", save_to.format(hp=hostport)]
        proc = run(*args, url.format(hp=hostport))
        assert proc.returncode == 2, err(proc)
        assert message in err(proc)
        assert_no_connection(sock)


def test_password_stdin_and_body_from_stdin_conflict() -> None:
    proc = run("mail", "send", "--from", "a@example.org", "--to", "b@example.org",
               "--body-file", "-", "--password-stdin", "smtp://a@127.0.0.1:9/", stdin="pw\n")
    assert proc.returncode == 2
    assert "both read stdin" in err(proc)


def test_help_has_examples() -> None:
    proc = run("mail", "send", "--help")
    assert proc.returncode == 0
    text = out(proc)
    assert "Examples:" in text and "--save-to" in text
    flat = " ".join(text.split())
    assert f"{EXIT_PARTIAL} some recipients refused" in flat
    assert f"{EXIT_NOT_SAVED} sent but NOT saved" in flat


def test_password_in_url_is_used_and_never_shown(mail: Any) -> None:
    password = mail.users["alice"]
    url = smtps(mail).replace("://", f"://alice:{password}@", 1)
    proc = run("mail", "send", "--from", "alice@example.org", "--to", "bob@example.org",
               "--body", "x", "--cacert", mail.ca_file, "--json", url)
    assert proc.returncode == 0, err(proc)
    assert mail.smtp_received[0].authenticated_as == "alice"
    assert password not in out(proc) + err(proc)
    assert json.loads(out(proc))["url"].startswith("smtps://alice@127.0.0.1:")


def test_save_to_in_clear_to_a_remote_host_is_refused_before_sending() -> None:
    with silent_listener() as (hostport, sock):
        proc = run("mail", "send", "--from", "a@example.org", "--to", "b@example.org",
                   "--body", "x", "--save-to", "imap://alice@mail.example.invalid/Sent",
                   f"smtp://{hostport}/", env={"PROTOCLIENTS_PASSWORD": "pw"})
        assert proc.returncode == 5, err(proc)
        assert "InsecureAuthError" in err(proc) and "unencrypted" in err(proc)
        assert_no_connection(sock)
