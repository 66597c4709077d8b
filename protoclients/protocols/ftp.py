"""FTP and FTPS: :class:`FTPClient`, the ``ftp://`` and ``ftps://`` client.

URLs follow RFC 1738: ``ftp://user@host/dir/file`` names ``dir/file`` relative to the
login directory, ``ftp://host//etc/motd`` (or ``/%2Fetc/motd``) an absolute path. The
client never changes directory: it asks for the login directory once (``PWD``) and sends
absolute paths from then on.

TLS: ``ftps://`` is implicit TLS (port 990); ``ftp://`` with ``tls="starttls"`` is explicit
TLS (``AUTH TLS`` before login, required: a refusal is an error, never a plaintext
fallback). Either way certificates are verified, and data connections are protected
(``PBSZ 0`` / ``PROT P``) and reuse the control connection's TLS session.

Verbs: ``ls`` (``MLSD``, else ``LIST``), ``fetch`` (``RETR``, resumable with ``REST``,
checked against ``SIZE``), ``send`` (``STOR`` to a temporary name, then ``RNFR``/``RNTO``,
so the final name never holds a partial file), ``delete`` (``DELE`` / ``RMD``). Extras on
the client: :meth:`FTPClient.mkdir`, :meth:`~FTPClient.rename`, :meth:`~FTPClient.size`,
:meth:`~FTPClient.modified` and :attr:`~FTPClient.raw` (the connected ``ftplib`` object).
"""

# ruff: noqa: S321 - this module is the FTP client; TLS is negotiated here.
from __future__ import annotations

import contextlib
import errno
import ftplib
import os
import posixpath
import secrets
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NoReturn

from ..client import Client, Destination, Source
from ..entries import Entry, EntryKind
from ..errors import (
    AuthenticationError,
    ConnectionFailed,
    DiskFullError,
    IncompleteTransferError,
    InvalidInput,
    InvalidURL,
    NotFoundError,
    OperationTimeoutError,
    PermissionDeniedError,
    ProtoClientError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    TLSRequiredError,
)
from ..options import ClientOptions
from ..tls import check_tls_socket, create_context, tls_error
from ..transfer import FileSink, MemorySink, ProgressCallback, Sink, TransferResult, open_sink
from ..urls import URL, Secret
from .ftpconn import FTPConnection, InjectionError, ReplyTooLarge, RestRefused, parse_257
from .ftplisting import ListingParser, parse_mdtm, parse_mlsd_line

__all__ = ["FTPClient"]

_NOT_FOUND_WORDS = ("not found", "no such", "does not exist", "doesn't exist", "not exist")
#: Operations on a path that must exist: an ambiguous 550 there is checked for "not found".
_NEEDS_EXISTING = frozenset({"download", "delete", "size", "modified", "list", "rename"})
_PERMISSION_WORDS = ("permission", "denied", "not allowed", "privilege", "forbidden", "access")
_UNSUPPORTED_WORDS = ("not understood", "not implemented", "unknown command", "unrecognized")


def _code(exc: BaseException) -> int | None:
    text = str(exc.args[0]) if exc.args else ""
    head = text[:3]
    return int(head) if len(head) == 3 and head.isdigit() else None


def _is_unsupported(exc: BaseException) -> bool:
    """Whether an error reply means "this command is not implemented here"."""
    code = _code(exc)
    text = str(exc).lower()
    return code in {500, 502, 504} or any(word in text for word in _UNSUPPORTED_WORDS)


