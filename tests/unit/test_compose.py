"""compose(): headers, encodings, attachments, CR/LF/NUL rejection in every field, Bcc never
transmitted, and INP-06/07 round trips (parse(serialised) == what was intended)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protoclients
from protoclients.composer import compose
from protoclients.errors import InvalidInput
from protoclients.protocols.smtpmessage import prepare_message

FROM = "Alice <alice@example.org>"


def _wire(msg: EmailMessage, **envelope: Any) -> tuple[bytes, Any]:
    """What SMTP transmits for ``msg`` (un-dot-stuffed) and the prepared envelope."""
    prepared = prepare_message(msg, **envelope)
    assert prepared.payload is not None
    body = prepared.payload[:-3]
    lines = body.split(b"\r\n")
    raw = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
    return raw, prepared


def _parse(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


# -- headers and bodies ----------------------------------------------------------------------


def test_basic_headers() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    msg = compose(
        from_=FROM,
        to=["bob@example.org", ("Carol", "carol@example.org")],
        cc=Address("Dave", "dave", "example.org"),
        bcc="eve@example.org",
        reply_to="replies@example.org",
        subject="Hello",
        text="Hi Bob\n",
        date=when,
        message_id="<fixed.1@example.org>",
        headers={"X-Priority": "1", "In-Reply-To": "<parent@example.org>"},
    )
    assert str(msg["From"]) == "Alice <alice@example.org>"
    assert [a.addr_spec for a in msg["To"].addresses] == ["bob@example.org", "carol@example.org"]
    assert str(msg["Cc"]) == "Dave <dave@example.org>"
    assert str(msg["Reply-To"]) == "replies@example.org"
    assert msg["Date"].datetime == when
    assert msg["Message-ID"] == "<fixed.1@example.org>"
    assert msg["X-Priority"] == "1"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "Hi Bob\n"
    raw, prepared = _wire(msg)
    assert prepared.mail_from == "alice@example.org"
    assert prepared.recipients == [
        "bob@example.org",
        "carol@example.org",
        "dave@example.org",
        "eve@example.org",
    ]
    assert prepared.message_id == "<fixed.1@example.org>"
    assert b"eve@example.org" not in raw
    parsed = _parse(raw)
    assert "Bcc" not in parsed
    assert parsed["In-Reply-To"] == "<parent@example.org>"


def test_defaults_date_and_message_id() -> None:
    msg = compose(from_="alice@bücher.example", to="bob@example.org")
    assert msg["Message-ID"].endswith("@xn--bcher-kva.example>")
    assert msg["Date"].datetime.tzinfo is not None
    assert abs(msg["Date"].datetime - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert msg.get_content() == "\n"
    other = compose(from_="alice@bücher.example", to="bob@example.org")
    assert other["Message-ID"] != msg["Message-ID"]
    naive = compose(from_=FROM, date=datetime(2026, 5, 1, 12, 0))  # local time
    assert naive["Date"].datetime.tzinfo is not None


def test_non_ascii_names_subject_and_idn() -> None:
    subject = "Grüße aus Köln — " + "ein sehr langer Betreff " * 6
    msg = compose(
        from_="Jürgen Müller <juergen@example.org>",
        to=[("Zoë, Jr.", "zoe@bücher.example"), ('Quote "Me" \\o/', "q@example.org")],
        subject=subject,
        text="Grüße\n",
    )
    raw, prepared = _wire(msg)
    assert raw.isascii()  # encoded words, IDNA: no SMTPUTF8 needed
    assert not prepared.smtputf8
    assert max(len(line) for line in raw.split(b"\r\n")) < 100  # folded
    parsed = _parse(raw)
    assert parsed["Subject"] == subject
    assert parsed["From"].addresses[0].display_name == "Jürgen Müller"
    to = parsed["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in to] == [
        ("Zoë, Jr.", "zoe@xn--bcher-kva.example"),
        ('Quote "Me" \\o/', "q@example.org"),
    ]
    assert parsed.get_content() == "Grüße\n"


def test_smtputf8_address_in_headers() -> None:
    msg = compose(from_="δοκιμή@παράδειγμα.δοκιμή", to="bob@example.org", text="x\n")
    raw, prepared = _wire(msg)
    assert prepared.smtputf8
    assert "From: δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp".encode() in raw


def test_text_and_html_alternative_and_html_only() -> None:
    msg = compose(from_=FROM, to="b@example.org", text="plain\n", html="<p>html</p>\n")
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    html_only = compose(from_=FROM, to="b@example.org", html="<b>x</b>")
    assert html_only.get_content_type() == "text/html"


def test_attachments(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 \x00\xff binary")
    msg = compose(
        from_=FROM,
        to="b@example.org",
        text="see attached\n",
        html="<p>see attached</p>",
        attachments=[
            pdf,
            ("data.csv", b"a,b\n1,2\n", "text/csv"),
            ("résumé.txt", "héllo wörld\n"),
            ("blob", b"\x00\x01\x02"),
        ],
    )
    assert msg.get_content_type() == "multipart/mixed"
    raw, _ = _wire(msg)
    assert raw.isascii()
    parsed = _parse(raw)
    attachments = list(parsed.iter_attachments())
    found = {a.get_filename(): (a.get_content_type(), a.get_content()) for a in attachments}
    assert found["report.pdf"] == ("application/pdf", b"%PDF-1.4 \x00\xff binary")
    assert found["data.csv"][0] == "text/csv"
    assert found["résumé.txt"][0] == "text/plain"
    assert found["résumé.txt"][1].replace("\r\n", "\n") == "héllo wörld\n"
    assert found["blob"] == ("application/octet-stream", b"\x00\x01\x02")
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "see attached\n"


def test_attachments_only() -> None:
    msg = compose(from_=FROM, to="b@example.org", attachments=[("a.bin", b"\x01")])
    parsed = _parse(_wire(msg)[0])
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed["MIME-Version"] == "1.0"
    assert [a.get_filename() for a in parsed.iter_attachments()] == ["a.bin"]


def test_body_dots_control_chars_and_long_lines() -> None:
    text = "A\n.\nB\n" + "x" * 2000 + "\nnul\0here\n"
    msg = compose(from_=FROM, to="b@example.org", text=text)
    raw, prepared = _wire(msg)
    assert prepared.payload is not None
    assert max(len(line) for line in prepared.payload.split(b"\r\n")) <= 998
    assert b"\0" not in prepared.payload
    assert _parse(raw).get_content().replace("\r\n", "\n") == text


# -- rejection of CR / LF / NUL in every field --------------------------------------------------

_INJECTIONS = ["x\r\nBcc: evil@example.org", "x\nBcc: evil@example.org", "x\rBcc: e@x.org", "x\0y"]


def _field_cases() -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = []
    for bad in _INJECTIONS:
        cases += [
            ("from_", f"{bad} <a@example.org>"),
            ("from_", (bad, "a@example.org")),
            ("to", f"a@example.org{bad}"),
            ("to", [("ok", "b@example.org"), (bad, "c@example.org")]),
            ("cc", f"{bad}@example.org"),
            ("bcc", (bad, "d@example.org")),
            ("reply_to", f"r@example.org{bad}"),
            ("subject", bad),
            ("headers", {"X-Custom": bad}),
            ("headers", [("X-Ok", "fine"), ("X-Custom", bad)]),
            ("headers", {f"X-{bad}": "v"}),
            ("attachments", [(f"file{bad}.txt", b"data")]),
            ("attachments", [("file.txt", b"data", f"text/plain{bad}")]),
            ("message_id", f"<a{bad}@example.org>"),
        ]
    return cases


@pytest.mark.parametrize(("field", "value"), _field_cases())
def test_crlf_nul_rejected_in_every_field(field: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"from_": FROM, "to": "b@example.org", field: value}
    with pytest.raises(InvalidInput) as info:
        compose(**kwargs)
    assert "evil" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": "a@example.org, b@example.org"},  # one string, two addresses
        {"to": "alice@example.org <bob@example.org>"},  # CVE-2023-27043 style
        {"to": "<a@example.org>>"},
        {"to": "group: a@example.org;"},
        {"to": "no-domain"},
        {"to": ("a", "b", "c")},
        {"to": 42},
        {"headers": {"Bcc": "x@example.org"}},
        {"headers": {"Content-Type": "text/html"}},
        {"headers": {"Bad Name": "v"}},
        {"headers": {"X-A:": "v"}},
        {"headers": {"Sender": "not an address <<"}},
        {"message_id": "no-brackets@example.org"},
        {"attachments": [("../etc/passwd", b"x")]},
        {"attachments": [("", b"x")]},
        {"attachments": [("a.txt", b"x", "nonsense")]},
        {"attachments": [("a.eml", b"x", "message/rfc822")]},
        {"attachments": ["/nonexistent/file.pdf"]},
        {"attachments": [("a.txt", 123)]},
        {"subject": 5},
        {"date": "yesterday"},
    ],
)
def test_other_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        compose(**{"from_": FROM, **kwargs})


def test_tab_is_allowed_in_values() -> None:
    msg = compose(from_=FROM, to="b@example.org", subject="a\tb", headers={"X-T": "1\t2"})
    assert msg["Subject"] == "a\tb"


# -- round trips (INP-06 / INP-07) ---------------------------------------------------------------


def _squeeze(text: str) -> str:
    return "".join(text.split())


_SAFE = st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp", "Cf"))
_printable = st.text(_SAFE, min_size=1, max_size=120)
_local = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789+_-"), min_size=1, max_size=20
)


@given(
    subject=_printable,
    names=st.lists(_printable, min_size=1, max_size=4),
    locals_=st.lists(_local, min_size=4, max_size=4, unique=True),
    value=_printable,
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_headers_and_recipients(
    subject: str, names: list[str], locals_: list[str], value: str
) -> None:
    to = [(name, f"{local}@example.org") for name, local in zip(names, locals_, strict=False)]
    msg = compose(
        from_=(names[0], "alice@example.org"),
        to=to,
        bcc="hidden@example.org",
        subject=subject,
        headers={"X-Value": value},
        text="body\n",
    )
    raw, prepared = _wire(msg)
    parsed = _parse(raw)
    # Exactly the intended header fields: nothing injected, Bcc gone.
    assert [k.lower() for k in parsed] == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "x-value",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
    ]
    # Exactly the intended recipients, and display names survive, white space aside: folding
    # may split a name into adjacent encoded words, and CPython's parser keeps the folding
    # space between them (RFC 2047 6.2 says to drop it).
    parsed_to = parsed["To"].addresses
    assert [a.addr_spec for a in parsed_to] == [addr for _, addr in to]
    assert [_squeeze(a.display_name) for a in parsed_to] == [_squeeze(name) for name, _ in to]
    assert parsed["From"].addresses[0].addr_spec == "alice@example.org"
    assert prepared.recipients == [*(addr for _, addr in to), "hidden@example.org"]
    assert _squeeze(parsed["Subject"]) == _squeeze(subject)
    assert _squeeze(parsed["X-Value"]) == _squeeze(value)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


@given(names=st.lists(_printable, min_size=2, max_size=5))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_send_protects_address_lists_of_plain_email_messages(names: list[str]) -> None:
    # CVE-2025-1795: a message built with the email package itself (not compose) must still
    # go out with exactly its recipients in To, even where the library's folding breaks.
    msg = EmailMessage()
    addresses = [Address(name, f"u{i}", "example.org") for i, name in enumerate(names)]
    msg["From"] = "alice@example.org"
    msg["To"] = addresses
    msg.set_content("x\n")
    raw, prepared = _wire(msg)
    parsed = _parse(raw)
    assert [a.addr_spec for a in parsed["To"].addresses] == [a.addr_spec for a in addresses]
    assert [_squeeze(a.display_name) for a in parsed["To"].addresses] == [
        _squeeze(name) for name in names
    ]
    assert prepared.recipients == [a.addr_spec for a in addresses]
    assert raw.isascii()


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return (code < 32 and ch != "\t") or code == 127 or 0x80 <= code < 0xA0


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_subject_is_rejected_or_round_trips(subject: str) -> None:
    try:
        msg = compose(from_=FROM, to="b@example.org", subject=subject)
    except InvalidInput:
        assert any(_is_control(ch) or not ch.isprintable() for ch in subject if ch != "\t")
        return
    raw, _ = _wire(msg)
    parsed = _parse(raw)
    names = [k.lower() for k in parsed]
    assert names.count("subject") == (1 if subject else 0)
    assert names[:2] == ["from", "to"]
    assert "bcc" not in names
    if subject:
        assert _squeeze(parsed["Subject"]) == _squeeze(subject)


# -- the package exports compose lazily -------------------------------------------------------


def test_compose_exported_without_importing_email_at_import_time() -> None:
    code = (
        "import sys, protoclients\n"
        "assert 'email' not in sys.modules\n"
        "m = protoclients.compose(from_='a@example.org', to='b@example.org')\n"
        "from protoclients import compose\n"
        "from protoclients.composer import compose as f\n"
        "assert compose(from_='a@example.org')['From'] == 'a@example.org'\n"
        "assert f(from_='a@example.org')['From'] == 'a@example.org'\n"
        "import inspect; assert 'from_' in str(inspect.signature(protoclients.compose))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert callable(protoclients.compose)
