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

This module holds the verbs; the rest of the client lives beside it: :mod:`.ftpsession`
(connection, login, TLS, reconnects, shared path queries), :mod:`.ftpdownload` (the ``RETR``
data path), :mod:`.ftpupload` (the ``STOR`` data path), :mod:`.ftperrors` (the error
boundary), :mod:`.ftppaths` (RFC 1738 paths, argument checks), :mod:`.ftpconn` (the strict
``ftplib`` connection), :mod:`.ftplisting` and :mod:`.ftplistread` (listings).
"""

from __future__ import annotations

import ftplib
import os
import secrets
import time
from datetime import datetime
from typing import Any

from ..client import Destination, Source
from ..entries import Entry
from ..errors import InvalidInput, NotFoundError, ResponseTooLarge
from ..transfer import FileSink, MemorySink, ProgressCallback, TransferResult, open_sink
from ..urls import URL
from .ftpconn import FTPConnection
from .ftpdownload import FTPDownload
from .ftperrors import is_unsupported, reply_code
from .ftplisting import parse_mdtm, parse_mlsd_line
from .ftppaths import check_arg, join_path, reject_extra_kwargs, split_path
from .ftpupload import FTPUpload

__all__ = ["FTPClient"]


class FTPClient(FTPDownload, FTPUpload):
    """FTP / FTPS client over :mod:`ftplib` (see the module docstring for the URL rules).

    Passive mode is always used (the address in the server's ``227`` reply is ignored: data
    connections go to the control connection's peer; ``EPSV`` on IPv6). For active mode use
    the escape hatch: ``client.raw.set_pasv(False)``.
    """

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
        reject_extra_kwargs(kwargs, "ls")
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
                    if not is_unsupported(exc):
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
        reject_extra_kwargs(kwargs, "fetch")
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
        reject_extra_kwargs(kwargs, "send")
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
                directory, name = split_path(path)
                if make_dirs and directory:
                    self._make_dirs(ftp, directory)
                # Stays within NAME_MAX (255) whatever the final name's length.
                temp_name = f".{name[:200]}.{secrets.token_hex(4)}.part"
                temp = check_arg(join_path(directory, temp_name))
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
        reject_extra_kwargs(kwargs, "delete")
        target = self._target(url)
        with self._op("delete", target, timeout) as ftp:
            path = self._remote(target)
            if directory or (directory is None and target.path.endswith("/")):
                ftp.voidcmd(f"RMD {path}")
                return
            try:
                ftp.voidcmd(f"DELE {path}")
            except ftplib.error_perm as exc:
                if directory is None and reply_code(exc) == 550 and self._is_dir(ftp, path):
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
                if is_unsupported(exc):
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
                if is_unsupported(exc):
                    return None
                raise
            return parse_mdtm(resp)
