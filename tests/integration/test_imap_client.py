"""IMAPClient against the local mail servers (pc_mail) and a scripted hostile IMAP server."""

from __future__ import annotations

import contextlib
import io
import re
import smtplib
import socket
import ssl
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

import protoclients as pc
from protoclients.errors import (
    AuthenticationError,
    InsecureAuthError,
    InvalidInput,
    NotFoundError,
    OperationTimeoutError,
    ProtocolError,
    ResponseTooLarge,
    TLSRequiredError,
    UnsupportedOperation,
)
from protoclients.protocols.imap import IMAPClient
from protoclients.protocols.imapconn import Limits

pytestmark = pytest.mark.timeout(60)


def _raw(n: int, subject: str = "hello", body: str = "body") -> bytes:
    return (
        f"From: Sender {n} <s{n}@example.org>\r\nTo: alice@example.org\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{n}@test>\r\n"
        f"Date: Mon, 05 Jan 2026 10:00:00 +0000\r\n\r\n{body} {n}\r\n"
    ).encode()


def _url(base: str, path: str = "") -> str:
    return base.replace("://", "://alice@", 1) + path


@pytest.fixture
def mail(pc_mail: Any) -> Any:
    return pc_mail


@pytest.fixture
def client(mail: Any) -> Iterator[IMAPClient]:
    lines: list[str] = []
    c = pc.connect(
        _url(mail.imap_url),
        password=mail.users["alice"],
        tls="starttls",
        ca_file=mail.ca_file,
        trace=lines.append,
    )
    assert isinstance(c, IMAPClient)
    c.trace_lines = lines  # type: ignore[attr-defined]
    with c:
        yield c


# -- real server: listing ------------------------------------------------------------------------


def test_ls_mailboxes_over_starttls_and_imaps(mail: Any, client: IMAPClient) -> None:
    names = {e.name: e for e in client.ls()}
    assert {"INBOX", "Sent", "Trash"} <= set(names)
    inbox = names["INBOX"]
    assert inbox.kind == "mailbox"
    assert inbox.details["delimiter"] == "/"
    assert inbox.url.endswith("/INBOX")
    assert any("STARTTLS" in line for line in client.trace_lines)  # type: ignore[attr-defined]
    implicit = pc.ls(_url(mail.imaps_url), password=mail.users["alice"], ca_file=mail.ca_file)
    assert {e.name for e in implicit} >= {"INBOX", "Sent", "Trash"}


def test_ls_messages_and_search(mail: Any, client: IMAPClient) -> None:
    store = mail.store
    u1 = store.deliver("alice", _raw(1, "=?utf-8?q?Gr=C3=BC=C3=9Fe?="), flags=["\\Seen"])
    u2 = store.deliver("alice", _raw(2, "second"))
    entries = client.ls("INBOX")
    assert [e.name for e in entries] == [str(u1), str(u2)]
    first = entries[0]
    assert first.kind == "message"
    assert first.size == len(store.get("alice", "INBOX", u1).data)
    assert first.modified is not None
    assert first.details["subject"] == "Grüße"
    assert first.details["from"] == "Sender 1 <s1@example.org>"
    assert first.details["message_id"] == "<1@test>"
    assert "\\Seen" in first.details["flags"]
    assert first.details["uidvalidity"] == store.status("alice", "INBOX").uidvalidity
    assert first.url.endswith(f"/INBOX;UID={u1}")
    unseen = client.ls("INBOX?UNSEEN")
    assert [e.name for e in unseen] == [str(u2)]
    assert [e.name for e in client.ls("INBOX?SUBJECT second")] == [str(u2)]
    assert client.search("INBOX", 'SUBJECT "second"') == [u2]
    assert client.search("INBOX", "SINCE 1-Jan-2000") == [u1, u2]
    assert client.ls(first.url)[0].name == str(u1)


# -- fetch -------------------------------------------------------------------------------------


