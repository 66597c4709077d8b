"""HTTP(S) client: ``fetch`` (GET, streamed, resumable), ``send`` (PUT/POST), ``delete``, ``ls``.

Built on one :class:`requests.Session` per client, with these differences from plain
requests:

* ``~/.netrc`` is never read by requests (``trust_env`` is off; CVE-2024-47081): credentials
  come from :mod:`protoclients.credentials`, which checks the file's permissions. Proxy
  environment variables (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``) are still honoured,
  explicitly, per request; loopback hosts never go through a proxy.
* Redirects are followed here, not by requests: at most :data:`MAX_REDIRECTS` hops, only to
  ``http``/``https``, never from ``https`` down to ``http`` unless ``allow_downgrade=True``,
  and credentials and secret-looking headers are sent only to the original origin
  (scheme, host, port).
* Downloads stream straight from the socket into one preallocated buffer (``readinto``),
  go through an atomic :class:`~protoclients.transfer.FileSink`, are checked against
  ``Content-Length``, and resume with ``Range`` + ``If-Range`` whose answer is validated.
* Idempotent requests (GET, HEAD, PUT, DELETE, OPTIONS — never POST) are retried on
  connection failures and on 429/502/503/504 with jittered exponential backoff, honouring
  ``Retry-After`` up to :data:`RETRY_AFTER_CAP` seconds.
* Every library exception is translated into the protoclients hierarchy at one boundary
  (:meth:`HTTPClient._boundary`), with messages built from redacted URLs only.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import logging
import mimetypes
import os
import re
import socket
import ssl
import stat
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import IO, Any, ClassVar
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests
import requests.exceptions as rex
import urllib3.exceptions as u3ex
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from ..client import Client, Destination, Source
from ..entries import Entry
from ..errors import (
    AuthenticationError,
    ConnectionFailed,
    CredentialsNotFound,
    IncompleteTransferError,
    InsecureAuthError,
    InvalidInput,
    InvalidURL,
    NotFoundError,
    OperationTimeoutError,
    PermissionDeniedError,
    ProtoClientError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    TLSError,
    TLSRequiredError,
    clean_server_text,
)
from ..options import ClientOptions
from ..tls import tls_error
from ..transfer import (
    FileObjectSink,
    FileSink,
    MemorySink,
    ProgressCallback,
    Sink,
    TransferResult,
    open_sink,
)
from ..urls import SENSITIVE_QUERY_KEYS, URL, Secret
from .dirindex import MAX_ENTRIES, parse_index

__all__ = [
    "CHUNK_SIZE",
    "MAX_REDIRECTS",
    "RETRY_AFTER_CAP",
    "SECRET_HEADERS",
    "SOCKET_BLOCKSIZE",
    "HTTPClient",
    "is_secret_header",
    "validate_headers",
]

#: Size of the one buffer a download is read into (``readinto``). Measured on loopback
#: against nginx (1 GiB to tmpfs): 256 KiB 0.96x curl, 1 MiB 1.05x, 2 MiB 1.1x, 4 MiB 1.37x,
#: 8 MiB 1.2x; a smaller body gets a buffer of its own size.
CHUNK_SIZE = 4 * 1024 * 1024
# Adaptive read sizes of the download loop (bytes, seconds).
_FIRST_READ = 256 * 1024
_MIN_READ = 16 * 1024
_FAST_READ = 0.05
_SLOW_READ = 0.25
#: Size of the reads of an upload source (each becomes one socket ``sendall``).
UPLOAD_CHUNK = 1024 * 1024
#: Socket block size of the connection pool (urllib3 ``blocksize``): bytes per ``send``.
SOCKET_BLOCKSIZE = 1024 * 1024
#: Most redirects followed for one request.
MAX_REDIRECTS = 10
#: Longest ``Retry-After`` honoured, in seconds (a longer one is shortened to this).
RETRY_AFTER_CAP = 30.0
#: Methods retried automatically (idempotent ones; never POST).
RETRY_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Statuses that trigger a retry of an idempotent request.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Header names (lower case) never sent to another origin after a redirect, never traced.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "private-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
    }
)
# Header names containing one of these words are treated as secret as well.
_SECRET_WORDS = ("auth", "token", "secret", "key", "passw", "session", "cookie", "signature")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", re.IGNORECASE)
_UNSATISFIED_RANGE_RE = re.compile(r"bytes\s+\*/(\d+)\s*", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
# Headers a caller may not set: protoclients manages framing and ranges itself.
_RESERVED_HEADERS = frozenset({"content-length", "transfer-encoding", "range", "if-range"})
_CONTENT_HEADERS = ("content-type", "content-length", "content-encoding", "transfer-encoding")
_EXCERPT_BYTES = 1024
# Credentials the caller gave for this very call: used (or refused) up front.
_EXPLICIT_SOURCES = frozenset({"argument", "url"})


def is_secret_header(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether header ``name`` carries a secret (by name, or containing a telling word)."""
    lower = name.strip().lower()
    if lower in SECRET_HEADERS or lower in {e.lower() for e in extra}:
        return True
    return any(word in lower for word in _SECRET_WORDS)


