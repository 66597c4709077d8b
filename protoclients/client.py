"""The base class of every protocol client: the five uniform verbs.

A client is bound to one server (the origin of the URL it was created with). Verbs
take a URL or a path relative to that URL; a target on another origin is refused,
so credentials can never travel to a server they were not meant for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, ClassVar, Union

from .credentials import Credentials, resolve_credentials
from .entries import Entry
from .errors import InsecureAuthError, InvalidInput, UnsupportedOperation, clean_server_text
from .options import ClientOptions
from .registry import SchemeInfo, TLSMode, lookup_scheme, schemes
from .transfer import ProgressCallback
from .urls import URL, Secret, parse_url

if TYPE_CHECKING:
    from email.message import Message

__all__ = ["Client", "Destination", "FileSource", "Source", "message_as_bytes"]

#: Where ``fetch`` writes: ``None`` (return the body), a path, a directory, or a file object.
Destination = str | os.PathLike[str] | IO[bytes] | None
#: What ``send`` uploads: a path, bytes, or a binary file object.
#: (``email.message.Message`` is for the mail protocols: SMTP send, IMAP APPEND.)
Source = Union[  # a forward reference keeps `email` out of `import protoclients`
    str, os.PathLike[str], bytes, bytearray, memoryview, IO[bytes], "Message"
]

#: A ``Source`` once an email message has been turned into its bytes.
FileSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


def message_as_bytes(source: Source) -> FileSource:
    """An ``email.message.Message`` becomes its serialised bytes; other sources pass through."""
    from email.message import Message

    if isinstance(source, Message):
        return source.as_bytes()
    return source


_VERB_HELP = {
    "ls": "list a directory, mailbox or message set",
    "fetch": "download",
    "send": "upload or deliver",
    "delete": "delete",
}


class Client:
    """A connection to one server, with the uniform verbs ``fetch``, ``send``, ``ls``, ``delete``.

    Use it as a context manager (``with protoclients.connect(url) as client: ...``); the
    connection opens on ``__enter__`` (or :meth:`connect`) and closes on ``__exit__``
    (or :meth:`close`). Subclasses implement the verbs their protocol supports; the
    others raise :class:`~protoclients.errors.UnsupportedOperation` naming the schemes
    that can do it.
    """

    #: Protocol name (``"http"``, ``"ftp"``...), set by each subclass.
    protocol: ClassVar[str] = ""

    def __init__(
        self,
        url: str | URL,
        *,
        password: str | Secret | None = None,
        options: ClientOptions | None = None,
        **option_kwargs: Any,
    ) -> None:
        self.url = parse_url(url)
        info = lookup_scheme(self.url.scheme)
        assert info is not None
        if self.protocol and info.protocol != self.protocol:
            raise InvalidInput(
                f"{type(self).__name__} cannot handle {self.url.scheme}:// URLs", url=self.url
            )
        self.scheme_info: SchemeInfo = info
        if options is not None and option_kwargs:
            options = _replace_options(options, option_kwargs)
        self.options = options or ClientOptions(**option_kwargs)
        self.tls_mode: TLSMode = self.options.tls or info.tls
        if isinstance(password, str):
            password = Secret(password)
        self._explicit_password = password
        self._credentials: Credentials | None = None
        self._credentials_resolved = False
        self._connected = False
        self.log = logging.getLogger(f"protoclients.{info.protocol}")

    # -- lifecycle -------------------------------------------------------------------

    def connect(self) -> Client:
        """Open the connection (and log in) if it is not open yet; return ``self``."""
        if not self._connected:
            self._connect()
            self._connected = True
        return self

    def close(self) -> None:
        """Close the connection. Safe to call more than once."""
        if self._connected:
            self._connected = False
            self._close()

    @property
    def connected(self) -> bool:
        """Whether :meth:`connect` has been called and :meth:`close` has not."""
        return self._connected

    def __enter__(self) -> Client:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self._connected else "not connected"
        return f"<{type(self).__name__} {self.url} {state}>"

    def _connect(self) -> None:
        """Open the connection; implemented by subclasses."""

    def _close(self) -> None:
        """Close the connection; implemented by subclasses."""

    @property
    def raw(self) -> Any:
        """The wrapped library object (``requests.Session``, ``ftplib.FTP``...), connected."""
        raise UnsupportedOperation("this client has no underlying object", protocol=self.protocol)

    # -- the uniform verbs ----------------------------------------------------------------

    def fetch(
        self,
        url: str | URL | None = None,
        dest: Destination = None,
        *,
        resume: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Download ``url`` (relative to the client's URL) into ``dest``.

        With ``dest=None`` the body is returned (bounded by ``max_memory``); otherwise a
        :class:`~protoclients.transfer.TransferResult` is returned. ``resume=True``
        continues an interrupted download from its ``.part`` file.
        """
        raise self._unsupported("fetch")

    def send(
        self,
        source: Source,
        url: str | URL | None = None,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Upload or deliver ``source`` to ``url`` (relative to the client's URL)."""
        raise self._unsupported("send")

    def ls(
        self, url: str | URL | None = None, *, timeout: float | None = None, **kwargs: Any
    ) -> list[Entry]:
        """List ``url`` (relative to the client's URL) as :class:`~protoclients.entries.Entry`."""
        raise self._unsupported("ls")

    def delete(
        self, url: str | URL | None = None, *, timeout: float | None = None, **kwargs: Any
    ) -> None:
        """Delete ``url`` (relative to the client's URL)."""
        raise self._unsupported("delete")

    # -- helpers for subclasses --------------------------------------------------------------

    def resolve(self, target: str | URL | None) -> URL:
        """Resolve ``target`` against the client's URL; refuse another server or user.

        A connection is never reused for other credentials: a target naming another user
        (or carrying another password) needs a client of its own.
        """
        url = self.url.join(target)
        if url.origin != self.url.origin:
            raise InvalidInput(
                f"this client is connected to {self.url.scheme}://{self.url.hostport}; "
                f"use a new connection for {url.scheme}://{url.hostport}",
                protocol=self.protocol,
                url=url,
            )
        user = self.options.username or self.url.username
        password = self._explicit_password or self.url.password
        if (url.username is not None and url.username != user) or (
            url.password is not None and url.password != password
        ):
            raise InvalidInput(
                f"this client works as user {user!r}; use a new connection for the "
                f"credentials in {url}",
                protocol=self.protocol,
                url=url,
            )
        return url

    def timeout_for(self, timeout: float | None) -> float:
        """The per-operation timeout: ``timeout`` if given, else the client's option."""
        if timeout is None:
            return self.options.timeout
        if timeout <= 0:
            raise InvalidInput("timeout must be positive")
        return timeout

    def credentials(self, *, required: bool = False) -> Credentials | None:
        """The resolved credentials (looked up once per client)."""
        if not self._credentials_resolved or (required and self._credentials is None):
            self._credentials = resolve_credentials(
                self.url, self.options, self._explicit_password, required=required
            )
            self._credentials_resolved = True
        return self._credentials

    def ensure_safe_to_send_password(self, encrypted: bool) -> None:
        """Refuse to send a password over an unencrypted link to a non-loopback host."""
        if encrypted or self.url.is_loopback or self.options.allow_insecure_auth:
            return
        raise InsecureAuthError(
            f"refusing to send a password unencrypted to {self.url.host}; use "
            f"{self.url.scheme}s:// or tls='starttls', or pass allow_insecure_auth=True "
            "if you accept that risk",
            protocol=self.protocol,
            url=self.url,
        )

    def trace(self, line: str) -> None:
        """Send one protocol trace line (already redacted) to the trace sink and the log.

        Control characters are escaped (a server's reply could otherwise drive the
        terminal the trace is shown on) and very long lines are shortened.
        """
        line = clean_server_text(line, limit=2000) or ""
        self.log.debug("%s", line)
        if self.options.trace is not None:
            self.options.trace(line)

    def _unsupported(self, verb: str) -> UnsupportedOperation:
        able = sorted({s.scheme for s in schemes() if _class_has_verb(s, verb)})
        hint = f"; schemes that can {_VERB_HELP[verb]}: {', '.join(able)}" if able else ""
        return UnsupportedOperation(
            f"{verb} is not supported for {self.url.scheme}://{hint}",
            protocol=self.protocol,
            url=self.url,
        )


# Which verbs each protocol implements (kept here so the hint needs no imports).
_PROTOCOL_VERBS: dict[str, frozenset[str]] = {
    "http": frozenset({"fetch", "send", "ls", "delete"}),
    "ftp": frozenset({"fetch", "send", "ls", "delete"}),
    "smtp": frozenset({"send"}),
    "pop3": frozenset({"fetch", "ls", "delete"}),
    "imap": frozenset({"fetch", "send", "ls", "delete"}),
}


def _class_has_verb(info: SchemeInfo, verb: str) -> bool:
    return verb in _PROTOCOL_VERBS.get(info.protocol, frozenset())


def _replace_options(options: ClientOptions, changes: dict[str, Any]) -> ClientOptions:
    import dataclasses

    return dataclasses.replace(options, **changes)


def iter_chunks(data: bytes | bytearray | memoryview, size: int) -> Iterator[memoryview]:
    """Yield ``data`` in slices of ``size`` bytes (zero-copy)."""
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]
