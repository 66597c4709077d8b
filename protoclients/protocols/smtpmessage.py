"""What ``SMTPClient.send`` sends: the envelope and the encoded ``DATA`` payload of a message.

:func:`prepare_message` turns any accepted source (an ``email.message.EmailMessage`` or
``Message``, bytes, a path, a binary file object) into a :class:`PreparedMessage`, and does
every check that needs no server **before anything is sent**:

* **Envelope**: explicit ``mail_from`` / ``to`` / ``cc`` / ``bcc`` win; otherwise ``MAIL
  FROM`` is the ``Sender`` (else the first ``From``) address and the recipients are every
  ``To``, ``Cc`` and ``Bcc`` address (the ``Resent-`` fields for a resent message, as in
  RFC 5322 3.6.6 and ``smtplib.send_message``). Every address is validated by
  :mod:`.smtpaddr`; a header that does not parse cleanly is refused, not guessed at.
* **Bcc is removed** from what is transmitted (``Bcc`` and ``Resent-Bcc``); for raw bytes
  and files the rest of the header section is left byte for byte.
* **Header injection**: a header name or value of a ``Message`` with CR, LF (other than
  folding) or NUL is refused (Python 3.11.7 has no ``verify_generated_headers``).
* **Serialisation** of a ``Message``: CRLF line ends, no ``From `` mangling, 7-bit transfer
  encodings (``cte_type="7bit"``) unless an address needs SMTPUTF8 (then UTF-8 headers,
  RFC 6532). A part with a line longer than 998 octets is re-encoded (quoted-printable for
  text, base64 otherwise) instead of being sent broken.
* **Payload**: see :mod:`.smtpdata` (CRLF, dot-stuffing, line bound). Raw bytes with a line
  over 998 octets are refused with :class:`~protoclients.errors.InvalidInput`. A seekable
  file is scanned once before sending (so its size is known for ``SIZE=`` and a bad line is
  refused up front) and then streamed; a non-seekable one is only streamed.
"""

from __future__ import annotations

import copy
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email import policy as email_policy
from email.errors import NonASCIILocalPartDefect
from email.generator import BytesGenerator
from email.message import Message
from email.policy import EmailPolicy
from typing import IO, Any

from ..errors import InvalidInput
from .smtpaddr import EnvelopeAddress, check_address, has_control
from .smtpdata import (
    ENVELOPE_FIELDS,
    MAX_HEAD,
    MAX_LINE,
    DataEncoder,
    LineTooLong,
    envelope_fields,
    find_head_end,
    strip_bcc,
)
from .smtpheaders import protect_address_headers

__all__ = ["AddressList", "PreparedMessage", "check_message_headers", "prepare_message"]

#: One address or several, as accepted by ``send(to=..., cc=..., bcc=...)``.
AddressList = str | Iterable[str] | None

_CHUNK = 256 * 1024


@dataclass
class PreparedMessage:
    """A message ready to go: its envelope and a way to produce the ``DATA`` payload.

    Attributes:
        mail_from: the ``MAIL FROM`` address (``""`` for the null reverse path).
        recipients: the ``RCPT TO`` addresses, in order, without duplicates.
        smtputf8: whether the transaction needs ``SMTPUTF8``.
        eight_bit: whether the payload has 8-bit bytes (``None``: not known in advance).
        size: the payload size in bytes, when known in advance.
        message_id: the ``Message-ID`` header, if any.
    """

    mail_from: str
    recipients: list[str]
    smtputf8: bool
    eight_bit: bool | None
    size: int | None
    message_id: str | None
    payload: bytes | None = None
    _stream: Callable[[], Iterator[bytes]] | None = field(default=None, repr=False)
    _close: Callable[[], None] | None = field(default=None, repr=False)

    def chunks(self) -> Iterable[bytes]:
        """The encoded payload (ending with ``.CRLF``), in one or more chunks."""
        if self.payload is not None:
            return (self.payload,)
        assert self._stream is not None
        return self._stream()

    def close(self) -> None:
        """Release the source (close a file this module opened)."""
        if self._close is not None:
            close, self._close = self._close, None
            close()


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, protocol="smtp")


# -- envelope -------------------------------------------------------------------------------


def _as_list(value: AddressList, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, bytearray)):
        raise _bad(f"{what} must be a string or a list of strings, not bytes")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise _bad(f"{what} must be a string or a list of strings")
    return items


