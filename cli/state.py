"""The global options of the command line, shared by every command through Typer's context.

``protoclients [GLOBAL OPTIONS] COMMAND ...`` (global options may also follow the command,
see :mod:`.argv`). :class:`CLIState` turns them into the keyword arguments of the library's
verbs, finds the password (``--password-stdin`` -> environment -> keyring -> netrc ->
prompt on a terminal) and runs a library call with the CLI's error handling: one line on
stderr, the documented exit code, 130 on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from protoclients.errors import ProtoClientError
    from protoclients.urls import URL, Secret

__all__ = ["CLIState", "state_of"]

T = TypeVar("T")

#: Exit code for Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit code when stdout was closed by its reader (``fetch -o - | head``): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141
#: Exit code for a bug in protoclients itself (an exception that is not a ProtoClientError).
EXIT_INTERNAL = 1


@dataclass
class CLIState:
    """The global options, as given on the command line."""

    timeout: float = 30.0
    cacert: Path | None = None
    pin_sha256: str | None = None
    insecure: bool = False
    tls: str | None = None
    user: str | None = None
    password_stdin: bool = False
    netrc_file: Path | None = None
    allow_insecure_auth: bool = False
    verbose: int = 0
    quiet: bool = False
    json: bool = False
    traceback: bool = False
    #: The running command (``"fetch"``, ``"mail send"``...), named in error lines.
    command: str | None = None
    #: Set by commands that read their data from stdin: ``--password-stdin`` cannot share it.
    stdin_is_data: bool = False
    _password: Secret | None = field(default=None, repr=False)
    _stdin_read: bool = field(default=False, repr=False)
    _warned: bool = field(default=False, repr=False)

    # ------------------------------------------------------------------ options

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments naming :class:`~protoclients.options.ClientOptions` fields."""
        opts: dict[str, Any] = {"timeout": self.timeout}
        if self.cacert is not None:
            opts["ca_file"] = str(self.cacert)
        if self.pin_sha256 is not None:
            opts["pin_sha256"] = self.pin_sha256
        if self.insecure:
            if not self._warned:
                typer.secho(
                    "WARNING: --insecure: TLS certificates are NOT verified; anyone on the "
                    "path can read and change this connection.",
                    err=True,
                    fg=typer.colors.RED,
                )
                self._warned = True
            opts["insecure"] = True
        if self.tls is not None:
            opts["tls"] = self.tls
        if self.user is not None:
            opts["username"] = self.user
        if self.netrc_file is not None:
            opts["netrc_file"] = str(self.netrc_file)
        if self.allow_insecure_auth:
            opts["allow_insecure_auth"] = True
        if self.verbose:
            opts["trace"] = self.trace_line
        return opts

    def trace_line(self, line: str) -> None:
        """Print one (already redacted) protocol trace line on stderr."""
        typer.echo(f"* {line}", err=True)

    # -------------------------------------------------------------- credentials

    def password_for(self, url: str) -> Secret | None:
        """The password to use for ``url``, or ``None`` to let the library decide.

        ``--password-stdin`` wins; otherwise the library's own chain (environment,
        keyring, netrc) is tried here, and only when it finds nothing for a URL that names
        a user, the password is asked for on a terminal (hidden input).
        """
        from protoclients.urls import Secret, parse_url

        if self.password_stdin:
            if self.stdin_is_data:
                raise typer.BadParameter(
                    "--password-stdin cannot be used while the data comes from stdin ('-'); "
                    "use PROTOCLIENTS_PASSWORD, the keyring or --netrc-file instead"
                )
            if not self._stdin_read:
                line = sys.stdin.readline()
                self._stdin_read = True
                secret = line.rstrip("\r\n")
                if not secret:
                    raise typer.BadParameter("--password-stdin: stdin gave no password")
                self._password = Secret(secret)
            return self._password
        if self._password is not None:
            return self._password
        parsed = self.run(parse_url, url)
        username = self.user or parsed.username
        if not username or parsed.password is not None or not sys.stdin.isatty():
            return None
        if self.run(self._found_without_prompt, parsed):  # e.g. a missing --netrc-file
            return None
        import getpass

        value = getpass.getpass(f"Password for {username}@{parsed.hostport}: ")
        self._password = Secret(value)
        return self._password

    def _found_without_prompt(self, parsed: URL) -> bool:
        from protoclients.credentials import resolve_credentials
        from protoclients.options import ClientOptions

        options = {k: v for k, v in self.client_options().items() if k != "trace"}
        return resolve_credentials(parsed, ClientOptions(**options)) is not None

    def call_kwargs(self, url: str) -> dict[str, Any]:
        """Client options plus the password (when one was found) for a verb on ``url``."""
        kwargs = self.client_options()
        password = self.password_for(url)
        if password is not None:
            kwargs["password"] = password
        return kwargs

    # ------------------------------------------------------------------- errors

    def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``func``; errors become one stderr line and an exit code."""
        from protoclients.errors import ProtoClientError

        try:
            return func(*args, **kwargs)
        except ProtoClientError as exc:
            if _broken_pipe(exc) and _stdout_gone():
                stdout_closed()
            if self.traceback:
                raise
            self.fail(exc)
        except KeyboardInterrupt:
            typer.echo("protoclients: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) and _stdout_gone():
                stdout_closed()
            if self.traceback:
                raise
            self.fail(local_error(exc))
        except Exception as exc:
            if self.traceback or isinstance(exc, click_exceptions()):
                raise  # usage errors keep Click's exit code 2
            typer.secho(
                f"protoclients: internal error: {type(exc).__name__} "
                "(run again with --traceback and report it)",
                err=True,
                fg=typer.colors.RED,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    def fail(self, exc: ProtoClientError) -> NoReturn:
        """Print a library error as one line on stderr and exit with its code."""
        from .render import fail

        fail(exc, self.command)


def _broken_pipe(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by writing to a closed pipe."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, BrokenPipeError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on it)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):
        return False
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in events)


def stdout_closed() -> NoReturn:
    """The reader of stdout went away: exit quietly with :data:`EXIT_BROKEN_PIPE`."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(EXIT_BROKEN_PIPE)


def local_error(exc: OSError) -> ProtoClientError:
    """A local file error (not the server's) as the library error of the same kind."""
    import errno

    from protoclients import errors

    what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    if exc.errno in {errno.EACCES, errno.EPERM, errno.EROFS}:
        return errors.PermissionDeniedError(f"local file: {what}")
    if exc.errno in {errno.ENOENT, errno.ENOTDIR}:
        return errors.NotFoundError(f"local file: {what}")
    if exc.errno in {errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED}:
        return errors.ConnectionFailed(f"connection lost: {exc.strerror or exc}")
    if exc.errno in {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}:
        return errors.DiskFullError(f"local file: {what}")
    return errors.InvalidInput(f"local file: {what}")


def click_exceptions() -> tuple[type[Exception], ...]:
    """Click's exception base (usage errors must keep their exit code 2).

    Typer 0.29+ vendors Click (``typer._click``): its ``ClickException`` is not
    ``click.ClickException``, so the base is taken from ``typer.BadParameter``.
    """
    return tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def state_of(ctx: typer.Context) -> CLIState:
    """The :class:`CLIState` of the running command (a default one outside the app).

    Also records the command's name (``ctx.command_path`` without the program name) for
    error lines.
    """
    root = ctx.find_root()
    if not isinstance(root.obj, CLIState):
        root.obj = CLIState()
    if ctx is not root:
        root.obj.command = ctx.command_path.partition(" ")[2] or None
    return root.obj
