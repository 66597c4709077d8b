"""The URL model: one strict parse, never a password on display."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protoclients import InvalidURL, parse_url
from protoclients.urls import URL, Secret, redact_url_text


def test_parse_all_parts() -> None:
    url = parse_url("FTP://al%40ice:s3cr%2Ft@Example.COM:2121/a%20b/c.txt?token=abc&x=1#frag")
    assert url.scheme == "ftp"
    assert url.host == "example.com"
    assert url.port == 2121
    assert url.username == "al@ice"
    assert url.password is not None and url.password.reveal() == "s3cr/t"
    assert url.path == "/a%20b/c.txt"
    assert url.decoded_path == "/a b/c.txt"
    assert url.name == "c.txt"
    assert url.query == "token=abc&x=1"
    assert url.fragment == "frag"
    assert url.origin == ("ftp", "example.com", 2121)


def test_display_never_shows_password_or_sensitive_query() -> None:
    url = parse_url("https://bob:hunter2@h.example/p?access_token=SECRET&page=2")
    for text in (str(url), repr(url), url.display(), repr(url.password)):
        assert "hunter2" not in text
        assert "SECRET" not in text
    assert str(url) == "https://bob@h.example/p?access_token=***&page=2"


def test_default_ports_from_registry() -> None:
    assert parse_url("https://h/").effective_port == 443
    assert parse_url("ftps://h/").effective_port == 990
    assert parse_url("ftp://h/").effective_port == 21
    assert parse_url("imaps://h/").effective_port == 993
    assert parse_url("http://h:8080/").effective_port == 8080


def test_ipv6_and_idna() -> None:
    url = parse_url("http://[::1]:8080/x")
    assert url.host == "::1"
    assert url.hostport == "[::1]:8080"
    assert url.is_loopback
    assert parse_url("http://bücher.example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "text",
    [
        " https://u:p@h/",  # leading space (CVE-2023-24329)
        "https://h/ ",
        "https://ho\tst/pa\nth",  # tab/newline would be stripped by urllib (CVE-2022-0391)
        "http://[evil.com]/",
        "https://h:99999/",
        "https://h:0/",
        "https://h:-1/",
        "https://h:80a/",
        "ftp://h/a%0d%0aDELE%20x",
        "ftp://h/a%00b",
        "https://h/%ff",
        "no-scheme.example/path",
        "https:///path",
        "http://ho st/",
        "http://h\x00/",
        "http://u%0d%0a:p@h/",
    ],
)
def test_malformed_rejected(text: str) -> None:
    with pytest.raises(InvalidURL) as info:
        parse_url(text)
    assert "p@h" not in str(info.value)


def test_userinfo_cannot_hide_the_host() -> None:
    url = parse_url("http://victim:x@attacker/")
    assert url.host == "attacker"
    assert str(url) == "http://victim@attacker/"


def test_scheme_and_host_case_normalised() -> None:
    assert str(parse_url("HTTPS://H/")) == "https://h/"


def test_join() -> None:
    base = parse_url("ftp://alice@h/dir")
    assert base.join("f.txt").path == "/dir/f.txt"
    assert base.join("sub/a b#c").path == "/dir/sub/a%20b%23c"
    assert base.join("sub/a b#c").decoded_path == "/dir/sub/a b#c"
    assert base.join("/abs").path == "/abs"
    assert base.join(None) is base
    assert base.join("https://other/x").host == "other"
    with pytest.raises(InvalidURL):
        base.join("x\r\nDELE y")


def test_auth_mechanism_in_userinfo() -> None:
    url = parse_url("imap://alice;AUTH=PLAIN@h/INBOX")
    assert url.username == "alice"
    assert url.auth_mechanism == "PLAIN"
    assert str(url) == "imap://alice;AUTH=PLAIN@h/INBOX"


def test_secret_hides_itself() -> None:
    s = Secret("pw")
    assert str(s) == "***" and "pw" not in repr(s) and s.reveal() == "pw"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_redact_url_text_of_malformed_url() -> None:
    text = redact_url_text("https://u:topsecret@h/\r\n?token=abc")
    assert "topsecret" not in text and "abc" not in text and "\r" not in text


def test_url_is_immutable_and_replace_validates() -> None:
    url = parse_url("http://h/a")
    with pytest.raises(InvalidURL):
        url.replace(path="/x%0a")
    assert isinstance(url.replace(path="/b"), URL)


_segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"),
    min_size=1,
    max_size=20,
)


@given(user=_segment, password=_segment, path=st.lists(_segment, max_size=4))
def test_property_round_trip_and_no_leak(user: str, password: str, path: list[str]) -> None:
    from urllib.parse import quote

    rel = "/".join(path)
    text = f"ftp://{quote(user, safe='')}:{quote(password, safe='')}@host.example/{quote(rel)}"
    try:
        url = parse_url(text)
    except InvalidURL:
        # Only control characters may be refused.
        assert any(ord(c) < 0x20 or ord(c) == 0x7F for c in user + password + rel)
        return
    assert url.username == user
    assert url.password is not None and url.password.reveal() == password
    assert url.decoded_path == "/" + rel
    shown = str(url) + repr(url)
    if len(password) >= 4 and password not in ("ftp://host.example/" + rel + user):
        assert quote(password, safe="") not in shown.replace(quote(user, safe=""), "")


@given(st.text(max_size=60))
def test_property_parse_never_crashes(text: str) -> None:
    try:
        url = parse_url(text)
    except InvalidURL:
        return
    assert url.scheme and url.host
    assert "\n" not in str(url) and "\r" not in str(url)
