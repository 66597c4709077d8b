"""The core commands: ``fetch``, ``send``, ``ls`` and ``delete`` (registered in :mod:`.app`).

Thin: check the arguments (nothing touches the network before the local checks pass),
call the library's one-shot verb through :meth:`CLIState.run`, render the result. The
library, ``rich`` and the protocol modules are imported inside the commands.

No ``from __future__ import annotations`` here, on purpose: Typer reads the parameters'
annotations on every run, and string annotations cost an ``eval`` each (several ms at
start-up); the few type-only names are quoted instead.
"""

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .render import echo_entries, echo_headers, echo_result, echo_results, printable
from .state import CLIState, state_of

if TYPE_CHECKING:
    from protoclients.urls import URL

__all__ = ["delete", "fetch", "ls_command", "send"]


def _protocol(st: CLIState, url: str) -> "tuple[URL, str]":
    """The parsed URL and its protocol (``http``, ``ftp``, ``smtp``, ``pop3``, ``imap``)."""
    from protoclients.registry import lookup_scheme
    from protoclients.urls import parse_url

    parsed = st.run(parse_url, url)
    info = st.run(lookup_scheme, parsed.scheme)  # InvalidURL for an unknown scheme
    assert info is not None
    return parsed, info.protocol


def _usage(message: str) -> typer.BadParameter:
    return typer.BadParameter(message)


# -- fetch ---------------------------------------------------------------------------------


def fetch(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(metavar="URL", help="What to download: a file, page, message or mailbox."),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE|DIR|-",
            help="File, directory (keeps the remote name; 'DIR/' is created if missing), "
            "or '-' for stdout. "
            "Default: the remote name in the current directory.",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted download (its .part file).")
    ] = False,
    headers_only: Annotated[
        bool,
        typer.Option(
            "--headers-only",
            help="HTTP: send HEAD and print the response headers. POP3/IMAP: only the "
            "message's header (printed unless -o is given). Not for FTP.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace an existing local file.")
    ] = False,
) -> None:
    """Download URL to a file, a directory or stdout (atomically: NAME.part, then NAME).

    An existing file is never replaced without --force (exit code 15). A mailbox URL
    (imap://user@host/INBOX, pop3://user@host/) with -o DIR downloads every message into
    DIR as <UID>.eml, skipping those already there. With -o - a reader that closes the
    pipe early (| head) ends the command quietly with exit code 141.

    \b
    Examples:
      protoclients fetch https://example.org/data.csv
      protoclients fetch ftp://ftp.example.org/pub/file.iso -o /tmp/ --resume
      protoclients fetch https://example.org/big.tar -o - | tar x
      protoclients fetch https://example.org/ --headers-only
      protoclients fetch 'imaps://alice@mail.example.org/INBOX;UID=42' -o msg.eml
      protoclients fetch imaps://alice@mail.example.org/INBOX -o archive/
    """
    st = state_of(ctx)
    parsed, protocol = _protocol(st, url)
    if headers_only and protocol == "http":
        if output not in (None, "-"):
            raise _usage("--headers-only prints the HTTP headers; redirect stdout instead of -o")
        head = st.run(_http_head, url, **st.call_kwargs(url))
        echo_headers(head, as_json=st.json)
        return
    extra: dict[str, Any] = {}
    if headers_only:
        from protoclients.errors import UnsupportedOperation

        if protocol not in {"pop3", "imap"}:
            st.fail(UnsupportedOperation(f"--headers-only is not supported for {protocol}://"))
        extra["headers_only"] = True
        if output is None:
            output = "-"
    _fetch_to_destination(st, url, parsed, protocol, output, resume, force, extra)


