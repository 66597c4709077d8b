"""protoclients' mail clients against Debian's Postfix and Dovecot.

``mailservers.sh`` starts Postfix (SMTP with STARTTLS on one port, SMTPS on another) delivering
over LMTP into Dovecot's maildir, which Dovecot serves over IMAP, IMAPS, POP3 and POP3S (the
plain ports offer STARTTLS / STLS). One mail user; Postfix takes mail for its address from
loopback without a login and refuses to relay anything else.

The issue's first "Done means" is :func:`test_send_then_imap_ls_fetch_delete` and
:func:`test_send_then_pop3_ls_fetch_delete`: a message sent with ``protoclients.send`` is
found by ``ls`` + ``fetch``, byte-identical in body, over IMAP and POP3, each in plain,
STARTTLS and implicit TLS, and then deleted. The ``test_reference_*`` tests use the standard
library alone, so a broken server setup is told apart from a client bug.

All tests share one mailbox owner: tests find their own messages by a unique Subject, and the
POP3 tests, which see the whole INBOX, empty it first.
"""

from __future__ import annotations

import imaplib
import importlib
import importlib.util
import os
import poplib
import re
import smtplib
import ssl
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import protoclients
from protoclients.errors import (
    AuthenticationError,
    CertificateError,
    InvalidInput,
)

if TYPE_CHECKING:
    from conftest import MailServers

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

MODES = ["plain", "starttls", "implicit"]
IMPLICIT = {"smtp": "smtps", "imap": "imaps", "pop3": "pop3s"}
DELIVERY_TIMEOUT = 20.0  # seconds for Postfix to hand a message to Dovecot over LMTP

# A body that trips naive implementations: lone dots and dot-led lines (SMTP and POP3 dot
# stuffing), an mbox "From " line, trailing spaces, an empty last line. ASCII only, so the
# message's bytes are the same whichever transfer encoding a client prefers (protoclients
# serialises an EmailMessage with 7-bit encodings; see test_send_8bit_text).
TEXT = (
    "Hello from the protoclients interop tier.\n"
    ".\n"
    "..two dots\n"
    ". dot space\n"
    "From the mbox point of view this line is special\n"
    "trailing spaces   \n"
    "\n"
)
TEXT_8BIT = "Grüße, ünïcödé — ✓\n.\n"


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture
def mail(mail_servers: MailServers) -> MailServers:
    """The session's Postfix + Dovecot (a shorter name for the tests below)."""
    return mail_servers


def require_client(protocol: str) -> None:
    """Skip while ``protoclients/protocols/<protocol>.py`` does not exist yet.

    Only a missing module skips: once the file exists, an import error fails the test.
    """
    name = f"protoclients.protocols.{protocol}"
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not written yet")
    importlib.import_module(name)


def url(mail: MailServers, protocol: str, mode: str, path: str = "") -> str:
    """The URL for ``protocol`` in ``mode`` (implicit TLS: the ``s`` scheme and its port)."""
    return mail.url(IMPLICIT[protocol] if mode == "implicit" else protocol, path)


def opts(mail: MailServers, mode: str, *, login: bool = True) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"timeout": 20, "use_keyring": False}
    if login:
        kwargs["password"] = mail.password
    if mode == "starttls":
        kwargs.update(tls="starttls", ca_file=mail.ca_file)
    elif mode == "implicit":
        kwargs.update(ca_file=mail.ca_file)
    return kwargs


def token() -> str:
    return uuid.uuid4().hex[:12]


def make_message(
    mail: MailServers, subject: str, *, attachment: bytes | None = None, text: str = TEXT
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Interop Sender <sender@example.org>"
    msg["To"] = mail.address
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="protoclients.test")
    msg.set_content(text)
    if attachment is not None:
        msg.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename="blob.bin"
        )
    # Fix the MIME boundary now, so the bytes compared below are the bytes that go out.
    msg.as_bytes()
    return msg