def test_fetch_memory_path_headers_and_no_seen(
    mail: Any, client: IMAPClient, tmp_path: Path
) -> None:
    data = _raw(7, "fetch me", "x" * 5000)
    uid = mail.store.deliver("alice", data)
    message = client.fetch(f"INBOX;UID={uid}")
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "fetch me"
    result = client.fetch(f"INBOX;UID={uid}", tmp_path / "m.eml")
    assert (tmp_path / "m.eml").read_bytes() == data
    assert result.bytes == len(data)
    assert result.details["uid"] == uid
    into_dir = client.fetch(f"INBOX;UID={uid}", tmp_path)
    assert into_dir.path == tmp_path / f"{uid}.eml"
    buf = io.BytesIO()
    client.fetch(f"INBOX;UID={uid}", buf, fsync=False)
    assert buf.getvalue() == data
    headers = client.fetch(f"INBOX;UID={uid}", headers_only=True)
    assert headers["Subject"] == "fetch me"
    assert headers.get_content().strip() == ""
    section = client.fetch(f"INBOX;UID={uid};SECTION=TEXT")
    assert section == data.split(b"\r\n\r\n", 1)[1]
    assert "\\Seen" not in mail.store.get("alice", "INBOX", uid).flags
    with pytest.raises(NotFoundError):
        client.fetch(f"INBOX;UID={uid + 100}")
    with pytest.raises(NotFoundError):
        client.fetch("NoSuchBox;UID=1")
    with pytest.raises(InvalidInput):
        client.fetch(f"INBOX;UID={uid}", tmp_path / "r.eml", resume=True)


def test_fetch_stale_uidvalidity_is_refused(mail: Any, client: IMAPClient) -> None:
    uid = mail.store.deliver("alice", _raw(1))
    validity = mail.store.status("alice", "INBOX").uidvalidity
    assert client.fetch(f"INBOX;UIDVALIDITY={validity};UID={uid}")["Subject"] == "hello"
    with pytest.raises(NotFoundError, match="renumbered"):
        client.fetch(f"INBOX;UIDVALIDITY={validity + 1};UID={uid}")
    with pytest.raises(NotFoundError):
        client.delete(f"INBOX;UIDVALIDITY={validity + 1};UID={uid}")
    assert mail.store.get("alice", "INBOX", uid) is not None


@pytest.mark.parametrize("durable", [True, False])
def test_bulk_fetch_into_directory(mail: Any, tmp_path: Path, durable: bool) -> None:
    store = mail.store
    uids = [store.deliver("alice", _raw(n, body="b" * (n * 50))) for n in range(1, 31)]
    store.set_flags("alice", "INBOX", uids[:10], ["\\Seen"], 1)
    url = _url(mail.imaps_url, "INBOX")
    opts = {"password": mail.users["alice"], "ca_file": mail.ca_file}
    progress: list[int] = []
    results = pc.fetch(
        url, dest=tmp_path, durable=durable, progress=lambda d, t: progress.append(d), **opts
    )
    assert sorted(r.details["uid"] for r in results) == uids
    for uid in uids:
        assert (tmp_path / f"{uid}.eml").read_bytes() == store.get("alice", "INBOX", uid).data
    assert results[0].path == tmp_path / f"{uids[0]}.eml"
    assert results[0].url.endswith(f"/INBOX;UID={uids[0]}")
    assert progress[-1] == sum(r.bytes for r in results)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    # \Seen never set by a bulk download.
    assert all("\\Seen" not in m.flags for m in store.messages("alice", "INBOX")[10:])
    # Incremental: nothing new, nothing fetched; one new message, one fetched.
    assert pc.fetch(url, dest=tmp_path, **opts) == []
    new = store.deliver("alice", _raw(99))
    again = pc.fetch(url, dest=tmp_path, **opts)
    assert [r.details["uid"] for r in again] == [new]
    (tmp_path / f"{uids[0]}.eml").write_bytes(b"junk")
    redo = pc.fetch(url, dest=tmp_path, overwrite=True, **opts)
    assert len(redo) == 31
    assert (tmp_path / f"{uids[0]}.eml").read_bytes() == store.get("alice", "INBOX", uids[0]).data
    # A search URL downloads only the matches.
    sub = tmp_path / "unseen"
    sub.mkdir()
    unseen = pc.fetch(_url(mail.imaps_url, "INBOX?UNSEEN"), dest=sub, **opts)
    assert len(unseen) == 21


def test_bulk_fetch_needs_a_directory(client: IMAPClient, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="directory"):
        client.fetch("INBOX")
    with pytest.raises(InvalidInput, match="directory"):
        client.fetch("INBOX", tmp_path / "nope")


