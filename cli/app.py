"""The ``protoclients`` command line (Typer): thin — parse, call the library, render.

Heavy modules (requests, ftplib, the local servers) are imported inside the commands
that need them, so ``protoclients --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from protoclients.errors import ProtoClientError

from .render import echo_entries, echo_result, echo_results, fail

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

TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds allowed for connecting and each network wait.")
]
CACertOpt = Annotated[
    Path | None,
    typer.Option("--cacert", help="PEM file of CA certificates to trust instead of the system's."),
]
InsecureOpt = Annotated[
    bool,
    typer.Option("--insecure", help="Do not verify TLS certificates (lab use only; loud warning)."),
]
TLSOpt = Annotated[
    str | None,
    typer.Option("--tls", help="TLS mode: implicit, starttls or none (default: from the scheme)."),
]
JSONOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document for scripts.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")]
TracebackOpt = Annotated[
    bool, typer.Option("--traceback", help="Show the Python traceback on errors.")
]


def _options(
    timeout: float, cacert: Path | None, insecure: bool, tls: str | None
) -> dict[str, Any]:
    opts: dict[str, Any] = {"timeout": timeout}
    if cacert is not None:
        opts["ca_file"] = str(cacert)
    if insecure:
        typer.secho(
            "WARNING: --insecure: TLS certificates are NOT verified; anyone on the path "
            "can read and change this connection.",
            err=True,
            fg=typer.colors.RED,
        )
        opts["insecure"] = True
    if tls is not None:
        opts["tls"] = tls
    return opts


def _run(traceback: bool, func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except ProtoClientError as exc:
        if traceback:
            raise
        fail(exc)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


@app.command()
def fetch(
    url: Annotated[str, typer.Argument(help="What to download, e.g. https://host/file.")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="File or directory to write; '-' for stdout."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted download (.part file).")
    ] = False,
    timeout: TimeoutOpt = 30.0,
    cacert: CACertOpt = None,
    insecure: InsecureOpt = False,
    tls: TLSOpt = None,
    as_json: JSONOpt = False,
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Download URL to a file (default: its remote name in the current directory).

    Examples:

      protoclients fetch https://example.org/data.csv

      protoclients fetch ftp://ftp.example.org/pub/file.iso -o /tmp/ --resume
    """
    import protoclients

    opts = _options(timeout, cacert, insecure, tls)
    if output == "-":
        body = _run(traceback, protoclients.fetch, url, None, **opts)
        sys.stdout.buffer.write(body if isinstance(body, bytes) else body.as_bytes())
        return
    dest = output if output is not None else "."
    result = _run(traceback, protoclients.fetch, url, dest, resume=resume, **opts)
    if isinstance(result, list):
        echo_results("fetched", result, as_json=as_json, quiet=quiet)
    else:
        echo_result("fetched", result, as_json=as_json, quiet=quiet)


@app.command()
def send(
    url: Annotated[str, typer.Argument(help="Where to upload, e.g. ftp://host/dir/name.")],
    source: Annotated[Path, typer.Argument(help="Local file to upload.")],
    method: Annotated[
        str, typer.Option("--method", "-X", help="HTTP method: PUT (default) or POST.")
    ] = "PUT",
    make_dirs: Annotated[
        bool, typer.Option("--make-dirs", help="FTP: create missing remote directories.")
    ] = False,
    timeout: TimeoutOpt = 30.0,
    cacert: CACertOpt = None,
    insecure: InsecureOpt = False,
    tls: TLSOpt = None,
    as_json: JSONOpt = False,
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Upload SOURCE to URL (HTTP PUT/POST, FTP STOR to a temporary name then rename).

    Example:

      protoclients send ftps://alice@ftp.example.org/in/report.pdf report.pdf
    """
    import protoclients

    opts = _options(timeout, cacert, insecure, tls)
    scheme = url.partition("://")[0].lower()
    extra: dict[str, Any] = {}
    if scheme in {"http", "https"}:
        extra["method"] = method.upper()
    elif scheme in {"ftp", "ftps"}:
        extra["make_dirs"] = make_dirs
    result = _run(traceback, protoclients.send, url, source, **opts, **extra)
    echo_result("sent", result, as_json=as_json, quiet=quiet)


@app.command("ls")
def ls_command(
    url: Annotated[str, typer.Argument(help="Directory (or index page) to list.")],
    timeout: TimeoutOpt = 30.0,
    cacert: CACertOpt = None,
    insecure: InsecureOpt = False,
    tls: TLSOpt = None,
    as_json: JSONOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """List a directory as a table (name, kind, size, modified) or JSON.

    Example:

      protoclients ls ftp://ftp.example.org/pub/ --json
    """
    import protoclients

    entries = _run(traceback, protoclients.ls, url, **_options(timeout, cacert, insecure, tls))
    echo_entries(entries, as_json=as_json)


@app.command()
def delete(
    url: Annotated[str, typer.Argument(help="File (or empty directory ending in /) to delete.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    timeout: TimeoutOpt = 30.0,
    cacert: CACertOpt = None,
    insecure: InsecureOpt = False,
    tls: TLSOpt = None,
    quiet: QuietOpt = False,
    traceback: TracebackOpt = False,
) -> None:
    """Delete a remote file (or an empty FTP directory).

    Example:

      protoclients delete ftp://alice@ftp.example.org/in/old.txt --yes
    """
    import protoclients

    parsed = _run(traceback, protoclients.parse_url, url)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {parsed}?", abort=True)
    _run(traceback, protoclients.delete, url, **_options(timeout, cacert, insecure, tls))
    if not quiet:
        typer.echo(f"deleted {parsed}")


@app.command()
def serve(
    protocols: Annotated[
        list[str] | None,
        typer.Argument(help="Servers to run: http, ftp (default: all available)."),
    ] = None,
    root: Annotated[
        Path | None, typer.Option("--root", help="Directory to serve (default: a temp dir).")
    ] = None,
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help="Also run the TLS variants.")] = True,
    as_json: JSONOpt = False,
) -> None:
    """Run local test servers until Ctrl-C, printing their URLs, users and the CA file.

    Example:

      protoclients serve http ftp
    """
    from .serve import run_servers

    run_servers(protocols or [], root=root, tls=tls, as_json=as_json)


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


def main() -> None:
    """Entry point of the ``protoclients`` console script."""
    app()