def _dedupe(addresses: list[EnvelopeAddress]) -> list[EnvelopeAddress]:
    if len(addresses) < 2:
        return addresses
    seen: set[str] = set()
    out = []
    for addr in addresses:
        local, _, domain = addr.address.rpartition("@")
        key = f"{local}@{domain.lower()}"
        if key not in seen:
            seen.add(key)
            out.append(addr)
    return out


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
#: The common header forms, parsed without the email package: ``a@b.c`` or
#: ``Plain Words <a@b.c>`` (anything else goes through the full RFC 5322 parser).
_SIMPLE_ADDRESS = re.compile(
    rf"(?P<bare>{_ADDR_SPEC})|(?:{_ATOM}(?:[ \t]+{_ATOM})*[ \t]*)?<(?P<angle>{_ADDR_SPEC})>"
)


#: Header values of the simple forms already seen -> their addr-spec (the same From comes
#: back with every message of a batch).
_SIMPLE_SEEN: dict[str, str] = {}


def _header_addresses(name: str, value: Any) -> list[str]:
    """The addr-specs in one address header (a header object or a raw string)."""
    header = value
    if type(value) is str or not hasattr(header, "addresses"):
        # Unfold (a raw value may be folded; line breaks not used as folding were refused).
        text = str(value)
        if "\r" in text or "\n" in text:
            text = text.replace("\r", "").replace("\n", "")
        stripped = text.strip(" \t")
        known = _SIMPLE_SEEN.get(stripped)
        if known is not None:
            return [known]
        simple = _SIMPLE_ADDRESS.fullmatch(stripped)
        if simple is not None:
            spec = simple.group("angle") or simple.group("bare")
            if len(_SIMPLE_SEEN) >= 1024:
                _SIMPLE_SEEN.clear()
            _SIMPLE_SEEN[stripped] = spec
            return [spec]
        if has_control(text.replace("\t", " ")):
            raise _bad(f"the {name} header contains a control character (CR, LF, NUL...)")
        try:
            header = email_policy.default.header_factory(name, text)
        except Exception:  # the email parser's own errors (ValueError, HeaderParseError...)
            raise _bad(
                f"the {name} header does not parse as an address list; "
                "give the envelope explicitly (mail_from=..., to=...)"
            ) from None
    # A non-ASCII local part is legal with SMTPUTF8 (RFC 6532); it is decided later.
    defects = [
        d for d in getattr(header, "defects", ()) if not isinstance(d, NonASCIILocalPartDefect)
    ]
    if defects:
        raise _bad(
            f"the {name} header does not parse as a clean address list; "
            "give the envelope explicitly (mail_from=..., to=...)"
        )
    return [addr.addr_spec for addr in header.addresses]


class _HeaderEnvelope:
    """The envelope as the headers give it, parsed only as far as it is asked for."""

    def __init__(self, get_all: Callable[[str], list[Any]]) -> None:
        self._get_all = get_all
        self._found: dict[str, list[str]] = {}
        resent_dates = get_all("resent-date")
        if len(resent_dates) > 1:
            raise _bad("the message has more than one Resent- block; give the envelope explicitly")
        self._prefix = "resent-" if resent_dates else ""

    def addresses(self, name: str) -> list[str]:
        found = self._found.get(name)
        if found is None:
            values = self._get_all(name)
            found = [a for v in values for a in _header_addresses(name, v)] if values else []
            self._found[name] = found
        return found

    @property
    def mail_from(self) -> str | None:
        p = self._prefix
        senders = self.addresses(p + "sender") or self.addresses(p + "from")
        return senders[0] if senders else None

    @property
    def recipients(self) -> list[str]:
        return [a for name in ("to", "cc", "bcc") for a in self.addresses(self._prefix + name)]

    def non_ascii(self) -> bool:
        """Whether an address shown in the headers has a non-ASCII local part (lenient:
        a header that does not parse does not count)."""
        p = self._prefix
        for name in {"from", "sender", "to", "cc", "reply-to", p + "from", p + "to", p + "cc"}:
            try:
                found = self.addresses(name)
            except InvalidInput:
                continue
            if any(not a.rpartition("@")[0].isascii() for a in found):
                return True
        return False