def _check_arg(value: str, what: str = "path") -> str:
    """Refuse CR, LF and NUL in anything that goes on a command line (without echoing it)."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidInput(f"{what} contains CR, LF or NUL", protocol="ftp")
    return value


_SPLICE_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _can_splice(conn: socket.socket) -> bool:
    """``splice`` needs Linux and a plain (not TLS) socket."""
    return hasattr(os, "splice") and not isinstance(conn, ssl.SSLSocket)


@dataclass
class _Upload:
    """What ``send`` reads from: a memory view, or a binary file (with its fd if regular)."""

    view: memoryview | None
    fileobj: IO[bytes] | None
    regular_fd: int | None
    total: int | None
    local_path: Path | None
    owned: bool

    def close(self) -> None:
        if self.owned and self.fileobj is not None:
            self.fileobj.close()


class FTPClient(Client):
    """FTP / FTPS client over :mod:`ftplib` (see the module docstring for the URL rules).

    Passive mode is always used (the address in the server's ``227`` reply is ignored: data
    connections go to the control connection's peer; ``EPSV`` on IPv6). For active mode use
    the escape hatch: ``client.raw.set_pasv(False)``.
    """

    protocol = "ftp"

    #: Receive buffer of the download loop (one buffer, reused: memory stays flat); also the
    #: pipe size asked for on the ``splice`` path.
    download_buffer_size = 1024 * 1024
    #: Plain FTP to a file on Linux: move the data socket -> pipe -> file with ``splice``
    #: (zero-copy); otherwise, and as the fallback, ``recv_into`` a preallocated buffer.
    use_splice = True
    #: Upload regular files over plain FTP with ``sendfile``. Off by default: on loopback to
    #: vsftpd (tmpfs) it measured ~15 % slower than the ``readinto`` + ``sendall`` loop.
    use_sendfile = False
    #: Bytes per ``sendfile`` call (``use_sendfile``); progress is reported after each.
    sendfile_chunk_size = 16 * 1024 * 1024
    #: Bytes per ``sendall`` when uploading over TLS or from memory / a stream.
    upload_chunk_size = 1024 * 1024
    #: Most entries one listing may have.
    max_listing_entries = 1_000_000
    #: Longest listing line accepted.
    max_listing_line = 8192
    #: Most bytes one listing may have.
    max_listing_bytes = 256 * 1024 * 1024
    #: A whole listing must arrive within this many times the timeout.
    listing_deadline_factor = 10

    def __init__(
        self,
        url: str | URL,
        *,
        password: str | Secret | None = None,
        options: ClientOptions | None = None,
        **option_kwargs: Any,
    ) -> None:
        super().__init__(url, password=password, options=options, **option_kwargs)
        self._ftp: FTPConnection | None = None
        self._home = "/"
        self._features: dict[str, str] | None = None
        self._secret_text: str | None = None

    # -- connection ----------------------------------------------------------------------

    def _connect(self) -> None:
        with self._errors("connect", self.url):
            self._open()

    def _close(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is None:
            return
        try:
            ftp.set_timeout(min(self.options.timeout, 5.0))
            ftp.voidcmd("QUIT")
        except (ftplib.Error, OSError, EOFError, ValueError):
            pass
        finally:
            ftp.close()

    def _drop(self) -> None:
        """Close the connection without QUIT (its state is unknown); the next call reconnects."""
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            with contextlib.suppress(OSError):
                ftp.close()

    def _open(self) -> None:
        url = self.url
        creds = self.credentials(required=bool(self.options.username or url.username))
        tls = self.tls_mode
        encrypted = tls in {"implicit", "starttls"}
        if creds is not None:
            # Before any DNS lookup or connect: never a password in clear to a remote host.
            self.ensure_safe_to_send_password(encrypted=encrypted)
            user = _check_arg(creds.username, "user name")
            password = creds.password.reveal()
            if "\r" in password or "\n" in password or "\0" in password:
                raise InvalidInput("the password contains CR, LF or NUL", protocol="ftp")
            self._secret_text = password or None
        else:
            user, password = "anonymous", "anonymous@"
        context = create_context(self.options) if encrypted else None
        ftp = FTPConnection(
            context=context,
            implicit_tls=tls == "implicit",
            timeout=self.options.timeout,
            on_trace=self._trace_line,
        )
        self._ftp = ftp
        try:
            welcome = ftp.connect(url.host, url.effective_port)
            if welcome.startswith("120"):
                welcome = ftp.getresp()
            if not welcome.startswith("220"):
                raise ProtocolError(
                    "unexpected greeting from the server",
                    protocol="ftp",
                    url=url,
                    reply=self._scrub(welcome),
                )
            if tls == "implicit":
                check_tls_socket(ftp.sock, self.options)
            elif tls == "starttls":
                try:
                    ftp.auth()
                except (ftplib.error_perm, ftplib.error_temp, ftplib.error_reply) as exc:
                    raise TLSRequiredError(
                        f"{url.host} refused AUTH TLS; not logging in without TLS",
                        protocol="ftp",
                        url=url,
                        reply=self._scrub(str(exc)),
                    ) from None
                check_tls_socket(ftp.sock, self.options)
            self._login(ftp, user, password)
            if encrypted:
                try:
                    ftp.prot_p()
                except (ftplib.error_perm, ftplib.error_temp, ftplib.error_reply) as exc:
                    raise TLSRequiredError(
                        "the server refused PBSZ/PROT P: data connections would not be encrypted",
                        protocol="ftp",
                        url=url,
                        reply=self._scrub(str(exc)),
                    ) from None
            ftp.voidcmd("TYPE I")
            self._features = self._read_features(ftp)
            self._home = self._read_home(ftp)
        except BaseException:
            self._drop()
            raise

    def _login(self, ftp: FTPConnection, user: str, password: str) -> None:
        try:
            resp = ftp.sendcmd("USER " + user)
            if resp.startswith("3"):
                resp = ftp.sendcmd("PASS " + password)
        except ftplib.error_perm as exc:
            raise AuthenticationError(
                f"login failed for user {user!r}",
                protocol="ftp",
                url=self.url,
                reply=self._scrub(str(exc)),
            ) from None
        if resp.startswith("3"):
            raise AuthenticationError(
                "the server asks for an account (ACCT), which is not supported",
                protocol="ftp",
                url=self.url,
                reply=self._scrub(resp),
            )
        if not resp.startswith("2"):
            raise ProtocolError(
                "unexpected reply to the login",
                protocol="ftp",
                url=self.url,
                reply=self._scrub(resp),
            )

    def _read_features(self, ftp: FTPConnection) -> dict[str, str] | None:
        try:
            resp = ftp.sendcmd("FEAT")
        except ftplib.error_perm:
            return None
        if not resp.startswith("211"):
            return None
        features: dict[str, str] = {}
        for line in resp.split("\n")[1:-1]:
            name, _, params = line.strip().partition(" ")
            if name:
                features[name.upper()] = params
        return features

    def _read_home(self, ftp: FTPConnection) -> str:
        try:
            resp = ftp.sendcmd("PWD")
        except ftplib.error_perm:
            return ""
        home = parse_257(resp)
        # A non-Unix answer (``C:\\x``) cannot be joined with URL paths: use relative paths.
        return home if home.startswith("/") else ""

    def _ensure(self, timeout: float | None) -> FTPConnection:
        seconds = self.timeout_for(timeout)
        if not self._connected:
            self.connect()
        if self._ftp is None:
            self._open()
        assert self._ftp is not None
        self._ftp.set_timeout(seconds)
        return self._ftp

    @contextlib.contextmanager
    def _op(self, what: str, url: URL, timeout: float | None) -> Iterator[FTPConnection]:
        """Run one operation: connected, with its timeout, errors translated."""
        with self._errors(what, url):
            ftp = self._ensure(timeout)
            try:
                yield ftp
            finally:
                if self._ftp is ftp and timeout is not None:
                    with contextlib.suppress(OSError):
                        ftp.set_timeout(self.options.timeout)

    @property
    def raw(self) -> FTPConnection:
        """The connected :class:`ftplib.FTP_TLS` subclass, for what the verbs do not cover."""
        with self._errors("connect", self.url):
            return self._ensure(None)

    @property
    def features(self) -> dict[str, str]:
        """What the server listed in its ``FEAT`` reply (upper-case names -> parameters)."""
        self.raw  # noqa: B018 - connect if needed
        return dict(self._features or {})

    # -- error boundary ----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._secret_text and self._secret_text in text:
            text = text.replace(self._secret_text, "***")
        return text

    def _trace_line(self, line: str) -> None:
        self.trace(self._scrub(line))

    @contextlib.contextmanager
    def _errors(self, what: str, url: URL) -> Iterator[None]:
        """The one place where ftplib / socket / ssl exceptions become protoclients errors."""
        try:
            yield
        except ProtoClientError:
            raise
        except ftplib.error_perm as exc:
            raise self._perm_error(what, url, exc) from None
        except ftplib.error_temp as exc:
            reply = self._scrub(str(exc))
            raise ServerError(
                f"{what} failed (temporary server error)",
                protocol="ftp",
                url=url,
                reply=reply,
                status=_code(exc),
                temporary=True,
            ) from None
        except ReplyTooLarge as exc:
            self._drop()
            raise ResponseTooLarge(f"{what} failed: {exc}", protocol="ftp", url=url) from None
        except InjectionError as exc:
            self._drop()
            raise ProtocolError(str(exc), protocol="ftp", url=url) from None
        except (ftplib.error_reply, ftplib.error_proto) as exc:
            self._drop()
            raise ProtocolError(
                f"{what} failed: unexpected reply from the server",
                protocol="ftp",
                url=url,
                reply=self._scrub(str(exc)),
            ) from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            self._drop()
            raise tls_error(exc, protocol="ftp", url=url) from None
        except TimeoutError:
            self._drop()
            raise OperationTimeoutError(f"{what} timed out", protocol="ftp", url=url) from None
        except socket.gaierror as exc:
            self._drop()
            raise ConnectionFailed(
                f"cannot resolve {url.host}: {exc.strerror or exc}", protocol="ftp", url=url
            ) from None
        except (OSError, EOFError) as exc:
            self._drop()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ConnectionFailed(
                f"{what} failed: connection to {url.hostport} lost or refused ({reason})",
                protocol="ftp",
                url=url,
            ) from None
        except ValueError as exc:
            # FTPConnection.putline refuses CR/LF/NUL; callers check first, this is a backstop.
            raise InvalidInput(f"{what} failed: {exc}", protocol="ftp", url=url) from None

    def _perm_error(self, what: str, url: URL, exc: BaseException) -> ProtoClientError:
        code = _code(exc)
        reply = self._scrub(str(exc))
        lower = reply.lower()
        if code in {530, 532}:
            return AuthenticationError(
                f"{what} failed: not logged in or not allowed",
                protocol="ftp",
                url=url,
                reply=reply,
            )
        if code == 550 and (
            any(word in lower for word in _NOT_FOUND_WORDS)
            or (
                what in _NEEDS_EXISTING
                and not any(word in lower for word in _PERMISSION_WORDS)
                and self._probe_exists(url) is False
            )
        ):
            return NotFoundError(f"{what} failed: not found", protocol="ftp", url=url, reply=reply)
        if code in {550, 553}:
            return PermissionDeniedError(
                f"{what} failed: refused by the server", protocol="ftp", url=url, reply=reply
            )
        return ServerError(f"{what} failed", protocol="ftp", url=url, reply=reply, status=code)

    def _probe_exists(self, url: URL) -> bool | None:
        """After an ambiguous ``550`` ("Failed to open file."): does the path exist at all?

        ``MLST`` where the server has it, else the name is looked up in a ``LIST`` of the
        parent directory. ``None`` when that cannot be found out.
        """
        ftp = self._ftp
        if ftp is None:
            return None
        try:
            path = self._remote(url)
            if self._features is None or "MLST" in self._features:
                try:
                    ftp.sendcmd(f"MLST {path}")
                    return True
                except ftplib.error_perm as exc:
                    if not _is_unsupported(exc):
                        return False
            parent, name = self._split(path)
            entries = self._listing(ftp, "LIST", parent, self.url)
            return any(entry.name == name for entry in entries)
        except (ftplib.Error, OSError, EOFError, ProtoClientError, ValueError):
            return None

    # -- paths ---------------------------------------------------------------------------------

    def _remote(self, url: URL) -> str:
        """The server path for ``url``: RFC 1738 (relative to the login directory, ``//abs``)."""
        path = url.decoded_path
        if path.startswith("//"):
            remote = "/" + path.lstrip("/")
        else:
            relative = path[1:] if path.startswith("/") else path
            if self._home:
                remote = posixpath.join(self._home, relative) if relative else self._home
            else:
                remote = relative
        if len(remote) > 1:
            remote = remote.rstrip("/") or "/"
        return _check_arg(remote)

    def _target(self, target: str | URL | None) -> URL:
        if isinstance(target, str):
            _check_arg(target)
        return self.resolve(target)

    @staticmethod
    def _no_extra(kwargs: dict[str, Any], verb: str) -> None:
        if kwargs:
            names = ", ".join(sorted(kwargs))
            raise InvalidInput(f"unknown keyword argument(s) for ftp {verb}: {names}")

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        directory, _, name = path.rpartition("/")
        if path.startswith("/") and not directory:
            directory = "/"
        return directory, name

    # -- ls ----------------------------------------------------------------------------------------

    def ls(
        self,
        url: str | URL | None = None,
        *,
        timeout: float | None = None,
        use_mlsd: bool | None = None,
        **kwargs: Any,
    ) -> list[Entry]:
        """List a directory: ``MLSD`` when the server has it, else ``LIST`` (parsed).

        ``use_mlsd=False`` forces ``LIST``; ``use_mlsd=True`` forces ``MLSD`` (no fallback).
        ``.`` and ``..`` are left out. Each entry's ``url`` can be passed to ``fetch`` or
        ``delete``; directories' URLs end with ``/``. ``details`` holds the MLSD facts or
        the parsed LIST fields, and ``"raw"`` (the line as received).
        """
        self._no_extra(kwargs, "ls")
        target = self._target(url)
        with self._op("list", target, timeout) as ftp:
            path = self._remote(target)
            mlsd = use_mlsd
            if mlsd is None:
                mlsd = self._features is None or "MLST" in self._features
            if mlsd:
                try:
                    return self._listing(ftp, "MLSD", path, target)
                except ftplib.error_perm as exc:
                    if not _is_unsupported(exc):
                        # MLSD lists directories only: ``ls`` of a file gives its MLST entry.
                        single = self._mlst_entry(ftp, path, target)
                        if single is not None and single.kind != "dir":
                            return [single]
                        if single is None and self._probe_exists(target) is False:
                            raise NotFoundError(
                                "list failed: no such directory",
                                protocol="ftp",
                                url=target,
                                reply=self._scrub(str(exc)),
                            ) from None
                        raise
                    if use_mlsd is not None:
                        raise
                    if self._features is not None:
                        self._features.pop("MLST", None)
            entries = self._listing(ftp, "LIST", path, target)
            if not entries and not self._is_dir(ftp, path):
                # Some servers (vsftpd) answer LIST of a missing path with an empty listing.
                raise NotFoundError("list failed: no such directory", protocol="ftp", url=target)
            return entries

    def _mlst_entry(self, ftp: FTPConnection, path: str, target: URL) -> Entry | None:
        """The ``MLST`` facts of one path as an entry, or ``None`` if the server cannot say."""
        try:
            resp = ftp.sendcmd(f"MLST {path}")
        except ftplib.error_perm:
            return None
        for line in resp.split("\n")[1:]:
            if line.startswith(" "):
                return parse_mlsd_line(line[1:], lambda _name, _kind: str(target))
        return None

    def _listing(self, ftp: FTPConnection, verb: str, path: str, target: URL) -> list[Entry]:
        base = target if target.path.endswith("/") else target.replace(path=target.path + "/")

        def make_url(name: str, kind: EntryKind) -> str:
            try:
                return str(base.join(name + "/" if kind == "dir" else name))
            except InvalidURL:
                return ""

        parser = ListingParser(
            mlsd=verb == "MLSD", make_url=make_url, max_entries=self.max_listing_entries
        )
        command = f"{verb} {path}" if path else verb
        conn = ftp.transfercmd(command)
        try:
            self._read_listing(conn, parser, ftp.timeout or self.options.timeout)
        except BaseException:
            ftp.close_data(conn, clean=False)
            self._drop()
            raise
        ftp.close_data(conn, clean=True)
        ftp.voidresp()
        return parser.entries

    def _read_listing(self, conn: socket.socket, parser: ListingParser, timeout: float) -> None:
        deadline = time.monotonic() + timeout * self.listing_deadline_factor
        buffer = bytearray()
        chunk = bytearray(64 * 1024)
        total = 0
        limit = self.max_listing_line
        eof = False
        while not eof:
            if time.monotonic() > deadline:
                raise OperationTimeoutError("the listing did not arrive in time", protocol="ftp")
            n = conn.recv_into(chunk)
            if n == 0:
                eof = True
            else:
                total += n
                if total > self.max_listing_bytes:
                    raise ResponseTooLarge(
                        f"listing is larger than {self.max_listing_bytes} bytes", protocol="ftp"
                    )
                buffer += memoryview(chunk)[:n]
            start = 0
            while True:
                end = buffer.find(b"\n", start)
                if end == -1:
                    break
                self._feed(parser, buffer[start:end], limit)
                start = end + 1
            del buffer[:start]
            if len(buffer) > limit:
                raise ResponseTooLarge(
                    f"a listing line is longer than {limit} bytes", protocol="ftp"
                )
        if buffer:
            self._feed(parser, buffer, limit)

    @staticmethod
    def _feed(parser: ListingParser, raw: bytes | bytearray, limit: int) -> None:
        if len(raw) > limit:
            raise ResponseTooLarge(f"a listing line is longer than {limit} bytes", protocol="ftp")
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if b"\0" in raw:
            raise ProtocolError("listing contains a NUL byte", protocol="ftp")
        try:
            parser.feed(bytes(raw).decode("utf-8", "surrogateescape"))
        except OverflowError as exc:
            raise ResponseTooLarge(str(exc), protocol="ftp") from None

    # -- fetch ------------------------------------------------------------------------------

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
        """Download a file with ``RETR``.

        ``dest=None`` returns the bytes (at most ``max_memory``); a path or directory is
        written atomically (``<name>.part``, then renamed); a binary file object is written
        to directly. ``resume=True`` continues a ``.part`` file with ``REST`` (a server that
        refuses ``REST`` gets a full download instead). The result is checked against
        ``SIZE`` when the server supports it: a short or long transfer raises
        :class:`~protoclients.errors.IncompleteTransferError` and the final name is not
        touched. Returns the bytes or a :class:`~protoclients.transfer.TransferResult`.
        """
        self._no_extra(kwargs, "fetch")
        target = self._target(url)
        if not target.name or target.path.endswith("/"):
            raise InvalidInput(
                "the URL names a directory; use ls() to list it", protocol="ftp", url=target
            )
        started = time.perf_counter()
        with self._op("download", target, timeout) as ftp:
            path = self._remote(target)
            ftp.voidcmd("TYPE I")
            size = self._size(ftp, path)
            if dest is None and size is not None and size > self.options.max_memory:
                raise ResponseTooLarge(
                    f"file is {size} bytes, more than max_memory={self.options.max_memory}; "
                    "pass dest= to stream it to a file",
                    protocol="ftp",
                    url=target,
                )
            sink = open_sink(
                dest,
                remote_name=target.name,
                resume=resume,
                progress=progress,
                max_memory=self.options.max_memory,
            )
            with sink:
                sink.total = size
                if isinstance(sink, FileSink):
                    self._check_resume_meta(ftp, path, sink, size)
                if size is not None and sink.offset > size:
                    sink.restart()
                offset = sink.offset
                if size is not None and offset == size and offset > 0:
                    received, reply = 0, "already complete"
                else:
                    received, offset, reply = self._retrieve(ftp, path, sink, offset, size)
            result_size = size if size is not None else offset + received
        if isinstance(sink, MemorySink):
            return sink.getvalue()
        return TransferResult(
            url=str(target),
            bytes=received,
            size=result_size,
            path=sink.path,
            resumed_from=offset,
            elapsed=time.perf_counter() - started,
            details={"reply": reply, "remote_path": path},
        )

    def _size(self, ftp: FTPConnection, path: str) -> int | None:
        if self._features is not None and "SIZE" not in self._features:
            return None
        try:
            resp = ftp.sendcmd(f"SIZE {path}")
        except ftplib.error_perm as exc:
            if _is_unsupported(exc) and self._features is not None:
                self._features.pop("SIZE", None)
            return None
        text = resp[3:].strip()
        return int(text) if resp.startswith("213") and text.isdigit() else None

    def _mdtm(self, ftp: FTPConnection, path: str) -> str | None:
        if self._features is not None and "MDTM" not in self._features:
            return None
        try:
            resp = ftp.sendcmd(f"MDTM {path}")
        except ftplib.error_perm:
            return None
        return resp[3:].strip() if resp.startswith("213") else None

    def _check_resume_meta(
        self, ftp: FTPConnection, path: str, sink: FileSink, size: int | None
    ) -> None:
        """Restart a resumed download when the remote file changed since the ``.part`` began."""
        modify = self._mdtm(ftp, path)
        meta = sink.load_meta()
        if sink.offset > 0 and meta:
            changed = (size is not None and meta.get("size") not in (None, size)) or (
                modify is not None and meta.get("modify") not in (None, modify)
            )
            if changed:
                sink.restart()
        if size is not None or modify is not None:
            sink.save_meta({"size": size, "modify": modify, "protocol": "ftp"})

    def _retrieve(
        self, ftp: FTPConnection, path: str, sink: Sink, offset: int, size: int | None
    ) -> tuple[int, int, str]:
        """RETR into ``sink`` from ``offset``; returns (bytes received, offset, final reply)."""
        command = f"RETR {path}"
        try:
            conn, _ = ftp.ntransfercmd(command, offset or None)
        except RestRefused:
            sink.restart()
            offset = 0
            conn, _ = ftp.ntransfercmd(command)
        expected = None if size is None else size - offset
        try:
            received = None
            if self.use_splice and isinstance(sink, FileSink) and _can_splice(conn):
                received = self._splice_into(conn, sink, expected, offset, size)
            if received is None:
                received = self._recv_into(conn, sink, expected, offset, size)
        except BaseException as exc:
            ftp.close_data(conn, clean=False)
            self._drop()
            if isinstance(exc, (ConnectionError, EOFError)) or (
                isinstance(exc, OSError) and not isinstance(exc, (TimeoutError, ssl.SSLError))
            ):
                raise IncompleteTransferError(
                    f"connection lost after {sink.position} bytes"
                    + (f" of {size}" if size is not None else "")
                    + "; the partial file is kept: fetch again with resume=True",
                    protocol="ftp",
                ) from None
            raise
        ftp.close_data(conn, clean=True)
        total = offset + received
        short = size is not None and total < size
        try:
            reply = ftp.voidresp()
        except (ftplib.Error, OSError, EOFError) as exc:
            if not isinstance(exc, (ftplib.error_perm, ftplib.error_temp)):
                self._drop()
            if short or isinstance(exc, ftplib.error_temp):
                raise IncompleteTransferError(
                    f"transfer ended after {total} bytes"
                    + (f" of {size}" if size is not None else "")
                    + "; the partial file is kept: fetch again with resume=True",
                    protocol="ftp",
                    reply=self._scrub(str(exc)),
                ) from None
            raise
        if short:
            raise IncompleteTransferError(
                f"transfer ended after {total} of {size} bytes; the partial file is kept: "
                "fetch again with resume=True",
                protocol="ftp",
                reply=self._scrub(reply),
            )
        return received, offset, reply

    def _recv_into(
        self, conn: socket.socket, sink: Sink, expected: int | None, offset: int, size: int | None
    ) -> int:
        """The portable fast path: ``recv_into`` one preallocated buffer, hand out views."""
        buf = bytearray(self.download_buffer_size)
        view = memoryview(buf)
        recv_into = conn.recv_into
        write = sink.write
        received = 0
        while True:
            n = recv_into(buf)
            if not n:
                return received
            received += n
            if expected is not None and received > expected:
                self._too_much(sink, offset, size)
            try:
                write(view[:n])
            except OSError as exc:
                # A local write error (disk full is already a DiskFullError): not the network.
                raise ProtoClientError(
                    f"cannot write the download: {exc.strerror or exc}", protocol="ftp"
                ) from None

    def _splice_into(
        self,
        conn: socket.socket,
        sink: FileSink,
        expected: int | None,
        offset: int,
        size: int | None,
    ) -> int | None:
        """Linux zero-copy path for plain FTP to a file: socket -> pipe -> file (``splice``).

        Returns the bytes received, or ``None`` when splice cannot be used here (nothing has
        been read from the socket then, so the caller falls back to :meth:`_recv_into`).
        """
        import fcntl
        import select

        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            with contextlib.suppress(OSError):
                fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, self.download_buffer_size)
            try:
                chunk = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
            except OSError:
                chunk = 64 * 1024
            sock_fd = conn.fileno()
            poller = select.poll()
            poller.register(sock_fd, select.POLLIN)
            wait_ms = int((conn.gettimeout() or self.options.timeout) * 1000)
            progress = sink.progress
            received = 0
            while True:
                want = chunk if expected is None else max(1, min(chunk, expected - received + 1))
                try:
                    n = os.splice(sock_fd, write_end, want)
                except BlockingIOError:
                    if not poller.poll(wait_ms):
                        raise TimeoutError("no data from the server in time") from None
                    continue
                except OSError as exc:
                    if received == 0 and exc.errno in _SPLICE_UNSUPPORTED:
                        return None
                    raise
                if not n:
                    return received
                received += n
                if expected is not None and received > expected:
                    self._too_much(sink, offset, size)
                left = n
                try:
                    while left:
                        left -= os.splice(read_end, sink.fd, left)
                except OSError as exc:
                    if exc.errno in _DISK_FULL_ERRNOS:
                        sink.discard()
                        raise DiskFullError(
                            f"disk full or file too large while writing {sink.part.name}: "
                            f"{exc.strerror}; nothing was kept",
                            protocol="ftp",
                        ) from None
                    raise ProtoClientError(
                        f"cannot write the download: {exc.strerror or exc}", protocol="ftp"
                    ) from None
                sink.position += n
                if progress is not None:
                    progress(sink.position, sink.total)
        finally:
            os.close(read_end)
            os.close(write_end)

    @staticmethod
    def _too_much(sink: Sink, offset: int, size: int | None) -> NoReturn:
        if isinstance(sink, FileSink):
            sink.discard()
        hint = f" (it accepted REST {offset} but apparently sent from the start)" if offset else ""
        raise IncompleteTransferError(
            f"the server sent more than the {size} bytes it announced with SIZE{hint}; "
            "the download was aborted and the partial file discarded",
            protocol="ftp",
        )

    # -- send --------------------------------------------------------------------------------------

    def send(
        self,
        source: Source,
        url: str | URL | None = None,
        *,
        make_dirs: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> TransferResult:
        """Upload ``source`` (a path, bytes, or a binary file object) with ``STOR``.

        The data goes to a temporary name in the target directory
        (``.<name>.<random>.part``) that is renamed to the final name only after the
        server confirmed the upload (and ``SIZE`` matched), so the final name never holds
        a partial file. A URL ending in ``/`` takes the local file's name.
        ``make_dirs=True`` creates missing remote directories.
        """
        self._no_extra(kwargs, "send")
        target = self._target(url)
        if not target.name or target.path.endswith("/"):
            if isinstance(source, (str, os.PathLike)):
                target = target.join(os.path.basename(os.fspath(source)))
            else:
                raise InvalidInput(
                    "the URL names a directory; add the remote file name",
                    protocol="ftp",
                    url=target,
                )
        upload = self._open_source(source)
        started = time.perf_counter()
        try:
            with self._op("upload", target, timeout) as ftp:
                path = self._remote(target)
                directory, name = self._split(path)
                if make_dirs and directory:
                    self._make_dirs(ftp, directory)
                # Stays within NAME_MAX (255) whatever the final name's length.
                temp_name = f".{name[:200]}.{secrets.token_hex(4)}.part"
                temp = _check_arg(self._join(directory, temp_name))
                ftp.voidcmd("TYPE I")
                sent, reply = self._store(ftp, temp, upload, progress, target)
                try:
                    self._rename(ftp, temp, path)
                except BaseException:
                    self._remove_temp(temp)
                    raise
        finally:
            upload.close()
        return TransferResult(
            url=str(target),
            bytes=sent,
            size=sent,
            path=upload.local_path,
            elapsed=time.perf_counter() - started,
            details={"reply": reply, "remote_name": path},
        )

    @staticmethod
    def _join(directory: str, name: str) -> str:
        if not directory:
            return name
        return directory.rstrip("/") + "/" + name

    def _open_source(self, source: Source) -> _Upload:
        if isinstance(source, (bytes, bytearray, memoryview)):
            view = memoryview(source).cast("B")
            return _Upload(view, None, None, len(view), None, owned=False)
        if isinstance(source, (str, os.PathLike)):
            local = Path(os.fspath(source))
            try:
                fileobj: IO[bytes] = open(local, "rb")  # noqa: SIM115 - closed by _Upload
            except FileNotFoundError:
                raise InvalidInput(f"file to upload not found: {local}", protocol="ftp") from None
            except IsADirectoryError:
                raise InvalidInput(f"cannot upload a directory: {local}", protocol="ftp") from None
            return self._file_upload(fileobj, local, owned=True)
        if hasattr(source, "read"):
            return self._file_upload(source, None, owned=False)
        raise InvalidInput(
            f"cannot upload a {type(source).__name__}: give a path, bytes or a binary file",
            protocol="ftp",
        )

    @staticmethod
    def _file_upload(fileobj: IO[bytes], local: Path | None, *, owned: bool) -> _Upload:
        fd: int | None = None
        total: int | None = None
        try:
            candidate = fileobj.fileno()
            info = os.fstat(candidate)
            if stat.S_ISREG(info.st_mode) and "b" in getattr(fileobj, "mode", "b"):
                fd = candidate
                total = max(info.st_size - fileobj.tell(), 0)
        except (OSError, AttributeError, ValueError):
            fd = None
        return _Upload(None, fileobj, fd, total, local, owned)

    def _store(
        self,
        ftp: FTPConnection,
        temp: str,
        upload: _Upload,
        progress: ProgressCallback | None,
        target: URL,
    ) -> tuple[int, str]:
        conn, _ = ftp.ntransfercmd(f"STOR {temp}")
        try:
            sent = self._push(conn, upload, progress)
        except BaseException as exc:
            ftp.close_data(conn, clean=False)
            self._drop()
            self._remove_temp(temp)
            if isinstance(exc, OSError) and not isinstance(exc, (TimeoutError, ssl.SSLError)):
                raise IncompleteTransferError(
                    "the upload was interrupted (connection lost); nothing was stored under "
                    "the final name",
                    protocol="ftp",
                    url=target,
                ) from None
            raise
        try:
            ftp.close_data(conn, clean=True)
            reply = ftp.voidresp()
            remote_size = self._size(ftp, temp)
        except BaseException:
            self._remove_temp(temp)
            raise
        if remote_size is not None and remote_size != sent:
            self._remove_temp(temp)
            raise IncompleteTransferError(
                f"the server stored {remote_size} bytes of {sent}; the upload was discarded",
                protocol="ftp",
                url=target,
                reply=self._scrub(reply),
            )
        return sent, reply

    def _push(self, conn: socket.socket, upload: _Upload, progress: ProgressCallback | None) -> int:
        total = upload.total
        sent = 0
        if upload.view is not None:
            view = upload.view
            step = self.upload_chunk_size
            for start in range(0, len(view), step):
                piece = view[start : start + step]
                conn.sendall(piece)
                sent += len(piece)
                if progress is not None:
                    progress(sent, total)
            return sent
        fileobj = upload.fileobj
        assert fileobj is not None
        if (
            self.use_sendfile
            and upload.regular_fd is not None
            and not isinstance(conn, ssl.SSLSocket)
        ):
            position = fileobj.tell()
            while True:
                n = conn.sendfile(fileobj, position + sent, self.sendfile_chunk_size)
                if not n:
                    break
                sent += n
                if progress is not None:
                    progress(sent, total)
            return sent
        buf = bytearray(self.upload_chunk_size)
        view = memoryview(buf)
        readinto = getattr(fileobj, "readinto", None)
        while True:
            if readinto is not None:
                n = readinto(buf)
                data: memoryview | bytes = view[:n] if n else b""
            else:
                data = fileobj.read(self.upload_chunk_size)
                n = len(data)
            if not n:
                break
            conn.sendall(data)
            sent += n
            if progress is not None:
                progress(sent, total)
        return sent

    def _rename(self, ftp: FTPConnection, source: str, dest: str) -> str:
        resp = ftp.sendcmd(f"RNFR {source}")
        if not resp.startswith("3"):
            raise ftplib.error_reply(resp)
        return ftp.voidcmd(f"RNTO {dest}")

    def _remove_temp(self, temp: str) -> None:
        """Best effort: delete an upload's temporary file (reconnecting once if needed)."""
        for _attempt in range(2):
            try:
                ftp = self._ftp
                if ftp is None:
                    self._open()
                    ftp = self._ftp
                assert ftp is not None
                ftp.sendcmd(f"DELE {temp}")
                return
            except ftplib.error_perm:
                return
            except (ftplib.Error, OSError, EOFError, ProtoClientError, ValueError):
                self._drop()

    def _is_dir(self, ftp: FTPConnection, path: str) -> bool:
        if self._features is None or "MLST" in self._features:
            try:
                resp = ftp.sendcmd(f"MLST {path}")
            except ftplib.error_perm as exc:
                if not _is_unsupported(exc):
                    return False
            else:
                for line in resp.split("\n")[1:]:
                    if line.startswith(" "):
                        facts = line[1:].partition("; ")[0].lower().split(";")
                        return any(f in {"type=dir", "type=cdir", "type=pdir"} for f in facts)
                return False
        try:
            ftp.voidcmd(f"CWD {path}")
        except ftplib.error_perm:
            return False
        with contextlib.suppress(ftplib.error_perm):
            ftp.voidcmd(f"CWD {self._home or '/'}")
        return True

    def _make_dirs(self, ftp: FTPConnection, directory: str) -> None:
        """Create ``directory`` and its missing parents (from the deepest existing one down)."""
        missing: list[str] = []
        current = directory
        while current not in {"", "/"} and not self._is_dir(ftp, current):
            missing.append(current)
            current = posixpath.dirname(current)
        for path in reversed(missing):
            try:
                ftp.voidcmd(f"MKD {path}")
            except ftplib.error_perm:
                if not self._is_dir(ftp, path):
                    raise

    # -- delete ----------------------------------------------------------------------------------

    def delete(
        self,
        url: str | URL | None = None,
        *,
        directory: bool | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Delete a file (``DELE``) or an empty directory (``RMD``).

        A URL ending in ``/`` or ``directory=True`` means a directory. Otherwise ``DELE`` is
        tried first and, if the path turns out to be a directory, ``RMD`` (unless
        ``directory=False``). Non-empty directories are not removed (the server's refusal
        is raised).
        """
        self._no_extra(kwargs, "delete")
        target = self._target(url)
        with self._op("delete", target, timeout) as ftp:
            path = self._remote(target)
            if directory or (directory is None and target.path.endswith("/")):
                ftp.voidcmd(f"RMD {path}")
                return
            try:
                ftp.voidcmd(f"DELE {path}")
            except ftplib.error_perm as exc:
                if directory is None and _code(exc) == 550 and self._is_dir(ftp, path):
                    ftp.voidcmd(f"RMD {path}")
                    return
                raise

    # -- extras ------------------------------------------------------------------------------------

    def mkdir(
        self, path: str | URL, *, parents: bool = False, timeout: float | None = None
    ) -> None:
        """Create a remote directory (``MKD``); ``parents=True`` creates missing parents and
        accepts an existing directory."""
        target = self._target(path)
        with self._op("mkdir", target, timeout) as ftp:
            remote = self._remote(target)
            if parents:
                self._make_dirs(ftp, remote)
            else:
                ftp.voidcmd(f"MKD {remote}")

    def rename(self, source: str | URL, dest: str | URL, *, timeout: float | None = None) -> None:
        """Rename or move a remote file or directory (``RNFR`` / ``RNTO``)."""
        src = self._target(source)
        dst = self._target(dest)
        with self._op("rename", src, timeout) as ftp:
            remote_src = self._remote(src)
            remote_dst = self._remote(dst)
            self._rename(ftp, remote_src, remote_dst)

    def size(self, path: str | URL | None = None, *, timeout: float | None = None) -> int | None:
        """The size of a remote file in bytes (``SIZE``), or ``None`` if the server cannot say."""
        target = self._target(path)
        with self._op("size", target, timeout) as ftp:
            remote = self._remote(target)
            ftp.voidcmd("TYPE I")
            if self._features is not None and "SIZE" not in self._features:
                return None
            try:
                resp = ftp.sendcmd(f"SIZE {remote}")
            except ftplib.error_perm as exc:
                if _is_unsupported(exc):
                    return None
                raise
            text = resp[3:].strip()
            return int(text) if resp.startswith("213") and text.isdigit() else None

    def modified(
        self, path: str | URL | None = None, *, timeout: float | None = None
    ) -> datetime | None:
        """The modification time of a remote file (``MDTM``, UTC), or ``None`` if unknown."""
        target = self._target(path)
        with self._op("modified", target, timeout) as ftp:
            remote = self._remote(target)
            try:
                resp = ftp.sendcmd(f"MDTM {remote}")
            except ftplib.error_perm as exc:
                if _is_unsupported(exc):
                    return None
                raise
            return parse_mdtm(resp)
