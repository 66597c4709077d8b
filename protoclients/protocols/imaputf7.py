"""Modified UTF-7 (RFC 3501 section 5.1.3): how IMAP4rev1 spells non-ASCII mailbox names.

Printable US-ASCII (0x20-0x7E) stands for itself, except ``&``, written ``&-``. Any other
run of characters is written as ``&`` + the base64 of its UTF-16BE form (with ``,``
instead of ``/`` and no ``=`` padding) + ``-``::

    >>> encode("Entwürfe")
    'Entw&APw-rfe'
    >>> decode("&U,BTFw-/&ZeVnLIqe-")
    '台北/日本語'

The decoder is strict: it accepts exactly what :func:`encode` produces, so every valid
name has one spelling. It rejects a shift sequence without its closing ``-``, two shift
sequences side by side (they must be one), a shift sequence that encodes printable ASCII,
leftover bits, broken surrogate pairs and raw 8-bit or control characters, raising
:class:`ModifiedUTF7Error` (a :class:`ValueError`). Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["ModifiedUTF7Error", "decode", "encode"]

_B64_ALPHABET = re.compile(r"[A-Za-z0-9+,]*")


class ModifiedUTF7Error(ValueError):
    """A mailbox name is not valid (canonical) modified UTF-7."""


def _is_direct(char: str) -> bool:
    return 0x20 <= ord(char) <= 0x7E


def _encode_run(run: str) -> str:
    data = run.encode("utf-16-be", "surrogatepass")
    text = base64.b64encode(data).decode("ascii").rstrip("=")
    return "&" + text.replace("/", ",") + "-"


def encode(name: str) -> str:
    """Encode a Unicode mailbox name to modified UTF-7."""
    out: list[str] = []
    run: list[str] = []
    for char in name:
        if _is_direct(char):
            if run:
                out.append(_encode_run("".join(run)))
                run = []
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    if run:
        out.append(_encode_run("".join(run)))
    return "".join(out)


def _decode_run(text: str, original: str) -> str:
    if not _B64_ALPHABET.fullmatch(text):
        raise ModifiedUTF7Error(f"invalid character in a modified UTF-7 run: {original!r}")
    bits = len(text) * 6
    if bits % 16 >= 6:
        # A whole base64 character left over: not something an encoder produces.
        raise ModifiedUTF7Error(f"truncated modified UTF-7 run: {original!r}")
    padded = text.replace(",", "/") + "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ModifiedUTF7Error(f"invalid base64 in modified UTF-7: {original!r}") from None
    if len(data) % 2:
        raise ModifiedUTF7Error(f"odd number of bytes in modified UTF-7 run: {original!r}")
    # Canonical: the unused low bits of the last base64 character must be zero.
    if base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") != text:
        raise ModifiedUTF7Error(f"non-canonical modified UTF-7 run: {original!r}")
    try:
        decoded = data.decode("utf-16-be")  # strict: refuses lone surrogates
    except UnicodeDecodeError:
        raise ModifiedUTF7Error(f"broken UTF-16 in modified UTF-7: {original!r}") from None
    if any(_is_direct(char) for char in decoded):
        raise ModifiedUTF7Error(
            f"modified UTF-7 run encodes printable ASCII (non-canonical): {original!r}"
        )
    return decoded


def decode(name: str) -> str:
    """Decode a modified UTF-7 mailbox name; raise :class:`ModifiedUTF7Error` if invalid."""
    out: list[str] = []
    pos = 0
    length = len(name)
    previous_was_run = False
    while pos < length:
        char = name[pos]
        if not _is_direct(char):
            raise ModifiedUTF7Error(f"mailbox name has a character that must be encoded: {name!r}")
        if char != "&":
            out.append(char)
            pos += 1
            previous_was_run = False
            continue
        end = name.find("-", pos + 1)
        if end == -1:
            raise ModifiedUTF7Error(f"modified UTF-7 run without its closing '-': {name!r}")
        if end == pos + 1:
            out.append("&")
            previous_was_run = False
        else:
            if previous_was_run:
                raise ModifiedUTF7Error(
                    f"two adjacent modified UTF-7 runs (non-canonical): {name!r}"
                )
            out.append(_decode_run(name[pos + 1 : end], name))
            previous_was_run = True
        pos = end + 1
    return "".join(out)