def test_bulk_fetch_refuses_a_directory_of_another_uidvalidity(
    client: IMAPClient, mail: Any, tmp_path: Path
) -> None:
    mail.store.deliver("alice", _raw(1))
    (tmp_path / ".imap-uidvalidity").write_text("1\n")
    with pytest.raises(ProtocolError, match="renumbered"):
        client.fetch("INBOX", tmp_path)
    assert len(client.fetch("INBOX", tmp_path, overwrite=True)) == 1


# -- send / delete / extras -------------------------------------------------------------------


def test_send_append_with_flags_and_date(mail: Any, client: IMAPClient, tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "alice@example.org"
    msg["To"] = "bob@example.org"
    msg["Subject"] = "appended"
    msg.set_content("line one\nline two\n")
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    result = client.send(msg, "Sent", flags=["\\Seen", "$Work"], date=when)
    uid = result.details["uid"]
    assert result.details["mailbox"] == "Sent"
    assert uid is not None
    assert result.details["uidvalidity"] == mail.store.status("alice", "Sent").uidvalidity
    stored = mail.store.get("alice", "Sent", uid)
    assert stored is not None
    assert {"\\Seen", "$Work"} <= stored.flags
    assert stored.internal_date == when
    assert b"line one\r\nline two\r\n" in stored.data
    assert client.fetch(result.url)["Subject"] == "appended"
    path = tmp_path / "m.eml"
    path.write_bytes(b"Subject: from a file\n\nbare LF\n")
    from_file = client.send(path, "INBOX")
    assert mail.store.get("alice", "INBOX", from_file.details["uid"]).data == (
        b"Subject: from a file\r\n\r\nbare LF\r\n"
    )
    from_bytes = client.send(b"Subject: b\r\n\r\nx\r\n", "INBOX")
    assert from_bytes.bytes == 17
    with pytest.raises(NotFoundError):
        client.send(b"Subject: b\r\n\r\nx\r\n", "NoSuchBox")
    with pytest.raises(InvalidInput):
        client.send(b"x", "INBOX", flags=["bad flag"])


def test_delete_expunges_only_that_uid(mail: Any, client: IMAPClient) -> None:
    store = mail.store
    keep = store.deliver("alice", _raw(1))
    victim = store.deliver("alice", _raw(2))
    # "Another client" marked this one \Deleted but did not expunge it: it must survive.
    other = store.deliver("alice", _raw(3), flags=["\\Deleted"])
    client.delete(f"INBOX;UID={victim}")
    assert store.uids("alice", "INBOX") == [keep, other]
    assert "\\Deleted" in store.get("alice", "INBOX", other).flags
    assert any("UID EXPUNGE" in line for line in client.trace_lines)  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        client.delete(f"INBOX;UID={victim}")
    with pytest.raises(InvalidInput, match="mailbox=True"):
        client.delete("INBOX")


def test_delete_to_trash_and_moves(mail: Any, client: IMAPClient) -> None:
    store = mail.store
    uid = store.deliver("alice", _raw(1, "to trash"))
    other = store.deliver("alice", _raw(2), flags=["\\Deleted"])
    client.delete(f"INBOX;UID={uid}", trash="Trash")
    assert store.uids("alice", "INBOX") == [other]
    trashed = store.messages("alice", "Trash")
    assert len(trashed) == 1
    assert b"to trash" in trashed[0].data
    a = store.deliver("alice", _raw(3))
    mapping = client.copy([a], "INBOX", "Sent")
    assert mapping is not None
    assert set(mapping) == {a}
    assert store.get("alice", "Sent", mapping[a]) is not None
    moved = client.move(a, "INBOX", "Trash")
    assert moved is not None
    assert store.get("alice", "INBOX", a) is None
    assert store.get("alice", "INBOX", other) is not None


def test_flags_status_mailboxes_and_capabilities(mail: Any, client: IMAPClient) -> None:
    store = mail.store
    uid = store.deliver("alice", _raw(1))
    client.set_flags(uid, ["\\Flagged", "$Label"])
    assert {"\\Flagged", "$Label"} <= store.get("alice", "INBOX", uid).flags
    client.clear_flags([uid], "\\Flagged")
    assert "\\Flagged" not in store.get("alice", "INBOX", uid).flags
    status = client.status("INBOX")
    assert status["MESSAGES"] == 1
    assert status["UIDVALIDITY"] == store.status("alice", "INBOX").uidvalidity
    assert "IMAP4REV1" in client.capabilities()
    for name in ["Entwürfe", "台北/日本語", "a&b", "☺!"]:
        client.create_mailbox(name)
    listed = {e.name for e in client.ls()}
    assert {"Entwürfe", "台北/日本語", "a&b", "☺!"} <= listed
    result = client.send(_raw(5, "draft"), "Entwürfe")
    assert [e.details["subject"] for e in client.ls("Entwürfe")] == ["draft"]
    assert client.fetch(result.url)["Subject"] == "draft"
    assert client.fetch(client.ls("Entwürfe")[0].url)["Subject"] == "draft"
    client.rename_mailbox("a&b", "c&d")
    client.delete("☺!", mailbox=True)
    client.delete_mailbox("c&d")
    listed = {e.name for e in client.ls()}
    assert "c&d" not in listed
    assert "☺!" not in listed
    assert client.raw.capabilities


@pytest.mark.timeout(30)
def test_wait_woken_by_smtp_delivery(mail: Any, client: IMAPClient) -> None:
    smtp = pc.parse_url(mail.smtp_url)

    sent = threading.Event()

    def deliver_when_idle(line: str) -> None:
        client.trace_lines.append(line)  # type: ignore[attr-defined]
        if line.endswith(" IDLE") and line.startswith(">") and not sent.is_set():
            sent.set()

            def send() -> None:
                with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as s:
                    s.sendmail("bob@example.org", ["alice@example.org"], _raw(1, "pushed"))

            threading.Thread(target=send, daemon=True).start()

    client.options = pc.ClientOptions(trace=deliver_when_idle, ca_file=mail.ca_file, tls="starttls")
    client.close()
    client.connect()
    new = client.wait("INBOX", timeout=15)
    assert len(new) == 1
    assert client.fetch(f"INBOX;UID={new[0]}")["Subject"] == "pushed"
    assert any(line.endswith("DONE") for line in client.trace_lines)  # type: ignore[attr-defined]
    assert client.wait("INBOX", timeout=0.3) == []


# -- credentials and input checks --------------------------------------------------------------


def test_wrong_password(mail: Any) -> None:
    secret = "wrong-Pa55word!"
    with pytest.raises(AuthenticationError) as info:
        pc.ls(_url(mail.imaps_url), password=secret, ca_file=mail.ca_file)
    assert secret not in str(info.value)
    assert secret not in repr(info.value)


def test_password_refused_in_clear_to_remote_host() -> None:
    with pytest.raises(InsecureAuthError):
        pc.ls("imap://alice@example.invalid/", password="pw", timeout=2)


def test_crlf_in_mailbox_name_sends_nothing(client: IMAPClient) -> None:
    client.ls()
    before = len(client.trace_lines)  # type: ignore[attr-defined]
    for bad in ["INBOX\r\nA1 DELETE INBOX", "a\nb", "a\0b"]:
        with pytest.raises(InvalidInput):
            client.create_mailbox(bad)
        with pytest.raises(InvalidInput):
            client.search(bad)
        with pytest.raises(InvalidInput):
            client.set_flags(1, ["\\Seen"], bad)
    with pytest.raises(InvalidInput):
        client.ls(client.url.geturl_without_credentials() + "INBOX%0D%0AX")
    with pytest.raises(InvalidInput):
        client.search("INBOX", 'SUBJECT "a\r\nb"')
    assert len(client.trace_lines) == before  # type: ignore[attr-defined]


# -- scripted hostile server -------------------------------------------------------------------


class Script:
    """A one-connection IMAP server driven by a function; records every byte received."""

    def __init__(
        self,
        handler: Callable[[Script], None],
        *,
        tls: ssl.SSLContext | None = None,
        implicit: bool = False,
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.implicit = implicit
        self.received = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.buffer = b""
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Script:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self.thread.join(10)
        if self.conn is not None:
            self.conn.close()

    @property
    def url(self) -> str:
        return f"imap{'s' if self.implicit else ''}://alice@127.0.0.1:{self.port}/"

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        conn.settimeout(10)
        if self.implicit and self.tls is not None:
            conn = self.tls.wrap_socket(conn, server_side=True)
        self.conn = conn
        with contextlib.suppress(OSError, EOFError, ssl.SSLError):
            self.handler(self)
        with contextlib.suppress(OSError):
            conn.close()

    def send(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(data)

    def line(self) -> bytes:
        assert self.conn is not None
        while b"\r\n" not in self.buffer:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError
            self.received += chunk
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def command(self) -> tuple[bytes, bytes]:
        """The next command: ``(tag, rest)``."""
        tag, _, rest = self.line().partition(b" ")
        return tag, rest

    def starttls(self) -> None:
        assert self.conn is not None and self.tls is not None
        self.conn = self.tls.wrap_socket(self.conn, server_side=True)

    def login(self, caps: bytes = b"IMAP4rev1 AUTH=PLAIN UIDPLUS") -> None:
        """Greeting, then answer commands until a login succeeded."""
        self.send(b"* OK [CAPABILITY " + caps + b"] ready\r\n")
        while True:
            tag, rest = self.command()
            verb = rest.split(b" ")[0].upper()
            if verb == b"AUTHENTICATE":
                self.send(b"+ \r\n")
                self.line()
                self.send(tag + b" OK [CAPABILITY " + caps + b"] in\r\n")
                return
            if verb == b"LOGIN":
                self.send(tag + b" OK [CAPABILITY " + caps + b"] in\r\n")
                return
            if verb == b"CAPABILITY":
                self.send(b"* CAPABILITY " + caps + b"\r\n" + tag + b" OK\r\n")
            else:
                self.send(tag + b" BAD unexpected\r\n")

    def examine(self, uidvalidity: int = 5, exists: int = 1) -> None:
        tag, rest = self.command()
        assert rest.split(b" ")[0].upper() in {b"EXAMINE", b"SELECT"}
        self.send(
            b"* %d EXISTS\r\n* OK [UIDVALIDITY %d] v\r\n* OK [UIDNEXT 9] n\r\n%s OK done\r\n"
            % (exists, uidvalidity, tag)
        )

    def serve_rest(self) -> None:
        """Answer OK to everything until the client leaves."""
        while True:
            tag, rest = self.command()
            if rest.upper().startswith(b"LOGOUT"):
                self.send(b"* BYE\r\n" + tag + b" OK\r\n")
                return
            self.send(tag + b" OK\r\n")


def _client(script: Script, **kw: Any) -> IMAPClient:
    kw.setdefault("password", "s3cret-pw")
    kw.setdefault("timeout", 5)
    c = pc.connect(script.url, **kw)
    assert isinstance(c, IMAPClient)
    return c


def _no_auth(received: bytes) -> bool:
    return not re.search(rb"LOGIN|AUTHENTICATE|s3cret", received, re.IGNORECASE)


@pytest.fixture
def server_tls(pc_ca: Any) -> ssl.SSLContext:
    return pc_ca.server_context()  # type: ignore[no-any-return]


@pytest.mark.timeout(20)
def test_starttls_not_offered(pc_ca: Any) -> None:
    def handler(s: Script) -> None:
        s.send(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n")
        s.serve_rest()

    with Script(handler) as script, pytest.raises(TLSRequiredError):
        _client(script, tls="starttls", ca_file=pc_ca.ca_file).connect()
    assert _no_auth(bytes(script.received))


@pytest.mark.timeout(20)
@pytest.mark.parametrize("answer", [b"NO not now", b"BAD what"])
def test_starttls_refused(pc_ca: Any, answer: bytes) -> None:
    def handler(s: Script) -> None:
        s.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi\r\n")
        tag, _ = s.command()
        s.send(tag + b" " + answer + b"\r\n")
        s.serve_rest()

    with Script(handler) as script, pytest.raises(TLSRequiredError):
        _client(script, tls="starttls", ca_file=pc_ca.ca_file).connect()
    assert _no_auth(bytes(script.received))


@pytest.mark.timeout(20)
def test_preauth_greeting_with_starttls_required(pc_ca: Any) -> None:
    def handler(s: Script) -> None:
        s.send(b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] welcome back\r\n")
        s.serve_rest()

    with Script(handler) as script, pytest.raises(TLSRequiredError, match="PREAUTH"):
        _client(script, tls="starttls", ca_file=pc_ca.ca_file).connect()
    assert bytes(script.received) == b""


@pytest.mark.timeout(20)
def test_starttls_injection(pc_ca: Any, server_tls: ssl.SSLContext) -> None:
    def handler(s: Script) -> None:
        s.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi\r\n")
        tag, _ = s.command()
        s.send(tag + b" OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN XINJ\r\n")
        s.starttls()
        s.serve_rest()

    with Script(handler, tls=server_tls) as script, pytest.raises(ProtocolError, match="STARTTLS"):
        _client(script, tls="starttls", ca_file=pc_ca.ca_file).connect()
    assert _no_auth(bytes(script.received))


@pytest.mark.timeout(20)
def test_starttls_success_rereads_capabilities(pc_ca: Any, server_tls: ssl.SSLContext) -> None:
    def handler(s: Script) -> None:
        s.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED XPLAIN] hi\r\n")
        tag, _ = s.command()
        s.send(tag + b" OK Begin TLS\r\n")
        s.starttls()
        s.received.clear()
        tag, rest = s.command()
        assert rest == b"CAPABILITY"
        s.send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN XSECURE\r\n" + tag + b" OK\r\n")
        tag, rest = s.command()
        assert rest.startswith(b"AUTHENTICATE PLAIN")
        s.send(b"+ \r\n")
        s.line()
        s.send(tag + b" OK [CAPABILITY IMAP4rev1 XAFTER] in\r\n")
        s.serve_rest()

    with (
        Script(handler, tls=server_tls) as script,
        _client(script, tls="starttls", ca_file=pc_ca.ca_file) as c,
    ):
        assert "XAFTER" in c.capabilities()
        assert "XPLAIN" not in c.capabilities()


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "greeting",
    [b"HTTP/1.1 400 Bad Request\r\n", b"* BYE go away\r\n", b"\x00\x01\x02\r\n", b"A1 OK hi\r\n"],
)
def test_invalid_greeting(greeting: bytes) -> None:
    def handler(s: Script) -> None:
        s.send(greeting)
        s.serve_rest()

    with Script(handler) as script, pytest.raises(pc.ProtoClientError) as info:
        _client(script).connect()
    assert isinstance(info.value, (ProtocolError, pc.ConnectionFailed))
    assert _no_auth(bytes(script.received))


@pytest.mark.timeout(20)
def test_logindisabled_never_sends_the_password() -> None:
    def handler(s: Script) -> None:
        s.send(b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] hi\r\n")
        s.serve_rest()

    with Script(handler) as script, pytest.raises(InsecureAuthError):
        _client(script, allow_insecure_auth=True).connect()
    assert _no_auth(bytes(script.received))


@pytest.mark.timeout(20)
def test_login_quotes_arguments_and_hides_the_password() -> None:
    seen: list[bytes] = []
    lines: list[str] = []

    def handler(s: Script) -> None:
        s.send(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        tag, rest = s.command()
        seen.append(rest)
        s.send(tag + b' NO [AUTHENTICATIONFAILED] bad password p"w\\x\r\n')
        s.serve_rest()

    with Script(handler) as script, pytest.raises(AuthenticationError) as info:
        _client(script, password='p"w\\x', trace=lines.append).connect()
    assert seen == [b'LOGIN alice "p\\"w\\\\x"']
    assert 'p"w\\x' not in str(info.value)
    assert not any('p"w' in line for line in lines)


@pytest.mark.timeout(20)
def test_unexpected_tag_is_refused() -> None:
    def handler(s: Script) -> None:
        s.login()
        tag, _ = s.command()
        s.send(b"ZZZ9 OK forged\r\n" + tag + b" OK\r\n")
        s.serve_rest()

    with Script(handler) as script, _client(script) as c, pytest.raises(ProtocolError):
        c.ls()


def _fetch_server(
    fetch_reply: bytes, caps: bytes = b"IMAP4rev1 AUTH=PLAIN UIDPLUS"
) -> Callable[[Script], None]:
    def handler(s: Script) -> None:
        s.login(caps)
        s.examine()
        tag, _ = s.command()
        s.send(fetch_reply.replace(b"TAG", tag))
        s.serve_rest()

    return handler


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"* 1 FETCH (UID 4 BODY[] {50000000000}\r\nabc", ResponseTooLarge),
        (b"* 1 FETCH (UID 4 BODY[] {99999999999999999999}\r\nabc", ResponseTooLarge),
        (b"* 1 FETCH (UID 4 BODY[] {-1}\r\nabc\r\nTAG OK\r\n", ProtocolError),
        (b"* 1 FETCH (UID 4 BODY[] {}\r\nabc\r\nTAG OK\r\n", ProtocolError),
        (b"* 1 FETCH (UID 4 BODY[] " + b"x" * 1_100_000 + b")\r\n", ResponseTooLarge),
        (b"* OK noise\r\n" * 10_000 + b"TAG OK\r\n", ResponseTooLarge),
        (b"* 1 FETCH (UID 5 BODY[] {3}\r\nabc)\r\nTAG OK\r\n", NotFoundError),
        (b"* 1 FETCH (BODY[] {3}\r\nabc UID 5)\r\nTAG OK\r\n", ProtocolError),
    ],
)
def test_hostile_fetch_responses(reply: bytes, error: type[Exception], tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        with Script(_fetch_server(reply)) as script, _client(script) as c, pytest.raises(error):
            c.fetch("INBOX;UID=4", tmp_path / "m.eml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
    assert not (tmp_path / "m.eml").exists()


@pytest.mark.timeout(20)
def test_empty_literal_and_lying_size(tmp_path: Path) -> None:
    empty = b"* 1 FETCH (UID 4 BODY[] {0}\r\n)\r\nTAG OK\r\n"
    with Script(_fetch_server(empty)) as script, _client(script) as c:
        result = c.fetch("INBOX;UID=4", tmp_path / "m.eml")
    assert result.bytes == 0
    reply = b"* 1 FETCH (UID 4 RFC822.SIZE 10 BODY[] {2000}\r\n" + b"x" * 2000 + b")\r\nTAG OK\r\n"
    small = Limits(max_literal=1000)
    with (
        Script(_fetch_server(reply)) as script,
        _client(script, limits=small) as c,
        pytest.raises(ResponseTooLarge),
    ):
        c.fetch("INBOX;UID=4", tmp_path / "n.eml")
    assert not (tmp_path / "n.eml").exists()


@pytest.mark.timeout(20)
def test_literal_that_stalls_half_way(tmp_path: Path) -> None:
    stop = threading.Event()

    def handler(s: Script) -> None:
        s.login()
        s.examine()
        s.command()
        s.send(b"* 1 FETCH (UID 4 BODY[] {1000}\r\n" + b"x" * 300)
        stop.wait(10)

    with Script(handler) as script:
        with _client(script, timeout=1) as c, pytest.raises(OperationTimeoutError):
            c.fetch("INBOX", tmp_path)
        stop.set()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".imap-")] == []


