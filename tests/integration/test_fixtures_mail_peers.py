"""Third-party clients against the local mail servers: curl, IMAPClient and swaks.

They prove the servers are realistic, not just compatible with the stdlib clients.  Each
client is skipped with a reason when it is not installed.
"""

from __future__ import annotations

import shutil
import smtplib
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures import LocalMailServers

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 10

MESSAGE = (
    b"From: Bob <bob@example.org>\r\n"
    b"To: Alice <alice@example.org>\r\n"
    b"Subject: Peer test\r\n"
    b"Date: Thu, 01 Jan 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Hello from a peer.\r\n"
    b".leading dot\r\n"
)

CURL = shutil.which("curl")
SWAKS = shutil.which("swaks")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")
needs_swaks = pytest.mark.skipif(
    SWAKS is None, reason="swaks is not installed (apt-get install swaks)"
)


def curl(mail: LocalMailServers, *args: str, data: bytes | None = None) -> bytes:
    assert CURL is not None and mail.ca_file is not None
    command = [
        CURL, "--silent", "--show-error", "--max-time", str(TIMEOUT),
        "--cacert", mail.ca_file, "--user", f"alice:{mail.users['alice']}", *args,
    ]  # fmt: skip
    result = subprocess.run(
        command, input=data, capture_output=True, timeout=TIMEOUT + 5, check=False
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.fixture
def mail(pc_mail: LocalMailServers) -> LocalMailServers:
    return pc_mail


# --- curl -----------------------------------------------------------------------------------


@needs_curl
@pytest.mark.parametrize("scheme", ["imap", "imaps"])
def test_curl_imap_list_fetch_search(mail: LocalMailServers, scheme: str) -> None:
    mail.store.deliver("alice", MESSAGE)
    mail.store.create_mailbox("alice", "Entwürfe")
    base = mail.imap_url if scheme == "imap" else mail.imaps_url
    assert base is not None
    tls = ["--ssl-reqd"] if scheme == "imap" else []
    listing = curl(mail, *tls, base)
    assert b'"INBOX"' in listing and b'"Entw&APw-rfe"' in listing
    assert curl(mail, *tls, base + "INBOX;UID=1") == MESSAGE
    assert curl(mail, *tls, base + "INBOX?SUBJECT%20peer").strip() == b"* SEARCH 1"
    # curl fetches with BODY[], which sets \Seen
    assert "\\Seen" in mail.store.messages("alice")[0].flags


@needs_curl
def test_curl_imap_append(mail: LocalMailServers, tmp_path: Path) -> None:
    source = tmp_path / "msg.eml"
    source.write_bytes(MESSAGE)
    curl(mail, "--ssl-reqd", mail.imap_url + "Sent", "--upload-file", str(source))
    assert [m.data for m in mail.store.messages("alice", "Sent")] == [MESSAGE]


@needs_curl
@pytest.mark.parametrize("scheme", ["pop3", "pop3s"])
def test_curl_pop3_list_and_retr(mail: LocalMailServers, scheme: str) -> None:
    mail.store.deliver("alice", MESSAGE)
    mail.store.deliver("alice", b"Subject: two\r\n\r\nx\r\n")
    base = mail.pop3_url if scheme == "pop3" else mail.pop3s_url
    assert base is not None
    tls = ["--ssl-reqd"] if scheme == "pop3" else []
    listing = curl(mail, *tls, base)
    assert listing.splitlines() == [b"1 %d" % len(MESSAGE), b"2 19"]
    assert curl(mail, *tls, base + "1") == MESSAGE
    assert "PASS ***" in mail.pop3.commands
    assert not any(mail.users["alice"] in line for line in mail.pop3.commands)


@needs_curl
def test_curl_pop3_dele(mail: LocalMailServers) -> None:
    mail.store.deliver("alice", MESSAGE)
    mail.store.deliver("alice", MESSAGE)
    curl(mail, "--ssl-reqd", "--request", "DELE", "--list-only", mail.pop3_url + "1")
    assert [m.uid for m in mail.store.messages("alice")] == [2]


@needs_curl
@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_curl_smtp_send(mail: LocalMailServers, scheme: str, tmp_path: Path) -> None:
    source = tmp_path / "msg.eml"
    source.write_bytes(MESSAGE)
    base = mail.smtp_url if scheme == "smtp" else mail.smtps_url
    assert base is not None
    tls = ["--ssl-reqd"] if scheme == "smtp" else []
    curl(
        mail, *tls, base,
        "--mail-from", "bob@example.org", "--mail-rcpt", "alice@example.org",
        "--upload-file", str(source),
    )  # fmt: skip
    [env] = mail.smtp_received
    assert env.tls and env.authenticated_as == "alice"
    assert mail.store.messages("alice")[0].data == MESSAGE


# --- IMAPClient -----------------------------------------------------------------------------


@pytest.fixture
def imapclient_login(mail: LocalMailServers) -> Iterator[Any]:
    imapclient = pytest.importorskip("imapclient", reason="IMAPClient is not installed")
    assert mail.ca is not None and mail.imap.imaps_port is not None
    client = imapclient.IMAPClient(
        mail.host, port=mail.imap.imaps_port, ssl=True,
        ssl_context=mail.ca.client_context(), timeout=TIMEOUT,
    )  # fmt: skip
    client.login("alice", mail.users["alice"])
    try:
        yield client
    finally:
        client.logout()


def test_imapclient_starttls(mail: LocalMailServers) -> None:
    imapclient = pytest.importorskip("imapclient", reason="IMAPClient is not installed")
    assert mail.ca is not None
    client = imapclient.IMAPClient(mail.host, port=mail.imap.port, ssl=False, timeout=TIMEOUT)
    try:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(mail.ca.client_context())
        client.login("alice", mail.users["alice"])
        assert client.folder_exists("INBOX")
    finally:
        client.logout()


def test_imapclient_folders_and_fetch(imapclient_login: Any, mail: LocalMailServers) -> None:
    client = imapclient_login
    mail.store.deliver("alice", MESSAGE)
    mail.store.deliver("alice", b"Subject: second\r\n\r\nx\r\n", flags=["\\Seen"])
    client.create_folder("Entwürfe")
    assert "Entwürfe" in mail.store.mailboxes("alice")
    names = [name for _flags, _delim, name in client.list_folders()]
    assert "Entwürfe" in names and "INBOX" in names
    info = client.select_folder("INBOX")
    assert info[b"EXISTS"] == 2 and info[b"UIDNEXT"] == 3
    assert client.search(["UNSEEN"]) == [1]
    assert client.search(["SUBJECT", "peer"]) == [1]
    assert client.search(["SINCE", datetime(2000, 1, 1).date()]) == [1, 2]
    fetched = client.fetch(
        [1, 2], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
                 "BODYSTRUCTURE"],
    )  # fmt: skip
    assert fetched[1][b"BODY[]"] == MESSAGE
    assert fetched[1][b"RFC822.SIZE"] == len(MESSAGE)
    assert fetched[2][b"FLAGS"] == (b"\\Seen",)
    assert fetched[1][b"ENVELOPE"].subject == b"Peer test"
    assert isinstance(fetched[1][b"INTERNALDATE"], datetime)
    assert fetched[1][b"BODYSTRUCTURE"][0].lower() == b"text"
    status = client.folder_status("INBOX", ["MESSAGES", "UNSEEN"])
    assert status == {b"MESSAGES": 2, b"UNSEEN": 1}


