"""``protoclients mail ...``: compose a message and send it (``mail send``).

The work is in :mod:`.mail_compose` (options -> the exact bytes, no network) and
:mod:`.mail_send` (dry run, SMTP, ``--save-to`` APPEND, report, exit codes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .state import state_of

__all__ = ["mail_app"]

mail_app = typer.Typer(help="Compose and send mail.", no_args_is_help=True)


@mail_app.command("send")
def send_mail(
    ctx: typer.Context,
    smtp_url: Annotated[
        str,
        typer.Argument(
            metavar="SMTP_URL",
            help="The server: smtps://user@host/ (implicit TLS) or smtp://host:587/ "
            "(add --tls starttls to require STARTTLS).",
        ),
    ],
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="ADDRESS",
            help="Author: 'a@example.org' or 'Name <a@example.org>'.",
        ),
    ],
    to: Annotated[
        list[str] | None,
        typer.Option("--to", metavar="ADDRESS", help="Recipient (repeat for more)."),
    ] = None,
    cc: Annotated[
        list[str] | None,
        typer.Option("--cc", metavar="ADDRESS", help="Copy recipient (repeat for more)."),
    ] = None,
    bcc: Annotated[
        list[str] | None,
        typer.Option(
            "--bcc",
            metavar="ADDRESS",
            help="Blind copy (repeatable): gets the message; no Bcc header is sent.",
        ),
    ] = None,
    reply_to: Annotated[
        list[str] | None,
        typer.Option("--reply-to", metavar="ADDRESS", help="Reply-To address (repeatable)."),
    ] = None,
    subject: Annotated[
        str, typer.Option("--subject", "-s", metavar="TEXT", help="The subject.")
    ] = "",
    body: Annotated[
        str | None,
        typer.Option("--body", metavar="TEXT", help="The plain-text body, as one argument."),
    ] = None,
    body_file: Annotated[
        str | None,
        typer.Option(
            "--body-file",
            metavar="FILE",
            help="Read the plain-text body (UTF-8) from FILE; '-' reads stdin.",
        ),
    ] = None,
    html: Annotated[
        str | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="HTML body (UTF-8) from FILE; with a text body, both go as alternatives.",
        ),
    ] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option("--attach", "-a", metavar="FILE", help="Attach FILE (repeat for more)."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            metavar="'NAME: VALUE'",
            help="Extra header, e.g. 'X-Priority: 1' (repeatable).",
        ),
    ] = None,
    save_to: Annotated[
        str | None,
        typer.Option(
            "--save-to",
            metavar="URL",
            help="After a successful send, APPEND the same bytes (flag \\Seen) to this IMAP "
            "mailbox, e.g. imaps://user@host/Sent.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the exact message on stdout (the envelope on stderr; everything in "
            "one JSON document with --json); connect to nothing.",
        ),
    ] = False,
) -> None:
    """Compose a message and send it over SMTP.

    The message is built once: the very same bytes go to the SMTP server,
    to stdout with --dry-run and to the IMAP mailbox with --save-to.
    Bcc recipients are only in the envelope; no Bcc header is sent.
    Bad input (an address, CR/LF in a header, a missing file) is refused
    before any connection. The password: --password-stdin, then
    PROTOCLIENTS_PASSWORD, the keyring (protoclients auth set), ~/.netrc,
    a prompt on a terminal.

    Output: one line per recipient (accepted or refused), or one JSON
    document with --json.

    Exit codes: 0 all accepted; 16 some recipients refused (the others got
    the message); 17 sent but NOT saved to --save-to (wins over 16);
    11 every recipient refused (nothing sent); 2 bad input; 5 login failed
    or no password; 3 connection failed; 4 TLS failed; 9 the connection
    broke before the server confirmed (delivery unknown: check before
    sending again).

    Examples:

    \b
      protoclients mail send --from alice@example.org --to bob@example.org \\
        --subject "Report" --body-file report.txt --attach report.pdf \\
        smtps://alice@mail.example.org/

    \b
      echo "All good" | protoclients mail send --from me@example.org \\
        --to ops@example.org --bcc audit@example.org -s Backup \\
        --body-file - --save-to imaps://me@mail.example.org/Sent \\
        --tls starttls smtp://me@mail.example.org:587/

    \b
      protoclients mail send --from a@example.org --to b@example.org \\
        --body "hi" --dry-run smtp://localhost/
    """
    from .mail_compose import MailInput, build_mail
    from .mail_send import check_save_to, check_smtp_url, print_dry_run, send_and_save

    st = state_of(ctx)
    st.stdin_is_data = "-" in (body_file, html)
    if st.password_stdin and st.stdin_is_data and not dry_run:
        raise typer.BadParameter("--password-stdin and '-' (body from stdin) both read stdin")
    smtp = check_smtp_url(st, smtp_url)
    target = check_save_to(st, save_to) if save_to is not None else None
    given = MailInput(
        from_=from_,
        to=to or (),
        cc=cc or (),
        bcc=bcc or (),
        reply_to=reply_to or (),
        subject=subject,
        body=body,
        body_file=body_file,
        html=html,
        attach=attach or (),
        headers=header or (),
    )
    mail = st.run(build_mail, given)
    if dry_run:
        print_dry_run(st, mail, smtp, target)
    else:
        send_and_save(st, mail, smtp, target)
