"""The mail round trip through the uniform verbs on the local servers, with TLS.

A message sent with ``protoclients.send("smtp...")`` must be found by ``ls`` and ``fetch``
over both IMAP and POP3, byte-identical in body, and ``delete`` must remove it.
"""

from __future__ import annotations

import email.policy
from pathlib import Path
from typing import Any

import pytest

import protoclients as pc

pytestmark = pytest.mark.timeout(30)

SEND_MODES = {
    "smtp+starttls": ("smtp_url", {"tls": "starttls"}),
    "smtps": ("smtps_url", {}),
}
READ_MODES = {
    "imap+starttls": ("imap_url", "INBOX", {"tls": "starttls"}),
    "imaps": ("imaps_url", "INBOX", {}),
    "pop3+starttls": ("pop3_url", "", {"tls": "starttls"}),
    "pop3s": ("pop3s_url", "", {}),
}


def _with_user(url: str, user: str) -> str:
    return url.replace("://", f"://{user}@", 1)


@pytest.mark.parametrize("send_mode", list(SEND_MODES))
@pytest.mark.parametrize("read_mode", list(READ_MODES))
def test_sent_message_is_listed_fetched_and_deleted(
    pc_mail: Any, send_mode: str, read_mode: str, tmp_path: Path
) -> None:
    user, password = next(iter(pc_mail.users.items()))
    auth = {"password": password, "ca_file": pc_mail.ca_file}
    attr, send_opts = SEND_MODES[send_mode]
    body = "Line one\nLine two with ünïcode\n.leading dot\n"
    msg = pc.compose(from_=f"{user}@example.test", to=f"{user}@example.test",
                     subject=f"contract {send_mode} {read_mode}", text=body)
    result = pc.send(_with_user(getattr(pc_mail, attr), user), msg, **auth, **send_opts)
    assert result.accepted == [f"{user}@example.test"] and not result.partial

    read_attr, mailbox, read_opts = READ_MODES[read_mode]
    base = _with_user(getattr(pc_mail, read_attr), user) + mailbox
    entries = pc.ls(base, **auth, **read_opts)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.kind == "message" and entry.size and password not in entry.url

    parsed = pc.fetch(entry.url, **auth, **read_opts)
    assert parsed["Subject"] == msg["Subject"]
    assert parsed.get_content() == body
    stored = pc_mail.store.messages(user, "INBOX")[0].data
    result_file = pc.fetch(entry.url, tmp_path / "m.eml", **auth, **read_opts)
    assert (tmp_path / "m.eml").read_bytes() == stored
    assert result_file.bytes == len(stored)
    sent_body = msg.as_bytes(policy=email.policy.SMTP).split(b"\r\n\r\n", 1)[1]
    assert stored.split(b"\r\n\r\n", 1)[1] == sent_body

    pc.delete(entry.url, **auth, **read_opts)
    assert pc.ls(base, **auth, **read_opts) == []
    assert pc_mail.store.messages(user, "INBOX") == []
