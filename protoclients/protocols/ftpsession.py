"""The FTP session under :class:`~protoclients.protocols.ftp.FTPClient`: one control connection.

:class:`FTPSession` connects (implicit TLS, or ``AUTH TLS`` when asked: never a plaintext
fallback), logs in, protects data connections (``PBSZ 0`` / ``PROT P``), reads ``FEAT`` and
the login directory (``PWD``) once, reconnects after a connection was dropped, and runs every
operation inside the error boundary (:mod:`.ftperrors`) with its own timeout.

It also holds what several verbs ask the server about a path: ``SIZE``, "is it a
directory?", "does it exist?" (after a vague ``550``) and a directory listing.
"""

from __future__ import annotations

import contextlib
import ftplib
import time
from collections.abc import Iterator
from typing import Any

from ..client import Client
from ..entries import Entry, EntryKind
from ..errors import (
    AuthenticationError,
    InvalidInput,
    InvalidURL,
    ProtoClientError,
    ProtocolError,
    ServerError,
    TLSRequiredError,
)
from ..options import ClientOptions
from ..tls import check_tls_socket, create_context, plaintext_phase_guard
from ..urls import URL, Secret
from .ftpconn import FTPConnection, ReplyTooLarge, parse_257
from .ftperrors import error_boundary, is_unsupported
from .ftplisting import ListingParser
from .ftplistread import read_listing
from .ftppaths import check_arg, remote_path, split_path

__all__ = ["FTPSession"]


class FTPSession(Client):
    """Connection lifecycle, error boundary and shared path queries of the FTP client.

    Not used on its own: :class:`~protoclients.protocols.ftp.FTPClient` adds the verbs.
    """

    protocol = "ftp"

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
        # True between connecting and a verified AUTH TLS upgrade: what the server says then
        # is unauthenticated and never shown (tls.plaintext_phase_guard).
        self._plaintext_phase = False

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
            user = check_arg(creds.username, "user name")
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
        self._plaintext_phase = tls == "starttls"
        try:
            try:
                welcome = ftp.connect(url.host, url.effective_port)
                if welcome.startswith("120"):
                    welcome = ftp.getresp()
            except (ftplib.error_temp, ftplib.error_perm) as exc:
                text = str(exc)
                raise ServerError(
                    "unexpected greeting: the server refused the session",
                    protocol="ftp",
                    url=url,
                    reply=self._scrub(text),
                    status=int(text[:3]) if text[:3].isdigit() else None,
                    temporary=isinstance(exc, ftplib.error_temp),
                ) from None
            except ReplyTooLarge:
                raise  # a bound, not a wrong greeting: ResponseTooLarge at the boundary
            except ftplib.Error as exc:
                raise ProtocolError(
                    "unexpected greeting from the server",
                    protocol="ftp",
                    url=url,
                    reply=self._scrub(str(exc)),
                ) from None
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
                self._plaintext_phase = False
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
        with (
            plaintext_phase_guard(lambda: self._plaintext_phase),
            error_boundary(
                what, url, scrub=self._scrub, drop=self._drop, probe_exists=self._probe_exists
            ),
        ):
            yield

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
                    if not is_unsupported(exc):
                        return False
            parent, name = split_path(path)
            entries = self._listing(ftp, "LIST", parent, self.url)
            return any(entry.name == name for entry in entries)
        except (ftplib.Error, OSError, EOFError, ProtoClientError, ValueError):
            return None

    # -- paths ---------------------------------------------------------------------------------

    def _remote(self, url: URL) -> str:
        """The server path for ``url``: RFC 1738 (relative to the login directory, ``//abs``)."""
        return remote_path(url.decoded_path, self._home)

    def _target(self, target: str | URL | None) -> URL:
        if isinstance(target, str):
            check_arg(target)
        return self.resolve(target)

    # -- queries shared by the verbs ---------------------------------------------------------

    def _size(self, ftp: FTPConnection, path: str) -> int | None:
        if self._features is not None and "SIZE" not in self._features:
            return None
        try:
            resp = ftp.sendcmd(f"SIZE {path}")
        except ftplib.error_perm as exc:
            if is_unsupported(exc) and self._features is not None:
                self._features.pop("SIZE", None)
            return None
        text = resp[3:].strip()
        return int(text) if resp.startswith("213") and text.isdigit() else None

    def _is_dir(self, ftp: FTPConnection, path: str) -> bool:
        if self._features is None or "MLST" in self._features:
            try:
                resp = ftp.sendcmd(f"MLST {path}")
            except ftplib.error_perm as exc:
                if not is_unsupported(exc):
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
            timeout = ftp.timeout or self.options.timeout
            read_listing(
                conn,
                parser,
                deadline=time.monotonic() + timeout * self.listing_deadline_factor,
                max_bytes=self.max_listing_bytes,
                max_line=self.max_listing_line,
            )
        except BaseException:
            ftp.close_data(conn, clean=False)
            self._drop()
            raise
        ftp.close_data(conn, clean=True)
        ftp.voidresp()
        return parser.entries
