"""One-shot functions: ``connect``, ``fetch``, ``send``, ``ls``, ``delete``.

Each one-shot verb opens a connection, does one thing and closes it. Keyword
arguments that name a :class:`~protoclients.options.ClientOptions` field (``timeout``,
``ca_file``, ``insecure``, ``tls``...) configure the connection; ``password=`` gives the
password; the rest go to the verb (``method="POST"`` for HTTP, ``make_dirs=True`` for FTP...).
"""

from __future__ import annotations

from typing import Any

from .client import Client, Destination, Source
from .entries import Entry
from .options import ClientOptions
from .registry import client_class
from .transfer import ProgressCallback
from .urls import URL, Secret, parse_url

__all__ = ["connect", "delete", "fetch", "ls", "send"]


def connect(
    url: str | URL,
    *,
    password: str | Secret | None = None,
    options: ClientOptions | None = None,
    **option_kwargs: Any,
) -> Client:
    """Create the client for ``url``'s scheme. Use it as a context manager.

    >>> with protoclients.connect("ftps://alice@ftp.example.org/pub") as ftp:  # doctest: +SKIP
    ...     for entry in ftp.ls():
    ...         print(entry.name, entry.size)
    """
    parsed = parse_url(url)
    cls = client_class(parsed.scheme)
    return cls(parsed, password=password, options=options, **option_kwargs)


def _split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    opts, rest = ClientOptions.split(kwargs)
    for key in ("password", "options"):
        if key in rest:
            opts[key] = rest.pop(key)
    return opts, rest


def fetch(
    url: str | URL,
    dest: Destination = None,
    *,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> Any:
    """Download ``url``. Returns the body (``dest=None``) or a ``TransferResult``."""
    opts, rest = _split(kwargs)
    with connect(url, timeout=timeout, **opts) if timeout else connect(url, **opts) as client:
        return client.fetch(None, dest, resume=resume, progress=progress, **rest)


def send(
    url: str | URL,
    source: Source,
    *,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> Any:
    """Upload or deliver ``source`` to ``url``."""
    opts, rest = _split(kwargs)
    with connect(url, timeout=timeout, **opts) if timeout else connect(url, **opts) as client:
        return client.send(source, None, progress=progress, **rest)


def ls(url: str | URL, *, timeout: float | None = None, **kwargs: Any) -> list[Entry]:
    """List ``url``: a directory, a directory index, mailboxes or messages."""
    opts, rest = _split(kwargs)
    with connect(url, timeout=timeout, **opts) if timeout else connect(url, **opts) as client:
        return client.ls(None, **rest)


def delete(url: str | URL, *, timeout: float | None = None, **kwargs: Any) -> None:
    """Delete ``url``."""
    opts, rest = _split(kwargs)
    with connect(url, timeout=timeout, **opts) if timeout else connect(url, **opts) as client:
        client.delete(None, **rest)