def test_imapclient_append_copy_move_delete(imapclient_login: Any, mail: LocalMailServers) -> None:
    client = imapclient_login
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    result = client.append("INBOX", MESSAGE, flags=["\\Flagged"], msg_time=when)
    assert b"APPENDUID" in result
    [stored] = mail.store.messages("alice")
    assert stored.internal_date == when and stored.flags == {"\\Flagged"}
    client.select_folder("INBOX")
    client.copy([1], "Trash")
    assert [m.data for m in mail.store.messages("alice", "Trash")] == [MESSAGE]
    client.move([1], "Sent")
    assert mail.store.uids("alice", "INBOX") == []
    assert [m.data for m in mail.store.messages("alice", "Sent")] == [MESSAGE]
    client.select_folder("Trash")
    client.add_flags([1], ["\\Deleted"])
    client.uid_expunge([1])
    assert mail.store.uids("alice", "Trash") == []
    client.rename_folder("Sent", "Gesendet")
    client.delete_folder("Gesendet")
    assert "Gesendet" not in mail.store.mailboxes("alice")


def test_imapclient_idle_sees_smtp_delivery(imapclient_login: Any, mail: LocalMailServers) -> None:
    client = imapclient_login
    client.select_folder("INBOX")
    client.idle()
    try:
        sender = threading.Thread(target=_smtp_send, args=(mail,))
        sender.start()
        responses = client.idle_check(timeout=5)
        sender.join(TIMEOUT)
    finally:
        client.idle_done()
    assert (1, b"EXISTS") in responses


