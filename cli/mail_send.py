"""``mail send``, step 2: dry run, or send over SMTP, then file a copy with IMAP ``APPEND``.

Everything that can be checked without a server is checked before the message is sent:
the URLs, and for ``--save-to`` that a password is found and would not travel in clear
(otherwise the message would go out and the copy fail for a reason known in advance).

Exit codes besides the library's (see ``protoclients.errors``):

* ``0``: every recipient accepted (and the copy saved, with ``--save-to``);
* :data:`EXIT_PARTIAL` (16): some recipients refused; the others got the message;
* :data:`EXIT_NOT_SAVED` (17): the message WAS sent but the ``--save-to`` APPEND failed
  (wins over 16 when both happen);
* ``11`` (``RecipientsRefused``): every recipient refused, nothing sent.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from .mail_compose import OutgoingMail
from .render import printable
from .state import EXIT_INTERRUPTED, CLIState

if TYPE_CHECKING:
    from protoclients.urls import URL

__all__ = [
    "EXIT_NOT_SAVED",
    "EXIT_PARTIAL",
    "Endpoint",
    "check_save_to",
    "check_smtp_url",
    "print_dry_run",
    "send_and_save",
]

#: Some recipients were refused; the others got the message.
EXIT_PARTIAL = 16
#: The message was sent, but filing the copy (``--save-to``) failed.
EXIT_NOT_SAVED = 17

_SEEN = "\\Seen"


@dataclass(frozen=True)
class Endpoint:
    """A URL as typed (``text``, which may hold a password) and parsed (``url``);
    ``str()`` is the parsed URL without its password."""

    text: str
    url: URL

    def __str__(self) -> str:
        return str(self.url)


def check_smtp_url(st: CLIState, text: str) -> Endpoint:
    """Parse the SMTP URL (``smtp://`` or ``smtps://``) or exit 2."""
    from protoclients.errors import InvalidURL
    from protoclients.urls import parse_url

    url = st.run(parse_url, text)
    if url.scheme not in {"smtp", "smtps"}:
        st.fail(InvalidURL("mail send needs an smtp:// or smtps:// URL", url=url))
    return Endpoint(text, url)


def check_save_to(st: CLIState, text: str) -> Endpoint:
    """Parse and check the ``--save-to`` URL (an IMAP mailbox) or exit 2."""
    from protoclients.errors import InvalidURL
    from protoclients.protocols.imapurl import parse_imap_url
    from protoclients.urls import parse_url

    url = st.run(parse_url, text)
    if url.scheme not in {"imap", "imaps"}:
        st.fail(InvalidURL("--save-to needs an imap:// or imaps:// mailbox URL", url=url))
    target = st.run(parse_imap_url, url)
    if target.mailbox is None or target.uid is not None or target.search is not None:
        st.fail(InvalidURL("--save-to needs a mailbox URL, e.g. imaps://user@host/Sent", url=url))
    return Endpoint(text, url)


def _mailbox_client(st: CLIState, save_to: Endpoint) -> Any:
    """The IMAP client for ``--save-to``, checked before anything is sent: a password must
    be found and must not travel unencrypted (no network yet: clients connect lazily)."""
    import protoclients

    def prepare() -> Any:
        client = protoclients.connect(save_to.url, **st.call_kwargs(save_to.text))
        client.credentials(required=True)
        client.ensure_safe_to_send_password(encrypted=client.tls_mode != "none")
        return client

    return st.run(prepare)


def _message_json(data: bytes) -> dict[str, Any]:
    try:
        return {"message": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"message_base64": base64.b64encode(data).decode("ascii")}


def print_dry_run(
    st: CLIState, mail: OutgoingMail, smtp_url: Endpoint, save_to: Endpoint | None
) -> None:
    """Print the exact message (stdout) and the envelope (stderr), or one JSON document."""
    if st.json:
        doc = {
            "dry_run": True,
            "url": str(smtp_url),
            "mail_from": mail.mail_from,
            "recipients": [{"address": a, "role": mail.roles.get(a)} for a in mail.recipients],
            "message_id": mail.message_id,
            "size": len(mail.data),
            "save_to": str(save_to) if save_to is not None else None,
            **_message_json(mail.data),
        }
        typer.echo(json.dumps(doc))
        return
    sys.stdout.buffer.write(mail.data)
    sys.stdout.buffer.flush()
    if st.quiet:
        return
    typer.echo(f"dry run: nothing was sent to {smtp_url}", err=True)
    typer.echo(f"MAIL FROM:<{mail.mail_from}>", err=True)
    for address in mail.recipients:
        typer.echo(f"RCPT TO:<{address}>  ({mail.roles.get(address, '?')})", err=True)
    if save_to is not None:
        typer.echo(f"would save a copy to {save_to}", err=True)


def _refused_json(refused: dict[str, tuple[int, str]]) -> dict[str, dict[str, Any]]:
    return {a: {"code": code, "text": text} for a, (code, text) in refused.items()}


def _echo_recipients(
    mail: OutgoingMail, accepted: list[str], refused: dict[str, tuple[int, str]]
) -> None:
    for address in accepted:
        typer.echo(f"accepted  {address} ({mail.roles.get(address, '?')})")
    for address, (code, text) in refused.items():
        role = mail.roles.get(address, "?")
        typer.echo(f"refused   {address} ({role}): {code} {printable(text)}")


def send_and_save(
    st: CLIState,
    mail: OutgoingMail,
    smtp_url: Endpoint,
    save_to: Endpoint | None,
) -> None:
    """Send ``mail`` over SMTP, then APPEND it to ``save_to``; report; exit with the code."""
    import protoclients
    from protoclients.protocols.smtp import RecipientsRefused

    kwargs = st.call_kwargs(smtp_url.text)
    mailbox = _mailbox_client(st, save_to) if save_to is not None else None

    def deliver() -> Any:
        try:
            return protoclients.send(
                smtp_url.url, mail.data, mail_from=mail.mail_from, to=mail.recipients, **kwargs
            )
        except RecipientsRefused as exc:  # nothing sent: list the refusals, then fail
            if st.json:
                doc = {
                    "sent": False,
                    "url": str(smtp_url),
                    "accepted": [],
                    "refused": _refused_json(exc.refused),
                }
                typer.echo(json.dumps(doc))
            elif not st.quiet:
                _echo_recipients(mail, [], exc.refused)
            raise

    result = st.run(deliver)
    saved: Any = None
    save_error: BaseException | None = None
    if mailbox is not None:
        try:
            with mailbox:
                saved = mailbox.send(mail.data, flags=[_SEEN])
        except KeyboardInterrupt:
            save_error = KeyboardInterrupt()
        except Exception as exc:
            if st.traceback:
                raise
            save_error = exc
    _report(st, mail, result, save_to, saved, save_error)
    if isinstance(save_error, KeyboardInterrupt):
        raise typer.Exit(EXIT_INTERRUPTED)
    if save_error is not None:
        raise typer.Exit(EXIT_NOT_SAVED)
    if result.partial:
        raise typer.Exit(EXIT_PARTIAL)


def _error_text(exc: BaseException) -> str:
    from protoclients.errors import ProtoClientError

    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, ProtoClientError):
        return f"{type(exc).__name__}: {' '.join(printable(str(exc)).split())}"
    return f"internal error: {type(exc).__name__} (run again with --traceback and report it)"