@pytest.mark.timeout(20)
def test_bulk_with_general_layout_and_unsolicited_responses(tmp_path: Path) -> None:
    def handler(s: Script) -> None:
        s.login()
        s.examine(exists=3)
        tag, _ = s.command()
        s.send(b"* SEARCH 4 6 7\r\n" + tag + b" OK\r\n")
        tag, rest = s.command()
        assert rest.startswith(b"UID FETCH 4,6:7 (UID BODY.PEEK[])")
        s.send(
            b"* 9 EXISTS\r\n"
            b"* 1 FETCH (UID 4 BODY[] {3}\r\nabc)\r\n"
            b"* 2 FETCH (BODY[] {2}\r\nde UID 6)\r\n"
            b"* 5 FETCH (FLAGS (\\Seen))\r\n"
            b"* 3 FETCH (UID 7 FLAGS () BODY[] {1}\r\nf FLAGS (\\Seen))\r\n" + tag + b" OK\r\n"
        )
        s.serve_rest()

    with Script(handler) as script, _client(script) as c:
        results = c.fetch("INBOX", tmp_path)
    assert sorted(r.details["uid"] for r in results) == [4, 6, 7]
    assert (tmp_path / "4.eml").read_bytes() == b"abc"
    assert (tmp_path / "6.eml").read_bytes() == b"de"
    assert (tmp_path / "7.eml").read_bytes() == b"f"


