"""Finding the password for a URL, in a documented order.

1. the explicit ``password=`` argument (or ``ClientOptions`` / CLI stdin);
2. the password in the URL itself (accepted from the API, never printed);
3. the environment: ``PROTOCLIENTS_PASSWORD`` (read once, then removed from
   ``os.environ`` so child processes never inherit it);
4. the system keyring: service ``protoclients``, entry ``user@host`` (or
   ``user@host:port``); a missing backend is reported, never a traceback;
5. ``~/.netrc`` (or ``$NETRC`` / ``netrc_file``): exact host match, the URL's user
   must match ``login``, ``default`` only when ``netrc_default=True``, and the file must
   not be readable by others;
6. nothing: the protocol decides (anonymous FTP, unauthenticated HTTP) or raises
   :class:`~protoclients.errors.CredentialsNotFound` listing these options
   (:class:`~protoclients.errors.KeyringUnavailable`, a subclass, when the keyring could
   not be asked: no backend, a backend that stores nothing, locked, or no answer in time).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .errors import CredentialsNotFound, InvalidInput, KeyringUnavailable
from .options import ClientOptions
from .urls import URL, Secret

__all__ = [
    "ENV_PASSWORD",
    "KEYRING_SERVICE",
    "Credentials",
    "call_with_timeout",
    "keyring_entry_names",
    "keyring_status",
    "netrc_lookup",
    "resolve_credentials",
]

KEYRING_SERVICE = "protoclients"
ENV_PASSWORD = "PROTOCLIENTS_PASSWORD"  # noqa: S105 - a variable name
KEYRING_TIMEOUT = 10.0

T = TypeVar("T")

_env_lock = threading.Lock()
_env_secret: Secret | None = None
_env_read = False


@dataclass(frozen=True)
class Credentials:
    """A user name and secret, with where they came from (never the secret itself)."""

    username: str
    password: Secret = field(repr=False)
    source: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***, source={self.source!r})"


def _take_env_password() -> Secret | None:
    """Read ``PROTOCLIENTS_PASSWORD`` once and remove it from the environment."""
    global _env_secret, _env_read
    with _env_lock:
        if not _env_read:
            value = os.environ.pop(ENV_PASSWORD, None)
            if value is not None:
                _env_secret = Secret(value)
                _env_read = True
        return _env_secret


def keyring_entry_names(url: URL, username: str) -> list[str]:
    """Keyring entry names tried for ``url``, most specific first."""
    names = []
    if url.port is not None:
        names.append(f"{username}@{url.host}:{url.port}")
    names.append(f"{username}@{url.host}")
    return names


def keyring_status() -> tuple[bool, str]:
    """``(usable, description)`` of the keyring backend, without raising."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception as exc:  # pragma: no cover - keyring is a dependency
        return False, f"keyring library cannot be imported: {type(exc).__name__}"
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        return False, f"keyring backend failed to load: {type(exc).__name__}"
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, fail.Keyring):
        return False, (
            "no keyring backend is available (typical on a headless machine); "
            "use ~/.netrc or the PROTOCLIENTS_PASSWORD environment variable instead"
        )
    if "null" in name.lower():
        return False, f"keyring backend {name} stores nothing"
    return True, name