def _fetch_to_destination(
    st: CLIState,
    url: str,
    parsed: "URL",
    protocol: str,
    output: str | None,
    resume: bool,
    force: bool,
    extra: dict[str, Any],
) -> None:
    import protoclients
    from protoclients.errors import InvalidInput, UnsupportedOperation

    from .destinations import choose_destination
    from .progress import progress_bar, wants_progress

    dest = st.run(
        choose_destination, parsed, output, force=force, headers_only="headers_only" in extra
    )
    if dest.kind == "stdout" and resume:
        st.fail(InvalidInput("--resume needs a file (-o FILE), not stdout"))
    if dest.kind == "bulk" and protocol == "imap" and "headers_only" in extra:
        st.fail(UnsupportedOperation("--headers-only works on one IMAP message, not a mailbox"))
    kwargs = st.call_kwargs(url)  # may prompt for a password: before any progress bar
    show = wants_progress(
        quiet=st.quiet, as_json=st.json, verbose=st.verbose, data_to_stdout=dest.kind == "stdout"
    )
    label = dest.path.name if dest.kind == "file" and dest.path else parsed.name or parsed.host
    # IMAP reports once per stored message (POP3 per chunk, over the total of all messages).
    count = dest.kind == "bulk" and protocol == "imap"
    with progress_bar(label, enabled=show, count_messages=count) as bar:
        if dest.kind == "stdout":
            st.run(protoclients.fetch, url, sys.stdout.buffer, progress=bar, **kwargs, **extra)
            return
        assert dest.path is not None
        result = st.run(
            protoclients.fetch, url, str(dest.path), resume=resume, progress=bar, **kwargs, **extra
        )
    if isinstance(result, list):
        echo_results("fetched", result, as_json=st.json, quiet=st.quiet)
    else:
        echo_result("fetched", result, as_json=st.json, quiet=st.quiet)


def _http_head(url: str, **kwargs: Any) -> dict[str, Any]:
    import protoclients
    from protoclients.protocols.http import HTTPClient

    with protoclients.connect(url, **kwargs) as client:
        assert isinstance(client, HTTPClient)
        return client.head()


# -- send ----------------------------------------------------------------------------------


def send(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL",
            help="Where to: ftp://host/dir/name, https://host/path, smtp://host/, "
            "imap://user@host/Mailbox.",
        ),
    ],
    source: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE|-", help="Local file, or '-' for stdin (default when stdin is a pipe)."
        ),
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", "-X", help="HTTP: PUT (default) or POST.")
    ] = None,
    content_type: Annotated[
        str | None, typer.Option("--content-type", help="HTTP: the Content-Type header.")
    ] = None,
    make_dirs: Annotated[
        bool, typer.Option("--make-dirs", help="FTP: create missing remote directories.")
    ] = False,
    mail_from: Annotated[
        str | None,
        typer.Option("--mail-from", help="SMTP: envelope sender (default: Sender/From header)."),
    ] = None,
    rcpt: Annotated[
        list[str] | None,
        typer.Option(
            "--rcpt", help="SMTP: envelope recipient, repeatable (default: To/Cc/Bcc headers)."
        ),
    ] = None,
) -> None:
    """Upload a file (HTTP PUT/POST, FTP STOR) or deliver a ready message (SMTP, IMAP APPEND).

    The data is streamed, from a file or from stdin ('-'); nothing is sent when the
    file cannot be read. FTP uploads go to a temporary name renamed at the end. SMTP takes
    the envelope from the message's headers (Bcc is never transmitted); IMAP appends to
    the mailbox the URL names.

    \b
    Examples:
      protoclients send ftps://alice@ftp.example.org/in/report.pdf report.pdf
      protoclients send https://alice@example.org/upload/data.json data.json -X POST
      tar c dir | protoclients send ftp://alice@ftp.example.org/in/dir.tar -
      protoclients send smtps://alice@mail.example.org/ message.eml
      protoclients send imaps://alice@mail.example.org/Archive message.eml
    """
    st = state_of(ctx)
    _, protocol = _protocol(st, url)
    extra = _send_options(protocol, method, content_type, make_dirs, mail_from, rcpt)
    if source is None:
        if sys.stdin.isatty():
            raise _usage("give the FILE to send, or '-' to read it from stdin")
        source = "-"
    from .sources import open_source

    with open_source(st, source, spool=protocol == "imap") as (data, label):
        kwargs = st.call_kwargs(url)
        _deliver(st, url, data, label, kwargs, extra)


def _send_options(
    protocol: str,
    method: str | None,
    content_type: str | None,
    make_dirs: bool,
    mail_from: str | None,
    rcpt: list[str] | None,
) -> dict[str, Any]:
    """The verb's keyword arguments; an option for another protocol is a usage error."""
    given = {
        "--method": (method is not None, "http"),
        "--content-type": (content_type is not None, "http"),
        "--make-dirs": (make_dirs, "ftp"),
        "--mail-from": (mail_from is not None, "smtp"),
        "--rcpt": (bool(rcpt), "smtp"),
    }
    for name, (used, owner) in given.items():
        if used and protocol != owner:
            raise _usage(f"{name} is for {owner}:// URLs, not {protocol}://")
    extra: dict[str, Any] = {}
    if protocol == "http":
        extra["method"] = (method or "PUT").upper()
        if content_type is not None:
            extra["content_type"] = content_type
    elif protocol == "ftp":
        extra["make_dirs"] = make_dirs
    elif protocol == "smtp":
        if mail_from is not None:
            extra["mail_from"] = mail_from
        if rcpt:
            extra["to"] = rcpt
    return extra


