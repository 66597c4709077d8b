"""SMTPClient against real local servers (protoclients_fixtures' aiosmtpd-based SMTP server
and the shared mail store) and against small scripted hostile servers (STARTTLS injection,
drop after the final dot, bad greetings, idle disconnects)."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from protoclients_fixtures import MailStore, TestCA, serve_smtp

import protoclients as pc
from protoclients.protocols.smtp import (
    DeliveryStatusUnknown,
    RecipientsRefused,
    SMTPClient,
    SMTPResult,
    SMTPUTF8Required,
)

pytestmark = pytest.mark.timeout(30)


def _message(to: Any = "alice@example.org", **kwargs: Any) -> EmailMessage:
    defaults: dict[str, Any] = {
        "from_": "Sender <sender@example.org>",
        "to": to,
        "subject": "Test message",
        "text": "Hello Alice.\n.\nA line with a lone dot above.\n",
    }
    defaults.update(kwargs)
    return pc.compose(**defaults)


def _body(data: bytes) -> bytes:
    """The body of a raw message (everything after the blank line)."""
    return data.split(b"\r\n\r\n", 1)[1]


def _expected_wire(msg: EmailMessage) -> bytes:
    """The message as SMTP carries it, after the server removed the dot-stuffing."""
    from protoclients.protocols.smtpmessage import prepare_message

    payload = prepare_message(msg).payload
    assert payload is not None
    lines = payload[:-3].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def _no_secret(secret: str, *texts: str) -> None:
    forms = {
        secret,
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"\0alice\0{secret}".encode()).decode(),
    }
    for text in texts:
        for form in forms:
            assert form not in text, "a secret leaked"


# -- plain, STARTTLS, SMTPS and the store ----------------------------------------------------------


def test_plain_loopback_delivers_byte_identical_body() -> None:
    with serve_smtp(tls=False) as srv:
        msg = _message()
        result = pc.send(srv.url, msg)
        assert isinstance(result, SMTPResult)
        assert result.accepted == ["alice@example.org"]
        assert not result.partial
        assert result.refused == {}
        assert result.message_id == msg["Message-ID"]
        assert result.details["reply"].startswith("250")
        [stored] = srv.store.messages("alice", "INBOX")
        assert _body(stored.data) == _body(_expected_wire(msg))
        assert stored.data == _expected_wire(msg)
        [envelope] = srv.received
        assert envelope.mail_from == "sender@example.org"
        assert envelope.rcpt_tos == ["alice@example.org"]
        assert result.bytes == len(stored.data) + len(b".\r\n") + stored.data.count(b"\r\n.")


def test_pc_mail_starttls_auth_bcc_delivered_but_not_transmitted(pc_mail: Any) -> None:
    lines: list[str] = []
    password = pc_mail.users["alice"]
    msg = _message(to="bob@example.org", bcc="alice@example.org", cc="carol@example.org")
    url = pc_mail.smtp_url.replace("//", "//alice@", 1)
    with pc.connect(
        url, password=password, tls="starttls", ca_file=pc_mail.ca_file, trace=lines.append
    ) as client:
        result = client.send(msg)
    assert result.accepted == ["bob@example.org", "carol@example.org", "alice@example.org"]
    [envelope] = pc_mail.smtp_received
    assert envelope.tls
    assert envelope.authenticated_as == "alice"
    assert "alice@example.org" in envelope.rcpt_tos
    assert b"Bcc" not in envelope.data and b"alice@example.org" not in envelope.data
    [stored] = pc_mail.store.messages("alice", "INBOX")
    assert b"Bcc" not in stored.data
    assert _body(stored.data) == _body(_expected_wire(msg))
    assert any(line.startswith("> STARTTLS") for line in lines)
    assert "> AUTH PLAIN ***" in lines
    _no_secret(password, *lines)
    # EHLO was said twice (before and after TLS); AUTH only after TLS.
    assert sum(1 for line in lines if line.lower().startswith("> ehlo")) == 2
    assert lines.index("> AUTH PLAIN ***") > lines.index("> STARTTLS")


def test_smtps_implicit_tls_and_login_mechanism(pc_mail: Any) -> None:
    lines: list[str] = []
    password = pc_mail.users["alice"]
    url = pc_mail.smtps_url.replace("//", "//alice;AUTH=LOGIN@", 1)
    with SMTPClient(url, password=password, ca_file=pc_mail.ca_file, trace=lines.append) as c:
        assert c.raw.is_tls
        features = c.ehlo_features()
        assert "AUTH" in features and "STARTTLS" not in features
        result = c.send(_message())
    assert result.accepted == ["alice@example.org"]
    assert "> AUTH LOGIN" in lines
    assert lines.count("> ***") == 2
    _no_secret(password, *lines)
    assert pc_mail.smtp_received[0].tls


def test_smtps_without_the_ca_is_a_certificate_error(pc_mail: Any) -> None:
    with pytest.raises(pc.CertificateError):
        pc.send(pc_mail.smtps_url, _message())
    assert pc_mail.smtp_received == []


def test_starttls_required_but_not_offered() -> None:
    lines: list[str] = []
    with serve_smtp(tls=False) as srv:
        with pytest.raises(pc.TLSRequiredError) as info:
            pc.send(srv.url, _message(), tls="starttls", trace=lines.append)
        assert "STARTTLS" in str(info.value)
        assert srv.received == []
    assert not any(line.startswith(("> MAIL", "> AUTH", "> STARTTLS")) for line in lines)


def test_ehlo_features_and_ehlo_name_from_url(pc_mail: Any) -> None:
    lines: list[str] = []
    url = pc_mail.smtp_url + "client.example.org"
    with SMTPClient(url, trace=lines.append) as client:
        features = client.ehlo_features()
    assert "STARTTLS" in features and "SIZE" in features and "SMTPUTF8" in features
    assert "> ehlo client.example.org" in lines


# -- authentication ---------------------------------------------------------------------------------


def test_wrong_password_no_secret_anywhere(pc_mail: Any, caplog: pytest.LogCaptureFixture) -> None:
    lines: list[str] = []
    secret = "wrong-Secret-123"
    url = pc_mail.smtps_url.replace("//", "//alice@", 1)
    caplog.set_level("DEBUG")
    with pytest.raises(pc.AuthenticationError) as info:
        pc.send(url, _message(), password=secret, ca_file=pc_mail.ca_file, trace=lines.append)
    assert "535" in str(info.value)
    assert "alice" in str(info.value)
    _no_secret(secret, str(info.value), repr(info.value), *lines, caplog.text)
    assert pc_mail.smtp_received == []


def test_auth_required_without_credentials_gives_a_hint() -> None:
    with serve_smtp(tls=False, auth_required=True) as srv:
        with pytest.raises(pc.AuthenticationError) as info:
            pc.send(srv.url, _message())
        assert "requires authentication" in str(info.value)
        assert "530" in str(info.value)
        assert srv.received == []


def test_auth_plain_over_plain_loopback_then_many_messages() -> None:
    lines: list[str] = []
    with serve_smtp(tls=False, auth_required=True) as srv:
        password = srv.users["alice"]
        url = srv.url.replace("//", "//alice@", 1)
        with pc.connect(url, password=password, trace=lines.append) as client:
            for number in range(25):
                result = client.send(_message(subject=f"message {number}"))
                assert result.accepted == ["alice@example.org"]
        assert len(srv.store.messages("alice")) == 25
        assert all(e.authenticated_as == "alice" for e in srv.received)
    # One connection: one greeting, one EHLO, one AUTH, 25 transactions, one QUIT.
    assert sum(1 for line in lines if line.startswith("< 220")) == 1
    assert sum(1 for line in lines if line.lower().startswith("> ehlo")) == 1
    assert lines.count("> AUTH PLAIN ***") == 1
    assert sum(1 for line in lines if line.startswith("> MAIL FROM")) == 25
    assert lines[-2:] == ["> QUIT", lines[-1]]
    _no_secret(password, *lines)


def test_xoauth2_token(pc_mail: Any) -> None:
    lines: list[str] = []
    token = "ya29.test-token-abcdef"
    pc_mail.store.add_token("alice", token)
    url = pc_mail.smtps_url.replace("//", "//alice@", 1)
    result = pc.send(
        url, _message(), oauth2_token=token, ca_file=pc_mail.ca_file, trace=lines.append
    )
    assert result.accepted == ["alice@example.org"]
    assert "> AUTH XOAUTH2 ***" in lines
    assert pc_mail.smtp_received[0].authenticated_as == "alice"
    with pytest.raises(pc.AuthenticationError) as info:
        pc.send(
            url,
            _message(),
            oauth2_token="bad-token-xyz",
            ca_file=pc_mail.ca_file,
            trace=lines.append,
        )
    _no_secret(token, str(info.value), *lines)
    _no_secret("bad-token-xyz", str(info.value), repr(info.value), *lines)
    # The token also works through login() on a client.
    with SMTPClient(url, ca_file=pc_mail.ca_file) as client:
        client.login(oauth2_token=token)
        assert client.send(_message()).accepted == ["alice@example.org"]


def test_password_refused_over_plain_to_a_remote_host_before_connecting() -> None:
    with pytest.raises(pc.InsecureAuthError):
        pc.send("smtp://alice@mail.example.invalid/", _message(), password="pw")
    with pytest.raises(pc.InsecureAuthError):
        pc.send("smtp://alice@mail.example.invalid/", _message(), oauth2_token="tok")
    with pytest.raises(pc.InsecureAuthError):
        SMTPClient("smtp://alice@mail.example.invalid/", oauth2_token="tok")
    # With TLS it would try to connect (and fail to resolve): the check is about TLS only.
    with pytest.raises(pc.ConnectionFailed):
        pc.send("smtps://alice@mail.example.invalid/", _message(), password="pw", timeout=5)


# -- recipients ------------------------------------------------------------------------------------


@pytest.fixture
def strict_server() -> Iterator[Any]:
    """An SMTP server that refuses recipients that are not users (alice is one)."""
    store = MailStore(auto_create=False)
    store.add_user("alice", "pw-alice")
    with serve_smtp(store) as srv:
        yield srv


def test_partial_recipients_are_a_partial_success(strict_server: Any) -> None:
    msg = _message(to=["alice@example.org", "nobody@example.org"], bcc="ghost@example.org")
    result = pc.send(strict_server.url, msg)
    assert result.partial
    assert result.accepted == ["alice@example.org"]
    assert set(result.refused) == {"nobody@example.org", "ghost@example.org"}
    code, text = result.refused["nobody@example.org"]
    assert code == 550 and "unknown" in text.lower()
    assert len(strict_server.store.messages("alice")) == 1
    [envelope] = strict_server.received
    assert envelope.rcpt_tos == ["alice@example.org"]


def test_all_recipients_refused_then_rset_before_the_next_message(strict_server: Any) -> None:
    lines: list[str] = []
    with pc.connect(strict_server.url, trace=lines.append) as client:
        with pytest.raises(RecipientsRefused) as info:
            client.send(_message(to=["x@example.org", "y@example.org"]))
        error = info.value
        assert isinstance(error, pc.ServerError)
        assert set(error.refused) == {"x@example.org", "y@example.org"}
        assert error.status == 550 and not error.temporary
        assert strict_server.received == []
        result = client.send(_message())
        assert result.accepted == ["alice@example.org"]
    mail_lines = [i for i, line in enumerate(lines) if line.startswith("> MAIL")]
    assert lines[mail_lines[1] - 2] == "> RSET"
    assert sum(1 for line in lines if line.startswith("< 220")) == 1


def test_no_recipients_sends_nothing(strict_server: Any) -> None:
    msg = pc.compose(from_="a@example.org", subject="nobody", text="x")
    with pytest.raises(pc.InvalidInput, match="no recipients"):
        pc.send(strict_server.url, msg)
    assert strict_server.received == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": "a@b.example>\r\nRCPT TO:<evil@example.org>"},
        {"to": "x@example.org\r\nDATA"},
        {"mail_from": "a@example.org> SIZE=1\r\nRSET"},
        {"to": "Alice <alice@example.org>"},
    ],
)
def test_injection_in_envelope_rejected_before_anything_is_sent(kwargs: dict[str, str]) -> None:
    lines: list[str] = []
    with serve_smtp(tls=False) as srv, pc.connect(srv.url, trace=lines.append) as client:
        with pytest.raises(pc.InvalidInput) as info:
            client.send(_message(), **kwargs)
        assert "evil" not in str(info.value)
        assert srv.received == []
    assert not any(line.startswith(("> MAIL", "> RCPT")) for line in lines)


# -- SMTPUTF8 ----------------------------------------------------------------------------------------


def test_smtputf8_offered() -> None:
    lines: list[str] = []
    with serve_smtp(tls=False) as srv:
        msg = _message(to="δοκιμή@παράδειγμα.δοκιμή", from_="Ünïcödé <sender@bücher.example>")
        result = pc.send(srv.url, msg, trace=lines.append)
        assert result.accepted == ["δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp"]
        [envelope] = srv.received
        assert envelope.smtputf8
        assert "SMTPUTF8" in envelope.mail_options and "BODY=8BITMIME" in envelope.mail_options
        assert envelope.mail_from == "sender@xn--bcher-kva.example"
        # RFC 6532: the UTF-8 address itself in the header, not an encoded word.
        assert "\r\nTo: δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp\r\n".encode() in envelope.data
    assert any(line.startswith("> MAIL FROM:<sender@xn--bcher-kva.example>") for line in lines)
    assert any(line.endswith(" SMTPUTF8") for line in lines if line.startswith("> MAIL"))


def test_smtputf8_missing_is_a_clear_error_and_nothing_is_sent() -> None:
    lines: list[str] = []
    with serve_smtp(tls=False, smtputf8=False) as srv:
        with pytest.raises(SMTPUTF8Required) as info:
            pc.send(srv.url, _message(to="δοκιμή@παράδειγμα.δοκιμή"), trace=lines.append)
        assert isinstance(info.value, pc.UnsupportedOperation)
        assert "SMTPUTF8" in str(info.value)
        assert srv.received == []
        # An IDN domain alone needs no SMTPUTF8: IDNA A-labels.
        result = pc.send(srv.url, _message(to="alice@bücher.example"))
        assert result.accepted == ["alice@xn--bcher-kva.example"]
    first_session = lines[: lines.index("> QUIT")]
    assert not any(line.startswith(("> MAIL", "> RCPT", "> DATA")) for line in first_session)


# -- message sources and body safety ----------------------------------------------------------------


def test_raw_bytes_are_normalised_and_dot_stuffed_one_message_arrives() -> None:
    raw = (
        b"From: sender@example.org\nTo: alice@example.org\nSubject: smuggle\n\n"
        b"A\n.\nMAIL FROM:<evil@example.org>\r.\r\nRCPT TO:<alice@example.org>\n"
        b"bare\rcr and bare\nlf\r\n.\r\nlast line without newline"
    )
    with serve_smtp(tls=False) as srv:
        pc.send(srv.url, raw)
        [envelope] = srv.received
        assert envelope.mail_from == "sender@example.org"
        assert envelope.data == (
            b"From: sender@example.org\r\nTo: alice@example.org\r\nSubject: smuggle\r\n\r\n"
            b"A\r\n.\r\nMAIL FROM:<evil@example.org>\r\n.\r\nRCPT TO:<alice@example.org>\r\n"
            b"bare\r\ncr and bare\r\nlf\r\n.\r\nlast line without newline\r\n"
        )
        assert len(srv.store.messages("alice")) == 1


def test_long_line_in_raw_bytes_refused_nothing_sent() -> None:
    raw = b"From: s@example.org\r\nTo: alice@example.org\r\n\r\n" + b"x" * 1500 + b"\r\n"
    with serve_smtp(tls=False) as srv:
        with pytest.raises(pc.InvalidInput, match="998"):
            pc.send(srv.url, raw)
        assert srv.received == []
        # The same content as an EmailMessage is re-encoded and delivered intact.
        msg = _message(text="y" * 1500 + "\n")
        pc.send(srv.url, msg)
        [envelope] = srv.received
        parsed = message_from_bytes(envelope.data, policy=policy.default)
        assert parsed.get_content().replace("\r\n", "\n") == "y" * 1500 + "\n"


def test_file_sources_stream_with_progress(tmp_path: Path) -> None:
    body = b"".join(b"line %06d .leading dot follows\r\n.%d\r\n" % (i, i) for i in range(60000))
    raw = b"From: s@example.org\r\nTo: alice@example.org\r\nBcc: b@example.org\r\n\r\n" + body
    path = tmp_path / "big.eml"
    path.write_bytes(raw)
    seen: list[tuple[int, int | None]] = []
    with serve_smtp(tls=False) as srv:
        result = pc.send(srv.url, path, progress=lambda done, total: seen.append((done, total)))
        assert result.path == path
        assert result.accepted == ["alice@example.org", "b@example.org"]
        [envelope] = srv.received
        assert envelope.data == b"From: s@example.org\r\nTo: alice@example.org\r\n\r\n" + body
        assert seen[-1] == (result.bytes, result.size)
        assert len(seen) > 2
        with path.open("rb") as handle:
            pc.send(srv.url, handle, to="alice@example.org", mail_from="")
        assert srv.received[1].mail_from in {"", "<>"}  # the null reverse path
        assert srv.received[1].data == envelope.data


def test_unsupported_verbs_name_pop3_and_imap() -> None:
    client = SMTPClient("smtp://127.0.0.1:1/")
    for verb in (client.fetch, client.ls, client.delete):
        with pytest.raises(pc.UnsupportedOperation) as info:
            verb()
        assert "imap" in str(info.value) and "pop3" in str(info.value)


# -- hostile and faulty servers ------------------------------------------------------------------------


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.received: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        line = self.file.readline(65536)
        self.received.append(line)
        return line

    def data(self) -> bytes:
        chunks = []
        while True:
            line = self.line()
            if line in {b".\r\n", b""}:
                return b"".join(chunks)
            chunks.append(line)

    def starttls(self, context: ssl.SSLContext) -> None:
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.file = self.sock.makefile("rb")


class _Scripted:
    """A one-thread SMTP server on 127.0.0.1:0 that runs ``script(conn, index)`` for each of
    ``connections`` connections in turn and records every line it receives."""

    def __init__(self, script: Callable[[_Conn, int], None], connections: int = 1) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(15)
        self.port = self.listener.getsockname()[1]
        self.conns: list[_Conn] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(connections,), daemon=True)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}/"

    @property
    def received(self) -> list[bytes]:
        return [line for conn in self.conns for line in conn.received]

    def _run(self, connections: int) -> None:
        for index in range(connections):
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.settimeout(15)
            conn = _Conn(sock)
            self.conns.append(conn)
            try:
                self.script(conn, index)
            except (OSError, ssl.SSLError) as exc:
                self.errors.append(exc)
            finally:
                conn.file.close()
                conn.sock.close()

    def __enter__(self) -> _Scripted:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self.thread.join(10)


def _greet_and_ehlo(conn: _Conn, features: bytes = b"250-SIZE 1000000\r\n250 8BITMIME\r\n") -> None:
    conn.send(b"220 scripted ESMTP\r\n")
    assert conn.line().lower().startswith(b"ehlo")
    conn.send(b"250-scripted\r\n" + features)


def _transaction(conn: _Conn) -> bytes:
    assert conn.line().startswith(b"MAIL FROM:")
    conn.send(b"250 ok\r\n")
    assert conn.line().startswith(b"RCPT TO:")
    conn.send(b"250 ok\r\n")
    assert conn.line() == b"DATA\r\n"
    conn.send(b"354 go on\r\n")
    return conn.data()


def _quit(conn: _Conn) -> None:
    if conn.line() == b"QUIT\r\n":
        conn.send(b"221 bye\r\n")


def test_starttls_injection_is_refused(pc_ca: TestCA) -> None:
    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn, b"250-STARTTLS\r\n250 AUTH PLAIN\r\n")
        assert conn.line() == b"STARTTLS\r\n"
        # The go-ahead plus forged capabilities in ONE segment (TLS-01).
        conn.send(b"220 go ahead\r\n250-x\r\n250 AUTH PLAIN\r\n")
        conn.line()

    with _Scripted(script) as srv:
        url = srv.url.replace("//", "//alice@", 1)
        with pytest.raises(pc.ProtocolError) as info:
            pc.send(url, _message(), password="pw", tls="starttls", ca_file=pc_ca.ca_file)
        assert "after its STARTTLS reply" in str(info.value)
    assert not any(line.startswith(b"AUTH") for line in srv.received)


@pytest.mark.parametrize("reply", [b"454 TLS not available\r\n", b"500 what?\r\n", b"501 no\r\n"])
def test_starttls_refused_no_plaintext_fallback(pc_ca: TestCA, reply: bytes) -> None:
    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn, b"250-STARTTLS\r\n250 AUTH PLAIN\r\n")
        assert conn.line() == b"STARTTLS\r\n"
        conn.send(reply)
        conn.line()

    with _Scripted(script) as srv:
        url = srv.url.replace("//", "//alice@", 1)
        with pytest.raises(pc.TLSRequiredError):
            pc.send(url, _message(), password="pw", tls="starttls", ca_file=pc_ca.ca_file)
    assert not any(line.startswith((b"AUTH", b"MAIL")) for line in srv.received)


def test_starttls_then_plaintext_breaks_the_handshake(pc_ca: TestCA) -> None:
    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn, b"250-STARTTLS\r\n250 AUTH PLAIN\r\n")
        assert conn.line() == b"STARTTLS\r\n"
        conn.send(b"220 go ahead\r\n")
        conn.sock.recv(4096)  # the ClientHello
        conn.send(b"250 AUTH PLAIN\r\n")

    with _Scripted(script) as srv, pytest.raises(pc.TLSError):
        pc.send(srv.url, _message(), tls="starttls", ca_file=pc_ca.ca_file, timeout=5)


@pytest.mark.parametrize(
    "greeting", [b"HTTP/1.1 400 Bad Request\r\n", b"\x16\x03\x01\x00\xa5\x01\x00\r\n", b"hello"]
)
def test_unexpected_greeting(greeting: bytes) -> None:
    def script(conn: _Conn, _index: int) -> None:
        conn.send(greeting)
        if not greeting.endswith(b"\n"):
            conn.sock.shutdown(socket.SHUT_WR)
        conn.line()

    with _Scripted(script) as srv:
        with pytest.raises((pc.ProtocolError, pc.ConnectionFailed)) as info:
            pc.send(srv.url, _message(), timeout=5)
        assert "\x1b" not in str(info.value) and "\x16" not in str(info.value)
    assert srv.received in ([], [b""])


def test_554_greeting_is_a_server_error() -> None:
    def script(conn: _Conn, _index: int) -> None:
        conn.send(b"554 5.3.2 go away\r\n")
        conn.line()

    with _Scripted(script) as srv:
        with pytest.raises(pc.ServerError) as info:
            pc.send(srv.url, _message(), timeout=5)
        assert info.value.status == 554 and not info.value.temporary


def test_drop_after_final_dot_is_delivery_status_unknown() -> None:
    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn)
        _transaction(conn)
        # Close without the 250: the client cannot know whether the message was queued.

    with _Scripted(script) as srv:
        with pytest.raises(DeliveryStatusUnknown) as info:
            pc.send(srv.url, _message(), timeout=5)
        assert isinstance(info.value, pc.IncompleteTransferError)
        assert "delivery status unknown" in str(info.value)


def test_silent_server_after_final_dot_is_delivery_status_unknown() -> None:
    release = threading.Event()

    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn)
        _transaction(conn)
        release.wait(10)

    with _Scripted(script) as srv:
        with pytest.raises(DeliveryStatusUnknown):
            pc.send(srv.url, _message(), timeout=0.5)
        release.set()


def test_silent_server_is_a_timeout() -> None:
    release = threading.Event()

    def script(conn: _Conn, _index: int) -> None:
        release.wait(10)

    with _Scripted(script) as srv:
        with pytest.raises(pc.OperationTimeoutError):
            pc.send(srv.url, _message(), timeout=0.5)
        release.set()


def test_temporary_and_permanent_refusals() -> None:
    def script(conn: _Conn, index: int) -> None:
        _greet_and_ehlo(conn)
        assert conn.line().startswith(b"MAIL FROM:")
        conn.send(b"451 4.3.0 try again later\r\n")
        assert conn.line() == b"RSET\r\n"
        conn.send(b"250 reset\r\n")
        body = _transaction(conn)
        assert body
        conn.send(b"552 5.3.4 message too big\r\n")
        assert conn.line() == b"RSET\r\n"
        conn.send(b"250 reset\r\n")
        _transaction(conn)
        conn.send(b"250 queued\r\n")
        _quit(conn)

    with _Scripted(script) as srv, pc.connect(srv.url, timeout=5) as client:
        with pytest.raises(pc.ServerError) as temporary:
            client.send(_message())
        assert temporary.value.status == 451 and temporary.value.temporary
        with pytest.raises(pc.ServerError) as permanent:
            client.send(_message())
        assert permanent.value.status == 552 and not permanent.value.temporary
        assert client.send(_message()).accepted == ["alice@example.org"]
    assert srv.errors == []


@pytest.mark.parametrize("goodbye", [b"421 4.4.2 idle timeout, closing\r\n", b""])
@pytest.mark.parametrize("features", [b"250 8BITMIME\r\n", b"250-PIPELINING\r\n250 8BITMIME\r\n"])
def test_reconnects_when_the_server_closed_the_idle_connection(
    goodbye: bytes, features: bytes
) -> None:
    def script(conn: _Conn, index: int) -> None:
        _greet_and_ehlo(conn, features)
        if b"PIPELINING" in features:
            for _ in range(3):
                conn.line()
            conn.send(b"250 ok\r\n250 ok\r\n354 go on\r\n")
            conn.data()
        else:
            _transaction(conn)
        conn.send(b"250 queued\r\n")
        if index == 0:
            conn.send(goodbye)
            return
        _quit(conn)

    lines: list[str] = []
    with _Scripted(script, connections=2) as srv:
        with pc.connect(srv.url, timeout=5, trace=lines.append) as client:
            assert client.send(_message()).accepted == ["alice@example.org"]
            assert client.send(_message()).accepted == ["alice@example.org"]
        assert len(srv.conns) == 2
    assert sum(1 for line in lines if line.startswith("< 220")) == 2


def test_421_on_a_fresh_connection_is_a_temporary_error() -> None:
    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn)
        conn.line()
        conn.send(b"421 4.3.2 shutting down\r\n")

    with _Scripted(script) as srv:
        with pytest.raises(pc.ServerError) as info:
            pc.send(srv.url, _message(), timeout=5)
        assert info.value.status == 421 and info.value.temporary
    assert len(srv.conns) == 1


_PIPELINING = b"250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"


def test_pipelining_one_write_for_mail_rcpt_and_data() -> None:
    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn, _PIPELINING)
        # All four commands arrive before any reply: a client waiting for the MAIL reply
        # would hang here (and time out).
        lines = [conn.line() for _ in range(4)]
        assert lines[0].startswith(b"MAIL FROM:<sender@example.org>")
        assert lines[1:] == [
            b"RCPT TO:<alice@example.org>\r\n",
            b"RCPT TO:<nobody@example.org>\r\n",
            b"DATA\r\n",
        ]
        conn.send(b"250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go on\r\n")
        assert b"Hello Alice" in conn.data()
        conn.send(b"250 2.0.0 queued as P1\r\n")
        _quit(conn)

    with _Scripted(script) as srv:
        result = pc.send(
            srv.url, _message(to=["alice@example.org", "nobody@example.org"]), timeout=5
        )
    assert srv.errors == []
    assert result.partial
    assert result.accepted == ["alice@example.org"]
    assert result.refused == {"nobody@example.org": (550, "5.1.1 no such user")}
    assert result.details["reply"] == "250 2.0.0 queued as P1"


def test_pipelining_all_refused_ends_the_empty_data_then_rset() -> None:
    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn, _PIPELINING)
        for _ in range(3):
            conn.line()
        # A server that answers DATA with 354 although no recipient was accepted.
        conn.send(b"250 ok\r\n550 no such user\r\n354 go on\r\n")
        assert conn.data() == b""
        conn.send(b"554 no valid recipients\r\n")
        assert conn.line() == b"RSET\r\n"
        conn.send(b"250 reset\r\n")
        for _ in range(3):
            conn.line()
        conn.send(b"250 ok\r\n250 ok\r\n354 go on\r\n")
        conn.data()
        conn.send(b"250 queued\r\n")
        _quit(conn)

    with _Scripted(script) as srv, pc.connect(srv.url, timeout=5) as client:
        with pytest.raises(RecipientsRefused) as info:
            client.send(_message(to="nobody@example.org"))
        assert info.value.refused == {"nobody@example.org": (550, "no such user")}
        assert client.send(_message()).accepted == ["alice@example.org"]
    assert srv.errors == []


def test_pipelining_sender_refused() -> None:
    def script(conn: _Conn, _index: int) -> None:
        _greet_and_ehlo(conn, _PIPELINING)
        for _ in range(3):
            conn.line()
        conn.send(b"553 5.7.1 sender not allowed\r\n503 need MAIL\r\n503 need MAIL\r\n")
        _quit(conn)

    with _Scripted(script) as srv:
        with pytest.raises(pc.ServerError) as info:
            pc.send(srv.url, _message(), timeout=5)
        assert info.value.status == 553


def test_docs_example_runs() -> None:
    """The "complete example" of docs/smtp.md runs as written."""
    text = (Path(__file__).parents[2] / "docs" / "smtp.md").read_text(encoding="utf-8")
    section = text.split("## A complete example", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/smtp.md", "exec"), {"__name__": "docs_example"})


def test_connection_refused_error_has_no_password() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"smtp://alice:Sup3r-Secret@127.0.0.1:{port}/"
    with pytest.raises(pc.ConnectionFailed) as info:
        pc.send(url, _message(), timeout=5)
    assert "Sup3r-Secret" not in str(info.value) and "Sup3r-Secret" not in repr(info.value)


@pytest.mark.parametrize("path", ["/bad%20name", "/x%0D%0AMAIL%20FROM:%3Ca@b%3E", "/a%00b"])
def test_bad_ehlo_name_in_url_is_refused_up_front(path: str) -> None:
    with pytest.raises(pc.InvalidInput):
        SMTPClient("smtp://127.0.0.1:1" + path)