@pytest.mark.timeout(20)
def test_bulk_skips_unrequested_uid(tmp_path: Path) -> None:
    def handler(s: Script) -> None:
        s.login()
        s.examine()
        tag, _ = s.command()
        s.send(b"* SEARCH 4\r\n" + tag + b" OK\r\n")
        tag, _ = s.command()
        s.send(
            b"* 1 FETCH (UID 666 BODY[] {3}\r\nabc)\r\n"
            b"* 2 FETCH (BODY[] {3}\r\nxyz UID 667)\r\n" + tag + b" OK\r\n"
        )
        s.serve_rest()

    with Script(handler) as script, _client(script) as c:
        assert c.fetch("INBOX", tmp_path) == []
    assert not list(tmp_path.glob("*.eml"))
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.timeout(20)
def test_delete_without_uidplus_is_refused_before_any_change() -> None:
    def handler(s: Script) -> None:
        s.login(b"IMAP4rev1 AUTH=PLAIN")
        s.serve_rest()

    with Script(handler) as script, _client(script) as c, pytest.raises(UnsupportedOperation):
        c.delete("INBOX;UID=4")
    assert b"STORE" not in script.received
    assert b"EXPUNGE" not in script.received


@pytest.mark.timeout(20)
def test_move_without_copyuid_never_expunges() -> None:
    def handler(s: Script) -> None:
        s.login(b"IMAP4rev1 AUTH=PLAIN UIDPLUS")
        s.examine()
        tag, _ = s.command()  # UID FETCH 4 (UID)
        s.send(b"* 1 FETCH (UID 4)\r\n" + tag + b" OK\r\n")
        tag, rest = s.command()
        assert rest.startswith(b"UID COPY")
        s.send(tag + b" OK copied (no COPYUID)\r\n")
        s.serve_rest()

    with Script(handler) as script, _client(script) as c, pytest.raises(ProtocolError):
        c.delete("INBOX;UID=4", trash="Trash")
    assert b"STORE" not in script.received
    assert b"EXPUNGE" not in script.received


