"""SMTP envelope addresses: strict validation, IDNA, SMTPUTF8 (INP-05, INP-12), EHLO names,
and the envelope taken from headers or options (Bcc never transmitted)."""

from __future__ import annotations

import io
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protoclients.errors import InvalidInput
from protoclients.protocols.smtpaddr import check_address, check_ehlo_name
from protoclients.protocols.smtpmessage import prepare_message


@pytest.mark.parametrize(
    ("text", "wire", "utf8"),
    [
        ("user@example.org", "user@example.org", False),
        ("first.last+tag@sub.example.org", "first.last+tag@sub.example.org", False),
        ("o'brien@example.org", "o'brien@example.org", False),
        ("user@bücher.example", "user@xn--bcher-kva.example", False),
        ("δοκιμή@παράδειγμα.δοκιμή", "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp", True),
        ("ü@example.com", "ü@example.com", True),
        ("user@[192.0.2.1]", "user@[192.0.2.1]", False),
        ("user@[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]", False),
        ("alice@localhost", "alice@localhost", False),
        ("Postmaster", "Postmaster", False),
    ],
)
def test_valid_addresses(text: str, wire: str, utf8: bool) -> None:
    checked = check_address(text)
    assert checked.address == wire
    assert checked.smtputf8 is utf8


@pytest.mark.parametrize(
    "text",
    [
        "a@b>\r\nRCPT TO:<evil@x>",  # INP-05: the smtplib quoteaddr trick
        "x@y\r\nDATA",
        "x@y\nDATA",
        "x@y\rDATA",
        "x\0@y.example",
        "<a@b.example>",
        "Name <a@b.example>",
        "a@b.example>",
        "a b@c.example",
        "a@b.example ",
        "a\t@b.example",
        "a@b@c.example",
        "@b.example",
        "a@",
        "alice",
        '"quoted local"@example.org',
        ".a@example.org",
        "a.@example.org",
        "a..b@example.org",
        "a,b@example.org",
        "a(comment)@example.org",
        "a@-bad.example",
        "a@bad-.example",
        "a@exa_mple.org",
        "a@example.org.",
        "a@[300.1.1.1]",
        "a@[IPv6:zz::1]",
        "a@[1.2.3.4",
        "x" * 65 + "@example.org",
        "a@" + "b" * 64 + ".example",
        "a@" + ".".join(["abcdefghi"] * 30),
        "a\u2028b@example.org",
        "a\u200bb@example.org",
        "a\x85b@example.org",
        "a\udcffb@example.org",
        "a@xn--.example",
    ],
)
def test_invalid_addresses_rejected_without_echo(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_address(text, "to address")
    message = str(info.value)
    assert "to address" in message
    assert "\r" not in message and "\n" not in message and "\0" not in message
    if "evil" in text:
        assert "evil" not in message


def test_non_string_address() -> None:
    with pytest.raises(InvalidInput):
        check_address(b"a@b.example")  # type: ignore[arg-type]


@given(st.text(min_size=1, max_size=40))
def test_address_check_never_lets_line_breaks_or_brackets_through(text: str) -> None:
    try:
        checked = check_address(text)
    except InvalidInput:
        return
    wire = checked.address
    assert not any(ch in wire for ch in "\r\n\0<> \t")
    assert wire.count("@") == 1 or wire.lower() == "postmaster"
    # What goes on the wire is ASCII unless SMTPUTF8 is needed for the local part.
    assert wire.isascii() or checked.smtputf8
    assert wire.rpartition("@")[2].isascii()


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("mail.example.org", "mail.example.org"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("[192.0.2.7]", "[192.0.2.7]"),
        ("localhost", "localhost"),
    ],
)
def test_ehlo_names(name: str, wire: str) -> None:
    assert check_ehlo_name(name) == wire


@pytest.mark.parametrize("name", ["", "a b", "x\r\nMAIL FROM:<a@b>", "x\0", "a/b", "[1.2.3]"])
def test_bad_ehlo_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_ehlo_name(name)


# -- the envelope ---------------------------------------------------------------------------


def _message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("body\n")
    return msg


def test_envelope_from_headers_and_bcc_removed() -> None:
    msg = _message(
        From="Alice <alice@example.org>",
        To="bob@example.org, Carol <carol@example.org>",
        Cc="dave@example.org",
        Bcc="eve@example.org",
        Subject="hi",
    )
    prepared = prepare_message(msg)
    assert prepared.mail_from == "alice@example.org"
    assert prepared.recipients == [
        "bob@example.org",
        "carol@example.org",
        "dave@example.org",
        "eve@example.org",
    ]
    assert prepared.payload is not None
    assert b"eve@example.org" not in prepared.payload
    assert b"\r\nBcc:" not in prepared.payload
    assert "Bcc" in msg  # the caller's message is not modified


def test_sender_header_wins_and_duplicates_dropped() -> None:
    msg = _message(
        From="alice@example.org",
        Sender="secretary@example.org",
        To="bob@example.org",
        Cc="bob@EXAMPLE.org",
    )
    prepared = prepare_message(msg)
    assert prepared.mail_from == "secretary@example.org"
    assert prepared.recipients == ["bob@example.org"]


def test_explicit_envelope_wins() -> None:
    msg = _message(From="alice@example.org", To="bob@example.org", Bcc="eve@example.org")
    prepared = prepare_message(
        msg, mail_from="bounces@example.org", to="x@example.org", bcc=["y@bücher.example"]
    )
    assert prepared.mail_from == "bounces@example.org"
    assert prepared.recipients == ["x@example.org", "y@xn--bcher-kva.example"]
    assert prepared.payload is not None
    assert b"eve@example.org" not in prepared.payload


