"""POP3Client against the local mail servers (``pc_mail``) and a scripted, hostile POP3 server.

The first half drives the real local POP3(S) server (Twisted, shared MailStore): ``ls``,
``fetch`` to memory / path / directory / file object, headers only, bulk download with
"download then delete", STLS, POP3S, APOP, wrong passwords.

The second half uses :class:`ScriptedPOP3`, a small POP3 server on 127.0.0.1:0 written here
that records every command line it receives and can be told to misbehave: a missing
terminating ``.``, oversized lines, lying ``LIST`` sizes, ``-ERR`` to ``STLS``, bytes injected
after the ``STLS`` go-ahead, hostile greetings (RELIABILITY.md TLS-01/03/04/06, HOS-01/03/04,
FLT-04/05, INP-04, CRED-06).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import os
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protoclients as pc
from protoclients.protocols.pop3 import POP3Client

pytestmark = pytest.mark.timeout(30)

PASSWORD = "Sup3r-s3cret-pw"


# =============================================================================================
# The scripted POP3 server
# =============================================================================================

Handler = Callable[["Session", str], bool]


@dataclass
class StoredMessage:
    uidl: str
    data: bytes
    deleted: bool = False
    list_size: int | None = None  # what LIST says (default: the real size)
    wire: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        self.wire = wire(self.data)  # prepared up front: sending allocates nothing


def wire(data: bytes) -> bytes:
    """A message as sent in a multi-line response: dot-stuffed, CRLF-ended, terminated."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\n.", b"\n..") + b".\r\n"