@pytest.mark.timeout(20)
def test_copy_trycreate_is_not_found() -> None:
    def handler(s: Script) -> None:
        s.login(b"IMAP4rev1 AUTH=PLAIN UIDPLUS")
        s.examine()
        tag, _ = s.command()
        s.send(b"* 1 FETCH (UID 4)\r\n" + tag + b" OK\r\n")
        tag, _ = s.command()
        s.send(tag + b" NO [TRYCREATE] no such mailbox\r\n")
        s.serve_rest()

    with Script(handler) as script, _client(script) as c, pytest.raises(NotFoundError):
        c.delete("INBOX;UID=4", trash="Nope")
    assert b"EXPUNGE" not in script.received


def test_docs_example_runs() -> None:
    """The "complete example" of docs/imap.md runs as written."""
    text = (Path(__file__).parents[2] / "docs" / "imap.md").read_text(encoding="utf-8")
    section = text.split("## A complete example", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/imap.md", "exec"), {"__name__": "docs_example"})


@pytest.mark.timeout(20)
def test_xoauth2_token_and_failure_report() -> None:
    import base64

    seen: list[bytes] = []

    def handler(s: Script) -> None:
        s.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n")
        tag, rest = s.command()
        seen.append(base64.b64decode(rest.split()[-1]))
        s.send(b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n")
        seen.append(s.line())
        s.send(tag + b" NO [AUTHENTICATIONFAILED] invalid token\r\n")
        s.serve_rest()

    token = "ya29.secret-token"
    with Script(handler) as script, pytest.raises(AuthenticationError) as info:
        IMAPClient(script.url, oauth2_token=token, timeout=5).connect()
    assert seen == [f"user=alice\x01auth=Bearer {token}\x01\x01".encode(), b""]
    assert token not in str(info.value)


def test_raw_is_a_usable_imaplib_object(client: IMAPClient) -> None:
    import imaplib

    raw = client.raw
    assert isinstance(raw, imaplib.IMAP4)
    typ, _ = raw.noop()
    assert typ == "OK"
    assert client.ls()  # the client still works after raw use