def call_with_timeout(func: Callable[[], T], timeout: float) -> T:
    """``func()`` in a daemon thread (a keyring may block on a locked collection or a
    dialog): its result, or its exception re-raised, or :class:`TimeoutError` when it has
    not finished after ``timeout`` seconds (the thread is then left to finish alone)."""
    result: list[T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.append(func())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=work, name="protoclients-keyring", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if errors:
        raise errors[0]
    return result[0]


def _keyring_get(url: URL, username: str, diagnostics: list[str]) -> Secret | None:
    usable, description = keyring_status()
    if not usable:
        diagnostics.append(description)
        return None
    import keyring

    def lookup() -> str | None:
        for entry in keyring_entry_names(url, username):
            value = keyring.get_password(KEYRING_SERVICE, entry)
            if value is not None:
                return value
        return None

    try:
        found = call_with_timeout(lookup, KEYRING_TIMEOUT)
    except TimeoutError:
        diagnostics.append(f"keyring did not answer within {KEYRING_TIMEOUT:.0f} s")
        return None
    except Exception as exc:
        diagnostics.append(f"keyring lookup failed: {type(exc).__name__}")
        return None
    return Secret(found) if found is not None else None


def _netrc_path(options: ClientOptions) -> Path | None:
    if options.netrc_file:
        return Path(options.netrc_file).expanduser()
    env = os.environ.get("NETRC")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    for name in (".netrc", "_netrc"):
        candidate = home / name
        if candidate.exists():
            return candidate
    return None


def netrc_lookup(
    url: URL, username: str | None, options: ClientOptions, diagnostics: list[str]
) -> tuple[str, Secret] | None:
    """Find ``(login, password)`` for ``url`` in the netrc file, securely.

    The file must belong to the current user and not be readable by group or others;
    only an exact host match counts (``default`` only with ``netrc_default``); when the
    URL names a user, the entry's ``login`` must be that user.
    """
    path = _netrc_path(options)
    if path is None:
        return None
    try:
        info = path.stat()
    except FileNotFoundError:
        if options.netrc_file:
            raise InvalidInput(f"netrc file not found: {path}") from None
        return None
    if hasattr(os, "getuid"):
        if info.st_uid != os.getuid():
            diagnostics.append(f"ignored {path}: it belongs to another user")
            return None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            diagnostics.append(
                f"ignored {path}: it is readable by others (run: chmod 600 {path})"
            )
            return None
    import netrc

    try:
        parsed = netrc.netrc(os.fspath(path))
    except netrc.NetrcParseError as exc:
        diagnostics.append(f"ignored {path}: parse error at line {exc.lineno}")
        return None
    except OSError as exc:
        diagnostics.append(f"ignored {path}: {exc.strerror}")
        return None
    entry = parsed.hosts.get(url.host)
    source_default = False
    if entry is None and options.netrc_default and "default" in parsed.hosts:
        entry = parsed.hosts["default"]
        source_default = True
    if entry is None:
        return None
    login, _account, password = entry
    if username and login and login != username:
        diagnostics.append(
            f"{path} has an entry for {url.host} but for user {login!r}, not {username!r}"
        )
        return None
    if not password:
        return None
    del source_default
    return (login or username or "", Secret(password))


def resolve_credentials(
    url: URL,
    options: ClientOptions,
    explicit: Secret | None = None,
    *,
    required: bool = False,
    diagnostics: list[str] | None = None,
) -> Credentials | None:
    """Resolve credentials for ``url`` in the documented order (see module docstring).

    Returns ``None`` when no password was found and ``required`` is false; raises
    :class:`CredentialsNotFound` (naming every option) when it is true.
    """
    diag: list[str] = [] if diagnostics is None else diagnostics
    username = options.username or url.username
    if explicit is not None:
        if not username:
            raise InvalidInput("a password was given but no user name (put it in the URL)")
        return Credentials(username, explicit, "argument")
    if url.password is not None:
        if not username:
            raise InvalidInput("the URL has a password but no user name")
        return Credentials(username, url.password, "url")
    keyring_failed = False
    if username:
        env = _take_env_password()
        if env is not None:
            return Credentials(username, env, "environment")
        if options.use_keyring:
            reported = len(diag)
            secret = _keyring_get(url, username, diag)
            if secret is not None:
                return Credentials(username, secret, "keyring")
            # No backend, a backend that stores nothing, locked, timed out: say so by type.
            keyring_failed = len(diag) > reported
    found = netrc_lookup(url, username, options, diag)
    if found is not None:
        return Credentials(found[0], found[1], "netrc")
    if required:
        who = f"{username}@{url.host}" if username else url.host
        hints = (
            f"no password found for {who}. Give one with password=..., the "
            f"{ENV_PASSWORD} environment variable, the keyring (protoclients auth set), "
            "or ~/.netrc (mode 600)"
        )
        if diag:
            hints += " [" + "; ".join(diag) + "]"
        raise (KeyringUnavailable if keyring_failed else CredentialsNotFound)(hints, url=url)
    return None
