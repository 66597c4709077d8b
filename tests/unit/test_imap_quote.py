"""Command arguments: atoms, quoted strings, literals; flags; search criteria; CR/LF/NUL."""

from __future__ import annotations

import pytest

from protoclients.errors import InvalidInput
from protoclients.protocols.imapquote import (
    Literal,
    astring,
    date_arg,
    flag_list,
    mailbox_arg,
    search_args,
    sequence_set,
)


def test_astring_forms() -> None:
    assert astring("alice") == b"alice"
    assert astring("a b") == b'"a b"'
    assert astring('a"b\\c') == b'"a\\"b\\\\c"'
    assert astring("") == b'""'
    assert astring("NIL") == b'"NIL"'
    assert astring("pässword") == Literal("pässword".encode())
    assert astring("pässword", utf8=True) == '"pässword"'.encode()
    assert isinstance(astring("x" * 2000), Literal)


@pytest.mark.parametrize("bad", ["a\r\nb", "a\nb", "a\rb", "a\0b", "INBOX\r\nA1 DELETE x"])
def test_crlf_nul_rejected_everywhere(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        astring(bad)
    assert bad not in str(info.value)
    with pytest.raises(InvalidInput):
        mailbox_arg(bad)
    with pytest.raises(InvalidInput):
        flag_list([bad])
    with pytest.raises(InvalidInput):
        search_args(f'SUBJECT "{bad}"')


def test_mailbox_encoding() -> None:
    assert mailbox_arg("inbox") == b"INBOX"
    assert mailbox_arg("Entwürfe") == b"Entw&APw-rfe"
    assert mailbox_arg("a&b") == b"a&-b"
    assert mailbox_arg("My Folder") == b'"My Folder"'
    assert mailbox_arg("台北/日本語") == b"&U,BTFw-/&ZeVnLIqe-"
    assert mailbox_arg("Entwürfe", utf8=True) == '"Entwürfe"'.encode()
    with pytest.raises(InvalidInput):
        mailbox_arg("")


def test_flags() -> None:
    assert flag_list(["\\seen", "$Label1", "\\Deleted"]) == b"(\\Seen $Label1 \\Deleted)"
    assert flag_list("\\Flagged") == b"(\\Flagged)"
    for bad in ["\\Recent", "\\Bogus", "a b", "x)", "(x", 'q"', "%", "*", "]"]:
        with pytest.raises(InvalidInput):
            flag_list([bad])


def test_dates_and_sets() -> None:
    assert date_arg("1-jan-2026") == b"1-Jan-2026"
    assert date_arg("01-Feb-2024") == b"1-Feb-2024"
    for bad in ["2026-01-01", "32-Jan-2026", "1-Foo-2026"]:
        with pytest.raises(InvalidInput):
            date_arg(bad)
    assert sequence_set([5, 1, 2, 3, 9, 10]) == b"1:3,5,9:10"
    assert sequence_set("1:*") == b"1:*"
    assert sequence_set(7) == b"7"
    for bad_set in ["0", "1:0", "a", "1,,2", "1 2"]:
        with pytest.raises(InvalidInput):
            sequence_set(bad_set)
    with pytest.raises(InvalidInput):
        sequence_set([])
    with pytest.raises(InvalidInput):
        sequence_set(True)


def test_search_criteria() -> None:
    assert search_args("UNSEEN") == ([b"UNSEEN"], False)
    assert search_args("") == ([b"ALL"], False)
    assert search_args("since 1-Jan-2026")[0] == [b"SINCE", b"1-Jan-2026"]
    assert search_args('FROM "Bob Smith" NOT SEEN')[0] == [b"FROM", b'"Bob Smith"', b"NOT", b"SEEN"]
    assert search_args("OR FROM a FROM b")[0] == [b"OR", b"FROM", b"a", b"FROM", b"b"]
    assert search_args("(SEEN FLAGGED) UID 1:100")[0] == [
        b"(",
        b"SEEN",
        b"FLAGGED",
        b")",
        b"UID",
        b"1:100",
    ]
    assert search_args("HEADER List-Id x LARGER 100")[0] == [
        b"HEADER",
        b"List-Id",
        b"x",
        b"LARGER",
        b"100",
    ]
    args, utf8 = search_args("SUBJECT Grüße")
    assert utf8
    assert args == [b"SUBJECT", Literal("Grüße".encode())]
    # A list of tokens: strings are taken as they are.
    assert search_args(["SUBJECT", 'a "quoted" word'])[0] == [b"SUBJECT", b'"a \\"quoted\\" word"']


@pytest.mark.parametrize(
    "bad",
    [
        "BOGUS",
        "SINCE yesterday",
        "LARGER x",
        "FROM",
        "OR FROM a",
        "(",
        "()",
        'FROM "x',
        "KEYWORD a)",
        "UID 0",
        "HEADER a:b x",
        "NOT",
    ],
)
def test_search_criteria_rejected(bad: str) -> None:
    with pytest.raises(InvalidInput):
        search_args(bad)
