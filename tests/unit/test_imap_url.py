"""RFC 5092 IMAP URLs: mailbox, UID, UIDVALIDITY, SECTION, PARTIAL, search."""

from __future__ import annotations

import pytest

from protoclients.errors import InvalidURL
from protoclients.protocols.imapurl import mailbox_url, message_url, parse_imap_url
from protoclients.urls import parse_url


def target(text: str):  # type: ignore[no-untyped-def]
    return parse_imap_url(parse_url(text))


def test_server_and_mailbox() -> None:
    assert target("imap://alice@h/").mailbox is None
    assert target("imap://alice@h").mailbox is None
    box = target("imaps://alice@h/INBOX")
    assert box.mailbox == "INBOX"
    assert box.is_message_set
    assert target("imap://h/Archive/2024").mailbox == "Archive/2024"
    assert target("imap://h/INBOX/").mailbox == "INBOX"


def test_message_forms() -> None:
    t = target("imap://alice@h/INBOX;UIDVALIDITY=9;UID=42;SECTION=HEADER")
    assert (t.mailbox, t.uidvalidity, t.uid, t.section) == ("INBOX", 9, 42, "HEADER")
    assert t.is_message
    t = target("imap://alice@h/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2")
    assert (t.mailbox, t.uidvalidity, t.uid, t.section) == ("INBOX", 385759045, 20, "1.2")
    t = target("imap://h/INBOX;uid=7;section=header.fields%20(from%20to)")
    assert t.section == "HEADER.FIELDS (FROM TO)"
    assert target("imap://h/INBOX;UID=7;PARTIAL=0.1024").partial == (0, 1024)


def test_search() -> None:
    assert target("imap://h/INBOX?UNSEEN").search == "UNSEEN"
    assert target("imap://h/INBOX?SINCE 1-Jan-2026").search == "SINCE 1-Jan-2026"
    assert target("imap://h/INBOX?SINCE%201-Jan-2026").search == "SINCE 1-Jan-2026"


def test_mailbox_names_are_percent_decoded() -> None:
    assert target("imap://h/Entw%C3%BCrfe;UID=3").mailbox == "Entwürfe"
    assert target("imap://h/a%3Bb").mailbox == "a;b"


@pytest.mark.parametrize(
    "text",
    [
        "imap://h/INBOX;UID=0",
        "imap://h/INBOX;UID=-1",
        "imap://h/INBOX;UID=99999999999",
        "imap://h/INBOX;UID=",
        "imap://h/INBOX;FOO=1",
        "imap://h/;UID=4",
        "imap://h/INBOX;SECTION=HEADER",
        "imap://h/INBOX;UID=4;SECTION=BOGUS%20X",
        "imap://h/INBOX;UID=4?UNSEEN",
        "imap://h/?UNSEEN",
        "imap://h/INBOX%0D%0AX",
        "imap://h/INBOX;UID=1%0d%0a",
    ],
)
def test_rejected(text: str) -> None:
    with pytest.raises(InvalidURL):
        target(text)


def test_urls_built() -> None:
    base = parse_url("imap://alice@h:1430/")
    assert str(mailbox_url(base, "Entwürfe")) == "imap://alice@h:1430/Entw%C3%BCrfe"
    assert str(message_url(base, "INBOX", 42)) == "imap://alice@h:1430/INBOX;UID=42"
    assert str(message_url(base, "a;b", 1, 7)) == "imap://alice@h:1430/a%3Bb;UIDVALIDITY=7;UID=1"
    again = target(str(message_url(base, "台北/日本語", 5, 9)))
    assert (again.mailbox, again.uid, again.uidvalidity) == ("台北/日本語", 5, 9)
