"""The ``protoclients`` command line (Typer): thin — parse, call the library, render.

Heavy modules (requests, ftplib, the local servers) are imported inside the commands
that need them, so ``protoclients --help`` stays fast. No ``from __future__ import
annotations``: Typer evaluates string annotations on every run (an ``eval`` each).
"""

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from . import cmd_auth, cmd_mail, cmd_probe, cmd_transfer
from .argv import hoist_global_options
from .coercion import install_cheap_coercion
from .state import CLIState, state_of

app = typer.Typer(
    name="protoclients",
    help=(
        "Fetch, send, list and delete over HTTP(S), FTP(S), SMTP(S), POP3(S) and IMAP(S) "
        "with one set of verbs, and run real local servers for testing."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain Click help: Typer's rich help costs ~0.2 s of imports on every --help.
    rich_markup_mode=None,
)

class TLSMode(str, Enum):
    """Values of ``--tls``."""

    implicit = "implicit"
    starttls = "starttls"
    none = "none"


@app.callback()
def main_options(
    ctx: typer.Context,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds allowed for connecting and each network wait."),
    ] = 30.0,
    cacert: Annotated[
        Path | None,
        typer.Option("--cacert", help="PEM file of CA certificates to trust (not the system's)."),
    ] = None,
    pin_sha256: Annotated[
        str | None,
        typer.Option(
            "--pin-sha256",
            help="Accept only the certificate with this SHA-256 fingerprint (replaces CA checks).",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Do not verify TLS certificates (lab use only; warns)."),
    ] = False,
    tls: Annotated[
        TLSMode | None,
        typer.Option("--tls", help="TLS mode (default: from the scheme; starttls = required)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="User name (overrides the URL's).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password or token from stdin's 1st line."),
    ] = False,
    netrc_file: Annotated[
        Path | None, typer.Option("--netrc-file", help="netrc file to read instead of ~/.netrc.")
    ] = None,
    allow_insecure_auth: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-auth",
            help="Allow sending a password over an unencrypted link to a non-loopback host.",
        ),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="Protocol trace on stderr (secrets redacted)."
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document for scripts.")
    ] = False,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the Python traceback on errors.")
    ] = False,
) -> None:
    """Global options; they may be given before or after the command."""
    ctx.obj = CLIState(
        timeout=timeout,
        cacert=cacert,
        pin_sha256=pin_sha256,
        insecure=insecure,
        tls=tls.value if tls is not None else None,
        user=user,
        password_stdin=password_stdin,
        netrc_file=netrc_file,
        allow_insecure_auth=allow_insecure_auth,
        verbose=verbose,
        quiet=quiet,
        json=as_json,
        traceback=traceback,
    )


app.command()(cmd_transfer.fetch)
app.command()(cmd_transfer.send)
app.command("ls")(cmd_transfer.ls_command)
app.command()(cmd_transfer.delete)


@app.command()
def serve(
    ctx: typer.Context,
    protocols: Annotated[
        list[str] | None,
        typer.Argument(help="Servers to run: http, ftp, smtp, pop3, imap (default: all)."),
    ] = None,
    port_base: Annotated[
        int,
        typer.Option(
            "--port-base",
            min=0,
            max=65535,
            help="First port: the servers get N, N+1, ... in the order given above "
            "(0: a free port each).",
        ),
    ] = 0,
    users: Annotated[
        list[str] | None,
        typer.Option(
            "--user",
            "-u",
            help="User name every server accepts (repeatable; default: alice). Passwords are "
            "generated and printed, or read from stdin with --password-stdin, one line per user.",
        ),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls/--no-tls",
            help="Also run HTTPS, FTPS (explicit and implicit), SMTPS, POP3S and IMAPS, and "
            "offer STARTTLS/STLS on the plain mail ports, with a throw-away CA.",
        ),
    ] = False,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Directory served over HTTP and FTP (default: a temp dir)."),
    ] = None,
) -> None:
    """Run local test servers on 127.0.0.1 until Ctrl-C, printing their URLs, users and CA file.

    With --port-base N the servers listen on N, N+1, ... in this order, skipping those not
    running: http, https, ftp, ftp-tls (explicit FTPS: AUTH TLS required), ftps (implicit),
    smtp, smtps, pop3, pop3s, imap, imaps. A port that is in use is an error naming it
    (exit 2). Without --port-base every server gets a free port.

    Every server accepts the same users: FTP logins, HTTP Basic auth (needed for writes
    and /private/), and SMTP AUTH, POP3 and IMAP logins on one shared mail store (mail
    sent to user@anything lands in that user's INBOX). There is no option taking a
    password: they are generated and printed, or read from stdin (--password-stdin).

    With --json one JSON document is printed on one line once every server is listening
    (keys host, root, ca_file, users, servers). SIGINT or SIGTERM stops every server, exit 0.

    \b
    Examples:
      protoclients serve
      protoclients serve http ftp --tls --port-base 8000 --root ./public
      printf 'pw-1\\npw-2\\n' | protoclients serve -u alice -u bob --password-stdin
    """
    from .serve import run_servers

    st = state_of(ctx)
    names = list(users or [])
    if not names and st.user:
        names = [st.user]
    run_servers(
        protocols or [],
        root=root,
        tls=tls,
        port_base=port_base,
        users=names,
        password_stdin=st.password_stdin,
        as_json=st.json,
    )


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the temporary directory for inspection.")
    ] = False,
) -> None:
    """Start the local servers in-process and run a round trip over every protocol.

    Each step (upload, list, download, delete) is printed with what it did.
    """
    from .demo import run_demo

    code = run_demo(keep=keep)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the protoclients version."""
    from protoclients import __version__

    typer.echo(__version__)


app.add_typer(cmd_mail.mail_app, name="mail")
app.add_typer(cmd_auth.auth_app, name="auth")
app.command("probe")(cmd_probe.probe)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``protoclients`` console script."""
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    install_cheap_coercion(command)
    command.main(args=hoist_global_options(command, args), prog_name="protoclients")