def _report(
    st: CLIState,
    mail: OutgoingMail,
    result: Any,
    save_to: Endpoint | None,
    saved: Any,
    save_error: BaseException | None,
) -> None:
    accepted: list[str] = list(result.accepted)
    refused: dict[str, tuple[int, str]] = dict(result.refused)
    if st.json:
        doc: dict[str, Any] = {
            "sent": True,
            "url": result.url,
            "mail_from": mail.mail_from,
            "accepted": accepted,
            "refused": _refused_json(refused),
            "partial": bool(result.partial),
            "message_id": result.message_id,
            "bytes": len(mail.data),
            "reply": result.details.get("reply"),
            "saved": None,
            "save_error": None,
        }
        if save_to is not None and saved is not None:
            doc["saved"] = {
                "url": saved.url,
                "mailbox": saved.details.get("mailbox"),
                "uid": saved.details.get("uid"),
            }
        if save_error is not None:
            doc["save_error"] = _error_text(save_error)
        typer.echo(json.dumps(doc))
    elif not st.quiet:
        typer.echo(
            f"sent to {len(accepted)} of {len(accepted) + len(refused)} recipient(s) "
            f"via {result.url} ({printable(str(result.details.get('reply', '')))})"
        )
        _echo_recipients(mail, accepted, refused)
        if saved is not None:
            uid = saved.details.get("uid")
            where = f" (UID {uid})" if uid is not None else ""
            typer.echo(f"saved a copy to {saved.url}{where}")
    if refused and not st.json:
        typer.secho(
            f"protoclients: warning: {len(refused)} recipient(s) refused; the others got "
            "the message",
            err=True,
            fg=typer.colors.YELLOW,
        )
    if save_error is not None:
        typer.secho(
            f"protoclients: the message WAS sent but NOT saved to {save_to}: "
            f"{_error_text(save_error)}",
            err=True,
            fg=typer.colors.RED,
        )