def crlf(data: bytes) -> bytes:
    """``data`` with every line ending as CRLF (Dovecot stores LF, serves CRLF)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def body_of(raw: bytes) -> bytes:
    """The body of a raw message (after the first empty line), line endings as CRLF."""
    _head, sep, body = crlf(raw).partition(b"\r\n\r\n")
    assert sep, "no header/body separator"
    return body


def parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def assert_same_content(got: EmailMessage, sent: EmailMessage) -> None:
    """The parsed message carries the text and attachment that were sent."""
    assert got["Subject"] == sent["Subject"]
    assert got["Message-ID"] == sent["Message-ID"]
    text = got.get_body(("plain",))
    sent_text = sent.get_body(("plain",))
    assert text is not None
    assert sent_text is not None
    # Parsed from CRLF bytes, the text keeps its CRs.
    assert text.get_content().replace("\r\n", "\n") == sent_text.get_content()
    sent_parts = [p.get_content() for p in sent.iter_attachments()]
    got_parts = [p.get_content() for p in got.iter_attachments()]
    assert got_parts == sent_parts


@contextmanager
def imap_ref(mail: MailServers) -> Iterator[imaplib.IMAP4]:
    """A logged-in standard-library IMAP connection (plain; loopback)."""
    conn = imaplib.IMAP4(mail.host, mail.port("imap"), timeout=10)
    try:
        conn.login(mail.user, mail.password)
        yield conn
    finally:
        with suppress(imaplib.IMAP4.error, OSError):
            conn.logout()


@contextmanager
def pop3_ref(mail: MailServers) -> Iterator[poplib.POP3]:
    conn = poplib.POP3(mail.host, mail.port("pop3"), timeout=10)
    try:
        conn.user(mail.user)
        conn.pass_(mail.password)
        yield conn
    finally:
        with suppress(poplib.error_proto, OSError):
            conn.quit()


def uids_with_subject(conn: imaplib.IMAP4, subject: str, mailbox: str = "INBOX") -> list[int]:
    typ, _ = conn.select(mailbox)
    assert typ == "OK"
    typ, data = conn.uid("SEARCH", "HEADER", "Subject", f'"{subject}"')
    assert typ == "OK"
    return [int(x) for x in (data[0] or b"").split()]


def wait_delivered(mail: MailServers, subject: str, count: int = 1) -> list[int]:
    """Poll Dovecot (bounded) until ``count`` messages with ``subject`` are in INBOX."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    with imap_ref(mail) as conn:
        while True:
            uids = uids_with_subject(conn, subject)
            if len(uids) >= count:
                return uids
            if time.monotonic() > deadline:
                log = Path(mail.env["LOG_DIR"], "postfix.log")
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                pytest.fail(
                    f"{len(uids)}/{count} message(s) {subject!r} delivered after "
                    f"{DELIVERY_TIMEOUT:.0f} s; postfix.log ends with:\n{tail}"
                )
            conn.close()
            time.sleep(0.05)


def raw_by_uid(conn: imaplib.IMAP4, uid: int) -> tuple[bytes, list[str]]:
    """The message and its flags, read with BODY.PEEK (flags unchanged)."""
    typ, data = conn.uid("FETCH", str(uid), "(FLAGS BODY.PEEK[])")
    assert typ == "OK"
    first = data[0]
    assert isinstance(first, tuple)
    flags = re.search(
        rb"FLAGS \(([^)]*)\)", b"".join(x[0] if isinstance(x, tuple) else x for x in data)
    )
    return first[1], (flags.group(1).decode().split() if flags else [])


def clear_mailbox(mail: MailServers, mailbox: str = "INBOX") -> None:
    with imap_ref(mail) as conn:
        typ, data = conn.select(mailbox)
        assert typ == "OK"
        if int(data[0] or 0):
            conn.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
            conn.expunge()