def validate_headers(
    headers: Mapping[str, str] | None, *, reserved: Iterable[str] = ()
) -> dict[str, str]:
    """Check caller-supplied headers before any connection (INP-09).

    Names must be HTTP tokens; values must be strings without CR, LF, NUL or other
    control characters (tab allowed). Values are never echoed in the error message.
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidInput("headers must be a mapping of header name to value")
    refused = {r.lower() for r in reserved}
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
            shown = clean_server_text(str(name), limit=60)
            raise InvalidInput(f"invalid HTTP header name {shown!r}")
        if not isinstance(value, str):
            raise InvalidInput(f"value of header {name} must be a string")
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            raise InvalidInput(
                f"value of header {name} contains a control character (CR, LF, NUL...)"
            )
        if name.lower() in refused:
            hint = " (use resume=True to continue a download)" if "range" in name.lower() else ""
            raise InvalidInput(f"header {name} cannot be set here: protoclients manages it{hint}")
        out[name] = value
    return out


class _BlockSizeAdapter(HTTPAdapter):
    """An adapter whose connections send and receive in large blocks."""

    def __init__(self, *, blocksize: int, max_retries: Retry) -> None:
        self._blocksize = blocksize  # set first: HTTPAdapter.__init__ builds the pool
        super().__init__(max_retries=max_retries)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("blocksize", self._blocksize)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("blocksize", self._blocksize)
        return super().proxy_manager_for(proxy, **proxy_kwargs)


class _CappedRetry(Retry):
    """urllib3 Retry whose honoured ``Retry-After`` is capped."""

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, RETRY_AFTER_CAP)


class _UploadReader:
    """A file wrapper for uploads: bounded to ``size``, counts bytes, rewinds for retries.

    requests streams any object with ``read`` and ``__iter__``; urllib3 reads it in
    blocks of the pool's block size and, on a retry or redirect, rewinds it with
    ``tell``/``seek`` (positions here are relative to where the upload started).
    """

    def __init__(
        self, fileobj: IO[bytes], size: int | None, progress: ProgressCallback | None
    ) -> None:
        self._file = fileobj
        self._size = size
        self._progress = progress
        self._pos = 0
        try:
            self._start: int | None = fileobj.tell() if fileobj.seekable() else None
        except (OSError, AttributeError, ValueError):
            self._start = None

    @property
    def len(self) -> int | None:  # read by requests.utils.super_len
        return self._size

    @property
    def sent(self) -> int:
        """Bytes handed out so far."""
        return self._pos

    @property
    def rewindable(self) -> bool:
        """Whether the upload can be replayed (retry, 307/308 redirect)."""
        return self._start is not None

    def read(self, n: int | None = -1) -> bytes:
        want = -1 if n is None or n < 0 else n
        if self._size is not None:
            remaining = self._size - self._pos
            if remaining <= 0:
                return b""
            want = remaining if want < 0 else min(want, remaining)
        data = self._file.read(want)
        if not isinstance(data, bytes | bytearray):
            raise InvalidInput("the source must be a binary file object (opened with 'rb')")
        if not data and self._size is not None and self._pos < self._size:
            raise InvalidInput(
                f"the source ended after {self._pos} of {self._size} bytes "
                "(the file shrank while it was being uploaded)"
            )
        self._pos += len(data)
        if self._progress is not None and data:
            self._progress(self._pos, self._size)
        return bytes(data)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(UPLOAD_CHUNK)
            if not chunk:
                return
            yield chunk

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or self._start is None:
            raise io.UnsupportedOperation("upload source cannot be rewound")
        self._file.seek(self._start + offset)
        self._pos = offset
        return offset


def _find_in_chain(
    exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]
) -> BaseException | None:
    """Search an exception, its causes, contexts, ``reason`` and ``args`` for ``kind``."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, kind):
            return item
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        stack.extend(item.args)
    return None


def _header(resp: requests.Response, name: str) -> str | None:
    value = resp.headers.get(name)
    return None if value is None else str(value)


