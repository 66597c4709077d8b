"""POP3 URLs: which message a ``pop3://`` URL names, and argument checks.

RFC 2384 defines ``pop://[user[;AUTH=mech]@]host[:port]`` for a mailbox; like curl,
protoclients adds a path naming one message:

* ``pop3://alice@host/3`` - message number 3 (all digits: curl's convention);
* ``pop3://alice@host/UIDL=QhdPYR%3A00WBw1Ph7x7`` - the message whose unique id
  (``UIDL``) is ``QhdPYR:00WBw1Ph7x7`` (percent-encoded; ``UIDL=`` is case-insensitive).
  curl has no such form: it passes the path to ``RETR`` as it is.
* ``pop3://alice@host/`` (or no path) - the whole mailbox.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..errors import InvalidInput, InvalidURL
from ..urls import URL
from .pop3parse import MAX_MESSAGE_NUMBER, MAX_UIDL_LENGTH

__all__ = [
    "MessageRef",
    "check_arg",
    "check_uidl",
    "message_ref",
    "message_url",
    "reject_extra_kwargs",
]

_UIDL_PREFIX = "uidl="
_UIDL_RE = re.compile(rf"[\x21-\x7e]{{1,{MAX_UIDL_LENGTH}}}")


@dataclass(frozen=True)
class MessageRef:
    """One message, by number (valid within one POP3 session) or by unique id (stable)."""

    number: int | None = None
    uidl: str | None = None

    def __str__(self) -> str:
        return f"message {self.number}" if self.number is not None else f"UIDL {self.uidl}"


def check_arg(value: str, what: str) -> str:
    """Refuse CR, LF and NUL in anything that goes on a command line (without echoing it)."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidInput(f"{what} contains CR, LF or NUL", protocol="pop3")
    return value


def check_uidl(uidl: str) -> str:
    """A unique id as RFC 1939 defines it: 1 to 512 printable ASCII characters, no space."""
    check_arg(uidl, "UIDL")
    if not _UIDL_RE.fullmatch(uidl):
        raise InvalidInput(
            "a UIDL is 1 to 512 printable ASCII characters without spaces", protocol="pop3"
        )
    return uidl


def _number(text: str, url: URL) -> int:
    value = int(text)
    if not 0 < value <= MAX_MESSAGE_NUMBER:
        raise InvalidURL(f"message number {value} is out of range", url=url)
    return value


def message_ref(url: URL) -> MessageRef | None:
    """The message a URL names, or ``None`` when it names the mailbox."""
    if url.query:
        raise InvalidURL("POP3 URLs take no query (?...)", url=url)
    path = url.decoded_path
    if path.startswith("/"):
        path = path[1:]
    if not path:
        return None
    if path.isascii() and path.isdigit():
        return MessageRef(number=_number(path, url))
    if path[: len(_UIDL_PREFIX)].lower() == _UIDL_PREFIX:
        return MessageRef(uidl=check_uidl(path[len(_UIDL_PREFIX) :]))
    raise InvalidURL(
        "a POP3 URL path is a message number (/3) or a unique id (/UIDL=<id>)", url=url
    )


def message_url(base: URL, number: int | None = None, uidl: str | None = None) -> URL:
    """The URL of one message on ``base``'s server: ``/<number>`` or ``/UIDL=<id>``."""
    if number is not None:
        path = f"/{number}"
    elif uidl is not None:
        path = "/UIDL=" + quote(uidl, safe="")
    else:
        path = "/"
    return base.replace(path=path, query="", fragment="")


def reject_extra_kwargs(kwargs: dict[str, Any], verb: str) -> None:
    """Refuse keyword arguments a verb does not know (instead of silently ignoring them)."""
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise InvalidInput(f"unknown keyword argument(s) for pop3 {verb}: {names}")
