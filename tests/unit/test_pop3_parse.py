"""POP3 pure logic: scan / unique-id listings, STAT, CAPA, APOP, file names, message URLs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protoclients as pc
from protoclients.protocols.pop3parse import (
    MalformedResponse,
    apop_digest,
    apop_timestamp,
    eml_name,
    parse_capa,
    parse_scan_line,
    parse_scan_listing,
    parse_stat,
    parse_uidl_line,
    parse_uidl_listing,
)
from protoclients.protocols.pop3urls import MessageRef, check_uidl, message_ref, message_url

# -- listings ----------------------------------------------------------------------------------


def test_scan_line() -> None:
    assert parse_scan_line(b"3 1204") == (3, 1204)
    assert parse_scan_line(b"3 1204 extra words allowed") == (3, 1204)  # RFC 1939 section 5


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"3",
        b"x 10",
        b"3 -1",
        b"3 1e3",
        b"0 10",
        b"-1 10",
        b"99999999999999999999 1",
        b"3 999999999999999999",
    ],
)
def test_scan_line_malformed(line: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_scan_line(line)


def test_scan_listing() -> None:
    assert parse_scan_listing([b"1 10", b"2 20", b""], 10) == {1: 10, 2: 20}
    with pytest.raises(MalformedResponse, match="twice"):
        parse_scan_listing([b"1 10", b"1 20"], 10)
    with pytest.raises(MalformedResponse, match="more than 2"):
        parse_scan_listing([b"1 1", b"2 1", b"3 1"], 2)


def test_uidl_line_and_listing() -> None:
    assert parse_uidl_line(b"1 whqtswO00WBw418f9t5JxYwZ") == (1, "whqtswO00WBw418f9t5JxYwZ")
    assert parse_uidl_listing([b"1 a", b"2 b"], 10) == {1: "a", 2: "b"}
    for bad in (b"1", b"1 a b", b"x a", b"1 caf\xc3\xa9", b"1 " + b"u" * 600, b"1 a\x7f"):
        with pytest.raises(MalformedResponse):
            parse_uidl_line(bad)
    with pytest.raises(MalformedResponse, match="same unique id"):
        parse_uidl_listing([b"1 a", b"2 a"], 10)
    with pytest.raises(MalformedResponse, match="twice"):
        parse_uidl_listing([b"1 a", b"1 b"], 10)


def test_stat() -> None:
    assert parse_stat(b"+OK 2 320") == (2, 320)
    for bad in (b"+OK", b"+OK two 3", b"-ERR 2 3", b"+OK 2"):
        with pytest.raises(MalformedResponse):
            parse_stat(bad)


def test_capa() -> None:
    caps = parse_capa([b"TOP", b"SASL PLAIN LOGIN", b"stls", b"IMPLEMENTATION x y", b""])
    assert caps == {
        "TOP": [],
        "SASL": ["PLAIN", "LOGIN"],
        "STLS": [],
        "IMPLEMENTATION": ["x", "y"],
    }


# -- APOP ------------------------------------------------------------------------------------------


def test_apop_rfc1939_example() -> None:
    greeting = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
    stamp = apop_timestamp(greeting)
    assert stamp == b"<1896.697170952@dbc.mtview.ca.us>"
    assert apop_digest(stamp, "tanstaaf") == "c4c9334bac560ecc979e58001b3e22fb"


@pytest.mark.parametrize(
    "greeting", [b"+OK ready", b"+OK <>", b"+OK <a b>", b"+OK <" + b"x" * 300 + b">"]
)
def test_apop_timestamp_strict(greeting: bytes) -> None:
    assert apop_timestamp(greeting) is None


# -- file names ------------------------------------------------------------------------------------


def test_eml_name_examples() -> None:
    assert eml_name(3, None) == "3.eml"
    assert eml_name(1, "abc-DEF_1.2") == "abc-DEF_1.2.eml"
    assert eml_name(1, "a/b") == "a%2Fb.eml"
    assert eml_name(1, "a%2Fb") == "a%252Fb.eml"
    assert eml_name(1, "..") == "%2E..eml"
    assert eml_name(1, ".hidden") == "%2Ehidden.eml"
    assert eml_name(1, "x:y*z?") == "x%3Ay%2Az%3F.eml"
    long = eml_name(1, "/" * 200)
    assert long.startswith("uidl-sha256-") and len(long) < 255


_UIDLS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=70
)


@given(_UIDLS, _UIDLS)
def test_eml_name_is_injective_and_safe(a: str, b: str) -> None:
    name_a, name_b = eml_name(1, a), eml_name(2, b)
    assert (name_a == name_b) == (a == b)
    for name in (name_a, name_b):
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert name.endswith(".eml") and len(name) <= 255


# -- URLs ------------------------------------------------------------------------------------------


def test_message_ref() -> None:
    base = "pop3://alice@host"
    assert message_ref(pc.parse_url(base)) is None
    assert message_ref(pc.parse_url(base + "/")) is None
    assert message_ref(pc.parse_url(base + "/3")) == MessageRef(number=3)
    assert message_ref(pc.parse_url(base + "/007")) == MessageRef(number=7)
    assert message_ref(pc.parse_url(base + "/UIDL=a%2Fb%3Fc")) == MessageRef(uidl="a/b?c")
    assert message_ref(pc.parse_url(base + "/uidl=xyz")) == MessageRef(uidl="xyz")


@pytest.mark.parametrize(
    "path",
    ["/0", "/3/", "/abc", "/3?x=1", "/UIDL=", "/UIDL=a%20b", "/UIDL=caf%C3%A9", "/99999999999999"],
)
def test_message_ref_invalid(path: str) -> None:
    with pytest.raises(pc.InvalidInput):
        message_ref(pc.parse_url("pop3://alice@host" + path))


def test_message_url_round_trip() -> None:
    base = pc.parse_url("pop3s://alice;AUTH=+APOP@host:1995/")
    assert str(message_url(base, 3)) == "pop3s://alice;AUTH=%2BAPOP@host:1995/3"
    uidl_url = message_url(base, uidl="a/b?c#d%")
    assert message_ref(pc.parse_url(str(uidl_url))) == MessageRef(uidl="a/b?c#d%")


def test_check_uidl() -> None:
    assert check_uidl("ok") == "ok"
    for bad in ("", "a b", "a\r\nDELE 1", "caf\u00e9", "x" * 513):
        with pytest.raises(pc.InvalidInput):
            check_uidl(bad)


def test_auth_mechanism_from_url() -> None:
    from protoclients.protocols.pop3 import POP3Client

    assert POP3Client("pop3://alice@h/").auth == "user"
    assert POP3Client("pop3://alice;AUTH=+APOP@h/").auth == "apop"
    assert POP3Client("pop3://alice;AUTH=*@h/").auth == "any"
    assert POP3Client("pop3://alice;AUTH=PLAIN@h/").auth == "plain"
    assert POP3Client("pop3://alice;AUTH=+APOP@h/", auth="user").auth == "user"
    with pytest.raises(pc.UnsupportedOperation):
        POP3Client("pop3://alice;AUTH=CRAM-MD5@h/")
    with pytest.raises(pc.InvalidInput):
        POP3Client("pop3://alice@h/not-a-message")
    with pytest.raises(pc.InvalidInput):
        POP3Client("pop3://alice@h/", max_message_size=0)
