"""Address headers rendered so that parsing them gives back exactly the same addresses.

On Python versions without the fix for CVE-2025-1795 (3.11.7 here), the ``email`` package
folds a long address list with non-ASCII display names into a form where the comma between
two addresses is *inside* an encoded word (``=?utf-8?q?=2C?=``): a reader then sees one
address fewer (found by the property test in ``tests/unit/test_compose.py``). The recipients
shown in ``To``/``Cc`` would not be the ones the message was sent to.

:func:`render_address_list` writes such a header itself, pre-folded: one address per line,
each display name as a quoted string (ASCII) or as RFC 2047 encoded words of at most 75
characters (non-ASCII), each on a line of its own; the separating commas are never encoded.
:func:`protect_address_headers` swaps it in for the ``email`` package's own folding where a
message has non-ASCII display names. Pure functions on ``email`` objects; no I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from email.message import Message
from typing import Any

__all__ = [
    "ADDRESS_HEADERS",
    "encode_display_name",
    "protect_address_headers",
    "render_address_list",
]

#: Headers whose values are address lists.
ADDRESS_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
    }
)
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ "
)
#: UTF-8 bytes per encoded word: base64 of 45 bytes is 60 characters, 72 with the wrapper.
_WORD_BYTES = 45


def encode_display_name(name: str) -> list[str]:
    """The display name as header tokens: atoms, one quoted string, or encoded words."""
    if name.isascii():
        if name and all(ch in _ATEXT for ch in name) and name == " ".join(name.split()):
            return [name]
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{escaped}"']
    words: list[str] = []
    chunk = b""
    for ch in name:
        encoded = ch.encode("utf-8", "surrogatepass")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk.decode("utf-8", "surrogatepass"))
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(chunk.decode("utf-8", "surrogatepass"))
    return [
        "=?utf-8?b?" + base64.b64encode(word.encode("utf-8")).decode("ascii") + "?="
        for word in words
    ]


def render_address_list(addresses: Sequence[tuple[str, str]], linesep: str = "\r\n") -> str:
    """A pre-folded header value for ``(display name, addr-spec)`` pairs."""
    items = []
    for name, spec in addresses:
        if not name:
            items.append(spec)
            continue
        tokens = encode_display_name(name)
        items.append(f"{linesep} ".join([*tokens[:-1], f"{tokens[-1]} <{spec}>"]))
    return f",{linesep} ".join(items)


def _needs_protection(value: Any) -> bool:
    addresses = getattr(value, "addresses", None)
    if not addresses:
        return False
    return any(not addr.display_name.isascii() for addr in addresses)


def protect_address_headers(msg: Message) -> None:
    """Re-render, in place and keeping their order, the address headers of ``msg`` that have
    non-ASCII display names (see the module docstring).

    ``msg`` must be a copy the caller owns (its header list is replaced, not mutated).
    """
    headers: list[tuple[str, Any]] | None = getattr(msg, "_headers", None)
    if headers is None:
        return
    if not any(name.lower() in ADDRESS_HEADERS and _needs_protection(v) for name, v in headers):
        return
    rebuilt = []
    for name, value in headers:
        if name.lower() in ADDRESS_HEADERS and _needs_protection(value):
            groups = getattr(value, "groups", ())
            if any(group.display_name is not None for group in groups):
                rebuilt.append((name, value))  # groups are rare; keep the library's folding
                continue
            pairs = [(addr.display_name, addr.addr_spec) for addr in value.addresses]
            rebuilt.append((name, render_address_list(pairs)))
            continue
        rebuilt.append((name, value))
    msg._headers = rebuilt  # type: ignore[attr-defined]
