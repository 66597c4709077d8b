"""What ``protoclients serve`` will run: the endpoints, their ports and the users.

Pure planning, no sockets held: :func:`plan_endpoints` turns the server names and
``--tls`` into the ordered list of :class:`Endpoint` (the order of :data:`ORDER`),
:func:`assign_ports` gives them ``--port-base`` + 0, 1, 2 ... (or 0 = a free port each),
:func:`check_ports_free` finds a busy port before anything starts, and :func:`plan_users`
validates ``--user`` names and pairs them with passwords (from stdin or generated).
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import re
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TextIO

__all__ = [
    "AVAILABLE",
    "HOST",
    "ORDER",
    "Endpoint",
    "ServeUser",
    "ServeUsageError",
    "assign_ports",
    "check_ports_free",
    "plan_endpoints",
    "plan_users",
]

#: Where every server listens.
HOST = "127.0.0.1"

#: Server names ``serve`` understands (positional arguments).
AVAILABLE = ("http", "ftp", "smtp", "pop3", "imap")

#: Every endpoint ``serve`` can run, in port order: ``(key, server, URL scheme, TLS)``.
#: With ``--port-base N`` the endpoints that run get N, N+1, N+2 ... in this order.
ORDER: tuple[tuple[str, str, str, str], ...] = (
    ("http", "http", "http", "none"),
    ("https", "http", "https", "implicit"),
    ("ftp", "ftp", "ftp", "none"),
    ("ftp-tls", "ftp", "ftp", "starttls"),
    ("ftps", "ftp", "ftps", "implicit"),
    ("smtp", "smtp", "smtp", "none"),
    ("smtps", "smtp", "smtps", "implicit"),
    ("pop3", "pop3", "pop3", "none"),
    ("pop3s", "pop3", "pop3s", "implicit"),
    ("imap", "imap", "imap", "none"),
    ("imaps", "imap", "imaps", "implicit"),
)

_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: The user created when no ``--user`` is given.
DEFAULT_USER = "alice"


class ServeUsageError(Exception):
    """A problem with the command line or the environment, reported as one line (exit 2)."""


@dataclass(frozen=True)
class Endpoint:
    """One listening port of ``serve``.

    Attributes:
        key: unique name (``http``, ``https``, ``ftp``, ``ftp-tls``, ``ftps``, ``smtp``, ...).
        server: the server it belongs to (``http``, ``ftp``, ``smtp``, ``pop3``, ``imap``).
        scheme: the URL scheme clients use.
        tls: ``"none"``, ``"implicit"`` or ``"starttls"`` (the ``ftp-tls`` endpoint: the
            server requires ``AUTH TLS``; plain mail ports *offer* STARTTLS with ``--tls``,
            see :attr:`starttls_offered`).
        port: the port asked for (0 = any free one) before start, the real one after.
        starttls_offered: a plain mail port that offers STARTTLS/STLS (``--tls``).
    """

    key: str
    server: str
    scheme: str
    tls: str
    port: int = 0
    starttls_offered: bool = False

    @property
    def url(self) -> str:
        """Base URL, ending with ``/``."""
        return f"{self.scheme}://{HOST}:{self.port}/"

    def note(self) -> str:
        """A short hint for people reading the table."""
        if self.tls == "starttls":
            return "explicit TLS (AUTH TLS) required: client option --tls starttls"
        if self.starttls_offered:
            verb = "STLS" if self.server == "pop3" else "STARTTLS"
            return f"{verb} offered (--tls starttls to require it)"
        if self.tls == "implicit":
            return "TLS from the first byte"
        return "no TLS"


@dataclass(frozen=True)
class ServeUser:
    """A user every server accepts; ``generated`` passwords are printed, chosen ones not."""

    name: str
    password: str
    generated: bool

    def __repr__(self) -> str:
        return f"ServeUser({self.name!r}, generated={self.generated})"


def plan_endpoints(names: Sequence[str], *, tls: bool) -> list[Endpoint]:
    """The endpoints for the server ``names`` (all when empty), in :data:`ORDER`."""
    wanted = [n.lower() for n in names] or list(AVAILABLE)
    unknown = [n for n in wanted if n not in AVAILABLE]
    if unknown:
        raise ServeUsageError(
            f"unknown server(s) {', '.join(unknown)}; available: {', '.join(AVAILABLE)}"
        )
    endpoints = []
    for key, server, scheme, mode in ORDER:
        if server not in wanted or (mode != "none" and not tls):
            continue
        offered = tls and mode == "none" and server in ("smtp", "pop3", "imap")
        endpoints.append(Endpoint(key, server, scheme, mode, starttls_offered=offered))
    return endpoints


def assign_ports(endpoints: Sequence[Endpoint], base: int) -> list[Endpoint]:
    """Ports ``base``, ``base + 1`` ... in order (``base`` 0: 0 for each = a free port)."""
    if base == 0:
        return list(endpoints)
    last = base + len(endpoints) - 1
    if base < 1 or last > 65535:
        raise ServeUsageError(
            f"--port-base {base}: {len(endpoints)} port(s) needed, {base}..{last} is not "
            "within 1..65535"
        )
    return [replace(e, port=base + i) for i, e in enumerate(endpoints)]


def check_ports_free(endpoints: Sequence[Endpoint]) -> None:
    """Raise :class:`ServeUsageError` naming the first fixed port that cannot be bound."""
    for endpoint in endpoints:
        if endpoint.port == 0:
            continue
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
            # Like the servers: a port in TIME_WAIT is reusable, one with a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, endpoint.port))
            except OSError as exc:
                raise ServeUsageError(port_error(endpoint, exc)) from None


def port_error(endpoints: Endpoint | Sequence[Endpoint], exc: BaseException) -> str:
    """One line naming the port(s) a server could not listen on, and why."""
    group = [endpoints] if isinstance(endpoints, Endpoint) else list(endpoints)
    fixed = [str(e.port) for e in group if e.port]
    where = f"{HOST}:{' or '.join(fixed)}" if fixed else f"{HOST} (a free port)"
    code = getattr(exc, "errno", None)
    if code == errno.EADDRINUSE or "in use" in str(exc).lower():
        why = "the port is already in use; choose another --port-base, or 0 for free ports"
    elif code in (errno.EACCES, errno.EPERM) or "permission denied" in str(exc).lower():
        why = "permission denied (ports below 1024 need privileges)"
    else:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return f"cannot listen on {where} for {', '.join(e.key for e in group)}: {why}"


def plan_users(
    names: Sequence[str], *, password_stdin: bool, stdin: TextIO | None = None
) -> list[ServeUser]:
    """Users for ``--user`` names (``alice`` when none); passwords from stdin or generated.

    With ``password_stdin`` one line of ``stdin`` is read per user, in order (asked for
    with hidden input when stdin is a terminal). Names are
    validated and must not carry a password (``name:password``): passwords never go on
    the command line.
    """
    users = list(dict.fromkeys(names)) or [DEFAULT_USER]
    for name in users:
        if ":" in name:
            raise ServeUsageError(
                f"--user {name.split(':', 1)[0]}:***: --user takes a name only; passwords "
                "never go on the command line (use --password-stdin, or let serve generate one)"
            )
        if not _USER_NAME.fullmatch(name) or name == "anonymous":
            raise ServeUsageError(
                f"--user {name!r}: a user name is 1-64 letters, digits, '.', '_' or '-' "
                "(and not 'anonymous')"
            )
    result = []
    for name in users:
        if password_stdin:
            if stdin is None:
                raise ServeUsageError("--password-stdin: no stdin")
            if stdin.isatty():  # typed: hidden, like every other password prompt
                password = getpass.getpass(f"Password for {name}: ")
            else:
                password = stdin.readline().rstrip("\r\n")
            if not password:
                raise ServeUsageError(
                    f"--password-stdin: no password line for user {name} (one line per --user)"
                )
            result.append(ServeUser(name, password, generated=False))
        else:
            result.append(ServeUser(name, secrets.token_urlsafe(12), generated=True))
    return result