def _resolve_envelope(
    headers: _HeaderEnvelope | None,
    mail_from: str | None,
    to: AddressList,
    cc: AddressList,
    bcc: AddressList,
) -> tuple[str, list[EnvelopeAddress], bool]:
    """``(MAIL FROM, RCPT TO list, needs SMTPUTF8)``; explicit values win over headers."""
    smtputf8 = False
    if mail_from is not None:
        if not isinstance(mail_from, str):
            raise _bad("mail_from must be a string")
        if mail_from == "":
            sender = ""
        else:
            checked = check_address(mail_from, "mail_from")
            sender, smtputf8 = checked.address, checked.smtputf8
    elif headers is not None and (header_sender := headers.mail_from) is not None:
        checked = check_address(header_sender, "sender address (From/Sender header)")
        sender, smtputf8 = checked.address, checked.smtputf8
    else:
        raise _bad("no sender: the message has no From header; pass mail_from=...")
    if to is not None or cc is not None or bcc is not None:
        recipients = [
            *[check_address(a, "to address") for a in _as_list(to, "to")],
            *[check_address(a, "cc address") for a in _as_list(cc, "cc")],
            *[check_address(a, "bcc address") for a in _as_list(bcc, "bcc")],
        ]
    elif headers is not None:
        recipients = [
            check_address(a, "recipient address (To/Cc/Bcc header)") for a in headers.recipients
        ]
    else:
        recipients = []
    recipients = _dedupe(recipients)
    if not recipients:
        raise _bad("no recipients: the message has no To, Cc or Bcc; pass to=...")
    smtputf8 = smtputf8 or any(r.smtputf8 for r in recipients)
    return sender, recipients, smtputf8


# -- Message objects ----------------------------------------------------------------------------


def check_message_headers(msg: Message) -> None:
    """Refuse header names or values (in every part) that would inject header lines.

    A value may contain a line break only as folding (followed by a space or a tab); NUL
    and other control characters except tab are refused everywhere.
    """
    for part in msg.walk():
        for name, value in part.raw_items():
            if not _HEADER_NAME.fullmatch(name):
                raise _bad("a header name is empty or has characters that are not allowed")
            if _BAD_VALUE.search(str(value)) is not None:
                raise _bad(
                    f"the {name} header contains CR, LF (not as folding), NUL or another "
                    "control character"
                )


# A line break not followed by folding white space, or a control character other than tab.
_BAD_VALUE = re.compile(
    r"\r\n(?![ \t])|\r(?![\n \t])|(?<!\r)\n(?![ \t])|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")


#: Serialisation policies derived from message policies, by (id(policy), international).
_POLICIES: dict[tuple[int, bool], tuple[Any, Any]] = {}


def _message_policy(msg: Message, international: bool) -> Any:
    policy = msg.policy
    key = (id(policy), international)
    cached = _POLICIES.get(key)
    if cached is not None and cached[0] is policy:
        return cached[1]
    derived = _derive_policy(policy, international)
    if len(_POLICIES) > 64:
        _POLICIES.clear()
    _POLICIES[key] = (policy, derived)
    return derived


def _derive_policy(policy: Any, international: bool) -> Any:
    if isinstance(policy, EmailPolicy):
        length = policy.max_line_length
        return policy.clone(
            linesep="\r\n",
            # Header values kept as text (parsed messages, pre-folded address lists) go out
            # as they are; header objects are folded by the library as usual.
            refold_source="none",
            utf8=international,
            cte_type="8bit" if international else "7bit",
            max_line_length=length if length and 0 < length <= MAX_LINE else 78,
        )
    if international:
        raise _bad(
            "a non-ASCII address needs an email.message.EmailMessage "
            "(policy email.policy.default), not a compat32 Message"
        )
    return policy.clone(linesep="\r\n", cte_type="7bit")


def _flatten(msg: Message, policy: Any) -> bytes:
    import email.errors

    header_write_error: Any = getattr(email.errors, "HeaderWriteError", None)
    buf = io.BytesIO()
    try:
        BytesGenerator(buf, mangle_from_=False, policy=policy).flatten(msg)
    except Exception as exc:
        if header_write_error is not None and isinstance(exc, header_write_error):
            raise _bad(f"a header cannot be written safely: {exc}") from None
        if isinstance(exc, (UnicodeError, ValueError, TypeError, LookupError)):
            raise _bad(f"the message cannot be serialised: {type(exc).__name__}") from None
        raise
    return buf.getvalue()