def test_null_sender() -> None:
    prepared = prepare_message(_message(To="bob@example.org"), mail_from="")
    assert prepared.mail_from == ""


def test_resent_headers_are_the_envelope() -> None:
    msg = _message(From="alice@example.org", To="bob@example.org")
    msg["Resent-Date"] = "Mon, 1 Jan 2026 00:00:00 +0000"
    msg["Resent-From"] = "fwd@example.org"
    msg["Resent-To"] = "new@example.org"
    msg["Resent-Bcc"] = "hidden@example.org"
    prepared = prepare_message(msg)
    assert prepared.mail_from == "fwd@example.org"
    assert prepared.recipients == ["new@example.org", "hidden@example.org"]
    assert prepared.payload is not None
    assert b"hidden" not in prepared.payload


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": "a@b>\r\nRCPT TO:<evil@x>"},
        {"to": ["ok@example.org", "x@y\r\nDATA"]},
        {"cc": "Name <a@b.example>"},
        {"bcc": "a@b.example\0"},
        {"mail_from": "a@b.example>\r\nRCPT TO:<evil@x>"},
        {"to": b"a@b.example"},
    ],
)
def test_bad_explicit_envelope(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        prepare_message(_message(From="alice@example.org"), **kwargs)  # type: ignore[arg-type]


def test_no_recipients_and_no_sender() -> None:
    with pytest.raises(InvalidInput, match="no recipients"):
        prepare_message(_message(From="alice@example.org"))
    with pytest.raises(InvalidInput, match="no sender"):
        prepare_message(_message(To="bob@example.org"))
    with pytest.raises(InvalidInput, match="no recipients"):
        prepare_message(_message(From="a@example.org", To="bob@example.org"), to=[])


def test_unparseable_header_is_refused_not_guessed() -> None:
    # CVE-2023-27043 style: which of the two is the recipient? Refuse, ask for to=.
    raw = b"From: alice@example.org\r\nTo: bob@example.org <eve@example.org>\r\n\r\nx\r\n"
    with pytest.raises(InvalidInput, match="explicitly"):
        prepare_message(raw)
    assert prepare_message(raw, to="bob@example.org").recipients == ["bob@example.org"]


def test_non_ascii_local_part_needs_smtputf8() -> None:
    msg = _message(From="alice@example.org", To="δοκιμή@παράδειγμα.δοκιμή")
    prepared = prepare_message(msg)
    assert prepared.smtputf8
    assert prepared.recipients == ["δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp"]
    assert prepared.payload is not None
    # RFC 6532: the header carries the UTF-8 address itself, not an encoded word.
    assert "δοκιμή@".encode() in prepared.payload
    idn_only = prepare_message(_message(From="alice@example.org", To="user@bücher.example"))
    assert not idn_only.smtputf8
    assert idn_only.recipients == ["user@xn--bcher-kva.example"]


def test_compat32_message_header_injection_refused() -> None:
    msg = Message()
    msg["From"] = "alice@example.org"
    msg["To"] = "bob@example.org"
    msg["Subject"] = "hi\r\nBcc: evil@example.org"
    msg.set_payload("body")
    with pytest.raises(InvalidInput, match="Subject"):
        prepare_message(msg)


def test_compat32_folded_value_is_fine_and_from_lines_not_mangled() -> None:
    msg = Message()
    msg["From"] = "alice@example.org"
    msg["To"] = "bob@example.org"
    msg["X-Long"] = "part one\r\n part two"
    msg.set_payload("From the start\n.hidden\n")
    prepared = prepare_message(msg)
    assert prepared.payload is not None
    assert b"\r\nFrom the start\r\n..hidden\r\n.\r\n" in prepared.payload


def test_raw_bytes_envelope_and_bcc_strip_keeps_other_bytes() -> None:
    raw = (
        b"From: Alice <alice@example.org>\n"
        b"To: bob@example.org\n"
        b"Bcc: eve@example.org,\n"
        b"  mallory@example.org\n"
        b"X-Other: keep me\n"
        b"Message-ID: <abc@example.org>\n"
        b"\n"
        b"Bcc: this line is body, not a header\n"
    )
    prepared = prepare_message(raw)
    assert prepared.recipients == ["bob@example.org", "eve@example.org", "mallory@example.org"]
    assert prepared.message_id == "<abc@example.org>"
    assert prepared.payload == (
        b"From: Alice <alice@example.org>\r\n"
        b"To: bob@example.org\r\n"
        b"X-Other: keep me\r\n"
        b"Message-ID: <abc@example.org>\r\n"
        b"\r\n"
        b"Bcc: this line is body, not a header\r\n"
        b".\r\n"
    )


def test_file_sources(tmp_path: Path) -> None:
    raw = b"From: alice@example.org\r\nTo: bob@example.org\r\nBcc: eve@example.org\r\n\r\n.dot\r\n"
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    prepared = prepare_message(path)
    try:
        payload = b"".join(prepared.chunks())
    finally:
        prepared.close()
    expected = prepare_message(raw).payload
    assert payload == expected
    assert prepared.size == len(payload)

    class NonSeekable(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return self._inner.readinto(buffer)

    stream = prepare_message(NonSeekable(raw))
    assert stream.size is None
    assert b"".join(stream.chunks()) == expected


def test_str_source_with_newlines_is_not_taken_for_a_path() -> None:
    with pytest.raises(InvalidInput, match="path"):
        prepare_message("From: a@b.example\nTo: c@d.example\n\nhi\n")


def test_missing_file() -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        prepare_message("/nonexistent/message.eml")


def test_unsupported_source_type() -> None:
    with pytest.raises(InvalidInput):
        prepare_message(12345)
