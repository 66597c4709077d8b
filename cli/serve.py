"""``protoclients serve``: run local servers until interrupted."""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

__all__ = ["AVAILABLE", "run_servers"]

#: Server names ``serve`` understands, in start order.
AVAILABLE = ("http", "ftp", "smtp", "pop3", "imap")


@contextlib.contextmanager
def _root_dir(root: Path | None) -> Iterator[Path]:
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="protoclients-serve-") as tmp:
        yield Path(tmp)


def run_servers(names: list[str], *, root: Path | None, tls: bool, as_json: bool) -> None:
    """Start the named servers (all when empty), print how to reach them, wait for Ctrl-C."""
    wanted = [n.lower() for n in names] or list(AVAILABLE)
    unknown = [n for n in wanted if n not in AVAILABLE]
    if unknown:
        typer.secho(
            f"protoclients: unknown server(s) {', '.join(unknown)}; "
            f"available: {', '.join(AVAILABLE)}",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(2)
    try:
        from protoclients_fixtures import TestCA, serve_ftp, serve_http, serve_mail
    except ImportError:
        typer.secho(
            "protoclients: the local servers need the 'servers' extra: "
            "pip install 'protoclients[servers]'",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(2) from None
    with contextlib.ExitStack() as stack, _root_dir(root) as base:
        ca = stack.enter_context(TestCA())
        servers: list[Any] = []
        users: dict[str, str] = {}
        if "http" in wanted:
            http = stack.enter_context(
                serve_http(root=base, tls=False, ca=ca, users=users or None)
            )
            users = dict(http.users)
            servers.append(http)
            if tls:
                servers.append(
                    stack.enter_context(serve_http(root=base, tls=True, ca=ca, users=users))
                )
        if "ftp" in wanted:
            ftp = stack.enter_context(
                serve_ftp(root=base, tls="none", ca=ca, users=users or None)
            )
            users = dict(ftp.users)
            servers.append(ftp)
            if tls:
                for mode in ("explicit", "implicit"):
                    servers.append(
                        stack.enter_context(serve_ftp(root=base, tls=mode, ca=ca, users=users))
                    )
        mail_wanted = [n for n in ("smtp", "pop3", "imap") if n in wanted]
        if mail_wanted:
            mail = stack.enter_context(serve_mail(tls=tls, ca=ca, users=users or None))
            users = dict(mail.users)
            for name in mail_wanted:
                for scheme in (name, name + "s"):
                    url = mail.urls.get(scheme)
                    if url:
                        servers.append(_MailEndpoint(url, "implicit" if scheme != name else None))
        info: dict[str, Any] = {
            "root": str(base),
            "ca_file": ca.ca_file,
            "users": users,
            "servers": [{"url": s.url, "tls": getattr(s, "tls", None)} for s in servers],
        }
        if as_json:
            typer.echo(json.dumps(info), nl=True)
        else:
            typer.echo(f"serving {base}")
            for server in servers:
                tls_mode = getattr(server, "tls", None)
                note = f"  (tls={tls_mode})" if tls_mode not in (None, False, "none") else ""
                typer.echo(f"  {server.url}{note}")
            for user, password in users.items():
                typer.echo(f"  user {user}  password {password}")
            typer.echo(f"  CA file: {ca.ca_file}   (pass --cacert / ca_file=)")
            typer.echo("Press Ctrl-C to stop.")
        _wait_for_interrupt()


class _MailEndpoint:
    """One mail URL to print (the mail servers share one store)."""

    def __init__(self, url: str, tls: str | None) -> None:
        self.url = url
        self.tls = tls


def _wait_for_interrupt() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