def create_mailbox(mail: MailServers, name: str) -> None:
    with imap_ref(mail) as conn:
        typ, data = conn.create(name)
        assert typ == "OK", data


# ---------------------------------------------------------------------- reference (stdlib)


@pytest.mark.parametrize("mode", MODES)
def test_reference_stdlib_round_trip(mail: MailServers, mode: str) -> None:
    """smtplib → Postfix → LMTP → Dovecot → imaplib and poplib, no protoclients involved."""
    ctx = ssl.create_default_context(cafile=mail.ca_file)
    subject = f"reference {mode} {token()}"
    msg = make_message(mail, subject, attachment=os.urandom(2000))
    smtp: smtplib.SMTP
    if mode == "implicit":
        smtp = smtplib.SMTP_SSL(mail.host, mail.port("smtps"), timeout=10, context=ctx)
    else:
        smtp = smtplib.SMTP(mail.host, mail.port("smtp"), timeout=10)
    with smtp:
        smtp.ehlo()
        if mode == "starttls":
            assert smtp.has_extn("starttls")
            smtp.starttls(context=ctx)
            smtp.ehlo()
        # Not send_message(): its generator mangles body lines that start with "From "
        # (">From "), which this message has on purpose. sendmail() leaves bytes alone (bare
        # LF included, only a final CRLF is added), so give it CRLF line endings.
        data = crlf(msg.as_bytes())
        assert smtp.sendmail("sender@example.org", [mail.address], data) == {}
    (uid,) = wait_delivered(mail, subject)
    with imap_ref(mail) as conn:
        conn.select("INBOX")
        raw, _flags = raw_by_uid(conn, uid)
    assert body_of(raw) == body_of(msg.as_bytes())
    assert b"Return-Path: <sender@example.org>" in raw
    with pop3_ref(mail) as pop:
        sizes = [int(line.split()[1]) for line in pop.list()[1]]
        assert sizes


