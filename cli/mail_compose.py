"""``mail send``, step 1: turn the command-line options into the exact bytes to send.

Everything here happens before any connection: reading the body, HTML and attachment files,
checking every header value (:func:`protoclients.compose` refuses CR, LF and NUL), and
serialising the message once. The bytes built here are what ``--dry-run`` prints, what the
SMTP server receives and what ``--save-to`` appends: the same bytes, never serialised twice.
``Bcc`` is not in them; the Bcc recipients are only in the envelope.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MailInput", "OutgoingMail", "build_mail", "parse_header"]

#: ``--body-file -`` / ``--html -``: read standard input.
STDIN = "-"


@dataclass(frozen=True)
class MailInput:
    """The ``mail send`` options, as given."""

    from_: str
    to: Sequence[str] = ()
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    reply_to: Sequence[str] = ()
    subject: str = ""
    body: str | None = None
    body_file: str | None = None
    html: str | None = None
    attach: Sequence[Path] = ()
    headers: Sequence[str] = ()


@dataclass
class OutgoingMail:
    """A composed message, ready to go.

    Attributes:
        data: the message exactly as transmitted (CRLF line ends, no ``Bcc`` header, before
            SMTP dot-stuffing).
        mail_from: the envelope sender (``MAIL FROM``).
        recipients: the envelope recipients (``RCPT TO``), To, then Cc, then Bcc, without
            duplicates.
        roles: recipient -> ``"to"``, ``"cc"`` or ``"bcc"``.
        message_id: the ``Message-ID`` header.
    """

    data: bytes
    mail_from: str
    recipients: list[str]
    roles: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None


def _invalid(message: str) -> Exception:
    from protoclients.errors import InvalidInput

    return InvalidInput(message)


def parse_header(text: str) -> tuple[str, str]:
    """``"X-Priority: 1"`` -> ``("X-Priority", "1")``; the name and value are checked by
    :func:`protoclients.compose`."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise _invalid("--header must look like 'Name: value'")
    if name != name.strip():
        raise _invalid("--header: no spaces are allowed in or around a header name")
    return name, value.lstrip(" \t")


def _read_text(source: str, what: str) -> str:
    """The text of a file (or of stdin for ``-``), UTF-8, with line ends as ``\\n``."""
    try:
        raw = sys.stdin.buffer.read() if source == STDIN else Path(source).read_bytes()
    except OSError as exc:
        raise _invalid(f"cannot read {what} {source!r}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"{what} {source!r} is not UTF-8 text") from None
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _body(given: MailInput) -> tuple[str | None, str | None]:
    if given.body is not None and given.body_file is not None:
        raise _invalid("give the body with --body or --body-file, not both")
    if given.body_file == STDIN and given.html == STDIN:
        raise _invalid("only one of --body-file and --html can read stdin ('-')")
    text = given.body
    if text is not None:
        text = text.replace("\r\n", "\n")
    if given.body_file is not None:
        text = _read_text(given.body_file, "--body-file")
    html = _read_text(given.html, "--html file") if given.html is not None else None
    if text is None and html is None:
        raise _invalid(
            "no body: give --body TEXT, --body-file FILE, --body-file - (stdin) or --html FILE"
        )
    return text, html


def _check_attachments(paths: Sequence[Path]) -> None:
    for path in paths:
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise _invalid(f"attachment {str(path)!r} {what}")


def _roles(msg: object) -> dict[str, str]:
    """Envelope address -> the header that named it (``to``, ``cc`` or ``bcc``)."""
    from protoclients.protocols.smtpaddr import check_address

    roles: dict[str, str] = {}
    get = getattr(msg, "get", None)
    if get is None:
        return roles
    for role in ("to", "cc", "bcc"):
        header = get(role)
        for address in getattr(header, "addresses", ()):
            spec = check_address(address.addr_spec, role).address
            roles.setdefault(spec, role)
    return roles


def build_mail(given: MailInput) -> OutgoingMail:
    """Compose and serialise the message described by ``given`` (no network).

    Raises :class:`~protoclients.errors.InvalidInput` for a bad address, a header value
    with CR/LF/NUL, an unreadable body or attachment file, no recipient or no body.
    """
    from protoclients.composer import compose
    from protoclients.protocols.smtpdata import unstuff
    from protoclients.protocols.smtpmessage import prepare_message

    if not (given.to or given.cc or given.bcc):
        raise _invalid("no recipient: give at least one --to, --cc or --bcc")
    text, html = _body(given)
    _check_attachments(given.attach)
    headers = [parse_header(h) for h in given.headers]
    msg = compose(
        from_=given.from_,
        to=list(given.to) or None,
        cc=list(given.cc) or None,
        bcc=list(given.bcc) or None,
        reply_to=list(given.reply_to) or None,
        subject=given.subject,
        text=text,
        html=html,
        attachments=[str(p) for p in given.attach],
        headers=headers,
    )
    prepared = prepare_message(msg)
    try:
        payload = b"".join(prepared.chunks())
    finally:
        prepared.close()
    return OutgoingMail(
        data=unstuff(payload),
        mail_from=prepared.mail_from,
        recipients=list(prepared.recipients),
        roles=_roles(msg),
        message_id=prepared.message_id,
    )
