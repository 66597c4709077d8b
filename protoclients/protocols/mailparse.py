"""Turning raw message bytes from a mail server into an ``EmailMessage``."""

from __future__ import annotations

import email.parser
import email.policy
from email.message import EmailMessage

__all__ = ["parse_message"]

_PARSER = email.parser.BytesParser(policy=email.policy.default)


def parse_message(
    data: bytes | bytearray | memoryview, *, headers_only: bool = False
) -> EmailMessage:
    """Parse a message as received over IMAP/POP3 (CRLF line endings).

    Line endings are normalised to ``\\n`` first, as the ``email`` package expects, so
    ``msg.get_content()`` gives text with ``\\n`` and ``msg.as_bytes(policy=email.policy.SMTP)``
    gives the CRLF form again.
    """
    raw = bytes(data).replace(b"\r\n", b"\n")
    return _PARSER.parsebytes(raw, headersonly=headers_only)
