"""TLS-06: invalid greetings (Mutt CVE-2020-28896).

``HTTP/1.1 400``, ``* BYE``, ``-ERR``, ``554``, binary garbage, a line without CRLF: the
client aborts before any login; the message says "unexpected greeting".  Where server text
may be shown (plain sessions and implicit TLS), it is escaped and truncated; in a STARTTLS
session the greeting is unauthenticated plaintext and is not shown at all (see TLS-10).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from protoclients_fixtures import HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp

from protoclients.errors import ConnectionFailed, ProtoClientError, ProtocolError

pytestmark = pytest.mark.timeout(20)

Make = Callable[..., HostileServer]

EVIL = b"\x1b]8;;http://evil.example\x07re-enter your password\x1b]8;;\x07\r" + b"A" * 900
GREETINGS: dict[str, bytes] = {
    "http-400": b"HTTP/1.1 400 Bad Request " + EVIL + b"\r\nContent-Length: 0\r\n\r\n",
    "imap-bye": b"* BYE " + EVIL + b"\r\n",
    "pop3-err": b"-ERR " + EVIL + b"\r\n",
    "smtp-554": b"554 " + EVIL + b"\r\n",
    "binary": bytes(range(1, 10)) + bytes(range(11, 32)) + b"\xff\xfe\x80" + EVIL + b"\r\n",
    "no-crlf": b"garbage without end of line " + EVIL,
}
SCHEMES = {"none": "{}", "implicit": "{}s", "starttls": "{}"}


def _cases() -> list[tuple[str, str, str]]:
    return [
        (proto, name, mode)
        for proto in hp.STARTTLS_PROTOCOLS
        for name in sorted(GREETINGS)
        for mode in SCHEMES
    ]


@pytest.mark.parametrize(("proto", "greeting", "mode"), _cases())
def test_TLS_06_invalid_greeting_aborts_before_login(
    proto: str, greeting: str, mode: str, pc_hostile: Make, pc_ca: TestCA
) -> None:
    data = GREETINGS[greeting]
    steps: list[h.Step] = [h.send(data)]
    steps += [h.close()] if greeting == "no-crlf" else [h.stall(3)]
    srv = pc_hostile(steps, implicit_tls=mode == "implicit")
    options = {"ca_file": pc_ca.ca_file}
    if mode != "implicit":
        options["tls"] = mode
    with pytest.raises(ProtoClientError) as info:
        hp.drive(proto, srv, scheme=SCHEMES[mode].format(proto), timeout=3, **options)
    error = info.value
    text = str(error)
    assert srv.wait(8)
    assert hp.problems(srv, proto) == []
    assert srv.lines == []  # not a single command after a bad greeting
    if greeting == "no-crlf":
        # The line never ends, the connection closes under it: either judgement is fine.
        assert isinstance(error, ConnectionFailed | ProtocolError), repr(error)
    else:
        assert "unexpected greeting" in text.lower(), text
    # Never the raw control characters; bounded length.
    assert not any(ch in text for ch in "\x1b\x07\r\n\x00"), repr(text)
    assert len(text) < 600, len(text)
    if mode == "starttls":
        assert "evil" not in text and "re-enter" not in text, text
    elif greeting != "no-crlf":
        assert error.reply is not None and "\\x1b" in error.reply, error.reply
        assert len(error.reply) <= 300
