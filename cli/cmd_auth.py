"""``protoclients auth set|show|delete|list``: passwords and tokens in the system keyring.

Entries live under the keyring service ``protoclients`` with the name ``user@host`` (or
``user@host:port`` when the URL has a port), the names
:func:`protoclients.credentials.keyring_entry_names` looks up. The keyring side (backend
checks, deadlines, the index of stored names) is in :mod:`.auth_keyring`; ``show`` is in
:mod:`.auth_show`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .state import CLIState, state_of

if TYPE_CHECKING:
    from protoclients.urls import URL, Secret

__all__ = ["auth_app"]

auth_app = typer.Typer(
    help="Store, show, delete and list passwords and tokens in the system keyring.",
    no_args_is_help=True,
)

#: ``auth show`` found no stored or given credential (as CredentialsNotFound).
EXIT_NOT_FOUND = 5

_URL_HELP = "Where the credential is used, with the user: imaps://alice@mail.example.org/"


def _target(st: CLIState, text: str, *, allow_password: bool = False) -> tuple[URL, str]:
    """``(url, user)``; exits 2 without a user name or with a password in the URL."""
    from protoclients.errors import InvalidInput
    from protoclients.urls import parse_url

    url = st.run(parse_url, text)
    if url.password is not None and not allow_password:
        st.fail(
            InvalidInput(
                "leave the password out of the URL (shells keep history): type it at the "
                "prompt or pipe it with --password-stdin"
            )
        )
    user = st.user or url.username
    if not user:
        st.fail(
            InvalidInput(
                "no user name: put it in the URL (imaps://alice@host/) or use --user alice"
            )
        )
    return url, user


def _entry_name(url: URL, user: str) -> str:
    from protoclients.credentials import keyring_entry_names

    return keyring_entry_names(url, user)[0]


def _read_secret(st: CLIState, url: URL, user: str) -> Secret:
    """The secret from ``--password-stdin``, else asked twice on the terminal (hidden)."""
    from protoclients.errors import InvalidInput
    from protoclients.urls import Secret

    if st.password_stdin:
        secret = st.password_for(str(url))
        assert secret is not None
        return secret
    if not sys.stdin.isatty():
        st.fail(InvalidInput("no terminal to ask for the password on: use --password-stdin"))
    import getpass

    try:
        first = getpass.getpass(f"Password or token for {user}@{url.hostport}: ")
        second = getpass.getpass("Again, to confirm: ")
    except (EOFError, KeyboardInterrupt):
        typer.echo("", err=True)
        typer.echo("protoclients: interrupted; nothing was stored", err=True)
        raise typer.Exit(130) from None
    if first != second:
        st.fail(InvalidInput("the two entries differ; nothing was stored"))
    if not first:
        st.fail(InvalidInput("empty password; nothing was stored"))
    return Secret(first)


@auth_app.command("set")
def set_credential(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help=_URL_HELP)],
    allow_plaintext: Annotated[
        bool,
        typer.Option(
            "--allow-plaintext",
            help="Store even in a keyring backend that keeps passwords unencrypted on disk.",
        ),
    ] = False,
) -> None:
    """Store the password or token for user@host in the keyring.

    The secret is asked for twice with hidden input, or read from the first
    line of stdin with --password-stdin. It is stored under the service
    "protoclients" as user@host, or user@host:port when the URL has a port
    (then only URLs with that port use it). No option takes the secret
    itself on the command line.

    Without a keyring backend (headless machines) nothing is stored and the
    alternatives are explained (~/.netrc, PROTOCLIENTS_PASSWORD). A backend
    that stores plaintext is refused unless --allow-plaintext is given.

    Examples:

      protoclients auth set imaps://alice@mail.example.org/

    \b
      pass show mail | protoclients auth set --password-stdin \\
        smtps://alice@mail.example.org:465/
    """
    from protoclients.credentials import ENV_PASSWORD, KEYRING_SERVICE
    from protoclients.errors import ProtoClientError

    from .auth_keyring import backend_info, index_add, keyring_call, storing_refusal

    st = state_of(ctx)
    parsed, user = _target(st, url)
    entry = _entry_name(parsed, user)
    info = backend_info()
    refusal = storing_refusal(info, allow_plaintext=allow_plaintext)
    if refusal is not None:
        st.fail(refusal)
    secret = _read_secret(st, parsed, user)
    import keyring

    def store() -> bool:
        old = keyring_call(
            keyring.get_password, KEYRING_SERVICE, entry, what="look up", timeout=st.timeout
        )
        keyring_call(
            keyring.set_password,
            KEYRING_SERVICE,
            entry,
            secret.reveal(),
            what="store the password",
            timeout=st.timeout,
        )
        return old is not None

    replaced = st.run(store)
    warnings: list[str] = []
    try:
        index_add(KEYRING_SERVICE, entry, st.timeout)
    except ProtoClientError as exc:
        warnings.append(f"stored, but 'auth list' will not show it: {exc}")
    if info.kind == "plaintext":
        warnings.append(f"stored UNENCRYPTED ({info.name}), as --allow-plaintext asked")
    if ENV_PASSWORD in os.environ:
        warnings.append(f"{ENV_PASSWORD} is set: it takes precedence over the keyring")
    if st.json:
        doc = {
            "stored": entry,
            "service": KEYRING_SERVICE,
            "backend": info.name,
            "replaced": replaced,
            "warnings": warnings,
        }
        typer.echo(json.dumps(doc))
        return
    for warning in warnings:
        typer.secho(f"protoclients: warning: {warning}", err=True, fg=typer.colors.YELLOW)
    if not st.quiet:
        verb = "replaced" if replaced else "stored"
        typer.echo(f"{verb} the secret for {entry} in the keyring ({info.name})")


@auth_app.command("show")
def show(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help=_URL_HELP)],
) -> None:
    """Say where the password for URL would come from, without printing it.

    Checks, in the order a command uses them: --password-stdin, a password
    in the URL, PROTOCLIENTS_PASSWORD, the keyring, netrc; the first one
    found wins. Nothing is consumed (stdin is not read). Exit code 0 when a
    source was found, 5 when none was.

    Examples:

      protoclients auth show imaps://alice@mail.example.org/

      protoclients auth show ftp://bob@ftp.example.org/ --json
    """
    from protoclients.urls import parse_url

    from .auth_show import explain

    st = state_of(ctx)
    parsed = st.run(parse_url, url)
    result = explain(st, parsed)
    if st.json:
        typer.echo(json.dumps(result.to_dict()))
    elif not st.quiet:
        who = f"{result.user}@{parsed.hostport}" if result.user else parsed.hostport
        typer.echo(f"credential for {who} ({result.url}):")
        for check in result.checks:
            mark = {True: "found", False: "-", None: "n/a"}[check.found]
            typer.echo(f"  {check.source:<12} {mark:<6} {check.detail}")
        for note in result.notes:
            typer.echo(f"  note: {note}")
        typer.echo(f"source: {result.source}: {result.detail}")
    if result.source == "none":
        raise typer.Exit(EXIT_NOT_FOUND)


@auth_app.command("delete")
def delete(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help=_URL_HELP)],
) -> None:
    """Delete the keyring entry for URL (user@host, or user@host:port).

    Exit code 6 when there is no such entry.

    Example:

      protoclients auth delete imaps://alice@mail.example.org/
    """
    from protoclients.credentials import KEYRING_SERVICE
    from protoclients.errors import NotFoundError

    from .auth_keyring import backend_info, index_remove, keyring_call, storing_refusal

    st = state_of(ctx)
    parsed, user = _target(st, url, allow_password=True)
    entry = _entry_name(parsed, user)
    info = backend_info()
    refusal = storing_refusal(info, allow_plaintext=True)
    if refusal is not None:
        st.fail(refusal)
    import keyring

    def remove() -> None:
        old = keyring_call(
            keyring.get_password, KEYRING_SERVICE, entry, what="look up", timeout=st.timeout
        )
        if old is None:
            index_remove(KEYRING_SERVICE, entry, st.timeout)
            raise NotFoundError(f"no keyring entry {entry} (service {KEYRING_SERVICE})")
        keyring_call(
            keyring.delete_password,
            KEYRING_SERVICE,
            entry,
            what="delete the password",
            timeout=st.timeout,
        )
        index_remove(KEYRING_SERVICE, entry, st.timeout)

    st.run(remove)
    if st.json:
        typer.echo(json.dumps({"deleted": entry, "service": KEYRING_SERVICE}))
    elif not st.quiet:
        typer.echo(f"deleted {entry} from the keyring ({info.name})")


@auth_app.command("list")
def list_entries(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Argument(metavar="[URL]", help="Only entries for this host (and user, if given)."),
    ] = None,
) -> None:
    """List the keyring entries protoclients stored (names only, never secrets).

    The keyring cannot enumerate its entries, so 'auth set' keeps an index
    of the names it stored (in the keyring, entry "protoclients-index").
    Entries removed by another tool are shown as missing.

    Examples:

      protoclients auth list

      protoclients auth list imaps://mail.example.org/ --json
    """
    from protoclients.credentials import KEYRING_SERVICE
    from protoclients.urls import parse_url

    from .auth_keyring import backend_info, keyring_call, read_index, storing_refusal

    st = state_of(ctx)
    parsed = st.run(parse_url, url) if url is not None else None
    info = backend_info()
    refusal = storing_refusal(info, allow_plaintext=True)
    if refusal is not None:
        st.fail(refusal)
    import keyring

    warnings: list[str] = []

    def collect() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for name in read_index(KEYRING_SERVICE, st.timeout, warnings):
            user, _, hostport = name.rpartition("@")
            if parsed is not None and not _matches(parsed, st.user, user, hostport):
                continue
            value = keyring_call(
                keyring.get_password, KEYRING_SERVICE, name, what="look up", timeout=st.timeout
            )
            rows.append({"entry": name, "user": user, "present": value is not None})
        return rows

    rows = st.run(collect)
    if st.json:
        doc = {"service": KEYRING_SERVICE, "backend": info.name, "entries": rows}
        typer.echo(json.dumps(doc))
        return
    for warning in warnings:
        typer.secho(f"protoclients: warning: {warning}", err=True, fg=typer.colors.YELLOW)
    if st.quiet:
        return
    if not rows:
        typer.echo(f"no entries stored by protoclients ({info.name})")
    for row in rows:
        state = "" if row["present"] else "  (missing: removed outside protoclients)"
        typer.echo(f"{row['entry']}{state}")


def _matches(url: URL, user_option: str | None, user: str, hostport: str) -> bool:
    wanted_user = user_option or url.username
    if wanted_user and wanted_user != user:
        return False
    host = url.host.lower()
    hostport = hostport.lower()
    if url.port is not None:
        return hostport == f"{host}:{url.port}"
    return hostport == host or hostport.startswith(f"{host}:")