def _reencode_long_lines(msg: Message) -> Message:
    """A copy of ``msg`` whose leaf parts with lines over 998 octets are quoted-printable
    (text) or base64 (anything else)."""
    import base64
    import quopri

    msg = copy.deepcopy(msg)
    for part in msg.walk():
        if part.is_multipart():
            continue
        cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
        if cte in {"quoted-printable", "base64"}:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        if all(len(line) <= MAX_LINE for line in payload.splitlines()):
            continue
        if part.get_content_maintype() == "text":
            encoded = quopri.encodestring(payload.replace(b"\r\n", b"\n")).decode("ascii")
            cte = "quoted-printable"
        else:
            encoded = base64.encodebytes(payload).decode("ascii")
            cte = "base64"
        del part["Content-Transfer-Encoding"]
        part["Content-Transfer-Encoding"] = cte
        part.set_payload(encoded)
    return msg


def _message_id(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _prepare_email(
    msg: Message, mail_from: str | None, to: AddressList, cc: AddressList, bcc: AddressList
) -> PreparedMessage:
    check_message_headers(msg)
    fields: dict[str, list[Any]] = {}
    for name, value in msg.raw_items():
        fields.setdefault(name.lower(), []).append(value)

    def get_all(name: str) -> list[Any]:
        return fields.get(name, [])

    headers = _HeaderEnvelope(get_all)
    sender, recipients, smtputf8 = _resolve_envelope(headers, mail_from, to, cc, bcc)
    international = smtputf8 or headers.non_ascii()
    outgoing = copy.copy(msg)
    del outgoing["Bcc"]
    del outgoing["Resent-Bcc"]
    if not international:
        protect_address_headers(outgoing)
    policy = _message_policy(msg, international)
    raw = _flatten(outgoing, policy)
    encoder = DataEncoder()
    try:
        payload = encoder.feed(raw) + encoder.finish()
    except LineTooLong:
        raw = _flatten(_reencode_long_lines(outgoing), policy)
        encoder = DataEncoder()
        try:
            payload = encoder.feed(raw) + encoder.finish()
        except LineTooLong:
            raise _bad(
                f"a header line of the message is longer than {MAX_LINE} octets even after folding"
            ) from None
    return PreparedMessage(
        mail_from=sender,
        recipients=[r.address for r in recipients],
        smtputf8=smtputf8 or international,
        eight_bit=encoder.eight_bit,
        size=encoder.size,
        message_id=_message_id(msg.get("Message-ID")),
        payload=payload,
    )


# -- raw bytes and files -------------------------------------------------------------------


def _raw_envelope(head: bytes) -> tuple[_HeaderEnvelope, str | None]:
    fields = envelope_fields(head)

    def get_all(name: str) -> list[Any]:
        assert name in ENVELOPE_FIELDS, f"{name} is not collected by envelope_fields"
        return fields.get(name, [])

    message_ids = get_all("message-id")
    return _HeaderEnvelope(get_all), (message_ids[0] or None) if message_ids else None


_MESSAGE_ID = re.compile(rb"(?im)^message-id[ \t]*:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")


def _raw_message_id(head: bytes) -> str | None:
    match = _MESSAGE_ID.search(head)
    if match is None:
        return None
    value = re.sub(rb"\r?\n", b"", match.group(1)).strip()
    return value.decode("utf-8", "replace") or None


def _explicit(mail_from: str | None, to: AddressList, cc: AddressList, bcc: AddressList) -> bool:
    return mail_from is not None and (to is not None or cc is not None or bcc is not None)


def _prepare_bytes(
    data: bytes, mail_from: str | None, to: AddressList, cc: AddressList, bcc: AddressList
) -> PreparedMessage:
    end = find_head_end(data)
    head = data if end is None else data[:end]
    if _explicit(mail_from, to, cc, bcc):
        headers, message_id = None, _raw_message_id(head)
    else:
        headers, message_id = _raw_envelope(head)
    sender, recipients, smtputf8 = _resolve_envelope(headers, mail_from, to, cc, bcc)
    encoder = DataEncoder()
    stripped = strip_bcc(head)
    try:
        if stripped is head:
            payload = encoder.feed(data) + encoder.finish()
        else:
            rest = b"" if end is None else data[end:]
            payload = b"".join((encoder.feed(stripped), encoder.feed(rest), encoder.finish()))
    except LineTooLong:
        raise _bad(
            f"the message has a line longer than {MAX_LINE} octets; encode it "
            "(quoted-printable or base64) or pass an EmailMessage, which is re-encoded"
        ) from None
    return PreparedMessage(
        mail_from=sender,
        recipients=[r.address for r in recipients],
        smtputf8=smtputf8,
        eight_bit=encoder.eight_bit,
        size=encoder.size,
        message_id=message_id,
        payload=payload,
    )


def _read_head(reader: IO[bytes]) -> tuple[bytes, bytes]:
    """Read until the end of the header section: ``(head, start of the rest)``."""
    buf = bytearray()
    while True:
        end = find_head_end(bytes(buf)) if buf else None
        if end is not None:
            return bytes(buf[:end]), bytes(buf[end:])
        if len(buf) > MAX_HEAD:
            raise _bad(f"the message's header section is longer than {MAX_HEAD} bytes")
        chunk = reader.read(64 * 1024)
        if not chunk:
            return bytes(buf), b""
        if not isinstance(chunk, (bytes, bytearray)):
            raise _bad("the file object must be opened in binary mode ('rb')")
        buf += chunk


def _prepare_file(
    reader: IO[bytes],
    close: Callable[[], None] | None,
    mail_from: str | None,
    to: AddressList,
    cc: AddressList,
    bcc: AddressList,
) -> PreparedMessage:
    try:
        head, first = _read_head(reader)
        if _explicit(mail_from, to, cc, bcc):
            headers, message_id = None, _raw_message_id(head)
        else:
            headers, message_id = _raw_envelope(head)
        sender, recipients, smtputf8 = _resolve_envelope(headers, mail_from, to, cc, bcc)
        head = strip_bcc(head)
        seekable = False
        try:
            seekable = reader.seekable()
            position = reader.tell() if seekable else 0
        except (OSError, ValueError, AttributeError):
            seekable = False
        size: int | None = None
        eight_bit: bool | None = None
        if seekable:
            scan = DataEncoder()
            try:
                for chunk in _raw_chunks(head, first, reader):
                    scan.feed(chunk)
                scan.finish()
            except LineTooLong:
                raise _bad(
                    f"the message has a line longer than {MAX_LINE} octets; encode it "
                    "(quoted-printable or base64) first"
                ) from None
            reader.seek(position)
            size, eight_bit = scan.size, scan.eight_bit
    except BaseException:
        if close is not None:
            close()
        raise

    def stream() -> Iterator[bytes]:
        encoder = DataEncoder()
        for chunk in _raw_chunks(head, first, reader):
            out = encoder.feed(chunk)
            if out:
                yield out
        yield encoder.finish()

    return PreparedMessage(
        mail_from=sender,
        recipients=[r.address for r in recipients],
        smtputf8=smtputf8,
        eight_bit=eight_bit,
        size=size,
        message_id=message_id,
        _stream=stream,
        _close=close,
    )


def _raw_chunks(head: bytes, first: bytes, reader: IO[bytes]) -> Iterator[bytes]:
    yield head
    if first:
        yield first
    while True:
        chunk = reader.read(_CHUNK)
        if not chunk:
            return
        yield chunk


# -- entry point ------------------------------------------------------------------------------


def prepare_message(
    source: object,
    *,
    mail_from: str | None = None,
    to: AddressList = None,
    cc: AddressList = None,
    bcc: AddressList = None,
) -> PreparedMessage:
    """Validate ``source`` and its envelope and prepare the payload (see the module doc).

    Raises :class:`~protoclients.errors.InvalidInput` for anything wrong with the input;
    nothing here touches the network.
    """
    if isinstance(source, Message):
        return _prepare_email(source, mail_from, to, cc, bcc)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _prepare_bytes(bytes(source), mail_from, to, cc, bcc)
    if isinstance(source, str) and ("\n" in source or "\r" in source):
        raise _bad(
            "a str source is a file path; pass the message as bytes or as an EmailMessage "
            "(see protoclients.compose())"
        )
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            reader = open(path, "rb")  # noqa: SIM115 - closed by PreparedMessage.close
        except FileNotFoundError:
            raise _bad(f"no such file: {path!r}") from None
        except IsADirectoryError:
            raise _bad(f"{path!r} is a directory, not a message file") from None
        except OSError as exc:
            raise _bad(f"cannot read {path!r}: {exc.strerror}") from None
        return _prepare_file(reader, reader.close, mail_from, to, cc, bcc)
    if hasattr(source, "read"):
        return _prepare_file(source, None, mail_from, to, cc, bcc)  # type: ignore[arg-type]
    raise _bad(
        "send() takes an EmailMessage, bytes, a path or a binary file object, "
        f"not {type(source).__name__}"
    )
