"""``protoclients serve``: run local servers until Ctrl-C (SIGINT) or SIGTERM.

The endpoints, their ports and the users are planned in :mod:`.serve_plan`; this module
starts the servers (one root directory for HTTP and FTP, one :class:`MailStore` for SMTP,
POP3 and IMAP, one throw-away CA for every TLS port), prints how to reach them (a table,
or one JSON document with ``--json``) and stops every one of them on a signal, exit 0.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from .serve_plan import (
    AVAILABLE,
    HOST,
    Endpoint,
    ServeUsageError,
    ServeUser,
    assign_ports,
    check_ports_free,
    plan_endpoints,
    plan_users,
    port_error,
)

__all__ = ["AVAILABLE", "run_servers"]

#: Exit code of a usage problem (bad name, busy port), as Click uses for usage errors.
EXIT_USAGE = 2


def _error(text: str) -> None:
    typer.secho(f"protoclients: serve: {text}", err=True, fg=typer.colors.RED)


@contextlib.contextmanager
def _root_dir(root: Path | None) -> Iterator[Path]:
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        yield root.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="protoclients-serve-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (installed before anything starts, so a signal
    during start-up also ends in a clean stop); the previous handlers come back after."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_servers(
    names: Sequence[str],
    *,
    root: Path | None,
    tls: bool,
    port_base: int,
    users: Sequence[str],
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Start the named servers (all when empty), print how to reach them, wait for a signal.

    Raises :class:`typer.Exit` (2) for a usage problem such as a busy port.
    """
    with _stop_signals() as stop:
        try:
            endpoints = assign_ports(plan_endpoints(names, tls=tls), port_base)
            check_ports_free(endpoints)
            people = plan_users(users, password_stdin=password_stdin, stdin=sys.stdin)
        except ServeUsageError as exc:
            _error(str(exc))
            raise typer.Exit(EXIT_USAGE) from None
        try:
            _load_servers(endpoints)
        except ImportError as exc:
            _error(
                f"the local servers need the 'servers' extra ({exc.name or exc}): "
                "pip install 'protoclients[servers]'"
            )
            raise typer.Exit(EXIT_USAGE) from None
        with contextlib.ExitStack() as stack, _root_dir(root) as base:
            try:
                running, ca_file = _start_all(stack, endpoints, people, base)
            except ServeUsageError as exc:
                _error(str(exc))
                raise typer.Exit(EXIT_USAGE) from None
            _print_info(running, people, base, ca_file, as_json=as_json)
            while not stop.wait(1.0):
                pass
            if not as_json:
                typer.echo("stopping...", err=True)
    # ExitStack closed: every server stopped, every port released.


#: How each endpoint is served: ``(endpoint keys, fixtures class, fixed keyword arguments,
#: port attribute per key)``. The port attribute names are also the constructors'
#: keyword arguments for the port to bind.
_SERVERS: tuple[tuple[tuple[str, ...], str, dict[str, Any], tuple[str, ...]], ...] = (
    (("http",), "LocalHTTPServer", {"tls": False}, ("port",)),
    (("https",), "LocalHTTPServer", {"tls": True}, ("port",)),
    (("ftp",), "LocalFTPServer", {"tls": "none"}, ("port",)),
    (("ftp-tls",), "LocalFTPServer", {"tls": "explicit"}, ("port",)),
    (("ftps",), "LocalFTPServer", {"tls": "implicit"}, ("port",)),
    (("smtp", "smtps"), "LocalSMTPServer", {}, ("port", "smtps_port")),
    (("pop3", "pop3s"), "LocalPOP3Server", {}, ("port", "pop3s_port")),
    (("imap", "imaps"), "LocalIMAPServer", {}, ("port", "imaps_port")),
)


