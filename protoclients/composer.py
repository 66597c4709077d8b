"""Compose an email message without learning the ``email`` package: :func:`compose`.

::

    from protoclients import compose, send

    msg = compose(
        from_="Alice Müller <alice@example.org>",
        to=["bob@example.org", ("Carol", "carol@bücher.example")],
        bcc="archive@example.org",
        subject="Quarterly report",
        text="Hello,\\nthe report is attached.\\n",
        html="<p>Hello,<br>the report is attached.</p>",
        attachments=["report.pdf", ("data.csv", b"a,b\\n1,2\\n", "text/csv")],
    )
    send("smtps://alice@mail.example.org", msg)

Every value that ends up in a header (addresses, display names, the subject, custom header
names and values, attachment file names, the Message-ID) is checked: CR, LF, NUL and other
control characters are **rejected** with :class:`~protoclients.errors.InvalidInput`, never
rewritten (header injection: CVE-2024-6923, gh-121284, gh-80222 on Python versions without
``verify_generated_headers``). Non-ASCII display names, subjects and file names are encoded
correctly (RFC 2047 encoded words, RFC 2231 parameters); domains become IDNA A-labels.

The result is an :class:`email.message.EmailMessage` (policy ``email.policy.default`` with
7-bit transfer encodings: text bodies are quoted-printable or base64 when they are not short
ASCII lines). ``Bcc`` is kept as a header so that ``send`` can read the envelope from it;
``send`` removes it before transmitting. If you serialise the message yourself for another
tool, delete ``msg["Bcc"]`` first.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from email import policy as email_policy
from email import utils as email_utils
from email.errors import NonASCIILocalPartDefect
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, TypeAlias

from .errors import InvalidInput
from .protocols.smtpaddr import check_address, has_control
from .protocols.smtpheaders import render_address_list

__all__ = ["AddressLike", "AddressesLike", "AttachmentLike", "compose"]

#: One address: ``"a@example.org"``, ``"Name <a@example.org>"``, ``(name, address)`` or an
#: :class:`email.headerregistry.Address`.
AddressLike: TypeAlias = str | tuple[str, str] | Address
#: One address or a list of them.
AddressesLike: TypeAlias = AddressLike | Iterable[AddressLike] | None
#: A path (name and type from the file), ``(name, data)`` or ``(name, data, "type/subtype")``.
AttachmentLike: TypeAlias = (
    str | os.PathLike[str] | tuple[str, bytes | str] | tuple[str, bytes | str, str]
)

#: The policy of composed messages: the modern one, 7-bit transfer encodings.
POLICY = email_policy.default.clone(cte_type="7bit")

#: Headers set through their own parameters (or by the MIME structure).
_MANAGED = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")
_MIME_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
_MSGID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message)


def _check_text(value: object, what: str, *, allow_tab: bool = True) -> str:
    if not isinstance(value, str):
        raise _bad(f"{what} must be a string, not {type(value).__name__}")
    text = value.replace("\t", " ") if allow_tab else value
    if has_control(text):
        raise _bad(f"{what} contains CR, LF, NUL or another control character")
    return value


# -- addresses ------------------------------------------------------------------------------


def _address(item: object, what: str) -> Address:
    """One validated address: display name checked, domain as IDNA A-labels."""
    if isinstance(item, Address):
        name, spec = item.display_name, item.addr_spec
    elif isinstance(item, tuple):
        if len(item) != 2:
            raise _bad(f"{what}: a tuple must be (display name, address)")
        name, spec = item
        _check_text(name, f"{what} display name")
        _check_text(spec, f"{what} address")
    elif isinstance(item, str):
        _check_text(item, what)
        header = email_policy.default.header_factory("to", item)
        addresses = header.addresses
        # A non-ASCII local part is fine (RFC 6532; send() then requires SMTPUTF8).
        defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
        if defects or len(addresses) != 1 or any(g.display_name for g in header.groups):
            raise _bad(
                f"{what} must be one address, 'local@domain' or 'Name <local@domain>' "
                "(pass several addresses as a list)"
            )
        name, spec = addresses[0].display_name, addresses[0].addr_spec
    else:
        raise _bad(f"{what} must be a string, a (name, address) tuple or an Address")
    _check_text(name, f"{what} display name")
    checked = check_address(spec, what)
    local, _, domain = checked.address.rpartition("@")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, TypeError):
        raise _bad(f"{what} is not a valid address") from None


def _addresses(value: AddressesLike, what: str) -> list[Address]:
    if value is None:
        return []
    if isinstance(value, (str, tuple, Address)):
        return [_address(value, what)]
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, Iterable):
        raise _bad(f"{what} must be an address or a list of addresses")
    return [_address(item, what) for item in value]


def _set_addresses(msg: EmailMessage, name: str, addresses: list[Address]) -> None:
    """Set an address header. Non-ASCII display names are folded by :mod:`.smtpheaders`,
    because the ``email`` package's own folding can put the separating comma inside an
    encoded word (CVE-2025-1795) on unpatched Pythons."""
    if all(a.display_name.isascii() for a in addresses) or not all(
        a.addr_spec.isascii() for a in addresses
    ):
        msg[name] = addresses
        return
    pairs = [(a.display_name, a.addr_spec) for a in addresses]
    msg.set_raw(name, render_address_list(pairs, linesep="\n"))


# -- headers ----------------------------------------------------------------------------------


def _custom_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> list[tuple[str, str]]:
    if headers is None:
        return []
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    out = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise _bad("headers must be a mapping or (name, value) pairs")
        name, value = pair
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise _bad("a header name must be printable ASCII without spaces or ':'")
        if name.lower() in _MANAGED:
            raise _bad(
                f"set {name} through its own parameter (from_, to, cc, bcc, reply_to, subject, "
                "date, message_id), not through headers="
            )
        out.append((name, _check_text(value, f"header {name}")))
    return out


def _date_header(date: datetime | None) -> str:
    if date is None:
        return email_utils.format_datetime(datetime.now().astimezone())
    if not isinstance(date, datetime):
        raise _bad("date must be a datetime")
    if date.tzinfo is None:
        date = date.astimezone()
    return email_utils.format_datetime(date)


def _message_id(message_id: str | None, sender: Address | None) -> str:
    if message_id is not None:
        _check_text(message_id, "message_id", allow_tab=False)
        if not _MSGID.fullmatch(message_id):
            raise _bad("message_id must look like <unique@domain>")
        return message_id
    domain = sender.domain if sender is not None and sender.domain else "localhost"
    return email_utils.make_msgid(domain=domain)


# -- body and attachments -------------------------------------------------------------------------


def _set_text(msg: EmailMessage, text: str, subtype: str, what: str, *, alternative: bool) -> None:
    if not isinstance(text, str):
        raise _bad(f"{what} must be a string")
    # Control characters other than tab/CR/LF/FF must not travel as raw 7-bit text.
    cte = "quoted-printable" if _BODY_CONTROL.search(text) else None
    if alternative:
        msg.add_alternative(text, subtype=subtype, cte=cte)
    else:
        msg.set_content(text, subtype=subtype, cte=cte)


def _attachment(item: object) -> tuple[str, bytes | str, str]:
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        name = os.path.basename(path)
        try:
            with open(path, "rb") as handle:
                data: bytes | str = handle.read()
        except OSError as exc:
            raise _bad(f"cannot read attachment {path!r}: {exc.strerror}") from None
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    elif isinstance(item, tuple) and len(item) in {2, 3}:
        name, data = item[0], item[1]
        if not isinstance(data, (bytes, bytearray, memoryview, str)):
            raise _bad("attachment data must be bytes or str")
        if not isinstance(data, str):
            data = bytes(data)
        given: Any = item[2] if len(item) == 3 else None
        if given is None:
            guessed = mimetypes.guess_type(name)[0] if isinstance(name, str) else None
            fallback = "text/plain" if isinstance(data, str) else "application/octet-stream"
            given = guessed or fallback
        mime = given
    else:
        raise _bad("an attachment is a path, (name, data) or (name, data, 'type/subtype')")
    _check_text(name, "attachment file name", allow_tab=False)
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise _bad("an attachment file name must be a plain name, without '/' or '\\'")
    if len(name) > 255:
        raise _bad("an attachment file name is longer than 255 characters")
    if not isinstance(mime, str) or not _MIME_TYPE.fullmatch(mime):
        raise _bad("an attachment type must look like 'type/subtype'")
    if mime.split("/", 1)[0].lower() in {"multipart", "message"}:
        raise _bad("multipart/* and message/* attachments are not supported; attach bytes")
    return name, data, mime.lower()


def _add_attachment(msg: EmailMessage, name: str, data: bytes | str, mime: str) -> None:
    maintype, subtype = mime.split("/", 1)
    if isinstance(data, str):
        if maintype == "text":
            cte = "quoted-printable" if _BODY_CONTROL.search(data) else None
            msg.add_attachment(data, subtype=subtype, filename=name, cte=cte)
            return
        data = data.encode("utf-8")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


# -- compose ------------------------------------------------------------------------------------


def compose(
    *,
    from_: AddressLike,
    to: AddressesLike = None,
    cc: AddressesLike = None,
    bcc: AddressesLike = None,
    reply_to: AddressesLike = None,
    subject: str = "",
    text: str | None = None,
    html: str | None = None,
    attachments: Iterable[AttachmentLike] = (),
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    date: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """Build an :class:`email.message.EmailMessage` ready for ``send``.

    Args:
        from_: the author: ``"a@example.org"``, ``"Name <a@example.org>"``, ``(name, addr)``
            or an :class:`~email.headerregistry.Address`.
        to, cc, bcc, reply_to: one address or a list (same forms). ``Bcc`` stays a header so
            ``send`` can take the envelope from it; ``send`` never transmits it.
        subject: the subject (may be non-ASCII; long ones are folded).
        text: the plain-text body. html: the HTML body. Both: ``multipart/alternative``.
        attachments: paths (name and type from the file), ``(name, data)`` or
            ``(name, data, "type/subtype")`` with ``data`` as bytes or str.
        headers: extra headers (a mapping or ``(name, value)`` pairs), e.g.
            ``{"X-Priority": "1", "In-Reply-To": "<id@example.org>"}``.
        date: the ``Date`` (default: now, local time zone; a naive datetime is local time).
        message_id: the ``Message-ID`` (default: a new unique one on the sender's domain).

    Raises :class:`~protoclients.errors.InvalidInput` for a value with CR, LF, NUL or another
    control character, an invalid address, a managed header in ``headers``, or an unreadable
    attachment.
    """
    sender = _address(from_, "from_")
    recipients = {
        "To": _addresses(to, "to"),
        "Cc": _addresses(cc, "cc"),
        "Bcc": _addresses(bcc, "bcc"),
        "Reply-To": _addresses(reply_to, "reply_to"),
    }
    _check_text(subject, "subject")
    extra = _custom_headers(headers)
    files = [_attachment(item) for item in attachments]
    msg = EmailMessage(policy=POLICY)
    _set_addresses(msg, "From", [sender])
    for name, addresses in recipients.items():
        if addresses:
            _set_addresses(msg, name, addresses)
    if subject:
        msg["Subject"] = subject
    msg["Date"] = _date_header(date)
    msg["Message-ID"] = _message_id(message_id, sender)
    for name, value in extra:
        try:
            msg[name] = value
        except (ValueError, TypeError) as exc:
            raise _bad(f"header {name}: {exc}") from None
        header: Any = msg.get(name)
        if getattr(header, "defects", None) and hasattr(header, "addresses"):
            raise _bad(f"header {name} is not a valid address list")
    if text is not None:
        _set_text(msg, text, "plain", "text", alternative=False)
        if html is not None:
            _set_text(msg, html, "html", "html", alternative=True)
    elif html is not None:
        _set_text(msg, html, "html", "html", alternative=False)
    elif not files:
        msg.set_content("")
    else:
        msg.make_mixed()
        msg["MIME-Version"] = "1.0"
    for name, data, mime in files:
        _add_attachment(msg, name, data, mime)
    return msg
