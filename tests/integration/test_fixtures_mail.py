"""The local mail servers (SMTP, POP3, IMAP on one MailStore) driven by the stdlib clients."""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from protoclients_fixtures import LocalMailServers, MailStore, TestCA, serve_mail
from protoclients_fixtures.imap_server import serve_imap
from protoclients_fixtures.pop3_server import serve_pop3
from protoclients_fixtures.smtp_server import serve_smtp

pytestmark = pytest.mark.timeout(20)

TIMEOUT = 5

MESSAGE = (
    b"From: Bob <bob@example.org>\r\n"
    b"To: Alice <alice@example.org>\r\n"
    b"Subject: Hello there\r\n"
    b"Date: Thu, 01 Jan 2026 10:00:00 +0000\r\n"
    b"Message-ID: <1@example.org>\r\n"
    b"\r\n"
    b"First line.\r\n"
    b".A line starting with a dot\r\n"
    b"\r\n"
    b"Last line.\r\n"
)


def message(subject: str, body: str = "body\r\n", sender: str = "bob@example.org") -> bytes:
    return (f"From: {sender}\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\r\n{body}").encode()


def body_of(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[1]


@pytest.fixture
def mail(pc_mail: LocalMailServers) -> LocalMailServers:
    return pc_mail


@pytest.fixture
def password(mail: LocalMailServers) -> str:
    return mail.users["alice"]


def ctx(mail: LocalMailServers) -> ssl.SSLContext:
    assert mail.ca is not None
    return mail.ca.client_context()


def smtp_send(mail: LocalMailServers, data: bytes, rcpt: str = "alice@example.org") -> None:
    with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
        smtp.sendmail("bob@example.org", [rcpt], data)


@pytest.fixture
def imap(mail: LocalMailServers, password: str) -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4(mail.host, mail.imap.port, timeout=TIMEOUT)
    client.login("alice", password)
    try:
        yield client
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            client.shutdown()


PopFactory = Callable[[], poplib.POP3]


@pytest.fixture
def pop_after(mail: LocalMailServers, password: str) -> Iterator[PopFactory]:
    """Log in over POP3 when called (the maildrop is the INBOX as it is at login)."""
    clients: list[poplib.POP3] = []

    def connect() -> poplib.POP3:
        client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
        clients.append(client)
        client.user("alice")
        client.pass_(password)
        return client

    yield connect
    for client in clients:
        client.close()


# --- MailStore ------------------------------------------------------------------------------


def test_store_users_and_default_mailboxes() -> None:
    store = MailStore()
    store.add_user("alice", "pw")
    assert store.mailboxes("alice") == ["INBOX", "Sent", "Trash"]
    assert store.check_password("alice", "pw")
    assert not store.check_password("alice", "wrong")
    assert not store.check_password("nobody", "pw")
    assert store.users() == {"alice": "pw"}


def test_store_deliver_normalizes_line_endings_and_counts_uids() -> None:
    store = MailStore({"alice": "pw"})
    first = store.deliver("alice", b"Subject: a\n\nline\n")
    second = store.deliver("alice", b"Subject: b\r\n\r\nx\r\n", flags=["\\seen", "$Label"])
    assert (first, second) == (1, 2)
    one, two = store.messages("alice", "INBOX")
    assert one.data == b"Subject: a\r\n\r\nline\r\n"
    assert two.flags == {"\\Seen", "$Label"}
    assert one.internal_date.tzinfo is not None
    status = store.status("alice", "inbox")
    assert (status.messages, status.unseen, status.uidnext) == (2, 1, 3)


def test_store_flags_expunge_copy_move() -> None:
    store = MailStore({"alice": "pw"})
    uids = [store.deliver("alice", message(f"m{i}")) for i in range(4)]
    store.set_flags("alice", "INBOX", uids[:2], ["\\Deleted"], mode=1)
    assert store.expunge("alice", "INBOX", [uids[0]]) == [uids[0]]
    assert store.uids("alice", "INBOX") == uids[1:]
    assert store.copy("alice", "INBOX", [uids[2]], "Trash") == [(uids[2], 1)]
    assert store.copy("alice", "INBOX", [uids[3]], "Sent", move=True) == [(uids[3], 1)]
    assert store.uids("alice", "INBOX") == [uids[1], uids[2]]
    assert [m.data for m in store.messages("alice", "Sent")] == [message("m3")]


def test_store_mailbox_create_rename_delete() -> None:
    store = MailStore({"alice": "pw"})
    store.create_mailbox("alice", "Archive/2026")
    assert "Archive" in store.mailboxes("alice")
    validity = store.status("alice", "Archive/2026").uidvalidity
    store.rename_mailbox("alice", "Archive", "Old")
    assert store.status("alice", "Old/2026").uidvalidity == validity
    store.delete_mailbox("alice", "Old/2026")
    store.create_mailbox("alice", "Old/2026")
    assert store.status("alice", "Old/2026").uidvalidity != validity
    with pytest.raises(Exception, match="INBOX"):
        store.delete_mailbox("alice", "inbox")


def test_store_load_eml_and_directory_tree(tmp_path: Path) -> None:
    (tmp_path / "INBOX-1.eml").write_bytes(MESSAGE.replace(b"\r\n", b"\n"))
    (tmp_path / "Projects" / "Alpha").mkdir(parents=True)
    (tmp_path / "Projects" / "Alpha" / "a.eml").write_bytes(message("alpha"))
    (tmp_path / ".hidden").write_bytes(b"ignored")
    store = MailStore({"alice": "pw"})
    assert store.load("alice", tmp_path) == [1, 1]
    [inbox] = store.messages("alice", "INBOX")
    assert inbox.data == MESSAGE
    assert inbox.internal_date == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert [m.data for m in store.messages("alice", "Projects/Alpha")] == [message("alpha")]
    assert store.load("alice", tmp_path / "INBOX-1.eml", mailbox="Trash") == [1]


def test_store_recipient_resolution() -> None:
    store = MailStore({"alice": "pw", "carol@example.net": "pw2"})
    assert store.user_for_address("Alice@anything.example") == "alice"
    assert store.user_for_address("carol@example.net") == "carol@example.net"
    assert store.user_for_address("dave@example.org", create=False) is None
    assert store.user_for_address("dave@example.org") == "dave@example.org"
    assert store.check_password("dave@example.org", "dave@example.org")


def test_store_is_thread_safe() -> None:
    store = MailStore({"alice": "pw"})

    def work() -> None:
        for _ in range(200):
            store.deliver("alice", b"x\r\n")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.uids("alice") == list(range(1, 801))


# --- serve_mail -----------------------------------------------------------------------------


def test_serve_mail_urls_and_shutdown(pc_ca: TestCA) -> None:
    threads_before = set(threading.enumerate())
    with serve_mail(ca=pc_ca) as mail:
        assert mail.smtp_url == f"smtp://127.0.0.1:{mail.smtp.port}/"
        assert mail.smtps_url is not None and mail.smtps_url.startswith("smtps://127.0.0.1:")
        assert mail.pop3s_url is not None and mail.imaps_url is not None
        assert list(mail.users) == ["alice"] and len(mail.users["alice"]) >= 12
        assert mail.ca_file == pc_ca.ca_file
        ports = [int(url.rsplit(":", 1)[1].rstrip("/")) for url in mail.urls.values()]
        assert len(set(ports)) == 6
        held = socket.create_connection((mail.host, mail.imap.port), timeout=TIMEOUT)
    with held:
        held.settimeout(TIMEOUT)
        with contextlib.suppress(ConnectionResetError):  # the server closed (or reset) it
            while held.recv(4096):
                pass
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    leftover = {t for t in set(threading.enumerate()) - threads_before if t.is_alive()}
    assert all(t.name == "protoclients-twisted-reactor" for t in leftover)


def test_serve_mail_without_tls() -> None:
    with serve_mail(tls=False, users={"bob": "pw"}) as mail:
        assert mail.smtps_url is None and mail.pop3s_url is None and mail.imaps_url is None
        assert mail.ca_file is None and mail.users == {"bob": "pw"}
        with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
            assert not smtp.has_extn("starttls") or smtp.ehlo()[0] == 250
            smtp.ehlo()
            assert not smtp.has_extn("starttls")
        client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
        assert "STLS" not in client.capa()
        client.quit()
        imap = imaplib.IMAP4(mail.host, mail.imap.port, timeout=TIMEOUT)
        assert "STARTTLS" not in imap.capabilities
        imap.logout()


def test_serve_mail_with_existing_store() -> None:
    store = MailStore({"carol": "pw"})
    store.deliver("carol", MESSAGE)
    with serve_mail(tls=False, store=store) as mail:
        assert mail.users == {"carol": "pw"}
        client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
        client.user("carol")
        client.pass_("pw")
        assert client.stat() == (1, len(MESSAGE))
        client.quit()


# --- SMTP -----------------------------------------------------------------------------------


def test_smtp_plain_delivers_byte_identical(mail: LocalMailServers) -> None:
    smtp_send(mail, MESSAGE)
    [stored] = mail.store.messages("alice", "INBOX")
    assert stored.data == MESSAGE
    [env] = mail.smtp_received
    assert env.mail_from == "bob@example.org"
    assert env.rcpt_tos == ["alice@example.org"]
    assert env.data == MESSAGE and not env.tls and env.delivered_to == {"alice": 1}


def test_smtp_starttls_and_auth(mail: LocalMailServers, password: str) -> None:
    with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and smtp.has_extn("smtputf8")
        smtp.starttls(context=ctx(mail))
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
        assert set(smtp.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN", "XOAUTH2"}
        smtp.login("alice", password)
        smtp.sendmail("alice@example.org", ["alice"], MESSAGE)
    [env] = mail.smtp_received
    assert env.tls and env.authenticated_as == "alice"
    assert mail.store.messages("alice")[0].data == MESSAGE


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtps_implicit_auth_mechanisms(
    mail: LocalMailServers, password: str, mechanism: str
) -> None:
    with smtplib.SMTP_SSL(
        mail.host, mail.smtp.smtps_port, timeout=TIMEOUT, context=ctx(mail)
    ) as smtp:
        smtp.ehlo()
        auth = getattr(smtp, f"auth_{mechanism.lower()}")
        smtp.user, smtp.password = "alice", password
        code, _ = smtp.auth(mechanism, auth, initial_response_ok=mechanism == "PLAIN")
        assert code == 235
        smtp.sendmail("alice@example.org", ["alice@example.org"], MESSAGE)
    assert mail.smtp_received[0].tls


def test_smtp_plain_auth_without_tls_on_loopback(mail: LocalMailServers, password: str) -> None:
    with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
        assert smtp.login("alice", password)[0] == 235


def test_smtp_xoauth2(mail: LocalMailServers) -> None:
    mail.store.add_token("alice", "token-123")
    with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        assert "XOAUTH2" in smtp.esmtp_features["auth"].split()

        def good(challenge: bytes | None = None) -> str:
            return "user=alice\x01auth=Bearer token-123\x01\x01"

        assert smtp.auth("XOAUTH2", good)[0] == 235
    with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()

        def bad(challenge: bytes | None = None) -> str:
            return "user=alice\x01auth=Bearer wrong\x01\x01" if challenge is None else ""

        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            smtp.auth("XOAUTH2", bad)
        assert err.value.smtp_code == 535


def test_serve_smtp_alone_keeps_pytest_localserver_outbox() -> None:
    with serve_smtp() as srv:
        assert srv.smtps_url is None and srv.url == f"smtp://127.0.0.1:{srv.port}/"
        with smtplib.SMTP(srv.host, srv.port, timeout=TIMEOUT) as smtp:
            smtp.sendmail("bob@example.org", ["alice@example.org"], MESSAGE)
        [parsed] = srv.outbox
        assert parsed["Subject"] == "Hello there"
    srv.stop()  # idempotent


def test_smtp_wrong_password(mail: LocalMailServers) -> None:
    with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            smtp.login("alice", "wrong")
        assert err.value.smtp_code == 535


def test_smtp_unknown_recipient_auto_created(mail: LocalMailServers) -> None:
    smtp_send(mail, MESSAGE, rcpt="dave@example.net")
    assert mail.store.messages("dave@example.net")[0].data == MESSAGE
    client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
    try:
        client.user("dave@example.net")
        client.pass_("dave@example.net")
        assert client.stat()[0] == 1
        client.quit()
    finally:
        client.close()


def test_smtp_unknown_recipient_refused_without_auto_create() -> None:
    with serve_mail(tls=False, auto_create=False) as mail:
        with smtplib.SMTP(mail.host, mail.smtp.port, timeout=TIMEOUT) as smtp:
            refused = smtp.sendmail("bob@x.org", ["alice@x.org", "nobody@x.org"], MESSAGE)
        assert refused["nobody@x.org"][0] == 550
        assert mail.smtp_received[0].rcpt_tos == ["alice@x.org"]
        assert not mail.store.has_user("nobody@x.org")


def test_smtputf8_switch(pc_ca: TestCA) -> None:
    with (
        serve_smtp(tls=False, smtputf8=False) as srv,
        smtplib.SMTP(srv.host, srv.port, timeout=TIMEOUT) as smtp,
    ):
        smtp.ehlo()
        assert not smtp.has_extn("smtputf8")
    with serve_smtp(tls=False) as srv:
        with smtplib.SMTP(srv.host, srv.port, timeout=TIMEOUT) as smtp:
            data = "Subject: grüße\r\n\r\nhällo\r\n".encode()
            smtp.sendmail("jörg@example.org", ["alice@example.org"], data, ["SMTPUTF8"])
        [env] = srv.received
        assert env.smtputf8 and env.mail_from == "jörg@example.org"
        assert srv.store.messages("alice")[0].data == data


def test_smtp_auth_required() -> None:
    with (
        serve_smtp(users={"alice": "pw"}, auth_required=True) as srv,
        smtplib.SMTP(srv.host, srv.port, timeout=TIMEOUT) as smtp,
    ):
        smtp.ehlo()
        assert smtp.mail("bob@example.org")[0] == 530
        smtp.login("alice", "pw")
        assert smtp.mail("bob@example.org")[0] == 250


def test_smtp_require_starttls(pc_ca: TestCA) -> None:
    with (
        serve_smtp(tls=True, ca=pc_ca, require_starttls=True) as srv,
        smtplib.SMTP(srv.host, srv.port, timeout=TIMEOUT) as smtp,
    ):
        smtp.ehlo()
        code, _ = smtp.mail("bob@example.org")
        assert code == 530
        smtp.starttls(context=pc_ca.client_context())
        smtp.ehlo()
        assert smtp.mail("bob@example.org")[0] == 250


# --- POP3 -----------------------------------------------------------------------------------


def test_pop3_greeting_capa_and_listing(mail: LocalMailServers, password: str) -> None:
    smtp_send(mail, MESSAGE)
    smtp_send(mail, message("second"))
    client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
    try:
        assert b"<" not in client.getwelcome()  # no APOP timestamp by default
        caps = client.capa()
        assert {"TOP", "USER", "UIDL", "STLS"} <= set(caps)
        client.user("alice")
        client.pass_(password)
        assert client.stat() == (2, len(MESSAGE) + len(message("second")))
        _, lines, _ = client.list()
        assert lines == [b"1 %d" % len(MESSAGE), b"2 %d" % len(message("second"))]
        _, uidls, _ = client.uidl()
        assert [line.split()[0] for line in uidls] == [b"1", b"2"]
        assert len({line.split()[1] for line in uidls}) == 2
        assert client.uidl(2).split()[2] == uidls[1].split()[1]
        client.quit()
    finally:
        client.close()


def test_pop3_retr_and_top_are_exact(mail: LocalMailServers, pop_after: PopFactory) -> None:
    mail.store.deliver("alice", MESSAGE)
    pop = pop_after()
    _, lines, octets = pop.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == MESSAGE
    assert octets >= len(MESSAGE)
    _, top, _ = pop.top(1, 2)
    head = MESSAGE.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert top == [*head, b"", b"First line.", b".A line starting with a dot"]
    _, top0, _ = pop.top(1, 0)
    assert top0 == [*head, b""]
    assert "\\Seen" in mail.store.messages("alice")[0].flags


def test_pop3_dele_committed_only_at_quit(mail: LocalMailServers, password: str) -> None:
    for i in range(3):
        mail.store.deliver("alice", message(f"m{i}"))
    client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
    client.user("alice")
    client.pass_(password)
    client.dele(1)
    with pytest.raises(poplib.error_proto):
        client.dele(1)
    with pytest.raises(poplib.error_proto):
        client.retr(1)
    assert client.stat()[0] == 2
    client.close()  # hang up without QUIT: nothing is deleted
    assert len(mail.store.messages("alice")) == 3
    client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
    client.user("alice")
    client.pass_(password)
    client.dele(1)
    client.rset()
    client.dele(2)
    client.quit()
    assert [m.uid for m in mail.store.messages("alice")] == [1, 3]


def test_pop3_stls(mail: LocalMailServers, password: str) -> None:
    mail.store.deliver("alice", MESSAGE)
    client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
    try:
        client.stls(context=ctx(mail))
        assert "STLS" not in client.capa()
        client.user("alice")
        client.pass_(password)
        assert b"\r\n".join(client.retr(1)[1]) + b"\r\n" == MESSAGE
        client.quit()
    finally:
        client.close()


def test_pop3s_implicit(mail: LocalMailServers, password: str) -> None:
    mail.store.deliver("alice", MESSAGE)
    assert mail.pop3.pop3s_port is not None
    client = poplib.POP3_SSL(mail.host, mail.pop3.pop3s_port, timeout=TIMEOUT, context=ctx(mail))
    try:
        assert "STLS" not in client.capa()
        client.user("alice")
        client.pass_(password)
        assert client.stat() == (1, len(MESSAGE))
        client.quit()
    finally:
        client.close()


def test_pop3_wrong_password_and_commands_masked(mail: LocalMailServers) -> None:
    client = poplib.POP3(mail.host, mail.pop3.port, timeout=TIMEOUT)
    try:
        client.user("alice")
        with pytest.raises(poplib.error_proto):
            client.pass_("wrong")
        with pytest.raises(poplib.error_proto):
            client.apop("alice", "wrong")  # APOP is off by default
    finally:
        client.close()
    assert "PASS ***" in mail.pop3.commands
    assert not any("wrong" in line for line in mail.pop3.commands)


def test_pop3_apop_when_enabled() -> None:
    with serve_pop3(users={"alice": "secret"}, apop=True) as srv:
        client = poplib.POP3(srv.host, srv.port, timeout=TIMEOUT)
        try:
            assert b"<" in client.getwelcome()
            assert client.apop("alice", "secret").startswith(b"+OK")
            client.quit()
        finally:
            client.close()


def test_pop3_stls_drops_injected_plaintext(mail: LocalMailServers) -> None:
    with socket.create_connection((mail.host, mail.pop3.port), timeout=TIMEOUT) as sock:
        sock.recv(1024)
        sock.sendall(b"STLS\r\nUSER injected\r\n")
        reply = sock.recv(1024)
        assert reply.startswith(b"+OK")
        with ctx(mail).wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"NOOP\r\n")
            assert tls.recv(1024).startswith(b"-ERR")  # not logged in: USER was dropped
    assert True


# --- IMAP -----------------------------------------------------------------------------------


def test_imap_capabilities_starttls_and_login(mail: LocalMailServers, password: str) -> None:
    client = imaplib.IMAP4(mail.host, mail.imap.port, timeout=TIMEOUT)
    try:
        caps = set(client.capabilities)
        assert {"IMAP4REV1", "STARTTLS", "IDLE", "UIDPLUS", "MOVE", "AUTH=PLAIN"} <= caps
        client.starttls(ssl_context=ctx(mail))
        assert "STARTTLS" not in client.capabilities
        assert client.login("alice", password)[0] == "OK"
        client.logout()
    finally:
        client.shutdown() if client.state != "LOGOUT" else None


def test_imaps_implicit_and_authenticate_plain(mail: LocalMailServers, password: str) -> None:
    assert mail.imap.imaps_port is not None
    client = imaplib.IMAP4_SSL(
        mail.host, mail.imap.imaps_port, ssl_context=ctx(mail), timeout=TIMEOUT
    )
    try:
        assert "STARTTLS" not in client.capabilities
        typ, _ = client.authenticate("PLAIN", lambda _: f"\0alice\0{password}".encode())
        assert typ == "OK"
        assert client.select("INBOX")[0] == "OK"
    finally:
        client.logout()


def test_imap_wrong_password(mail: LocalMailServers) -> None:
    client = imaplib.IMAP4(mail.host, mail.imap.port, timeout=TIMEOUT)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            client.login("alice", "wrong")
    finally:
        client.logout()
    assert not any("wrong" in line for line in mail.imap.commands)


def test_imap_quoted_password_escapes() -> None:
    with serve_imap(users={"alice": 'p"a\\ss word'}) as srv:
        client = imaplib.IMAP4(srv.host, srv.port, timeout=TIMEOUT)
        try:
            assert client.login("alice", 'p"a\\ss word')[0] == "OK"
        finally:
            client.logout()


def test_imap_list_select_search_fetch(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    smtp_send(mail, MESSAGE)
    typ, boxes = imap.list()
    assert typ == "OK"
    assert b'(\\HasNoChildren) "/" "INBOX"' in boxes
    assert any(b"\\Trash" in line and line.endswith(b'"Trash"') for line in boxes if line)
    typ, data = imap.select("INBOX")
    assert (typ, data) == ("OK", [b"1"])
    assert imap.untagged_responses.get("UIDVALIDITY")
    assert imap.uid("SEARCH", "ALL") == ("OK", [b"1"])
    assert imap.uid("SEARCH", "UNSEEN") == ("OK", [b"1"])
    typ, data = imap.uid("FETCH", "1", "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][1] == MESSAGE
    assert b"RFC822.SIZE %d" % len(MESSAGE) in data[0][0]
    assert b"FLAGS ()" in data[0][0] and b"INTERNALDATE" in data[0][0]
    assert imap.uid("SEARCH", "SEEN") == ("OK", [b""])  # PEEK kept it unseen
    typ, data = imap.uid("FETCH", "1", "(BODY[])")
    assert data[0][1] == MESSAGE
    assert imap.uid("SEARCH", "SEEN") == ("OK", [b"1"])


def test_imap_fetch_headers_envelope_bodystructure(
    imap: imaplib.IMAP4, mail: LocalMailServers
) -> None:
    raw = b"Received: one\r\nReceived: two\r\n" + MESSAGE
    mail.store.deliver("alice", raw)
    imap.select("INBOX", readonly=True)
    _typ, data = imap.uid("FETCH", "1", "(BODY.PEEK[HEADER])")
    assert data[0][1] == raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    _typ, data = imap.uid("FETCH", "1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT RECEIVED)])")
    assert data[0][1] == b"Received: one\r\nReceived: two\r\nSubject: Hello there\r\n\r\n"
    _typ, data = imap.uid("FETCH", "1", "(ENVELOPE BODYSTRUCTURE)")
    line = data[0]
    assert b'"Hello there"' in line and b'(("Bob" NIL "bob" "example.org"))' in line
    assert b'BODYSTRUCTURE ("TEXT" "PLAIN"' in line.upper()


def test_imap_fetch_sections_partial_and_mime(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    raw = (
        b"Subject: multi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain text\r\n"
        b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html</p>\r\n"
        b"--b1--\r\n"
    )
    mail.store.deliver("alice", raw)
    imap.select("INBOX")

    def section(query: str) -> bytes:
        typ, data = imap.uid("FETCH", "1", f"({query})")
        assert typ == "OK"
        item = data[0]
        assert isinstance(item, tuple)
        return item[1]

    assert section("BODY.PEEK[]<0.7>") == b"Subject"
    assert section("BODY.PEEK[]<9999.10>") == b""
    assert section("BODY.PEEK[TEXT]") == raw.split(b"\r\n\r\n", 1)[1]
    assert section("RFC822.HEADER") == raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert section("BODY.PEEK[1]") == b"plain text"
    assert section("BODY.PEEK[2]") == b"<p>html</p>"
    _typ, data = imap.uid("FETCH", "1", "(BODYSTRUCTURE)")
    structure = data[0].lower()
    assert b'("text" "plain"' in structure and b'"alternative"' in structure
    assert imap.uid("SEARCH", "UNSEEN") == ("OK", [b"1"])
    assert imap.close()[0] == "OK"


def test_imap_search_criteria(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    store = mail.store
    old = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
    new = datetime(2026, 2, 1, 23, 30, tzinfo=timezone.utc)
    store.deliver(
        "alice", message("Quarterly report", sender="boss@corp.example"), internal_date=old
    )
    store.deliver(
        "alice", message("lunch?", sender="friend@example.org"), flags=["\\Seen"], internal_date=new
    )
    store.deliver(
        "alice",
        message("Report again", body="needle in body\r\n"),
        flags=["$Work"],
        internal_date=new,
    )
    imap.select("INBOX")

    def uids(*criteria: str) -> list[int]:
        typ, data = imap.uid("SEARCH", *criteria)
        assert typ == "OK"
        return [int(x) for x in data[0].split()]

    assert uids("ALL") == [1, 2, 3]
    assert uids("UNSEEN") == [1, 3]
    assert uids("SEEN") == [2]
    assert uids("SINCE", "1-Feb-2026") == [2, 3]
    assert uids("BEFORE", "1-Feb-2026") == [1]
    assert uids("ON", "1-Jun-2025") == [1]
    assert uids("FROM", "boss") == [1]
    assert uids("SUBJECT", '"report"') == [1, 3]
    assert uids("BODY", "needle") == [3]
    assert uids("KEYWORD", "$Work") == [3]
    assert uids("UID", "2:*") == [2, 3]
    assert uids("OR", "SEEN", "FROM", "boss") == [1, 2]
    assert uids("NOT", "SEEN", "SUBJECT", "report") == [1, 3]
    assert uids("2:3") == [2, 3]
    assert imap.search(None, "ALL") == ("OK", [b"1 2 3"])
    with pytest.raises(imaplib.IMAP4.error):
        imap.uid("SEARCH", "NONSENSE")


def test_imap_search_literal_charset(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    mail.store.deliver("alice", "Subject: Grüße\r\n\r\nx\r\n".encode())
    mail.store.deliver("alice", message("plain"))
    imap.select("INBOX")
    imap.literal = "grüße".encode()
    typ, data = imap.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT")
    assert (typ, data) == ("OK", [b"1"])


def test_imap_append_with_flags_and_date(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    when = datetime(2025, 12, 24, 18, 30, tzinfo=timezone.utc)
    typ, data = imap.append("Sent", r"(\Seen $Sent)", imaplib.Time2Internaldate(when), MESSAGE)
    assert typ == "OK"
    validity = mail.store.status("alice", "Sent").uidvalidity
    assert data[0].startswith(b"[APPENDUID %d 1]" % validity)
    [stored] = mail.store.messages("alice", "Sent")
    assert stored.data == MESSAGE
    assert stored.flags == {"\\Seen", "$Sent"}
    assert stored.internal_date == when
    typ, data = imap.append("Nope", None, None, MESSAGE)
    assert typ == "NO" and b"TRYCREATE" in data[0]


def test_imap_uid_store_and_uid_expunge(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    for i in range(3):
        mail.store.deliver("alice", message(f"m{i}"))
    imap.select("INBOX")
    imap.uid("STORE", "1:3", "+FLAGS", r"(\Deleted)")
    typ, data = imap.uid("STORE", "2", "-FLAGS.SILENT", r"(\Deleted)")
    assert typ == "OK"
    typ, data = imap.uid("EXPUNGE", "3")
    assert typ == "OK"
    assert imap.untagged_responses.pop("EXPUNGE", None) == [b"3"]
    assert mail.store.uids("alice") == [1, 2]
    imap.expunge()
    assert mail.store.uids("alice") == [2]
    typ, data = imap.uid("FETCH", "2", "(FLAGS)")
    assert data == [b"1 (FLAGS () UID 2)"]


def test_imap_copy_and_move(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    for i in range(3):
        mail.store.deliver("alice", message(f"m{i}"))
    imap.select("INBOX")
    assert imap.uid("COPY", "1", "Trash")[0] == "OK"
    trash_validity = mail.store.status("alice", "Trash").uidvalidity
    assert imap.untagged_responses.pop("COPYUID") == [b"%d 1 1" % trash_validity]
    typ, _data = imap.uid("MOVE", "2:3", "Trash")
    assert typ == "OK"
    assert imap.untagged_responses.pop("EXPUNGE", None) == [b"2", b"2"]
    assert mail.store.uids("alice", "INBOX") == [1]
    assert [m.data for m in mail.store.messages("alice", "Trash")] == [
        message("m0"),
        message("m1"),
        message("m2"),
    ]
    assert imap.uid("MOVE", "1", "Missing")[0] == "NO"


def test_imap_mailbox_management_and_utf7(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    assert imap.create("Entw&APw-rfe")[0] == "OK"
    assert "Entwürfe" in mail.store.mailboxes("alice")
    mail.store.create_mailbox("alice", "Archiv/Grüße")
    typ, boxes = imap.list()
    assert b'(\\HasNoChildren) "/" "Entw&APw-rfe"' in boxes
    assert b'(\\HasChildren) "/" "Archiv"' in boxes
    assert b'(\\HasNoChildren) "/" "Archiv/Gr&APwA3w-e"' in boxes
    assert b'(\\HasNoChildren) "/" "Archiv/Gr&APwA3w-e"' not in imap.list('""', "%")[1]
    assert imap.list('""', "Archiv/%")[1] == [b'(\\HasNoChildren) "/" "Archiv/Gr&APwA3w-e"']
    assert imap.rename("Entw&APw-rfe", "Drafts/Entw&APw-rfe")[0] == "OK"
    assert "Drafts/Entwürfe" in mail.store.mailboxes("alice")
    assert imap.select("Drafts/Entw&APw-rfe")[0] == "OK"
    assert imap.delete("Archiv/Gr&APwA3w-e")[0] == "OK"
    assert imap.delete("INBOX")[0] == "NO"
    assert imap.create("Sent")[0] == "NO"
    typ, data = imap.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)")
    assert typ == "OK" and data[0].startswith(b'"INBOX" (MESSAGES 0 UNSEEN 0 UIDNEXT 1')
    assert imap.lsub()[0] == "OK"
    assert imap.namespace()[1] == [b'(("" "/")) NIL NIL']


def test_imap_idle_wakes_up_on_smtp_delivery(imap: imaplib.IMAP4, mail: LocalMailServers) -> None:
    imap.select("INBOX")
    tag = imap._new_tag()  # imaplib has no IDLE before Python 3.14
    imap.send(tag + b" IDLE\r\n")
    assert imap.readline().startswith(b"+")
    started = time.monotonic()
    smtp_send(mail, MESSAGE)
    assert imap.readline() == b"* 1 EXISTS\r\n"
    assert time.monotonic() - started < 2
    imap.send(b"DONE\r\n")
    assert imap.readline().startswith(tag + b" OK")
    assert imap.uid("FETCH", "1", "(BODY.PEEK[])")[1][0][1] == MESSAGE


def test_imap_other_session_expunge_is_reported(
    imap: imaplib.IMAP4, mail: LocalMailServers
) -> None:
    for i in range(2):
        mail.store.deliver("alice", message(f"m{i}"))
    imap.select("INBOX")
    mail.store.set_flags("alice", "INBOX", [1], ["\\Deleted"])
    mail.store.expunge("alice", "INBOX")
    mail.store.deliver("alice", message("m2"))
    imap.noop()
    assert imap.untagged_responses.get("EXPUNGE") == [b"1"]
    assert imap.untagged_responses.get("EXISTS")[-1] == b"2"
    assert imap.search(None, "ALL") == ("OK", [b"1 2"])


def test_imap_starttls_drops_injected_plaintext(mail: LocalMailServers) -> None:
    with socket.create_connection((mail.host, mail.imap.port), timeout=TIMEOUT) as sock:
        sock.recv(4096)
        sock.sendall(b"a STARTTLS\r\nb LOGIN alice injected\r\n")
        assert sock.recv(4096).startswith(b"a OK")
        with ctx(mail).wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"c NOOP\r\n")
            assert tls.recv(4096) == b"c OK NOOP completed\r\n"  # no reply to "b"


def test_imap_login_disabled_before_starttls(pc_ca: TestCA) -> None:
    with serve_imap(tls=True, ca=pc_ca, users={"alice": "pw"}, login_disabled=True) as srv:
        client = imaplib.IMAP4(srv.host, srv.port, timeout=TIMEOUT)
        try:
            assert "LOGINDISABLED" in client.capabilities
            with pytest.raises(imaplib.IMAP4.error):
                client.login("alice", "pw")
            client.starttls(ssl_context=pc_ca.client_context())
            assert client.login("alice", "pw")[0] == "OK"
        finally:
            client.logout()
