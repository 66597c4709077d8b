"""SMTP envelope addresses and EHLO names: validation, IDNA, the SMTPUTF8 decision.

An address that goes on a ``MAIL FROM`` or ``RCPT TO`` line is checked strictly and
**rejected, never rewritten** (bpo-43124: ``smtplib.quoteaddr`` silently turns
``a@b>\\r\\nRCPT TO:<evil@x>`` into something else): CR, LF, NUL and every other control
character, ``<``, ``>``, spaces, commas and quoted local parts are refused with
:class:`~protoclients.errors.InvalidInput` before anything is sent.

Domains are converted to IDNA A-labels (``user@bücher.example`` is sent as
``user@xn--bcher-kva.example``), which needs no extension. A local part with non-ASCII
characters needs the server's ``SMTPUTF8`` extension (RFC 6531): :class:`EnvelopeAddress`
says so in ``smtputf8``.

Pure functions, no I/O; importing this module imports neither ``email`` nor ``smtplib``.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass

from ..errors import InvalidInput

__all__ = [
    "MAX_DOMAIN",
    "MAX_LOCAL_PART",
    "MAX_PATH",
    "EnvelopeAddress",
    "check_address",
    "check_ehlo_name",
    "domain_to_ascii",
    "has_control",
]

#: RFC 5321 4.5.3.1.1: a local part is at most 64 octets.
MAX_LOCAL_PART = 64
#: RFC 5321 4.5.3.1.2: a domain is at most 255 octets (253 in practice for names).
MAX_DOMAIN = 253
#: RFC 5321 4.5.3.1.3: a path (``<...>``) is at most 256 octets, so an address at most 254.
MAX_PATH = 254

# RFC 5322 atext, without the dot (dots are checked separately).
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: The common case, checked in one step: an ASCII dot-atom at an ASCII domain name.
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True)
class EnvelopeAddress:
    """One validated envelope address.

    Attributes:
        address: what goes between ``<`` and ``>`` (domain as IDNA A-labels).
        smtputf8: whether the local part is non-ASCII, so the server must offer ``SMTPUTF8``.
    """

    address: str
    smtputf8: bool = False

    def __str__(self) -> str:
        return self.address


def has_control(text: str) -> bool:
    """Whether ``text`` has a control, format or surrogate character (CR, LF, NUL, DEL, C1...)."""
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            return True
        if code >= 0x80 and unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}:
            return True
    return False


def _bad(what: str, reason: str) -> InvalidInput:
    # The offending value is not echoed: it may hold CR/LF meant to paint the terminal.
    return InvalidInput(f"invalid {what}: {reason}", protocol="smtp")


def domain_to_ascii(domain: str, what: str = "address") -> str:
    """A domain as ASCII: IDNA A-labels (IDNA 2008 with UTS 46 mapping); checked as LDH labels.

    An address literal (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``) is checked and returned as is.
    """
    if domain.startswith("["):
        if not domain.endswith("]"):
            raise _bad(what, "unterminated address literal")
        inner = domain[1:-1]
        try:
            if inner[:5].lower() == "ipv6:":
                ipaddress.IPv6Address(inner[5:])
            else:
                ipaddress.IPv4Address(inner)
        except ValueError:
            raise _bad(what, "the address literal is not an IP address") from None
        return domain
    if not domain.isascii():
        domain = _idna_encode(domain, what)
    if domain.endswith("."):
        raise _bad(what, "the domain ends with a dot")
    if len(domain) > MAX_DOMAIN:
        raise _bad(what, f"the domain is longer than {MAX_DOMAIN} characters")
    labels = domain.split(".")
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise _bad(
            what,
            "the domain must be labels of letters, digits and hyphens separated by dots",
        )
    return domain


def _idna_encode(domain: str, what: str) -> str:
    try:
        import idna  # a dependency of requests; implements IDNA 2008 (RFC 5891) + UTS 46
    except ImportError:  # pragma: no cover - requests always brings it
        try:
            return domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise _bad(what, "the domain is not a valid internationalised domain name") from None
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise _bad(what, "the domain is not a valid internationalised domain name") from None


def _check_local_part(local: str, what: str) -> bool:
    """Check a dot-atom local part; return whether it is non-ASCII (needs SMTPUTF8)."""
    if not local:
        raise _bad(what, "the part before '@' is empty")
    if local.startswith('"'):
        raise _bad(what, "quoted local parts are not supported")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise _bad(what, "dots must separate non-empty parts of the name before '@'")
    non_ascii = False
    for ch in local:
        if ch == "." or ch in _ATEXT:
            continue
        if ord(ch) >= 0x80 and not ch.isspace():
            non_ascii = True
            continue
        raise _bad(what, f"character {_show(ch)} is not allowed before '@'")
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        raise _bad(what, f"the part before '@' is longer than {MAX_LOCAL_PART} octets")
    return non_ascii


def _show(ch: str) -> str:
    return repr(ch) if ch.isprintable() and ch not in "\r\n" else f"U+{ord(ch):04X}"


def check_address(text: object, what: str = "address") -> EnvelopeAddress:
    """Validate one envelope address (``local@domain``, no display name, no ``<>``).

    ``postmaster`` alone (RFC 5321 4.5.1) is accepted. Raises
    :class:`~protoclients.errors.InvalidInput` naming ``what`` (the value is not echoed).
    """
    if type(text) is str:
        known = _CHECKED.get(text)
        if known is not None:
            return known
    elif not isinstance(text, str):
        raise InvalidInput(f"{what} must be a string, not {type(text).__name__}", protocol="smtp")
    if _PLAIN_ADDRESS.fullmatch(text) and len(text) <= MAX_PATH:
        local, _, domain = text.rpartition("@")
        if len(local) <= MAX_LOCAL_PART and len(domain) <= MAX_DOMAIN:
            return _remember(text, EnvelopeAddress(text))
    if has_control(text):
        raise _bad(what, "it contains a control character (CR, LF, NUL...)")
    if "<" in text or ">" in text:
        raise _bad(what, "give the bare address (local@domain), without '<', '>' or a name")
    if any(ch.isspace() for ch in text):
        raise _bad(what, "it contains white space")
    if text.lower() == "postmaster":
        return _remember(text, EnvelopeAddress(text))
    local, at, domain = text.rpartition("@")
    if not at:
        raise _bad(what, "it has no '@domain'")
    if not domain:
        raise _bad(what, "the domain after '@' is empty")
    if "@" in local:
        raise _bad(what, "it has more than one '@'")
    non_ascii = _check_local_part(local, what)
    ascii_domain = domain_to_ascii(domain, what)
    address = f"{local}@{ascii_domain}"
    if len(address.encode("utf-8")) > MAX_PATH:
        raise _bad(what, f"it is longer than {MAX_PATH} octets")
    return _remember(text, EnvelopeAddress(address, smtputf8=non_ascii))


#: Addresses already validated (the same sender, often the same recipients, come back with
#: every message): text -> result. Only successes are kept; the check is a pure function.
_CHECKED: dict[str, EnvelopeAddress] = {}
_CHECKED_MAX = 1024


def _remember(text: str, checked: EnvelopeAddress) -> EnvelopeAddress:
    if type(text) is str:
        if len(_CHECKED) >= _CHECKED_MAX:
            _CHECKED.clear()
        _CHECKED[text] = checked
    return checked


def check_ehlo_name(name: str) -> str:
    """Validate the name sent with ``EHLO``/``HELO``: a domain (IDNA-encoded) or an address
    literal. Returns the ASCII form."""
    if not name:
        raise _bad("EHLO name", "it is empty")
    if has_control(name) or any(ch.isspace() for ch in name):
        raise _bad("EHLO name", "it contains a control character or white space")
    return domain_to_ascii(name, "EHLO name")