def _smtp_send(mail: LocalMailServers) -> None:
    with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
        smtp.sendmail("bob@example.org", ["alice@example.org"], MESSAGE)


# --- swaks ----------------------------------------------------------------------------------


# swaks parses an option value that starts with "-" as an option, and the random password
# of alice may start with one: swaks logs in as this user instead.
SWAKS_USER, SWAKS_PASSWORD = "sam", "swaks-Secret-1"


def swaks(mail: LocalMailServers, port: int, *args: str, data: bytes = MESSAGE) -> str:
    assert SWAKS is not None and mail.ca_file is not None
    mail.store.add_user(SWAKS_USER, SWAKS_PASSWORD)
    command = [
        SWAKS, "--server", mail.host, "--port", str(port),
        "--from", "bob@example.org", "--to", "alice@example.org",
        "--data", "-", "--timeout", str(TIMEOUT), *args,
    ]  # fmt: skip
    result = subprocess.run(
        command, input=data, capture_output=True, timeout=TIMEOUT + 5, check=False
    )
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert result.returncode == 0, output
    return output


def delivered_by_swaks(mail: LocalMailServers) -> bytes:
    """swaks ends the data with one more CRLF; the store keeps exactly what arrived."""
    [env] = mail.smtp_received
    [stored] = mail.store.messages("alice")
    assert stored.data == env.data
    assert env.data.rstrip(b"\r\n") == MESSAGE.rstrip(b"\r\n")
    return stored.data


@needs_swaks
def test_swaks_plain(mail: LocalMailServers) -> None:
    swaks(mail, mail.smtp.port)
    delivered_by_swaks(mail)


@needs_swaks
def test_swaks_starttls_auth(mail: LocalMailServers) -> None:
    assert mail.ca_file is not None
    output = swaks(
        mail, mail.smtp.port, "--tls", "--tls-verify", "--tls-ca-path", mail.ca_file,
        "--auth", "PLAIN", "--auth-user", SWAKS_USER, "--auth-password", SWAKS_PASSWORD,
    )  # fmt: skip
    if "TLS not available" in output or "not supported" in output.lower():
        pytest.skip("swaks has no TLS support here (install libnet-ssleay-perl)")
    [env] = mail.smtp_received
    assert env.tls and env.authenticated_as == SWAKS_USER
    delivered_by_swaks(mail)


@needs_swaks
def test_swaks_implicit_tls_auth_login(mail: LocalMailServers) -> None:
    assert mail.ca_file is not None and mail.smtp.smtps_port is not None
    swaks(
        mail, mail.smtp.smtps_port, "--tls-on-connect", "--tls-verify",
        "--tls-ca-path", mail.ca_file,
        "--auth", "LOGIN", "--auth-user", SWAKS_USER, "--auth-password", SWAKS_PASSWORD,
    )  # fmt: skip
    assert mail.smtp_received[0].authenticated_as == SWAKS_USER
    assert mail.smtp_received[0].tls
    delivered_by_swaks(mail)
