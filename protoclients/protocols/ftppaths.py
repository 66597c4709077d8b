"""FTP paths and command arguments: RFC 1738 URL paths -> server paths, argument checks.

An ``ftp://`` URL path is relative to the login directory (``ftp://host/in/a.txt`` is
``in/a.txt`` in the user's home); ``ftp://host//etc/motd`` (or ``/%2Fetc/motd``) is an
absolute path. The client joins relative paths to the login directory it read once with
``PWD``, so it never has to change directory.

Anything that goes on a command line is checked for CR, LF and NUL first (command
injection); the offending value is never echoed in the error. Pure functions, no I/O.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ..errors import InvalidInput

__all__ = ["check_arg", "join_path", "reject_extra_kwargs", "remote_path", "split_path"]


def check_arg(value: str, what: str = "path") -> str:
    """Refuse CR, LF and NUL in anything that goes on a command line (without echoing it)."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidInput(f"{what} contains CR, LF or NUL", protocol="ftp")
    return value


def remote_path(decoded_path: str, home: str) -> str:
    """The server path for a decoded URL path: RFC 1738 (relative to ``home``, ``//abs``).

    ``home`` is the login directory (``""`` when the server's ``PWD`` answer was not a
    Unix path: the result is then relative). A trailing ``/`` is dropped (except for ``/``).
    """
    path = decoded_path
    if path.startswith("//"):
        remote = "/" + path.lstrip("/")
    else:
        relative = path[1:] if path.startswith("/") else path
        remote = posixpath.join(home, relative) if home and relative else (home or relative)
    if len(remote) > 1:
        remote = remote.rstrip("/") or "/"
    return check_arg(remote)


def split_path(path: str) -> tuple[str, str]:
    """``(directory, name)`` of a server path; the directory of ``/name`` is ``/``."""
    directory, _, name = path.rpartition("/")
    if path.startswith("/") and not directory:
        directory = "/"
    return directory, name


def join_path(directory: str, name: str) -> str:
    """``directory/name`` (just ``name`` when ``directory`` is empty)."""
    if not directory:
        return name
    return directory.rstrip("/") + "/" + name


def reject_extra_kwargs(kwargs: dict[str, Any], verb: str) -> None:
    """Refuse keyword arguments a verb does not know (instead of silently ignoring them)."""
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise InvalidInput(f"unknown keyword argument(s) for ftp {verb}: {names}")