def _load_servers(endpoints: Sequence[Endpoint]) -> None:
    """Import the fixtures classes the endpoints need (ImportError without the extra)."""
    import protoclients_fixtures as fixtures

    keys = {e.key for e in endpoints}
    needed = {"TestCA", "MailStore"} | {
        class_name for spec_keys, class_name, _, _ in _SERVERS if keys & set(spec_keys)
    }
    for name in sorted(needed):
        getattr(fixtures, name)


def _start_all(
    stack: contextlib.ExitStack, endpoints: list[Endpoint], people: list[ServeUser], base: Path
) -> tuple[list[Endpoint], str | None]:
    """Start the server of every endpoint (each registered on ``stack`` to be stopped);
    return the endpoints with their real ports, and the CA file (None without TLS).

    HTTP and FTP serve ``base``; SMTP, POP3 and IMAP share one :class:`MailStore`, so mail
    sent over SMTP is read over POP3 and IMAP. A server that fails to start raises
    :class:`ServeUsageError` naming its port.
    """
    import protoclients_fixtures as fixtures

    creds = {u.name: u.password for u in people}
    by_key = {e.key: e for e in endpoints}
    ca: Any = None
    if any(e.tls != "none" or e.starttls_offered for e in endpoints):
        ca = stack.enter_context(fixtures.TestCA())
    store: Any = None
    running: dict[str, Endpoint] = {}
    for keys, class_name, fixed, attrs in _SERVERS:
        wanted = [(key, attr) for key, attr in zip(keys, attrs, strict=True) if key in by_key]
        if not wanted:
            continue
        kwargs: dict[str, Any] = {attr: by_key[key].port for key, attr in wanted}
        kwargs.update(fixed, ca=ca)
        if len(keys) == 1:  # HTTP or FTP: files
            args: tuple[Any, ...] = (base,)
            kwargs["users"] = creds
        else:  # mail: the shared store; TLS ports exist when the TLS endpoint is planned
            if store is None:
                store = fixtures.MailStore()
                for name, password in creds.items():
                    store.add_user(name, password)
            args = (store,)
            kwargs["tls"] = keys[1] in by_key
        server = getattr(fixtures, class_name)(*args, **kwargs)
        try:
            server.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                server.stop()
            raise ServeUsageError(port_error([by_key[k] for k, _ in wanted], exc)) from None
        stack.callback(server.stop)
        for key, attr in wanted:
            running[key] = replace(by_key[key], port=int(getattr(server, attr)))
    ordered = [running[e.key] for e in endpoints]
    return ordered, ca.ca_file if ca is not None else None


def _print_info(
    endpoints: list[Endpoint],
    people: list[ServeUser],
    base: Path,
    ca_file: str | None,
    *,
    as_json: bool,
) -> None:
    """The table, or one JSON document on one line (scripts read it to know the servers
    are ready: everything listed is listening when it is printed)."""
    if as_json:
        info = {
            "host": HOST,
            "root": str(base),
            "ca_file": ca_file,
            "users": [
                {
                    "name": u.name,
                    "password": u.password if u.generated else None,
                    "password_source": "generated" if u.generated else "stdin",
                }
                for u in people
            ],
            "servers": [
                {
                    "name": e.key,
                    "protocol": e.server,
                    "url": e.url,
                    "port": e.port,
                    "tls": e.tls,
                    "starttls_offered": e.starttls_offered,
                }
                for e in endpoints
            ],
        }
        typer.echo(json.dumps(info))
        return
    typer.echo(f"protoclients serve: {len(endpoints)} server(s) on {HOST}, files in {base}")
    rows = [("NAME", "URL", "TLS")] + [(e.key, e.url, e.note()) for e in endpoints]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for name, url, note in rows:
        typer.echo(f"  {name:<{widths[0]}}  {url:<{widths[1]}}  {note}")
    for u in people:
        shown = u.password if u.generated else "(the one given on stdin)"
        typer.echo(f"  user {u.name}  password {shown}")
    if ca_file is not None:
        typer.echo(f"  CA file: {ca_file}   (client option --cacert FILE, or ca_file=)")
    typer.echo("Press Ctrl-C to stop.")