def test_reference_relaying_is_impossible(mail: MailServers) -> None:
    with smtplib.SMTP(mail.host, mail.port("smtp"), timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("sender@example.org")
        code, reply = smtp.rcpt("someone@example.com")
        assert code == 554, reply
        assert b"Relay access denied" in reply
        smtp.rset()


def test_reference_capabilities(mail: MailServers) -> None:
    """What the clients meet: STARTTLS/STLS offered, plain-text login allowed on loopback."""
    with smtplib.SMTP(mail.host, mail.port("smtp"), timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert smtp.has_extn("8bitmime")
        assert smtp.has_extn("pipelining")
        assert not smtp.has_extn("auth")  # no SASL: loopback sends need no login
    conn = imaplib.IMAP4(mail.host, mail.port("imap"), timeout=10)
    try:
        assert "STARTTLS" in conn.capabilities
    finally:
        conn.shutdown()
    pop = poplib.POP3(mail.host, mail.port("pop3"), timeout=10)
    try:
        capa = pop.capa()
        assert "STLS" in capa
        assert "UIDL" in capa
        assert "TOP" in capa
    finally:
        pop.quit()


def test_reference_seeded_maildir(mail: MailServers) -> None:
    """Messages written straight into the Maildir (how the bulk tests and the benchmark
    seed mailboxes) are served by Dovecot as they were written."""
    box = f"Ref-{token()}"
    sent = [make_message(mail, f"{box} #{i}", attachment=os.urandom(700)) for i in range(3)]
    for i, msg in enumerate(sent):
        mail.deliver(msg.as_bytes(), mailbox=box, seen=i == 0)
    with imap_ref(mail) as conn:
        typ, data = conn.select(box)
        assert typ == "OK"
        assert int(data[0] or 0) == 3
        typ, found = conn.uid("SEARCH", "UNSEEN")
        assert len(found[0].split()) == 2
        for msg in sent:
            (uid,) = uids_with_subject(conn, msg["Subject"], box)
            raw, _flags = raw_by_uid(conn, uid)
            assert crlf(raw) == crlf(msg.as_bytes())


# -------------------------------------------------------------------------------- SMTP send


@pytest.mark.parametrize("mode", MODES)
def test_send_each_smtp_mode(mail: MailServers, mode: str) -> None:
    """``protoclients.send`` over smtp://, smtp:// + STARTTLS and smtps:// reaches Dovecot."""
    require_client("smtp")
    subject = f"send {mode} {token()}"
    msg = make_message(mail, subject, attachment=os.urandom(5000))
    protoclients.send(url(mail, "smtp", mode), msg, **opts(mail, mode, login=False))
    (uid,) = wait_delivered(mail, subject)
    with imap_ref(mail) as conn:
        conn.select("INBOX")
        raw, _ = raw_by_uid(conn, uid)
    assert body_of(raw) == body_of(msg.as_bytes())
    assert b"Return-Path: <sender@example.org>" in raw
    assert_same_content(parse(raw), msg)


@pytest.mark.parametrize("source_kind", ["message", "bytes"])
def test_send_8bit_text(mail: MailServers, source_kind: str) -> None:
    """Non-ASCII text: an EmailMessage arrives with the same decoded content (protoclients
    may choose another transfer encoding); bytes arrive byte-identical (8BITMIME)."""
    require_client("smtp")
    subject = f"8bit {source_kind} {token()}"
    msg = make_message(mail, subject, attachment=os.urandom(3000), text=TEXT_8BIT)
    source: EmailMessage | bytes = msg if source_kind == "message" else msg.as_bytes()
    assert b"8bit" in msg.as_bytes()
    protoclients.send(mail.url("smtp"), source, **opts(mail, "starttls", login=False))
    (uid,) = wait_delivered(mail, subject)
    with imap_ref(mail) as conn:
        conn.select("INBOX")
        raw, _ = raw_by_uid(conn, uid)
    assert_same_content(parse(raw), msg)
    if source_kind == "bytes":
        assert body_of(raw) == body_of(msg.as_bytes())


@pytest.mark.parametrize("source_kind", ["bytes", "path", "file"])
def test_send_bytes_path_and_file(mail: MailServers, tmp_path: Path, source_kind: str) -> None:
    require_client("smtp")
    subject = f"send {source_kind} {token()}"
    msg = make_message(mail, subject)
    data = msg.as_bytes()
    source: Any = data
    if source_kind != "bytes":
        path = tmp_path / "message.eml"
        path.write_bytes(data)
        source = path
    if source_kind == "file":
        with path.open("rb") as f:
            protoclients.send(mail.url("smtp"), f, **opts(mail, "starttls", login=False))
    else:
        protoclients.send(mail.url("smtp"), source, **opts(mail, "starttls", login=False))
    (uid,) = wait_delivered(mail, subject)
    with imap_ref(mail) as conn:
        conn.select("INBOX")
        raw, _ = raw_by_uid(conn, uid)
    assert body_of(raw) == body_of(data)


def test_send_removes_bcc(mail: MailServers) -> None:
    """The envelope takes the Bcc recipient; the delivered message has no Bcc header."""
    require_client("smtp")
    subject = f"bcc {token()}"
    msg = make_message(mail, subject)
    del msg["To"]
    msg["To"] = "undisclosed-recipients:;"
    msg["Bcc"] = mail.address
    protoclients.send(mail.url("smtp"), msg, **opts(mail, "starttls", login=False))
    (uid,) = wait_delivered(mail, subject)
    with imap_ref(mail) as conn:
        conn.select("INBOX")
        raw, _ = raw_by_uid(conn, uid)
    header = parse(raw)
    assert header["Bcc"] is None
    assert header["To"] == "undisclosed-recipients:;"
    assert body_of(raw) == body_of(msg.as_bytes())


def test_send_partially_refused(mail: MailServers) -> None:
    """Postfix refuses the off-site recipient (no relaying) and accepts ours: a partial
    success, reported as such; the accepted copy is delivered."""
    require_client("smtp")
    subject = f"partial {token()}"
    msg = make_message(mail, subject)
    msg["Cc"] = "someone@example.com"
    result = protoclients.send(mail.url("smtp"), msg, **opts(mail, "plain", login=False))
    assert result.partial is True
    assert result.accepted == [mail.address]
    assert list(result.refused) == ["someone@example.com"]
    code, text = result.refused["someone@example.com"]
    assert code == 554
    assert "Relay access denied" in text
    wait_delivered(mail, subject)


def test_send_all_refused_raises(mail: MailServers) -> None:
    require_client("smtp")
    from protoclients.protocols.smtp import RecipientsRefused

    msg = make_message(mail, f"refused {token()}")
    del msg["To"]
    msg["To"] = "someone@example.com"
    with pytest.raises(RecipientsRefused) as info:
        protoclients.send(mail.url("smtp"), msg, **opts(mail, "plain", login=False))
    assert "someone@example.com" in info.value.refused
    assert "someone@example.com" in str(info.value)


def test_many_messages_over_one_connection(mail: MailServers) -> None:
    require_client("smtp")
    subject = f"batch {token()}"
    with protoclients.connect(mail.url("smtp"), **opts(mail, "starttls", login=False)) as client:
        for i in range(20):
            msg = make_message(mail, subject)
            msg["X-Batch-Index"] = str(i)
            client.send(msg)
    uids = wait_delivered(mail, subject, count=20)
    assert len(uids) == 20
    log = Path(mail.env["LOG_DIR"], "postfix.log").read_text(errors="replace")
    # One SMTP session carried all twenty (Postfix logs the command counts at disconnect).
    assert re.search(r"disconnect from \S+ ehlo=2 starttls=1 mail=20 rcpt=20 data=20", log), (
        "no single session with 20 messages in postfix.log"
    )


# ------------------------------------------------------------------ send, then read it back


@pytest.mark.parametrize("mode", MODES)
def test_send_then_imap_ls_fetch_delete(mail: MailServers, tmp_path: Path, mode: str) -> None:
    """The issue's "Done means": sent with protoclients, found by ls + fetch over IMAP,
    byte-identical in body, without setting \\Seen; then deleted by UID."""
    require_client("smtp")
    require_client("imap")
    subject = f"imap {mode} {token()}"
    sent = make_message(mail, subject, attachment=os.urandom(20_000))
    protoclients.send(mail.url("smtp"), sent, **opts(mail, "starttls", login=False))
    wait_delivered(mail, subject)

    inbox = url(mail, "imap", mode, "INBOX")
    entries = [e for e in protoclients.ls(inbox, **opts(mail, mode)) if e.kind == "message"]
    mine = [e for e in entries if e.details.get("subject") == subject]
    assert len(mine) == 1, [e.details.get("subject") for e in entries]
    entry = mine[0]
    uid = int(entry.name)
    assert entry.details.get("uid") in (uid, str(uid))
    assert entry.modified is not None
    assert "sender@example.org" in str(entry.details.get("from"))
    assert entry.url.endswith(f";UID={uid}")
    assert mail.password not in entry.url

    # Into memory: a parsed EmailMessage.
    got = protoclients.fetch(entry.url, **opts(mail, mode))
    assert isinstance(got, EmailMessage)
    assert_same_content(got, sent)

    # To a file: the message as the server has it, body byte-identical to what was sent.
    dest = tmp_path / "message.eml"
    result = protoclients.fetch(entry.url, dest, **opts(mail, mode))
    raw = dest.read_bytes()
    assert body_of(raw) == body_of(sent.as_bytes())
    assert result.bytes == len(raw) == entry.size
    assert not list(tmp_path.glob("*.part*"))

    # Headers only.
    head = protoclients.fetch(entry.url, headers_only=True, **opts(mail, mode))
    assert head["Subject"] == subject
    assert head.get_body(("plain",)) is None or not head.get_payload()

    with imap_ref(mail) as conn:
        conn.select("INBOX")
        _, flags = raw_by_uid(conn, uid)
    assert "\\Seen" not in flags

    protoclients.delete(entry.url, **opts(mail, mode))
    with imap_ref(mail) as conn:
        assert uids_with_subject(conn, subject) == []


@pytest.mark.parametrize("mode", MODES)
def test_send_then_pop3_ls_fetch_delete(mail: MailServers, tmp_path: Path, mode: str) -> None:
    """The issue's "Done means" over POP3: found by ls + fetch, byte-identical in body
    (dot-stuffed lines included), then deleted (committed at QUIT)."""
    require_client("smtp")
    require_client("pop3")
    clear_mailbox(mail)
    subject = f"pop3 {mode} {token()}"
    sent = make_message(mail, subject, attachment=os.urandom(20_000))
    protoclients.send(mail.url("smtps"), sent, **opts(mail, "implicit", login=False))
    wait_delivered(mail, subject)

    entries = protoclients.ls(url(mail, "pop3", mode), **opts(mail, mode))
    assert len(entries) == 1
    entry = entries[0]
    assert entry.kind == "message"
    with pop3_ref(mail) as pop:
        (uidl_line,) = pop.uidl()[1]
        (list_line,) = pop.list()[1]
    number, uidl = uidl_line.decode().split()
    assert entry.name == uidl
    assert entry.details.get("uidl") == uidl
    assert entry.details.get("number") in (number, int(number))
    assert entry.size == int(list_line.split()[1])
    assert mail.password not in entry.url

    head = protoclients.fetch(entry.url, headers_only=True, **opts(mail, mode))
    assert head["Subject"] == subject

    got = protoclients.fetch(entry.url, **opts(mail, mode))
    assert isinstance(got, EmailMessage)
    assert_same_content(got, sent)

    dest = tmp_path / "message.eml"
    result = protoclients.fetch(entry.url, dest, **opts(mail, mode))
    raw = dest.read_bytes()
    assert body_of(raw) == body_of(sent.as_bytes())
    assert result.bytes == len(raw)

    protoclients.delete(entry.url, **opts(mail, mode))
    with pop3_ref(mail) as pop:
        assert pop.stat()[0] == 0


# ------------------------------------------------------------------------------------ IMAP


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_imap_append_then_bulk_fetch_into_dir(mail: MailServers, tmp_path: Path, mode: str) -> None:
    """APPEND with ``send``, then one bulk ``fetch`` of the mailbox (and of ``?UNSEEN``) into
    a directory: one ``<UID>.eml`` per message, bodies intact, no \\Seen set."""
    require_client("imap")
    box = f"Bulk-{mode}-{token()}"
    create_mailbox(mail, box)
    box_url = url(mail, "imap", mode, box)
    sent: dict[str, bytes] = {}
    kwargs = opts(mail, mode)
    with protoclients.connect(box_url, password=kwargs.pop("password"), **kwargs) as client:
        for i in range(30):
            msg = make_message(mail, f"{box} #{i}", attachment=os.urandom(1000 + 997 * i))
            data = msg.as_bytes()
            sent[msg["Subject"]] = data
            client.send(data)

    with imap_ref(mail) as conn:
        typ, selected = conn.select(box)
        assert typ == "OK"
        assert int(selected[0] or 0) == 30
        # Mark the first ten seen; the ?UNSEEN download must skip them.
        conn.store("1:10", "+FLAGS.SILENT", r"(\Seen)")
        typ, found = conn.uid("SEARCH", "UNSEEN")
        unseen = {int(x) for x in found[0].split()}
    assert len(unseen) == 20

    everything = tmp_path / "all"
    everything.mkdir()
    results = protoclients.fetch(box_url, everything, **opts(mail, mode))
    assert isinstance(results, list)
    assert len(results) == 30
    files = sorted(everything.glob("*.eml"))
    assert len(files) == 30
    assert all(re.fullmatch(r"\d+\.eml", f.name) for f in files)
    for f in files:
        raw = f.read_bytes()
        original = sent[parse(raw)["Subject"]]
        assert body_of(raw) == body_of(original)
    assert sum(r.bytes for r in results) == sum(f.stat().st_size for f in files)

    only_unseen = tmp_path / "unseen"
    only_unseen.mkdir()
    protoclients.fetch(f"{box_url}?UNSEEN", only_unseen, **opts(mail, mode))
    assert {int(f.stem) for f in only_unseen.glob("*.eml")} == unseen

    with imap_ref(mail) as conn:
        conn.select(box)
        typ, found = conn.uid("SEARCH", "UNSEEN")
    assert {int(x) for x in found[0].split()} == unseen, "fetch set \\Seen"

    listed = protoclients.ls(box_url, **opts(mail, mode))
    assert sorted(int(e.name) for e in listed) == sorted(int(f.stem) for f in files)
    assert {e.details.get("subject") for e in listed} == set(sent)


def test_imap_bulk_fetch_of_seeded_maildir(mail: MailServers, tmp_path: Path) -> None:
    """500 messages written straight into a Maildir folder, fetched in one call."""
    require_client("imap")
    box = f"Seeded-{token()}"
    bodies = {}
    for i in range(500):
        msg = make_message(mail, f"{box} #{i}")
        bodies[msg["Subject"]] = msg.as_bytes()
        mail.deliver(bodies[msg["Subject"]], mailbox=box)
    out = tmp_path / "out"
    out.mkdir()
    results = protoclients.fetch(url(mail, "imap", "plain", box), out, **opts(mail, "plain"))
    assert len(results) == 500
    assert len(list(out.glob("*.eml"))) == 500
    for f in out.glob("*.eml"):
        raw = f.read_bytes()
        assert body_of(raw) == body_of(bodies[parse(raw)["Subject"]])


def test_imap_ls_mailboxes(mail: MailServers) -> None:
    require_client("imap")
    name = f"Entwürfe-{token()}"
    with imap_ref(mail) as conn:
        # Modified UTF-7 on the wire (RFC 3501 5.1.3): ü is &APw-.
        typ, data = conn.create(name.replace("ü", "&APw-"))
        assert typ == "OK", data
    boxes = {e.name: e for e in protoclients.ls(mail.url("imaps"), **opts(mail, "implicit"))}
    assert {"INBOX", "Sent", "Trash", name} <= set(boxes)
    assert all(e.kind == "mailbox" for e in boxes.values())
    assert boxes[name].details.get("delimiter") == "/"
    assert any("Sent" in a for a in boxes["Sent"].details.get("attributes", []))


def test_imap_missing_message_and_mailbox(mail: MailServers) -> None:
    require_client("imap")
    from protoclients.errors import NotFoundError

    with pytest.raises(NotFoundError):
        protoclients.fetch(mail.url("imap", "INBOX;UID=999999999"), **opts(mail, "plain"))
    with pytest.raises(NotFoundError):
        protoclients.ls(mail.url("imap", f"NoSuchBox-{token()}"), **opts(mail, "plain"))


# ------------------------------------------------------------------------------------ POP3


def seed_inbox(mail: MailServers, count: int, prefix: str) -> dict[str, bytes]:
    clear_mailbox(mail)
    sent = {}
    for i in range(count):
        msg = make_message(mail, f"{prefix} #{i}", attachment=os.urandom(500 + 331 * i))
        sent[msg["Subject"]] = msg.as_bytes()
        mail.deliver(sent[msg["Subject"]])
    return sent


def pop3_uidls(mail: MailServers) -> list[str]:
    with pop3_ref(mail) as pop:
        return [line.split()[1].decode() for line in pop.uidl()[1]]


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_pop3_bulk_fetch_keeps_then_delete_after(
    mail: MailServers, tmp_path: Path, mode: str
) -> None:
    """A bulk POP3 fetch stores ``<UIDL>.eml`` per message; with ``delete_after`` the
    mailbox is emptied, only after every copy is on disk."""
    require_client("pop3")
    sent = seed_inbox(mail, 12, f"pop3 bulk {mode} {token()}")
    uidls = pop3_uidls(mail)
    assert len(uidls) == 12
    mailbox_url = url(mail, "pop3", mode)

    kept = tmp_path / "kept"
    kept.mkdir()
    results = protoclients.fetch(mailbox_url, kept, **opts(mail, mode))
    assert len(results) == 12
    assert sorted(f.name for f in kept.iterdir()) == sorted(f"{u}.eml" for u in uidls)
    for f in kept.iterdir():
        raw = f.read_bytes()
        assert body_of(raw) == body_of(sent[parse(raw)["Subject"]])
    assert pop3_uidls(mail) == uidls  # nothing deleted without delete_after

    moved = tmp_path / "moved"
    moved.mkdir()
    protoclients.fetch(mailbox_url, moved, delete_after=True, **opts(mail, mode))
    assert sorted(f.name for f in moved.iterdir()) == sorted(f"{u}.eml" for u in uidls)
    for f in moved.iterdir():
        assert f.read_bytes() == (kept / f.name).read_bytes()
    assert pop3_uidls(mail) == []


# ------------------------------------------------------------------------- errors and safety


@pytest.mark.parametrize(
    ("protocol", "mode"),
    [("imap", "plain"), ("imap", "implicit"), ("pop3", "plain"), ("pop3", "implicit")],
)
def test_wrong_password(mail: MailServers, protocol: str, mode: str) -> None:
    require_client(protocol)
    kwargs = opts(mail, mode)
    kwargs["password"] = "wrong-" + token()
    path = "INBOX" if protocol == "imap" else ""
    with pytest.raises(AuthenticationError) as info:
        protoclients.ls(url(mail, protocol, mode, path), **kwargs)
    assert kwargs["password"] not in str(info.value)
    assert kwargs["password"] not in repr(info.value)


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_untrusted_certificate(mail: MailServers, protocol: str, mode: str) -> None:
    """Without the run's CA the server's certificate is refused, before any login."""
    require_client(protocol)
    kwargs = opts(mail, mode, login=protocol != "smtp")
    kwargs.pop("ca_file")
    with pytest.raises(CertificateError):
        if protocol == "smtp":
            protoclients.send(url(mail, "smtp", mode), make_message(mail, "never"), **kwargs)
        else:
            protoclients.ls(
                url(mail, protocol, mode, "INBOX" if protocol == "imap" else ""), **kwargs
            )


def test_crlf_in_mailbox_name_is_refused(mail: MailServers) -> None:
    require_client("imap")
    with imap_ref(mail) as conn:
        before = conn.list()[1]
    for bad in ("INBOX%0D%0AA1%20CREATE%20Injected", "INBOX%0AX", "INBOX%00X"):
        with pytest.raises(InvalidInput):
            protoclients.ls(mail.url("imap", bad), **opts(mail, "plain"))
    with imap_ref(mail) as conn:
        assert conn.list()[1] == before


def test_crlf_in_pop3_argument_is_refused(mail: MailServers) -> None:
    require_client("pop3")
    seed_inbox(mail, 2, f"pop3 crlf {token()}")
    for bad in ("1%0D%0ADELE%202", "1%0ADELE%202"):
        with pytest.raises(InvalidInput):
            protoclients.delete(mail.url("pop3", bad), **opts(mail, "plain"))
    assert len(pop3_uidls(mail)) == 2