class Session:
    """One client connection to :class:`ScriptedPOP3`."""

    def __init__(self, server: ScriptedPOP3, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.buffer = b""
        self.user: str | None = None
        self.authed = False
        self.view: list[StoredMessage] = []
        self.marked: set[int] = set()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readline(self) -> str | None:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line.decode("utf-8", "replace")

    def start_tls(self) -> None:
        assert self.server.ca is not None
        context = self.server.ca.server_context()
        self.sock = context.wrap_socket(self.sock, server_side=True)

    def message(self, arg: str) -> tuple[int, StoredMessage] | None:
        try:
            number = int(arg.split(maxsplit=1)[0])
        except (ValueError, IndexError):
            return None
        if not 1 <= number <= len(self.view) or number in self.marked:
            return None
        return number, self.view[number - 1]

    def run(self) -> None:
        server = self.server
        if server.implicit_tls:
            self.start_tls()
        self.send(server.greeting)
        while True:
            line = self.readline()
            if line is None:
                return
            server.received.append(line)
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            handler = server.handlers.get(verb)
            if handler is not None and handler(self, arg):
                if verb == "QUIT":
                    return
                continue
            method = getattr(self, "cmd_" + verb, None)
            if method is None:
                self.send(b"-ERR unknown command\r\n")
                continue
            if method(arg) is False:
                return

    # -- authorization -------------------------------------------------------------------

    def cmd_CAPA(self, _arg: str) -> None:
        lines = list(self.server.capa)
        server = self.server
        plain = not isinstance(self.sock, ssl.SSLSocket)
        if server.ca is not None and server.offer_stls and plain and not self.authed:
            lines.append("STLS")
        self.send(
            b"+OK capabilities\r\n" + b"".join(c.encode() + b"\r\n" for c in lines) + b".\r\n"
        )

    def cmd_STLS(self, _arg: str) -> None:
        self.send(b"+OK begin TLS\r\n")
        self.start_tls()

    def cmd_USER(self, arg: str) -> None:
        self.user = arg
        self.send(b"+OK send PASS\r\n")

    def cmd_PASS(self, arg: str) -> None:
        if self.user in self.server.users and self.server.users[self.user] == arg:
            self.login()
        else:
            self.send(b"-ERR [AUTH] invalid password for " + arg.encode() + b"\r\n")

    def cmd_APOP(self, arg: str) -> None:
        user, _, digest = arg.partition(" ")
        stamp = self.server.timestamp
        password = self.server.users.get(user)
        expected = hashlib.md5(stamp + (password or "").encode()).hexdigest() if stamp else None
        if password is not None and digest == expected:
            self.login()
        else:
            self.send(b"-ERR [AUTH] APOP failed\r\n")

    def cmd_AUTH(self, arg: str) -> None:
        if arg.upper() != "PLAIN":
            self.send(b"-ERR unsupported mechanism\r\n")
            return
        self.send(b"+ \r\n")
        line = self.readline()
        if line is None:
            return
        self.server.received.append(line)
        try:
            _authz, user, password = base64.b64decode(line).decode().split("\0")
        except ValueError:
            self.send(b"-ERR bad response\r\n")
            return
        if self.server.users.get(user) == password:
            self.login()
        else:
            self.send(b"-ERR [AUTH] no\r\n")

    def login(self) -> None:
        self.authed = True
        with self.server.lock:
            self.view = [m for m in self.server.messages if not m.deleted]
        self.send(b"+OK logged in\r\n")

    # -- transaction ------------------------------------------------------------------------

    def _sizes(self) -> list[tuple[int, int]]:
        out = []
        for number, msg in enumerate(self.view, 1):
            if number not in self.marked:
                out.append((number, msg.list_size if msg.list_size is not None else len(msg.data)))
        return out

    def cmd_STAT(self, _arg: str) -> None:
        sizes = self._sizes()
        self.send(f"+OK {len(sizes)} {sum(s for _, s in sizes)}\r\n".encode())

    def cmd_LIST(self, arg: str) -> None:
        if arg:
            found = self.message(arg)
            if found is None:
                self.send(b"-ERR no such message\r\n")
                return
            size = dict(self._sizes())[found[0]]
            self.send(f"+OK {found[0]} {size}\r\n".encode())
            return
        body = "".join(f"{n} {s}\r\n" for n, s in self._sizes())
        self.send(b"+OK scan listing\r\n" + body.encode() + b".\r\n")

    def cmd_UIDL(self, arg: str) -> None:
        if not self.server.uidl:
            self.send(b"-ERR UIDL not supported\r\n")
            return
        if arg:
            found = self.message(arg)
            if found is None:
                self.send(b"-ERR no such message\r\n")
                return
            self.send(f"+OK {found[0]} {found[1].uidl}\r\n".encode())
            return
        body = "".join(f"{n} {self.view[n - 1].uidl}\r\n" for n, _ in self._sizes())
        self.send(b"+OK unique-id listing\r\n" + body.encode() + b".\r\n")

    def cmd_RETR(self, arg: str) -> None:
        found = self.message(arg)
        if found is None:
            self.send(b"-ERR no such message\r\n")
            return
        self.send(b"+OK message follows\r\n")
        self.send(found[1].wire)

    def cmd_TOP(self, arg: str) -> None:
        found = self.message(arg)
        if found is None:
            self.send(b"-ERR no such message\r\n")
            return
        head = found[1].data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        self.send(b"+OK top follows\r\n" + wire(head))

    def cmd_DELE(self, arg: str) -> None:
        found = self.message(arg)
        if found is None:
            self.send(b"-ERR no such message\r\n")
            return
        self.marked.add(found[0])
        self.send(b"+OK marked\r\n")

    def cmd_RSET(self, _arg: str) -> None:
        self.marked.clear()
        self.send(b"+OK reset\r\n")

    def cmd_NOOP(self, _arg: str) -> None:
        self.send(b"+OK\r\n")

    def cmd_QUIT(self, _arg: str) -> bool:
        if self.authed:
            with self.server.lock:
                for number in self.marked:
                    self.view[number - 1].deleted = True
        self.send(b"+OK bye\r\n")
        return False


class ScriptedPOP3:
    """A small POP3 server on 127.0.0.1:0 that records commands and can misbehave.

    ``handlers`` maps a verb to ``handler(session, arg) -> bool``; returning True means the
    handler answered (else the normal command runs).
    """

    def __init__(
        self,
        messages: list[bytes] | None = None,
        *,
        ca: Any = None,
        implicit_tls: bool = False,
        offer_stls: bool = True,
        capa: tuple[str, ...] = ("USER", "UIDL", "TOP"),
        greeting: bytes | None = None,
        apop: bool = False,
        uidl: bool = True,
        handlers: dict[str, Handler] | None = None,
    ) -> None:
        self.ca = ca
        self.implicit_tls = implicit_tls
        self.offer_stls = offer_stls
        self.capa = capa
        self.uidl = uidl
        self.users = {"alice": PASSWORD}
        self.timestamp = b"<4242.1700000000@scripted.test>" if apop else None
        if greeting is None:
            greeting = b"+OK scripted POP3 ready"
            if self.timestamp:
                greeting += b" " + self.timestamp
            greeting += b"\r\n"
        self.greeting = greeting
        self.handlers = dict(handlers or {})
        self.lock = threading.Lock()
        self.messages = [StoredMessage(f"uid-{i + 1}", m) for i, m in enumerate(messages or [])]
        self.received: list[str] = []
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        scheme = "pop3s" if implicit_tls else "pop3"
        self.url = f"{scheme}://alice@127.0.0.1:{self.port}/"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(10)
            self._sockets.append(conn)
            worker = threading.Thread(target=self._session, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _session(self, conn: socket.socket) -> None:
        session = Session(self, conn)
        try:
            session.run()
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                session.sock.close()
            with contextlib.suppress(OSError):
                conn.close()

    def alive(self) -> list[StoredMessage]:
        return [m for m in self.messages if not m.deleted]

    def commands(self) -> list[str]:
        return [line.split(" ", 1)[0].upper() for line in self.received]

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes up accept() at once
        self.thread.join(5)
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for worker in self._threads:
            worker.join(5)
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedPOP3]]:
    servers: list[ScriptedPOP3] = []

    def make(*args: Any, **kwargs: Any) -> ScriptedPOP3:
        server = ScriptedPOP3(*args, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _connect(server: ScriptedPOP3, **options: Any) -> POP3Client:
    opts: dict[str, Any] = {"password": PASSWORD, "timeout": 5}
    if server.ca is not None:
        opts["ca_file"] = server.ca.ca_file
    opts.update(options)
    client = pc.connect(server.url, **opts)
    assert isinstance(client, POP3Client)
    return client


def _auth_lines(received: list[str]) -> list[str]:
    verbs = {"USER", "PASS", "APOP", "AUTH"}
    return [line for line in received if line.split(" ", 1)[0].upper() in verbs]


def _message(n: int, body: bytes = b"") -> bytes:
    return (
        f"From: sender{n}@example.org\r\nTo: alice@example.org\r\nSubject: message {n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\n"
    ).encode() + (body or f"body of message {n}\r\n".encode())


# =============================================================================================
# Against the local mail servers (pc_mail)
# =============================================================================================


def _mail_url(mail: Any, secure: bool = False, path: str = "") -> str:
    base = mail.pop3s_url if secure else mail.pop3_url
    return base.replace("://", "://alice@", 1) + path


def _mail_opts(mail: Any, **extra: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {"password": mail.users["alice"], "ca_file": mail.ca_file}
    opts.update(extra)
    return opts


@pytest.fixture
def pop3s(pc_mail: Any) -> Iterator[POP3Client]:
    """A POP3S client that logs in at its first call (POP3 snapshots the mailbox at login)."""
    client = pc.connect(_mail_url(pc_mail, secure=True), **_mail_opts(pc_mail))
    assert isinstance(client, POP3Client)
    try:
        yield client
    finally:
        client.close()


def _deliver(mail: Any, count: int) -> list[bytes]:
    messages = [_message(i + 1) for i in range(count)]
    for data in messages:
        mail.store.deliver("alice", data)
    return messages


def test_ls_lists_number_uidl_and_size(pc_mail: Any, pop3s: POP3Client) -> None:
    messages = _deliver(pc_mail, 3)
    entries = pop3s.ls()
    assert [e.details["number"] for e in entries] == [1, 2, 3]
    assert [e.size for e in entries] == [len(m) for m in messages]
    for entry in entries:
        assert entry.kind == "message"
        assert entry.name == entry.details["uidl"]
        assert entry.url.endswith(f"/{entry.details['number']}")
        assert entry.url.startswith("pop3s://alice@127.0.0.1:")
        assert pc_mail.users["alice"] not in entry.url
    assert pop3s.stat() == (3, sum(len(m) for m in messages))
    assert pop3s.uidl() == {e.details["number"]: e.name for e in entries}


def test_ls_with_headers(pc_mail: Any, pop3s: POP3Client) -> None:
    _deliver(pc_mail, 2)
    entries = pop3s.ls(headers=True)
    assert [e.details["subject"] for e in entries] == ["message 1", "message 2"]
    assert entries[0].details["from"] == "sender1@example.org"
    assert entries[1].details["message-id"] == "<m2@example.org>"


def test_ls_of_one_message_and_empty_mailbox(pc_mail: Any, pop3s: POP3Client) -> None:
    assert pop3s.ls() == []
    _deliver(pc_mail, 2)
    pop3s.close()
    [entry] = pop3s.ls("2")
    assert entry.details["number"] == 2
    [same] = pop3s.ls(uidl=entry.name)
    assert same == entry


def test_fetch_to_memory_returns_email_message(pc_mail: Any, pop3s: POP3Client) -> None:
    _deliver(pc_mail, 2)
    message = pop3s.fetch("2")
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "message 2"
    assert message.get_content().strip() == "body of message 2"


def test_fetch_body_is_byte_identical_to_what_was_delivered(
    pc_mail: Any, pop3s: POP3Client, tmp_path: Path
) -> None:
    body = (
        b".leading dot\r\n..two dots\r\n.\r\n"
        + b"x" * 5000
        + b"\r\n\r\n"
        + "caf\u00e9 \u2603\r\n".encode()
        + os.urandom(64).hex().encode()
        + b"\r\n"
    )
    data = _message(1, body)
    pc_mail.store.deliver("alice", data)
    stored = pc_mail.store.messages("alice", "INBOX")[0].data
    result = pop3s.fetch("1", tmp_path / "one.eml")
    assert isinstance(result, pc.TransferResult)
    assert (tmp_path / "one.eml").read_bytes() == stored == data
    assert result.bytes == len(data)
    assert result.details["number"] == 1
    assert not list(tmp_path.glob("*.part"))


def test_fetch_to_directory_uses_uidl_name(pc_mail: Any, pop3s: POP3Client, tmp_path: Path) -> None:
    [data] = _deliver(pc_mail, 1)
    uidl = pop3s.uidl()[1]
    result = pop3s.fetch("1", tmp_path)
    assert result.path.parent == tmp_path
    assert result.path.name.endswith(".eml")
    assert result.details["uidl"] == uidl
    assert result.path.read_bytes() == data


def test_fetch_to_file_object_and_progress(pc_mail: Any, pop3s: POP3Client) -> None:
    data = _message(1, b"".join(os.urandom(38).hex().encode() + b"\r\n" for _ in range(3000)))
    pc_mail.store.deliver("alice", data)
    seen: list[tuple[int, int | None]] = []
    buffer = io.BytesIO()
    result = pop3s.fetch("1", buffer, progress=lambda d, t: seen.append((d, t)))
    assert buffer.getvalue() == data
    assert result.path is None
    assert seen[-1] == (len(data), len(data))


def test_fetch_headers_only(pc_mail: Any, pop3s: POP3Client, tmp_path: Path) -> None:
    _deliver(pc_mail, 1)
    message = pop3s.fetch("1", headers_only=True)
    assert message["Subject"] == "message 1"
    assert message.get_content() == ""
    result = pop3s.fetch("1", tmp_path, headers_only=True)
    assert result.path.name.endswith(".headers")
    assert result.path.read_bytes().endswith(b"\r\n\r\n")
    assert b"body of message" not in result.path.read_bytes()
    assert pop3s.top(1, 0) == result.path.read_bytes()


def test_fetch_by_uidl_url_and_keyword(pc_mail: Any, pop3s: POP3Client) -> None:
    _deliver(pc_mail, 3)
    uidl = pop3s.uidl()[3]
    assert pop3s.fetch(f"UIDL={uidl}")["Subject"] == "message 3"
    assert pop3s.fetch(uidl=uidl)["Subject"] == "message 3"
    assert pop3s.fetch(3)["Subject"] == "message 3"
    with pytest.raises(pc.NotFoundError):
        pop3s.fetch(uidl="no-such-uidl")


def test_fetch_missing_message_is_not_found(pc_mail: Any, pop3s: POP3Client) -> None:
    _deliver(pc_mail, 1)
    with pytest.raises(pc.NotFoundError):
        pop3s.fetch("7")
    pop3s.close()
    with pytest.raises(pc.NotFoundError):
        pop3s.fetch("9")
    with pytest.raises(pc.NotFoundError):
        pop3s.delete("9")
    assert pop3s.fetch("1")["Subject"] == "message 1"  # the session is still usable


def test_fetch_refuses_mailbox_without_directory_and_resume(pop3s: POP3Client) -> None:
    with pytest.raises(pc.InvalidInput, match="whole mailbox"):
        pop3s.fetch()
    with pytest.raises(pc.InvalidInput, match="resume"):
        pop3s.fetch("1", resume=True)
    with pytest.raises(pc.InvalidInput, match="delete_after"):
        pop3s.fetch("1", delete_after=True)
    with pytest.raises(pc.InvalidInput):
        pop3s.fetch("1", bogus=True)


def test_send_is_not_a_pop3_verb(pop3s: POP3Client) -> None:
    with pytest.raises(pc.UnsupportedOperation, match="smtp"):
        pop3s.send(b"Subject: x\r\n\r\nhi\r\n")


def test_delete_is_committed_at_quit_and_undelete_all(pc_mail: Any, pop3s: POP3Client) -> None:
    _deliver(pc_mail, 3)
    pop3s.delete("1")
    pop3s.undelete_all()
    pop3s.delete("2")
    with pytest.raises(pc.NotFoundError):
        pop3s.fetch("2")  # marked messages are gone for this session
    assert len(pc_mail.store.messages("alice", "INBOX")) == 3  # not before QUIT
    pop3s.close()
    left = pc_mail.store.messages("alice", "INBOX")
    assert [m.data for m in left] == [_message(1), _message(3)]


def test_bulk_fetch_with_delete_after(pc_mail: Any, tmp_path: Path) -> None:
    messages = _deliver(pc_mail, 4)
    url = _mail_url(pc_mail, secure=True)
    results = pc.fetch(url, tmp_path, delete_after=True, **_mail_opts(pc_mail))
    assert [r.details["number"] for r in results] == [1, 2, 3, 4]
    assert all(r.details["deleted"] for r in results)
    assert sorted(p.read_bytes() for p in tmp_path.glob("*.eml")) == sorted(messages)
    assert {r.path.name for r in results} == {p.name for p in tmp_path.iterdir()}
    assert pc_mail.store.messages("alice", "INBOX") == []


def test_bulk_delete_after_keeps_what_could_not_be_written(
    pc_mail: Any, pop3s: POP3Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = _deliver(pc_mail, 3)
    second = pop3s.uidl()[2]
    pop3s.close()
    monkeypatch.setattr(os, "fsync", _fail_for(f"{second}.eml", errno.EIO))
    with pytest.raises(pc.ProtoClientError, match="cannot write"):
        pop3s.fetch(None, tmp_path, delete_after=True)
    monkeypatch.undo()
    # message 1 was stored and deleted; 2 (its fsync failed) and 3 are still on the server
    assert [m.data for m in pc_mail.store.messages("alice", "INBOX")] == messages[1:]
    assert [p.read_bytes() for p in tmp_path.iterdir()] == [messages[0]]
    results = pop3s.fetch(None, tmp_path, delete_after=True)
    assert [r.details["deleted"] for r in results] == [True, True]
    assert pc_mail.store.messages("alice", "INBOX") == []
    assert sorted(p.read_bytes() for p in tmp_path.iterdir()) == sorted(messages)


def test_bulk_fetch_skips_existing_files(pc_mail: Any, pop3s: POP3Client, tmp_path: Path) -> None:
    _deliver(pc_mail, 3)
    first = pop3s.fetch(None, tmp_path)
    assert [r.bytes > 0 for r in first] == [True, True, True]
    first[1].path.write_bytes(b"kept")  # a second run must not download it again
    pc_mail.store.deliver("alice", _message(4))
    pop3s.close()
    second = pop3s.fetch(None, tmp_path)
    assert [r.details["skipped"] for r in second] == [True, True, True, False]
    assert first[1].path.read_bytes() == b"kept"
    assert len(list(tmp_path.glob("*.eml"))) == 4
    third = pop3s.fetch(None, tmp_path, skip_existing=False)
    assert not any(r.details["skipped"] for r in third)
    assert first[1].path.read_bytes() == _message(2)


def test_bulk_fetch_headers_only_never_deletes(
    pc_mail: Any, pop3s: POP3Client, tmp_path: Path
) -> None:
    _deliver(pc_mail, 2)
    with pytest.raises(pc.InvalidInput):
        pop3s.fetch(None, tmp_path, headers_only=True, delete_after=True)
    results = pop3s.fetch(None, tmp_path, headers_only=True)
    assert all(r.path.name.endswith(".headers") for r in results)
    # A later full download is not fooled by the header files.
    full = pop3s.fetch(None, tmp_path)
    assert not any(r.details["skipped"] for r in full)


def test_single_fetch_delete_after(pc_mail: Any, pop3s: POP3Client, tmp_path: Path) -> None:
    _deliver(pc_mail, 2)
    result = pop3s.fetch("1", tmp_path / "m.eml", delete_after=True)
    assert result.details["deleted"] is True
    assert [m.data for m in pc_mail.store.messages("alice", "INBOX")] == [_message(2)]
    assert pop3s.fetch("1")["Subject"] == "message 2"  # reconnected: numbers start again


def test_stls_and_capabilities_read_again(pc_mail: Any) -> None:
    _deliver(pc_mail, 1)
    trace: list[str] = []
    url = _mail_url(pc_mail)
    with pc.connect(url, tls="starttls", trace=trace.append, **_mail_opts(pc_mail)) as client:
        assert isinstance(client, POP3Client)
        assert client.raw.is_tls
        assert client.fetch("1")["Subject"] == "message 1"
        assert "STLS" not in client.capabilities()
    sent = [line for line in trace if line.startswith("> ")]
    assert sent[:4] == ["> CAPA", "> STLS", "> CAPA", "> USER alice"]
    assert "> PASS ***" in sent
    assert not any(pc_mail.users["alice"] in line for line in trace)


def test_plain_pop3_on_loopback_without_tls(pc_mail: Any) -> None:
    _deliver(pc_mail, 1)
    with pc.connect(_mail_url(pc_mail), **_mail_opts(pc_mail)) as client:
        assert isinstance(client, POP3Client)
        assert not client.raw.is_tls
        assert len(client.ls()) == 1


def test_pop3s_certificate_is_verified(pc_mail: Any) -> None:
    url = _mail_url(pc_mail, secure=True)
    with pytest.raises(pc.CertificateError):
        pc.ls(url, password=pc_mail.users["alice"], timeout=5)


def test_wrong_password_no_secret_in_error(pc_mail: Any) -> None:
    secret = "Wr0ng-passw0rd-zz"
    url = _mail_url(pc_mail, secure=True)
    with pytest.raises(pc.AuthenticationError) as info:
        pc.ls(url, password=secret, ca_file=pc_mail.ca_file, timeout=5)
    for text in (str(info.value), repr(info.value), str(info.value.reply)):
        assert secret not in text


def test_apop_login(pc_ca: Any) -> None:
    from protoclients_fixtures.mail import serve_mail

    with serve_mail(tls=True, ca=pc_ca, apop=True) as mail:
        mail.store.deliver("alice", _message(1))
        trace: list[str] = []
        url = mail.pop3_url.replace("://", "://alice;AUTH=+APOP@", 1)
        with pc.connect(url, trace=trace.append, **_mail_opts(mail)) as client:
            assert isinstance(client, POP3Client)
            assert client.login_mechanism == "apop"
            assert client.fetch("1")["Subject"] == "message 1"
        assert any(line.startswith("> APOP alice ***") for line in trace)
        assert not any(line.startswith(("> USER", "> PASS")) for line in trace)


def test_apop_refused_when_server_has_no_timestamp(pc_mail: Any) -> None:
    url = _mail_url(pc_mail).replace("://alice@", "://alice;AUTH=+APOP@", 1)
    with pytest.raises(pc.UnsupportedOperation, match="APOP"):
        pc.ls(url, **_mail_opts(pc_mail))


def test_facade_one_shots(pc_mail: Any, tmp_path: Path) -> None:
    _deliver(pc_mail, 2)
    opts = _mail_opts(pc_mail)
    assert len(pc.ls(_mail_url(pc_mail, secure=True), **opts)) == 2
    message = pc.fetch(_mail_url(pc_mail, secure=True, path="2"), **opts)
    assert message["Subject"] == "message 2"
    pc.delete(_mail_url(pc_mail, secure=True, path="1"), **opts)
    assert [m.data for m in pc_mail.store.messages("alice", "INBOX")] == [_message(2)]


def test_docs_example_runs() -> None:
    """The "complete example" of docs/pop3.md runs as written."""
    text = (Path(__file__).parents[2] / "docs" / "pop3.md").read_text(encoding="utf-8")
    section = text.split("## A complete example", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/pop3.md", "exec"), {"__name__": "docs_example"})


# =============================================================================================
# Against the scripted server: protocol details
# =============================================================================================


def test_scripted_dot_stuffing_and_line_endings(scripted: Callable[..., ScriptedPOP3]) -> None:
    data = b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n...y\r\nend\r\n"
    server = scripted([data])
    with _connect(server) as client:
        assert client.top(1, 0) == b"Subject: dots\r\n\r\n"
        buffer = io.BytesIO()
        client.fetch("1", buffer)
    assert buffer.getvalue() == data


def test_scripted_auth_plain(scripted: Callable[..., ScriptedPOP3]) -> None:
    server = scripted([_message(1)], capa=("SASL PLAIN", "UIDL", "TOP"))
    trace: list[str] = []
    url = server.url.replace("://alice@", "://alice;AUTH=PLAIN@")
    with pc.connect(url, password=PASSWORD, trace=trace.append) as client:
        assert isinstance(client, POP3Client)
        assert client.login_mechanism == "plain"
        assert len(client.ls()) == 1
    assert "> AUTH PLAIN" in trace and "> ***" in trace
    token = base64.b64encode(f"\0alice\0{PASSWORD}".encode()).decode()
    assert not any(token in line or PASSWORD in line for line in trace)


def test_scripted_auth_any_picks_plain_then_apop(scripted: Callable[..., ScriptedPOP3]) -> None:
    server = scripted([_message(1)], capa=("SASL PLAIN", "USER"))
    with _connect(server, timeout=5) as client:
        assert client.login_mechanism == "user"  # default: USER/PASS, RFC 2384
    url = server.url.replace("://alice@", "://alice;AUTH=*@")
    with pc.connect(url, password=PASSWORD) as client:
        assert client.login_mechanism == "plain"
    apop_server = scripted([_message(1)], capa=("UIDL",), apop=True)
    url = apop_server.url.replace("://alice@", "://alice;AUTH=*@")
    with pc.connect(url, password=PASSWORD) as client:
        assert client.login_mechanism == "apop"
        assert len(client.ls()) == 1


def test_scripted_apop_digest(scripted: Callable[..., ScriptedPOP3]) -> None:
    server = scripted([_message(1)], apop=True)
    with _connect(server, auth="apop") as client:
        assert client.fetch(1)["Subject"] == "message 1"
    [line] = _auth_lines(server.received)
    expected = hashlib.md5(b"<4242.1700000000@scripted.test>" + PASSWORD.encode()).hexdigest()
    assert line == f"APOP alice {expected}"


def test_scripted_temporary_login_failure(scripted: Callable[..., ScriptedPOP3]) -> None:
    def in_use(session: Session, _arg: str) -> bool:
        session.send(b"-ERR [IN-USE] mailbox locked by another session\r\n")
        return True

    server = scripted([_message(1)], handlers={"PASS": in_use})
    with pytest.raises(pc.ServerError) as info:
        _connect(server).connect()
    assert info.value.temporary


def test_scripted_wrong_password_echoed_by_server_is_masked(
    scripted: Callable[..., ScriptedPOP3],
) -> None:
    server = scripted([_message(1)])
    secret = "echoed-Secret-123"
    trace: list[str] = []
    with pytest.raises(pc.AuthenticationError) as info:
        _connect(server, password=secret, trace=trace.append).connect()
    assert "invalid password" in str(info.value)
    for text in (str(info.value), repr(info.value), *trace):
        assert secret not in text


def test_scripted_duplicate_uidl_is_a_protocol_error(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path
) -> None:
    server = scripted([_message(1), _message(2)])
    server.messages[1].uidl = server.messages[0].uidl
    with _connect(server) as client, pytest.raises(pc.ProtocolError, match="same unique id"):
        client.fetch(None, tmp_path, delete_after=True)
    assert "DELE" not in server.commands()
    assert "RETR" not in server.commands()


def test_scripted_no_uidl_names_by_number_and_never_overwrites(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path
) -> None:
    server = scripted([_message(1), _message(2)], uidl=False)
    (tmp_path / "1.eml").write_bytes(b"older download")
    with _connect(server) as client:
        results = client.fetch(None, tmp_path)
        [entry, _] = client.ls()
    assert entry.name == "1" and entry.details["uidl"] is None
    assert [r.path.name for r in results] == ["1-2.eml", "2.eml"]
    assert (tmp_path / "1.eml").read_bytes() == b"older download"
    assert (tmp_path / "1-2.eml").read_bytes() == _message(1)


def test_scripted_pipelined_bulk(scripted: Callable[..., ScriptedPOP3], tmp_path: Path) -> None:
    messages = [_message(i) for i in range(1, 51)]
    server = scripted(messages, capa=("USER", "UIDL", "TOP", "PIPELINING"))
    with _connect(server) as client:
        client.pipeline_window = 8
        results = client.fetch(None, tmp_path, delete_after=True)
    assert [r.path.read_bytes() for r in results] == messages
    assert server.alive() == []
    verbs = server.commands()
    assert verbs.count("RETR") == 50 and verbs.count("DELE") == 50
    assert verbs[-1] == "QUIT"
    # every DELE n comes after RETR n
    order = [line for line in server.received if line.startswith(("RETR", "DELE"))]
    for n in range(1, 51):
        assert order.index(f"RETR {n}") < order.index(f"DELE {n}")


def test_scripted_large_message_streams_with_flat_memory(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path
) -> None:
    line = b"y" * 998 + b"\r\n"
    data = b"Subject: big\r\n\r\n" + line * 32_000  # ~32 MB
    server = scripted([data])
    with _connect(server, timeout=10) as client:
        client.ls()
        tracemalloc.start()
        try:
            result = client.fetch("1", tmp_path / "big.eml")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.bytes == len(data)
    assert (tmp_path / "big.eml").stat().st_size == len(data)
    # The scripted server's sending side is traced too; the message itself is ~32 MB.
    assert peak < 8 * 1024 * 1024, peak


# =============================================================================================
# Hostile servers (RELIABILITY.md)
# =============================================================================================


@pytest.mark.parametrize(
    "greeting",
    [
        b"HTTP/1.1 400 Bad Request\r\n",
        b"-ERR go away\r\n",
        b"* BYE\r\n",
        b"\x1b]8;;http://evil\x07click\x1b]8;;\x07\r\n",
        b"+OKAY not really\r\n",
        b"+OK hello\0there\r\n",
    ],
)
def test_tls06_unexpected_greeting(scripted: Callable[..., ScriptedPOP3], greeting: bytes) -> None:
    server = scripted(greeting=greeting)
    with pytest.raises(pc.ProtocolError) as info:
        _connect(server).connect()
    text = str(info.value)
    assert "\x1b" not in text and "\0" not in text
    assert "unexpected greeting" in text
    assert _auth_lines(server.received) == []


def test_tls06_greeting_without_crlf_times_out(scripted: Callable[..., ScriptedPOP3]) -> None:
    server = scripted(greeting=b"+OK but never the end of the line")
    started = time.monotonic()
    with pytest.raises(pc.OperationTimeoutError):
        _connect(server, timeout=1).connect()
    assert time.monotonic() - started < 5


def test_hos08_dribbling_greeting_is_bounded_by_deadline(
    scripted: Callable[..., ScriptedPOP3],
) -> None:
    server = scripted(greeting=b"")
    stop = threading.Event()

    def dribble() -> None:
        while server.connections == 0 and not stop.is_set():
            time.sleep(0.01)
        with contextlib.suppress(OSError, IndexError):
            for byte in b"+OK slow greeting that keeps coming " * 10:
                if stop.is_set():
                    return
                server._sockets[0].sendall(bytes([byte]))
                time.sleep(0.1)

    worker = threading.Thread(target=dribble, daemon=True)
    worker.start()
    started = time.monotonic()
    try:
        with pytest.raises(pc.OperationTimeoutError):
            _connect(server, timeout=1).connect()
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        worker.join(5)


def test_hos01_oversized_status_line(scripted: Callable[..., ScriptedPOP3]) -> None:
    server = scripted(greeting=b"+OK " + b"A" * 20_000 + b"\r\n")
    with pytest.raises(pc.ResponseTooLarge):
        _connect(server).connect()


def test_hos01_oversized_message_line(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path
) -> None:
    def long_line(session: Session, _arg: str) -> bool:
        session.send(b"+OK\r\nSubject: x\r\n\r\n" + b"z" * 100_000 + b"\r\n.\r\n")
        return True

    server = scripted([_message(1, b"z" * 100_000 + b"\r\n")], handlers={"RETR": long_line})
    with _connect(server) as client:
        with pytest.raises(pc.ResponseTooLarge, match="line longer"):
            client.fetch("1", tmp_path / "m.eml")
        assert list(tmp_path.iterdir()) == []
        assert client.stat()[0] == 1  # reconnected after the drop


def test_hos01_line_of_64k_is_accepted(scripted: Callable[..., ScriptedPOP3]) -> None:
    data = b"Subject: long\r\n\r\n" + b"q" * 60_000 + b"\r\n"
    server = scripted([data])
    with _connect(server) as client:
        buffer = io.BytesIO()
        client.fetch("1", buffer)
    assert buffer.getvalue() == data


def test_hos03_missing_terminator(scripted: Callable[..., ScriptedPOP3], tmp_path: Path) -> None:
    def no_end(session: Session, _arg: str) -> bool:
        session.send(b"+OK\r\n" + _message(1) + b"more\r\n")
        session.sock.shutdown(socket.SHUT_WR)
        return True

    server = scripted([_message(1)], handlers={"RETR": no_end})
    with _connect(server) as client:
        with pytest.raises(pc.IncompleteTransferError):
            client.fetch(None, tmp_path, delete_after=True)
        with pytest.raises(pc.IncompleteTransferError):
            client.fetch("1")
    assert list(tmp_path.iterdir()) == []
    assert "DELE" not in server.commands()
    assert len(server.alive()) == 1


def test_hos03_endless_message_hits_the_size_cap(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path
) -> None:
    def endless(session: Session, _arg: str) -> bool:
        session.send(b"+OK\r\n")
        with contextlib.suppress(OSError):
            for _ in range(10_000):
                session.send(b"x" * 1000 + b"\r\n")
        return True

    server = scripted([_message(1)], handlers={"RETR": endless})
    server.messages[0].list_size = 10_000_000
    with _connect(server) as client, pytest.raises(pc.ResponseTooLarge):
        client.fetch("1", tmp_path / "m.eml", max_message_size=1_000_000)
    assert list(tmp_path.iterdir()) == []


def test_hos04_lying_list_size_long(scripted: Callable[..., ScriptedPOP3], tmp_path: Path) -> None:
    big = b"Subject: liar\r\n\r\n" + (b"w" * 998 + b"\r\n") * 10_000  # 10 MB
    server = scripted([big])
    server.messages[0].list_size = 1000
    with _connect(server) as client:
        with pytest.raises(pc.ResponseTooLarge, match="LIST said 1000"):
            client.fetch(None, tmp_path, delete_after=True)
        assert client.ls()[0].size == 1000  # reconnected after the drop
    assert list(tmp_path.iterdir()) == []
    assert "DELE" not in server.commands()


def test_hos04_lying_list_size_short(scripted: Callable[..., ScriptedPOP3], tmp_path: Path) -> None:
    server = scripted([_message(1)])
    server.messages[0].list_size = 10_000_000
    with (
        _connect(server) as client,
        pytest.raises(pc.IncompleteTransferError, match="LIST announced"),
    ):
        client.fetch("1", tmp_path / "m.eml", delete_after=True)
    assert list(tmp_path.iterdir()) == []
    assert "DELE" not in server.commands()


def test_message_larger_than_max_memory_is_refused_up_front(
    scripted: Callable[..., ScriptedPOP3],
) -> None:
    server = scripted([_message(1, b"m" * 5000 + b"\r\n")])
    with _connect(server, max_memory=1000) as client:
        with pytest.raises(pc.ResponseTooLarge, match="max_memory"):
            client.fetch("1")
        assert "RETR" not in server.commands()
        assert client.fetch("1", headers_only=True)["Subject"] == "message 1"


def test_hos_malformed_listing(scripted: Callable[..., ScriptedPOP3]) -> None:
    def bad_list(session: Session, _arg: str) -> bool:
        session.send(b"+OK\r\n1 12\r\nminus one -1\r\n.\r\n")
        return True

    server = scripted([_message(1)], handlers={"LIST": bad_list})
    with _connect(server) as client, pytest.raises(pc.ProtocolError, match="malformed"):
        client.ls()


_PIECES = st.one_of(
    st.binary(max_size=120),
    st.sampled_from(
        [
            b"+OK\r\n",
            b".\r\n",
            b"..\r\n",
            b"-ERR no\r\n",
            b"\r\n",
            b"\n",
            b"\0",
            b"+OK 1 2\r\n",
            b"Subject: x\r\n",
            b"z" * 70_000,
            b"\xff\xfe",
            b"\x1b]8;;x\x07",
        ]
    ),
)


@pytest.mark.timeout(120)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(parts=st.lists(_PIECES, max_size=6))
def test_hos12_fuzzed_retr_responses(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path, parts: list[bytes]
) -> None:
    response = b"".join(parts)

    def reply(session: Session, _arg: str) -> bool:
        session.send(response)
        session.sock.shutdown(socket.SHUT_WR)
        return True

    server = scripted([_message(1)], handlers={"RETR": reply})
    dest = tmp_path / "fuzz.eml"
    error: pc.ProtoClientError | None = None
    try:
        with _connect(server, timeout=1) as client:
            result = client.fetch("1", dest)
        assert result.path == dest
    except pc.ProtoClientError as exc:  # only documented errors; anything else fails
        error = exc
    finally:
        server.close()
    if error is not None:
        assert PASSWORD not in str(error) and "\x1b" not in str(error)
        assert not dest.exists()
    dest.unlink(missing_ok=True)
    assert list(tmp_path.iterdir()) == []


# -- STARTTLS (STLS) -------------------------------------------------------------------------------


def test_stls_against_scripted_server(scripted: Callable[..., ScriptedPOP3], pc_ca: Any) -> None:
    server = scripted([_message(1)], ca=pc_ca)
    with _connect(server, tls="starttls") as client:
        assert client.raw.is_tls
        assert client.fetch("1")["Subject"] == "message 1"
    assert server.commands()[:4] == ["CAPA", "STLS", "CAPA", "USER"]


def test_pop3s_against_scripted_server(scripted: Callable[..., ScriptedPOP3], pc_ca: Any) -> None:
    server = scripted([_message(1)], ca=pc_ca, implicit_tls=True)
    with _connect(server) as client:
        assert client.raw.is_tls
        assert len(client.ls()) == 1


def test_tls03_stls_not_offered(scripted: Callable[..., ScriptedPOP3], pc_ca: Any) -> None:
    server = scripted([_message(1)], ca=pc_ca, offer_stls=False)
    with pytest.raises(pc.TLSRequiredError, match="does not offer STLS"):
        _connect(server, tls="starttls").connect()
    assert server.commands() == ["CAPA"]


def test_tls03_capa_refused(scripted: Callable[..., ScriptedPOP3], pc_ca: Any) -> None:
    def no_capa(session: Session, _arg: str) -> bool:
        session.send(b"-ERR what?\r\n")
        return True

    server = scripted([_message(1)], ca=pc_ca, handlers={"CAPA": no_capa})
    with pytest.raises(pc.TLSRequiredError):
        _connect(server, tls="starttls").connect()
    assert _auth_lines(server.received) == []


def test_tls04_stls_refused(scripted: Callable[..., ScriptedPOP3], pc_ca: Any) -> None:
    def refuse(session: Session, _arg: str) -> bool:
        session.send(b"-ERR not now\r\n")
        return True

    server = scripted([_message(1)], ca=pc_ca, handlers={"STLS": refuse})
    with pytest.raises(pc.TLSRequiredError, match="refused STLS"):
        _connect(server, tls="starttls").connect()
    assert server.commands() == ["CAPA", "STLS"]


def test_tls01_injection_after_stls_go_ahead(
    scripted: Callable[..., ScriptedPOP3], pc_ca: Any
) -> None:
    def inject(session: Session, _arg: str) -> bool:
        session.send(b"+OK begin TLS\r\n+OK 99 9999\r\n")
        session.start_tls()
        return True

    server = scripted([_message(1)], ca=pc_ca, handlers={"STLS": inject})
    with pytest.raises(pc.ProtocolError, match="after its \\+OK to STLS"):
        _connect(server, tls="starttls").connect()
    assert server.commands() == ["CAPA", "STLS"]


def test_tls01_late_injection_breaks_the_handshake(
    scripted: Callable[..., ScriptedPOP3], pc_ca: Any
) -> None:
    def inject_late(session: Session, _arg: str) -> bool:
        session.send(b"+OK begin TLS\r\n")
        time.sleep(0.3)
        session.send(b"+OK 99 9999\r\n")
        with contextlib.suppress(OSError, ssl.SSLError):
            session.start_tls()
        return True

    server = scripted([_message(1)], ca=pc_ca, handlers={"STLS": inject_late})
    with pytest.raises((pc.TLSError, pc.ProtocolError, pc.ConnectionFailed)):
        _connect(server, tls="starttls").connect()
    assert _auth_lines(server.received) == []


# -- bad input (INP-04, CRED-06) ------------------------------------------------------------------


def test_inp04_crlf_in_arguments_is_rejected_with_nothing_sent(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path
) -> None:
    server = scripted([_message(1), _message(2)])
    with pytest.raises(pc.InvalidInput):
        _connect(server, username="alice\r\nDELE 1").connect()
    with pytest.raises(pc.InvalidInput) as info:
        _connect(server, password="pw\r\nDELE 1").connect()
    assert "DELE" not in str(info.value)
    assert server.connections == 0
    with _connect(server) as client:
        before = list(server.received)
        for bad in ("1\r\nDELE 2", "UIDL=a\nDELE 2", "1\0"):
            with pytest.raises(pc.InvalidInput):
                client.fetch(bad)
            with pytest.raises(pc.InvalidInput):
                client.delete(bad)
        with pytest.raises(pc.InvalidInput):
            client.fetch(uidl="x\r\nDELE 2")
        with pytest.raises(pc.InvalidInput):
            client.top("1\r\nDELE 2")
        with pytest.raises(pc.InvalidInput):
            client.fetch(f"pop3://alice@127.0.0.1:{server.port}/1%0d%0aDELE%202")
        with pytest.raises(ValueError):
            client.raw.putcmd("NOOP\r\nDELE 2")
        assert server.received == before
    assert "DELE" not in server.commands()
    assert len(server.alive()) == 2


def test_cred06_password_refused_in_clear_to_remote_host() -> None:
    with pytest.raises(pc.InsecureAuthError):
        pc.ls("pop3://alice@example.invalid/", password="pw", timeout=2)
    # with the opt-in it gets as far as the DNS lookup
    with pytest.raises(pc.ConnectionFailed):
        pc.ls("pop3://alice@example.invalid/", password="pw", timeout=2, allow_insecure_auth=True)
    # APOP does not count as encryption either
    with pytest.raises(pc.InsecureAuthError):
        pc.ls("pop3://alice;AUTH=+APOP@example.invalid/", password="pw", timeout=2)


def test_credentials_are_required(scripted: Callable[..., ScriptedPOP3]) -> None:
    server = scripted([_message(1)])
    with pytest.raises(pc.CredentialsNotFound):
        pc.ls(server.url.replace("alice@", ""), netrc_file=os.devnull, use_keyring=False)
    assert server.connections == 0


def test_unknown_auth_mechanism(scripted: Callable[..., ScriptedPOP3]) -> None:
    server = scripted([_message(1)])
    with pytest.raises(pc.UnsupportedOperation):
        pc.connect(server.url.replace("alice@", "alice;AUTH=GSSAPI@"), password="x")


# -- no data loss (FLT-04, FLT-05) ----------------------------------------------------------------


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _fail_for(name_part: str, error: int) -> Callable[..., Any]:
    real = os.fsync

    def fsync(fd: int) -> None:
        if name_part in _fd_path(fd):
            raise OSError(error, os.strerror(error))
        real(fd)

    return fsync


@pytest.mark.parametrize("pipelining", [False, True])
def test_flt05_fsync_failure_stops_deletions(
    scripted: Callable[..., ScriptedPOP3],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pipelining: bool,
) -> None:
    capa = ("USER", "UIDL", "TOP", "PIPELINING") if pipelining else ("USER", "UIDL", "TOP")
    server = scripted([_message(1), _message(2), _message(3)], capa=capa)
    monkeypatch.setattr(os, "fsync", _fail_for("uid-2.eml", errno.EIO))
    with _connect(server) as client, pytest.raises(pc.ProtoClientError, match=r"uid-2\.eml"):
        client.fetch(None, tmp_path, delete_after=True)
    lines = [line for line in server.received if line.startswith(("RETR", "DELE", "QUIT"))]
    deles = [line for line in lines if line.startswith("DELE")]
    assert deles == ["DELE 1"]
    assert lines.index("RETR 1") < lines.index("DELE 1") < lines.index("QUIT")
    assert lines.count("QUIT") == 1
    assert [m.uidl for m in server.alive()] == ["uid-2", "uid-3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uid-1.eml"]

    # The rerun fetches 2 and 3 once; 1 is gone from the server, its file stays.
    monkeypatch.undo()
    server.received.clear()
    with _connect(server) as client:
        results = client.fetch(None, tmp_path, delete_after=True)
    assert [r.details["uidl"] for r in results] == ["uid-2", "uid-3"]
    assert [line for line in server.received if line.startswith("RETR")] == ["RETR 1", "RETR 2"]
    assert server.alive() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uid-1.eml", "uid-2.eml", "uid-3.eml"]


def test_flt05_directory_fsync_failure_prevents_dele(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted([_message(1), _message(2)])
    real = os.fsync
    directory = str(tmp_path)

    def fsync(fd: int) -> None:
        if _fd_path(fd) == directory:
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with _connect(server) as client, pytest.raises(pc.ProtoClientError, match="directory"):
        client.fetch(None, tmp_path, delete_after=True)
    assert "DELE" not in server.commands()
    assert len(server.alive()) == 2


def test_flt05_rerun_deletes_already_stored_messages(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path
) -> None:
    server = scripted([_message(1), _message(2)])
    with _connect(server) as client:
        client.fetch(None, tmp_path)  # stored, not deleted
    server.received.clear()
    with _connect(server) as client:
        results = client.fetch(None, tmp_path, delete_after=True)
    assert all(r.details["skipped"] and r.details["deleted"] for r in results)
    assert "RETR" not in server.commands()
    assert server.alive() == []


def test_flt04_disk_full_mid_message(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted([_message(1), _message(2, (b"v" * 998 + b"\r\n") * 200), _message(3)])
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        if "uid-2.eml" in _fd_path(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with _connect(server) as client:
        with pytest.raises(pc.DiskFullError):
            client.fetch(None, tmp_path, delete_after=True)
        monkeypatch.undo()
        assert len(client.ls()) == 2  # the session survived: the rest of 2 was drained
    assert [line for line in server.received if line.startswith("DELE")] == ["DELE 1"]
    assert [m.uidl for m in server.alive()] == ["uid-2", "uid-3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uid-1.eml"]


def test_flt_read_only_directory(
    scripted: Callable[..., ScriptedPOP3], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted([_message(1)])
    real_open = os.open

    def deny(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if str(path).endswith(".eml.part"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", deny)
    with _connect(server) as client, pytest.raises(pc.ProtoClientError, match="cannot write"):
        client.fetch(None, tmp_path, delete_after=True)
    assert "DELE" not in server.commands()
    assert len(server.alive()) == 1