def _deliver(
    st: CLIState,
    url: str,
    data: Any,
    label: str,
    kwargs: dict[str, Any],
    extra: dict[str, Any],
) -> None:
    import protoclients

    from .progress import progress_bar, wants_progress

    show = wants_progress(quiet=st.quiet, as_json=st.json, verbose=st.verbose)
    with progress_bar(label, enabled=show) as bar:
        result = st.run(protoclients.send, url, data, progress=bar, **kwargs, **extra)
    echo_result("sent", result, as_json=st.json, quiet=st.quiet)
    accepted = getattr(result, "accepted", None)
    if accepted is not None and not (st.json or st.quiet):
        typer.echo(f"delivered to {len(accepted)} recipient(s): {', '.join(accepted)}")
    refused = getattr(result, "refused", None)
    if refused and not st.json:
        for address, (code, text) in refused.items():
            typer.secho(
                printable(f"protoclients: warning: recipient {address} refused: {code} {text}"),
                err=True,
                fg=typer.colors.YELLOW,
            )


# -- ls ------------------------------------------------------------------------------------


def ls_command(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL", help="A directory, index page, IMAP server/mailbox or POP3 account."
        ),
    ],
    brief: Annotated[
        bool,
        typer.Option(
            "--brief",
            help="POP3: only numbers, UIDLs and sizes (no TOP round trip per message for "
            "sender and subject).",
        ),
    ] = False,
) -> None:
    """List a directory (name, kind, size, date), mailboxes, or messages (UID, flags, from,
    subject) as a table, or as one JSON array with --json.

    \b
    Examples:
      protoclients ls ftp://ftp.example.org/pub/
      protoclients ls https://example.org/files/ --json
      protoclients ls imaps://alice@mail.example.org/
      protoclients ls imaps://alice@mail.example.org/INBOX
    """
    import protoclients

    st = state_of(ctx)
    _, protocol = _protocol(st, url)
    if brief and protocol != "pop3":
        raise _usage(f"--brief is for pop3:// URLs, not {protocol}://")
    extra = {"headers": not brief} if protocol == "pop3" else {}
    entries = st.run(protoclients.ls, url, **st.call_kwargs(url), **extra)
    echo_entries(entries, as_json=st.json)


# -- delete --------------------------------------------------------------------------------


def _confirm(question: str) -> bool:
    """Ask on stderr, read the answer from the terminal on stdin; only y/yes is yes."""
    typer.echo(question, err=True, nl=False)
    answer = sys.stdin.readline()
    return answer.strip().lower() in {"y", "yes"}


def delete(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL", help="A file, an empty FTP directory (ending in /), or a message."
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a remote file, empty FTP directory or message.

    Asks for confirmation on a terminal. Without a terminal (a script, a pipe) it refuses
    unless --yes is given (exit code 2): deleting is never implied.

    \b
    Examples:
      protoclients delete ftp://alice@ftp.example.org/in/old.txt
      protoclients delete 'imaps://alice@mail.example.org/INBOX;UID=42' --yes
    """
    import protoclients
    from protoclients.errors import InvalidInput

    st = state_of(ctx)
    parsed, _ = _protocol(st, url)
    if not yes:
        if not sys.stdin.isatty():
            st.fail(
                InvalidInput(
                    "refusing to delete without confirmation: stdin is not a terminal; "
                    "add --yes",
                    url=parsed,
                )
            )
        if not _confirm(f"Delete {parsed}? [y/N] "):
            typer.echo("protoclients: nothing deleted", err=True)
            raise typer.Exit(1)
    st.run(protoclients.delete, url, **st.call_kwargs(url))
    if st.json:
        import json

        typer.echo(json.dumps({"deleted": str(parsed)}))
    elif not st.quiet:
        typer.echo(f"deleted {parsed}")