def _content_length(resp: requests.Response) -> int | None:
    """The announced body length, or ``None`` (chunked or absent); conflicting → error."""
    if "chunked" in (_header(resp, "Transfer-Encoding") or "").lower():
        return None
    raw = _header(resp, "Content-Length")
    if raw is None:
        return None
    values = {v.strip() for v in raw.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise ProtocolError(
            f"invalid Content-Length header {clean_server_text(raw, 60)!r}", protocol="http"
        )
    return int(values.pop())


def _parse_content_range(value: str | None) -> tuple[int, int, int | None]:
    """``bytes START-END/TOTAL`` → ``(start, end, total or None)``."""
    match = _CONTENT_RANGE_RE.fullmatch(value or "")
    if match is None:
        raise ProtocolError(
            f"invalid or missing Content-Range in a 206 response: "
            f"{clean_server_text(value or '', 80)!r}",
            protocol="http",
        )
    start, end = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if end < start or (total is not None and end >= total):
        raise ProtocolError(f"inconsistent Content-Range {value!r}", protocol="http")
    return start, end, total


def _if_range_validator(meta: Mapping[str, Any]) -> str | None:
    """The strong ETag saved with a partial file, else its Last-Modified, else ``None``."""
    etag = meta.get("etag")
    if isinstance(etag, str) and etag and not etag.startswith("W/"):
        return etag
    modified = meta.get("last_modified")
    return modified if isinstance(modified, str) and modified else None


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


class HTTPClient(Client):
    """HTTP and HTTPS client (``http://``, ``https://``) over a ``requests.Session``.

    Verbs:

    * :meth:`fetch` — GET, streamed to memory, a path, a directory or a file object;
      ``resume=True`` continues an interrupted download (``Range`` + ``If-Range``).
    * :meth:`send` — PUT (default) or POST of a path, bytes or binary file object.
    * :meth:`delete` — DELETE.
    * :meth:`ls` — GET a directory URL and parse its HTML index page.

    Every verb also takes ``headers=`` (extra request headers, validated),
    ``allow_downgrade=`` (follow ``https`` → ``http`` redirects) and ``secret_headers=``
    (extra header names to treat as secret). :attr:`raw` is the ``requests.Session``.
    """

    protocol: ClassVar[str] = "http"

    def __init__(
        self,
        url: str | URL,
        *,
        password: str | Secret | None = None,
        options: ClientOptions | None = None,
        **option_kwargs: Any,
    ) -> None:
        super().__init__(url, password=password, options=options, **option_kwargs)
        self._session: requests.Session | None = None
        self._where: URL = self.url
        self._secrets: list[str] = []
        self._held_back = False  # credentials exist but were not sent (unsafe link)
        self._timeout_shown = self.options.timeout  # the timeout of the current request

    # -- lifecycle -----------------------------------------------------------------------

    def _connect(self) -> None:
        if self.tls_mode == "starttls":
            raise InvalidInput("HTTP has no STARTTLS; use an https:// URL", url=self.url)
        if (self.tls_mode == "implicit") != (self.url.scheme == "https"):
            raise InvalidInput(
                f"tls={self.tls_mode!r} does not fit {self.url.scheme}:// URLs; "
                "choose the scheme (http:// or https://) instead",
                url=self.url,
            )
        if self.options.ca_file and not os.path.isfile(self.options.ca_file):
            raise TLSError(f"cannot load CA file {self.options.ca_file!r}: no such file")
        if self.options.insecure and self.url.scheme == "https":
            self.log.warning("TLS certificate verification is DISABLED (insecure=True)")
        from .. import __version__

        session = requests.Session()
        session.trust_env = False  # no ~/.netrc, no REQUESTS_CA_BUNDLE: proxies done by hand
        session.headers["User-Agent"] = f"protoclients/{__version__}"
        # No cookie engine (like curl without -b): cookies ignore ports, origins do not.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        retry = _CappedRetry(
            total=self.options.retries,
            connect=self.options.retries,
            read=self.options.retries,
            status=self.options.retries,
            other=0,
            redirect=0,
            allowed_methods=RETRY_METHODS,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=0.5,
            backoff_jitter=0.5,
            backoff_max=10.0,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        adapter = _BlockSizeAdapter(blocksize=SOCKET_BLOCKSIZE, max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    @property
    def raw(self) -> requests.Session:
        """The ``requests.Session`` (connecting first if needed)."""
        return self._get_session()

    def _get_session(self) -> requests.Session:
        if self._session is None:
            self._connected = False
            self.connect()
        assert self._session is not None
        return self._session

    # -- verbs ---------------------------------------------------------------------------

    def fetch(
        self,
        url: str | URL | None = None,
        dest: Destination = None,
        *,
        resume: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        allow_downgrade: bool = False,
        secret_headers: Iterable[str] = (),
        **kwargs: Any,
    ) -> Any:
        """GET ``url`` into ``dest``; see :meth:`Client.fetch`.

        Returns the body as ``bytes`` when ``dest`` is ``None`` (at most ``max_memory``),
        else a :class:`~protoclients.transfer.TransferResult` whose ``details`` hold
        ``status``, ``etag``, ``content_type`` and ``final_url``.
        """
        _no_extra(kwargs, "fetch")
        target = self.resolve(url)
        hdrs = validate_headers(headers, reserved=_RESERVED_HEADERS)
        wait = self.timeout_for(timeout)
        secret_names = tuple(secret_headers)
        # Like wget: a URL naming a directory ("/", "/dir/") is saved as index.html.
        remote_name = "index.html" if target.path.endswith("/") else target.name or "index.html"
        sink = open_sink(
            dest,
            remote_name=remote_name,
            resume=resume,
            progress=progress,
            max_memory=self.options.max_memory,
        )
        started = time.perf_counter()
        with self._boundary(target), sink:
            result = self._download(target, sink, hdrs, wait, allow_downgrade, secret_names)
        result.elapsed = time.perf_counter() - started
        if isinstance(sink, MemorySink):
            return sink.getvalue()
        return result

    def send(
        self,
        source: Source,
        url: str | URL | None = None,
        *,
        method: str = "PUT",
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        allow_downgrade: bool = False,
        secret_headers: Iterable[str] = (),
        **kwargs: Any,
    ) -> TransferResult:
        """Upload ``source`` (a path, bytes or a binary file object) with PUT or POST.

        The body is streamed (never read into memory) with ``Content-Length`` when the
        size is known. Returns a :class:`~protoclients.transfer.TransferResult` whose
        ``details`` hold ``status`` and ``location``.
        """
        _no_extra(kwargs, "send")
        verb = method.upper() if isinstance(method, str) else ""
        if verb not in {"PUT", "POST"}:
            raise InvalidInput(f"send uses PUT or POST, not {clean_server_text(str(method), 20)!r}")
        target = self.resolve(url)
        hdrs = validate_headers(headers, reserved=_RESERVED_HEADERS)
        if content_type is not None:
            hdrs.update(validate_headers({"Content-Type": content_type}))
        wait = self.timeout_for(timeout)
        started = time.perf_counter()
        with _open_source(source, progress) as (body, size, guessed_type):
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = guessed_type or "application/octet-stream"
            with self._boundary(target):
                resp, final = self._request(
                    verb,
                    target,
                    headers=hdrs,
                    body=body,
                    timeout=wait,
                    allow_downgrade=allow_downgrade,
                    secret_names=tuple(secret_headers),
                )
                with contextlib.closing(resp):
                    self._check_status(resp, final, ok=range(200, 300))
                    details = {
                        "status": resp.status_code,
                        "location": _header(resp, "Location"),
                        "etag": _header(resp, "ETag"),
                        "final_url": str(final),
                    }
            sent = body.sent if isinstance(body, _UploadReader) else len(body)
        return TransferResult(
            url=str(target),
            bytes=sent,
            size=size,
            path=None,
            elapsed=time.perf_counter() - started,
            details=details,
        )

    def delete(
        self,
        url: str | URL | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        allow_downgrade: bool = False,
        secret_headers: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        """DELETE ``url``; any 2xx (200, 202, 204) is success."""
        _no_extra(kwargs, "delete")
        target = self.resolve(url)
        hdrs = validate_headers(headers, reserved=_RESERVED_HEADERS)
        wait = self.timeout_for(timeout)
        with self._boundary(target):
            resp, final = self._request(
                "DELETE",
                target,
                headers=hdrs,
                timeout=wait,
                allow_downgrade=allow_downgrade,
                secret_names=tuple(secret_headers),
            )
            with contextlib.closing(resp):
                self._check_status(resp, final, ok=range(200, 300))

    def ls(
        self,
        url: str | URL | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        allow_downgrade: bool = False,
        secret_headers: Iterable[str] = (),
        max_entries: int = MAX_ENTRIES,
        **kwargs: Any,
    ) -> list[Entry]:
        """List a directory by parsing its HTML index page (a trailing ``/`` is added).

        Understands ``python -m http.server``, nginx ``autoindex`` and Apache/lighttpd
        fancy indexes. Abbreviated sizes (``1.2K``) give ``size=None`` with the text in
        ``details["size_text"]``.
        """
        _no_extra(kwargs, "ls")
        target = self.resolve(url)
        if not target.path.endswith("/"):
            target = target.replace(path=target.path + "/")
        hdrs = validate_headers(headers, reserved=_RESERVED_HEADERS)
        hdrs.setdefault("Accept", "text/html, application/xhtml+xml;q=0.9, */*;q=0.1")
        wait = self.timeout_for(timeout)
        with self._boundary(target):
            resp, final = self._request(
                "GET",
                target,
                headers=hdrs,
                timeout=wait,
                allow_downgrade=allow_downgrade,
                secret_names=tuple(secret_headers),
            )
            with contextlib.closing(resp):
                self._check_status(resp, final, ok=(200,))
                content_type = _header(resp, "Content-Type") or ""
                mime = content_type.split(";")[0].strip().lower()
                if mime and "html" not in mime:
                    raise ProtocolError(
                        f"not a directory index (Content-Type: {clean_server_text(mime, 60)})",
                        protocol=self.protocol,
                        url=final,
                    )
                body = self._read_bounded(resp, final)
            try:
                page = body.decode(_charset(content_type), errors="replace")
            except LookupError:
                page = body.decode("utf-8", errors="replace")
            base = final.replace(query="", fragment="")
            try:
                return parse_index(page, base.display(), max_entries=max_entries)
            except ResponseTooLarge as exc:
                raise ResponseTooLarge(exc.message, protocol=self.protocol, url=final) from None

    # -- the download --------------------------------------------------------------------

    def _download(
        self,
        target: URL,
        sink: Sink,
        hdrs: dict[str, str],
        wait: float,
        allow_downgrade: bool,
        secret_names: tuple[str, ...],
    ) -> TransferResult:
        offset = sink.offset
        meta = sink.load_meta() if isinstance(sink, FileSink) else {}
        if offset and meta.get("url") not in (None, str(target)):
            self.trace(f"* partial file came from {meta.get('url')}; starting again")
            sink.restart()
            offset, meta = 0, {}
        for _attempt in range(2):
            req = dict(hdrs)
            req["Accept-Encoding"] = "identity"  # so byte offsets are real
            if offset:
                req["Range"] = f"bytes={offset}-"
                validator = _if_range_validator(meta)
                if validator:
                    req["If-Range"] = validator
            resp, final = self._request(
                "GET",
                target,
                headers=req,
                timeout=wait,
                allow_downgrade=allow_downgrade,
                secret_names=secret_names,
            )
            with contextlib.closing(resp):
                status = resp.status_code
                if offset and status == 416:
                    match = _UNSATISFIED_RANGE_RE.fullmatch(_header(resp, "Content-Range") or "")
                    if match and int(match[1]) == offset:
                        self.trace("* the partial file is already complete")
                        return TransferResult(
                            url=str(target),
                            bytes=0,
                            size=offset,
                            path=sink.path,
                            resumed_from=offset,
                            details=self._details(resp, final, meta.get("etag")),
                        )
                    self.trace("* the partial file does not fit the remote file; starting again")
                    sink.restart()
                    offset, meta = 0, {}
                    continue
                self._check_status(resp, final, ok=(200, 206))
                return self._receive(resp, final, target, sink, offset, meta)
        raise ProtocolError(  # pragma: no cover - the second attempt has no Range
            "server keeps refusing the requested range", protocol=self.protocol, url=target
        )

    def _receive(
        self,
        resp: requests.Response,
        final: URL,
        target: URL,
        sink: Sink,
        offset: int,
        meta: Mapping[str, Any],
    ) -> TransferResult:
        status = resp.status_code
        encoding = (_header(resp, "Content-Encoding") or "identity").strip().lower()
        encoded = encoding not in {"", "identity"}
        resumed_from = 0
        if status == 206:
            if not offset:
                raise ProtocolError(
                    "server sent a partial response (206) to a request without Range",
                    protocol=self.protocol,
                    url=final,
                )
            start, end, size = _parse_content_range(_header(resp, "Content-Range"))
            if start != offset:
                raise ProtocolError(
                    f"server answered the resume request with bytes from {start}, not "
                    f"{offset}; the partial file was kept unchanged",
                    protocol=self.protocol,
                    url=final,
                )
            expected: int | None = end - start + 1
            announced = _content_length(resp)
            if announced is not None and announced != expected:
                raise ProtocolError(
                    f"Content-Length {announced} does not match Content-Range {start}-{end}",
                    protocol=self.protocol,
                    url=final,
                )
            if encoded:
                raise ProtocolError(
                    f"server sent a partial response with Content-Encoding {encoding}",
                    protocol=self.protocol,
                    url=final,
                )
            resumed_from = offset
            self.trace(f"* resuming at byte {offset}")
        else:
            if offset:
                self.trace("* server sent the whole file (no resume); starting again")
                sink.restart()
            expected = _content_length(resp)
            size = None if encoded else expected
        if isinstance(sink, MemorySink) and size is not None and size > sink.limit:
            raise ResponseTooLarge(
                f"body of {size} bytes is larger than max_memory={sink.limit}; pass dest= "
                "to stream it to a file",
                protocol=self.protocol,
                url=final,
            )
        etag = _header(resp, "ETag")
        last_modified = _header(resp, "Last-Modified")
        if status == 206:
            etag = etag or meta.get("etag")
            last_modified = last_modified or meta.get("last_modified")
        if isinstance(sink, FileSink):
            sink.save_meta({"etag": etag, "last_modified": last_modified, "url": str(target)})
        sink.total = size
        received = self._copy_body(resp, sink, expected, encoded, final)
        if size is None and not encoded:
            size = sink.position
        return TransferResult(
            url=str(target),
            bytes=received,
            size=size,
            path=sink.path,
            resumed_from=resumed_from,
            details=self._details(resp, final, etag),
        )

    def _details(self, resp: requests.Response, final: URL, etag: Any) -> dict[str, Any]:
        return {
            "status": resp.status_code,
            "etag": etag,
            "content_type": _header(resp, "Content-Type"),
            "last_modified": _header(resp, "Last-Modified"),
            "final_url": str(final),
        }

    def _copy_body(
        self,
        resp: requests.Response,
        sink: Sink,
        expected: int | None,
        encoded: bool,
        url: URL,
    ) -> int:
        """Move the body into ``sink``; return the bytes received from the network."""
        raw = resp.raw
        fp = getattr(raw, "_fp", None)
        received = 0
        if fp is not None and hasattr(fp, "readinto") and not encoded:
            # Fast path: the http.client response reads straight into one buffer. Each
            # readinto fills the slice it is given, so the slice adapts: it grows while
            # the data comes fast (few, large writes) and shrinks when a read is slow
            # (timely progress on a slow link; little unsaved data if the link dies).
            buf = bytearray(CHUNK_SIZE if expected is None else max(1, min(CHUNK_SIZE, expected)))
            view = memoryview(buf)
            size = min(len(buf), _FIRST_READ)
            readinto = fp.readinto
            write = sink.write
            clock = time.monotonic
            copy = isinstance(sink, FileObjectSink)  # a caller's object may keep references
            while True:
                began = clock()
                try:
                    n = readinto(view[:size])
                except (OSError, http.client.HTTPException) as exc:
                    raise self._body_error(exc, received, expected, url) from None
                if not n:
                    break
                write(bytes(view[:n]) if copy else view[:n])
                received += n
                took = clock() - began
                if took < _FAST_READ:
                    size = min(len(buf), size * 2)
                elif took > _SLOW_READ:
                    size = max(_MIN_READ, size // 4)
            if expected is None or received == expected:
                with contextlib.suppress(Exception):
                    raw.release_conn()  # the connection can be reused
        else:
            while True:
                try:
                    chunk = raw.read(CHUNK_SIZE, decode_content=True)
                except (OSError, http.client.HTTPException, u3ex.HTTPError) as exc:
                    raise self._body_error(exc, received, expected, url) from None
                if not chunk:
                    break
                sink.write(chunk)
                received += len(chunk)
            if encoded:
                received = raw.tell()  # bytes on the wire, what Content-Length counts
        if expected is not None and received != expected:
            raise IncompleteTransferError(
                f"transfer incomplete: received {received} of {expected} bytes"
                + ("; the partial file was kept, use resume=True" if sink.path else ""),
                protocol=self.protocol,
                url=url,
            )
        return received

    def _body_error(
        self, exc: BaseException, received: int, expected: int | None, url: URL
    ) -> ProtoClientError:
        of = f" of {expected}" if expected is not None else ""
        if _find_in_chain(exc, (TimeoutError, u3ex.TimeoutError)) is not None:
            return OperationTimeoutError(
                f"the server stopped sending (no data for {self._timeout_shown:g} s); "
                f"{received}{of} bytes were saved",
                protocol=self.protocol,
                url=url,
            )
        return IncompleteTransferError(
            f"connection broke ({type(exc).__name__}); {received}{of} bytes were saved",
            protocol=self.protocol,
            url=url,
        )

    def _read_bounded(self, resp: requests.Response, url: URL) -> bytes:
        limit = self.options.max_memory
        announced = _content_length(resp)
        if announced is not None and announced > limit:
            raise ResponseTooLarge(
                f"page of {announced} bytes is larger than max_memory={limit}",
                protocol=self.protocol,
                url=url,
            )
        data = bytearray()
        for chunk in resp.iter_content(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise ResponseTooLarge(
                    f"page is larger than max_memory={limit}", protocol=self.protocol, url=url
                )
        return bytes(data)

    # -- one request, with redirects -----------------------------------------------------

    def _request(
        self,
        method: str,
        url: URL,
        *,
        headers: dict[str, str],
        timeout: float,
        body: _UploadReader | bytes | None = None,
        allow_downgrade: bool = False,
        secret_names: tuple[str, ...] = (),
    ) -> tuple[requests.Response, URL]:
        """Send ``method url``, following redirects by the rules in the module docstring.

        Returns the final response (streamed: the caller must close it) and its URL.
        """
        session = self._get_session()
        creds = self.credentials()
        self._secrets = _secret_strings(url, headers, secret_names, creds)
        self._timeout_shown = timeout
        current = url
        hops = 0
        while True:
            self._where = current
            same_origin = current.origin == url.origin
            hop_headers = {
                k: v
                for k, v in headers.items()
                if same_origin or not is_secret_header(k, secret_names)
            }
            auth: HTTPBasicAuth | None = None
            self._held_back = False
            if creds is not None and current.origin == self.url.origin:
                if self._may_send_password(current) or creds.source in _EXPLICIT_SOURCES:
                    # Raises InsecureAuthError (before connecting) if the link is unsafe.
                    self.ensure_safe_to_send_password(encrypted=current.scheme == "https")
                    auth = HTTPBasicAuth(
                        creds.username.encode("utf-8"), creds.password.reveal().encode("utf-8")
                    )
                else:
                    # Found in netrc/keyring/environment, not asked for: keep it back over
                    # an unencrypted link; refuse only if the server wants authentication.
                    self._held_back = True
            if isinstance(body, _UploadReader) and body.tell():
                body.seek(0)
            resp = self._send_once(session, method, current, hop_headers, body, auth, timeout)
            location = _header(resp, "Location")
            if resp.status_code not in _REDIRECT_STATUSES or not location:
                return resp, current
            resp.close()
            hops += 1
            if hops > MAX_REDIRECTS:
                raise ProtocolError(
                    f"too many redirects (more than {MAX_REDIRECTS})",
                    protocol=self.protocol,
                    url=url,
                )
            target = self._redirect_target(current, location, allow_downgrade)
            status = resp.status_code
            if (status == 303 and method != "HEAD") or (status in {301, 302} and method == "POST"):
                method = "GET"
                body = None
                headers = {k: v for k, v in headers.items() if k.lower() not in _CONTENT_HEADERS}
            elif isinstance(body, _UploadReader) and not body.rewindable:
                raise ProtocolError(
                    f"server redirected the upload ({status}) but the source cannot be read "
                    f"again; send it to {target} directly",
                    protocol=self.protocol,
                    url=current,
                )
            self.trace(f"* redirect {status} to {target}")
            current = target

    def _may_send_password(self, url: URL) -> bool:
        return url.scheme == "https" or url.is_loopback or self.options.allow_insecure_auth

    def _redirect_target(self, current: URL, location: str, allow_downgrade: bool) -> URL:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in location):
            raise ProtocolError(
                "server sent a redirect Location with control characters",
                protocol=self.protocol,
                url=current,
            )
        absolute = urljoin(
            current.geturl_without_credentials(), quote(location, safe="%/:?#[]@!$&'()*+,;=~")
        )
        scheme = urlsplit(absolute).scheme.lower()
        if scheme not in {"http", "https"}:
            raise ProtocolError(
                f"refusing to follow a redirect to a {clean_server_text(scheme, 20)}: URL "
                "(only http and https are followed)",
                protocol=self.protocol,
                url=current,
            )
        try:
            target = URL.parse(absolute)
        except InvalidURL:
            raise ProtocolError(
                "server sent an invalid redirect Location", protocol=self.protocol, url=current
            ) from None
        target = target.replace(username=None, password=None, fragment="")
        if current.scheme == "https" and target.scheme == "http" and not allow_downgrade:
            raise TLSRequiredError(
                f"refusing to follow a redirect from https to plain http ({target}); "
                "pass allow_downgrade=True to allow it",
                protocol=self.protocol,
                url=current,
            )
        return target

    def _send_once(
        self,
        session: requests.Session,
        method: str,
        url: URL,
        headers: dict[str, str],
        body: _UploadReader | bytes | None,
        auth: HTTPBasicAuth | None,
        timeout: float,
    ) -> requests.Response:
        tracing = self.options.trace is not None or self.log.isEnabledFor(logging.DEBUG)
        if tracing:
            self.trace(f"> {method} {url}")
            for name, value in headers.items():
                shown = "***" if is_secret_header(name) else value
                self.trace(f"> {name}: {shown}")
            if auth is not None:
                self.trace("> Authorization: Basic ***")
        with warnings.catch_warnings():
            if self.options.insecure:
                warnings.simplefilter("ignore", u3ex.InsecureRequestWarning)
            resp = session.request(
                method,
                url.geturl_without_credentials(),
                headers=headers,
                data=body,
                auth=auth,
                allow_redirects=False,
                stream=True,
                timeout=(timeout, timeout),
                verify=self._verify(),
                proxies=self._proxies_for(url),
            )
        if tracing:
            self.trace(f"< {resp.status_code} {clean_server_text(resp.reason or '', 80)}")
            for name, value in resp.headers.items():
                secret = name.lower() == "set-cookie" or is_secret_header(name)
                self.trace(f"< {name}: {'***' if secret else clean_server_text(value, 200)}")
        return resp

    def _verify(self) -> bool | str:
        if self.options.insecure:
            return False
        return self.options.ca_file or True

    def _proxies_for(self, url: URL) -> dict[str, str]:
        if url.is_loopback:
            return {}
        proxies: dict[str, str] = requests.utils.get_environ_proxies(
            url.geturl_without_credentials()
        )
        return proxies

    # -- error translation (the one boundary) --------------------------------------------

    @contextlib.contextmanager
    def _boundary(self, url: URL) -> Iterator[None]:
        """Translate requests/urllib3/socket failures into protoclients errors."""
        self._where = url
        try:
            yield
        except ProtoClientError:
            raise
        except (rex.RequestException, u3ex.HTTPError) as exc:
            raise self._translate(exc, self._where) from None

    def _translate(self, exc: BaseException, url: URL) -> ProtoClientError:
        ctx: dict[str, Any] = {"protocol": self.protocol, "url": url}
        wait = self._timeout_shown
        if isinstance(exc, rex.SSLError | u3ex.SSLError):
            inner = _find_in_chain(exc, (ssl.SSLError, ssl.CertificateError))
            if isinstance(inner, ssl.SSLError | ssl.CertificateError):
                return tls_error(inner, **ctx)
            return TLSError("TLS handshake failed", **ctx)
        if isinstance(exc, rex.ConnectTimeout):
            return OperationTimeoutError(
                f"connecting to {url.hostport} timed out after {wait:g} s", **ctx
            )
        if isinstance(exc, rex.ReadTimeout | u3ex.ReadTimeoutError):
            return OperationTimeoutError(f"server did not answer within {wait:g} s", **ctx)
        if isinstance(exc, rex.ProxyError):
            return ConnectionFailed("cannot connect through the proxy", **ctx)
        if isinstance(exc, rex.ChunkedEncodingError | u3ex.ProtocolError | u3ex.IncompleteRead):
            return IncompleteTransferError("connection broke during the transfer", **ctx)
        if isinstance(exc, rex.ContentDecodingError | u3ex.DecodeError):
            return ProtocolError("server sent a body that cannot be decoded", **ctx)
        if isinstance(exc, u3ex.UnrewindableBodyError):
            return IncompleteTransferError(
                "the upload had to be retried but its source cannot be read again", **ctx
            )
        if isinstance(exc, rex.ConnectionError):
            # requests reports a read timeout that used up the retries as ConnectionError.
            if _find_in_chain(exc, (u3ex.ReadTimeoutError, TimeoutError)) is not None:
                return OperationTimeoutError(f"server did not answer within {wait:g} s", **ctx)
            return ConnectionFailed(_connection_reason(exc, url), **ctx)
        if isinstance(exc, rex.InvalidHeader | rex.InvalidURL | rex.InvalidSchema):
            return InvalidInput(f"request refused by requests: {type(exc).__name__}", **ctx)
        return ProtocolError(f"HTTP request failed ({type(exc).__name__})", **ctx)

    def _check_status(self, resp: requests.Response, url: URL, ok: Iterable[int]) -> None:
        if resp.status_code in ok:
            return
        raise self._status_error(resp, url)

    def _status_error(self, resp: requests.Response, url: URL) -> ProtoClientError:
        status = resp.status_code
        reply = self._reply_text(resp)
        ctx: dict[str, Any] = {"protocol": self.protocol, "url": url, "reply": reply}
        if status == 401:
            creds = self._credentials
            if creds is not None and self._held_back:
                try:
                    self.ensure_safe_to_send_password(encrypted=url.scheme == "https")
                except InsecureAuthError as exc:
                    exc.reply = clean_server_text(reply)
                    return exc
            challenge = clean_server_text(_header(resp, "WWW-Authenticate") or "", 80)
            if creds is not None and url.origin == self.url.origin:
                return AuthenticationError(
                    f"the server rejected the credentials for user {creds.username!r} "
                    f"(from {creds.source})",
                    **ctx,
                )
            how = (
                "the server requires authentication"
                + (f" ({challenge})" if challenge else "")
                + "; put the user name in the URL (http(s)://USER@host/...) and give the "
                "password with password=..., the PROTOCLIENTS_PASSWORD environment variable, "
                "the keyring (protoclients auth set) or ~/.netrc (mode 600)"
            )
            return CredentialsNotFound(how, **ctx)
        if status == 407:
            return AuthenticationError("the proxy requires authentication", **ctx)
        if status == 403:
            return PermissionDeniedError("permission denied (HTTP 403)", **ctx)
        if status in {404, 410}:
            return NotFoundError(f"not found (HTTP {status})", **ctx)
        if status >= 500:
            return ServerError(
                f"server error (HTTP {status})",
                status=status,
                temporary=status in {502, 503, 504},
                **ctx,
            )
        if status in _REDIRECT_STATUSES:
            return ProtocolError(f"redirect (HTTP {status}) without a Location header", **ctx)
        if 400 <= status < 500:
            return ServerError(
                f"request refused (HTTP {status})",
                status=status,
                temporary=status in {408, 429},
                **ctx,
            )
        return ProtocolError(f"unexpected HTTP status {status}", **ctx)

    def _reply_text(self, resp: requests.Response) -> str:
        """Status line plus a short, tag-stripped, secret-scrubbed excerpt of the body."""
        text = f"{resp.status_code} {resp.reason or ''}".strip()
        excerpt = b""
        with contextlib.suppress(Exception):
            excerpt = resp.raw.read(_EXCERPT_BYTES, decode_content=True) or b""
        body = excerpt.decode("utf-8", errors="replace")
        body = " ".join(_TAG_RE.sub(" ", body).split())
        if body:
            text += ": " + body
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _secret_strings(
    url: URL, headers: Mapping[str, str], secret_names: Iterable[str], creds: Any
) -> list[str]:
    """Strings that must never appear in an error message (scrubbed from server text)."""
    secrets: list[str] = []
    names = tuple(secret_names)
    for name, value in headers.items():
        if is_secret_header(name, names) and len(value) >= 4:
            secrets.append(value)
    for item in url.query.split("&"):
        key, eq, value = item.partition("=")
        if eq and unquote(key).lower() in SENSITIVE_QUERY_KEYS and len(value) >= 4:
            secrets.extend({value, unquote(value)})
    if creds is not None:
        password = creds.password.reveal()
        if len(password) >= 4:
            secrets.append(password)
        token = base64.b64encode(f"{creds.username}:{password}".encode()).decode("ascii")
        secrets.append(token)
    return sorted(secrets, key=len, reverse=True)


def _connection_reason(exc: BaseException, url: URL) -> str:
    where = url.hostport
    if _find_in_chain(exc, ConnectionRefusedError) is not None:
        return f"cannot connect to {where}: connection refused"
    if _find_in_chain(exc, socket.gaierror) is not None:
        return f"cannot connect to {where}: host name not found"
    if _find_in_chain(exc, http.client.RemoteDisconnected) is not None:
        return f"{where} closed the connection without answering"
    if _find_in_chain(exc, ConnectionResetError) is not None:
        return f"{where} reset the connection"
    inner = _find_in_chain(exc, OSError)
    if isinstance(inner, OSError) and inner.strerror:
        return f"cannot connect to {where}: {inner.strerror}"
    return f"cannot connect to {where}"


def _no_extra(kwargs: Mapping[str, Any], verb: str) -> None:
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise InvalidInput(f"unknown keyword argument(s) for HTTP {verb}: {names}")


@contextlib.contextmanager
def _open_source(
    source: Source, progress: ProgressCallback | None
) -> Iterator[tuple[_UploadReader | bytes, int | None, str | None]]:
    """Turn a ``send`` source into a streamable body: ``(body, size, guessed_type)``."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if progress is None or not data:
            yield data, len(data), None
            if progress is not None:
                progress(len(data), len(data))
            return
        yield _UploadReader(io.BytesIO(data), len(data), progress), len(data), None
        return
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            fileobj = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise InvalidInput(f"source file not found: {path}") from None
        except IsADirectoryError:
            raise InvalidInput(f"source is a directory: {path}") from None
        try:
            info = os.fstat(fileobj.fileno())
            # A pipe or device has no size: stream it (chunked) until it ends.
            size: int | None = info.st_size if stat.S_ISREG(info.st_mode) else None
            guessed = mimetypes.guess_type(path)[0]
            if size == 0:
                yield b"", 0, guessed
            else:
                yield _UploadReader(fileobj, size, progress), size, guessed
        finally:
            fileobj.close()
        return
    if not hasattr(source, "read"):
        raise InvalidInput(
            f"send needs a path, bytes or a binary file object, not {type(source).__name__}"
        )
    if isinstance(source, io.TextIOBase):
        raise InvalidInput("the source must be a binary file object (opened with 'rb')")
    remaining = _remaining_size(source)
    if remaining == 0:
        yield b"", 0, None
        return
    yield _UploadReader(source, remaining, progress), remaining, None


def _remaining_size(fileobj: IO[bytes]) -> int | None:
    """Bytes left in a file object, if it can tell (seekable files, BytesIO)."""
    try:
        if not fileobj.seekable():
            return None
        position = fileobj.tell()
        end = fileobj.seek(0, io.SEEK_END)
        fileobj.seek(position)
        return max(0, end - position)
    except (OSError, AttributeError, ValueError):
        return None
