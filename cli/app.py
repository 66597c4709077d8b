"""The ``protoclients`` command line (Typer): thin — parse, call the library, render.

Heavy modules (requests, ftplib, the local servers) are imported inside the commands
that need them, so ``protoclients --help`` stays fast.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from . import cmd_auth, cmd_mail, cmd_probe
from .argv import hoist_global_options
from .render import echo_entries, echo_result, echo_results
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


@app.command()
def fetch(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="What to download, e.g. https://host/file.")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="File or directory to write; '-' for stdout."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted download (.part file).")
    ] = False,
) -> None:
    """Download URL to a file (default: its remote name in the current directory).

    Examples:

      protoclients fetch https://example.org/data.csv

      protoclients fetch ftp://ftp.example.org/pub/file.iso -o /tmp/ --resume
    """
    import protoclients

    st = state_of(ctx)
    kwargs = st.call_kwargs(url)
    if output == "-":
        body = st.run(protoclients.fetch, url, None, **kwargs)
        sys.stdout.buffer.write(body if isinstance(body, bytes) else body.as_bytes())
        return
    dest = output if output is not None else "."
    result = st.run(protoclients.fetch, url, dest, resume=resume, **kwargs)
    if isinstance(result, list):
        echo_results("fetched", result, as_json=st.json, quiet=st.quiet)
    else:
        echo_result("fetched", result, as_json=st.json, quiet=st.quiet)


@app.command()
def send(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to upload, e.g. ftp://host/dir/name.")],
    source: Annotated[Path, typer.Argument(help="Local file to upload.")],
    method: Annotated[
        str, typer.Option("--method", "-X", help="HTTP method: PUT (default) or POST.")
    ] = "PUT",
    make_dirs: Annotated[
        bool, typer.Option("--make-dirs", help="FTP: create missing remote directories.")
    ] = False,
) -> None:
    """Upload SOURCE to URL (HTTP PUT/POST, FTP STOR to a temporary name then rename).

    Example:

      protoclients send ftps://alice@ftp.example.org/in/report.pdf report.pdf
    """
    import protoclients

    st = state_of(ctx)
    scheme = url.partition("://")[0].lower()
    extra: dict[str, Any] = {}
    if scheme in {"http", "https"}:
        extra["method"] = method.upper()
    elif scheme in {"ftp", "ftps"}:
        extra["make_dirs"] = make_dirs
    result = st.run(protoclients.send, url, source, **st.call_kwargs(url), **extra)
    echo_result("sent", result, as_json=st.json, quiet=st.quiet)


@app.command("ls")
def ls_command(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Directory (or index page) to list.")],
) -> None:
    """List a directory as a table (name, kind, size, modified) or JSON.

    Example:

      protoclients ls ftp://ftp.example.org/pub/ --json
    """
    import protoclients

    st = state_of(ctx)
    entries = st.run(protoclients.ls, url, **st.call_kwargs(url))
    echo_entries(entries, as_json=st.json)


@app.command()
def delete(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="File (or empty directory ending in /) to delete.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a remote file (or an empty FTP directory).

    Example:

      protoclients delete ftp://alice@ftp.example.org/in/old.txt --yes
    """
    import protoclients

    st = state_of(ctx)
    parsed = st.run(protoclients.parse_url, url)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {parsed}?", abort=True)
    st.run(protoclients.delete, url, **st.call_kwargs(url))
    if not st.quiet:
        typer.echo(f"deleted {parsed}")


@app.command()
def serve(
    ctx: typer.Context,
    protocols: Annotated[
        list[str] | None,
        typer.Argument(help="Servers to run: http, ftp, smtp, pop3, imap (default: all)."),
    ] = None,
    root: Annotated[
        Path | None, typer.Option("--root", help="Directory to serve (default: a temp dir).")
    ] = None,
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help="Also run the TLS variants.")] = True,
) -> None:
    """Run local test servers until Ctrl-C, printing their URLs, users and the CA file.

    Example:

      protoclients serve http ftp
    """
    from .serve import run_servers

    run_servers(protocols or [], root=root, tls=tls, as_json=state_of(ctx).json)


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
    command.main(args=hoist_global_options(command, args), prog_name="protoclients")
