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
  (:meth:`HTTPClient._boundary`, :mod:`.httperrors`), with messages built from redacted
  URLs only.

* Uploads stream with ``Content-Length`` when the size is known; a file named by its path
  is sent from one reused buffer (:class:`~.httpupload.FileBody`).

This module holds the verbs; the rest lives in small modules: :mod:`.httprequest` (the
base class: session lifecycle, one request with its redirects and credentials, the error
boundary), :mod:`.httpsession` (session, adapter, retries, proxies), :mod:`.httpheaders`
(header checks and parsing), :mod:`.httpredirects`, :mod:`.httpdownload` (a response body
into a sink), :mod:`.httpupload` (``send`` sources) and :mod:`.httperrors`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..client import Destination, Source
from ..entries import Entry
from ..errors import InvalidInput, ProtocolError, ResponseTooLarge, clean_server_text
from ..transfer import FileSink, MemorySink, ProgressCallback, Sink, TransferResult, open_sink
from ..urls import URL
from .httpdownload import CHUNK_SIZE, details, read_bounded, receive
from .httpheaders import (
    RESERVED_HEADERS,
    SECRET_HEADERS,
    UNSATISFIED_RANGE_RE,
    charset,
    header,
    if_range_validator,
    is_secret_header,
    validate_headers,
)
from .httpredirects import MAX_REDIRECTS
from .httprequest import HTTPRequester
from .httpsession import RETRY_AFTER_CAP, SOCKET_BLOCKSIZE
from .httpupload import UploadBody, open_source

if TYPE_CHECKING:
    import requests

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

_SUCCESS = range(200, 300)


class HTTPClient(HTTPRequester):
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
        hdrs = validate_headers(headers, reserved=RESERVED_HEADERS)
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
        hdrs = validate_headers(headers, reserved=RESERVED_HEADERS)
        if content_type is not None:
            hdrs.update(validate_headers({"Content-Type": content_type}))
        wait = self.timeout_for(timeout)
        started = time.perf_counter()
        with open_source(source, progress) as (body, size, guessed_type):
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = guessed_type or "application/octet-stream"
            with self._exchange(
                verb, target, hdrs, wait, allow_downgrade, secret_headers, body=body
            ) as (resp, final):
                details = {
                    "status": resp.status_code,
                    "location": header(resp, "Location"),
                    "etag": header(resp, "ETag"),
                    "final_url": str(final),
                }
            sent = body.sent if isinstance(body, UploadBody) else len(body)
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
        hdrs = validate_headers(headers, reserved=RESERVED_HEADERS)
        wait = self.timeout_for(timeout)
        with self._exchange("DELETE", target, hdrs, wait, allow_downgrade, secret_headers):
            pass  # the status is all there is to check

    def head(
        self,
        url: str | URL | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        allow_downgrade: bool = False,
        secret_headers: Iterable[str] = (),
    ) -> dict[str, Any]:
        """HEAD ``url`` (redirects followed): ``{"status", "reason", "headers", "final_url"}``.

        ``headers`` is a list of ``(name, value)`` pairs as received (repeated headers
        such as ``Set-Cookie`` stay separate). A status other than 2xx raises the same
        errors as :meth:`fetch`.
        """
        target = self.resolve(url)
        hdrs = validate_headers(headers, reserved=RESERVED_HEADERS)
        wait = self.timeout_for(timeout)
        with self._exchange("HEAD", target, hdrs, wait, allow_downgrade, secret_headers) as (
            resp,
            final,
        ):
            raw = getattr(resp.raw, "headers", None)
            pairs = list(raw.items() if raw is not None else resp.headers.items())
            return {
                "status": resp.status_code,
                "reason": resp.reason or "",
                "headers": [(str(k), str(v)) for k, v in pairs],
                "final_url": str(final),
            }

    def ls(
        self,
        url: str | URL | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        allow_downgrade: bool = False,
        secret_headers: Iterable[str] = (),
        max_entries: int | None = None,
        **kwargs: Any,
    ) -> list[Entry]:
        """List a directory by parsing its HTML index page (a trailing ``/`` is added).

        Understands ``python -m http.server``, nginx ``autoindex`` and Apache/lighttpd
        fancy indexes. Abbreviated sizes (``1.2K``) give ``size=None`` with the text in
        ``details["size_text"]``. ``max_entries`` defaults to
        :data:`~protoclients.protocols.dirindex.MAX_ENTRIES` (100 000).
        """
        from .dirindex import MAX_ENTRIES, parse_index  # HTML parsing: only ls needs it

        _no_extra(kwargs, "ls")
        target = self.resolve(url)
        if not target.path.endswith("/"):
            target = target.replace(path=target.path + "/")
        hdrs = validate_headers(headers, reserved=RESERVED_HEADERS)
        hdrs.setdefault("Accept", "text/html, application/xhtml+xml;q=0.9, */*;q=0.1")
        wait = self.timeout_for(timeout)
        with self._exchange(
            "GET", target, hdrs, wait, allow_downgrade, secret_headers, ok=(200,)
        ) as (resp, final):
            content_type = header(resp, "Content-Type") or ""
            mime = content_type.split(";")[0].strip().lower()
            if mime and "html" not in mime:
                raise ProtocolError(
                    f"not a directory index (Content-Type: {clean_server_text(mime, 60)})",
                    protocol=self.protocol,
                    url=final,
                )
            body = read_bounded(resp, final, self.options.max_memory)
        try:
            page = body.decode(charset(content_type), errors="replace")
        except LookupError:
            page = body.decode("utf-8", errors="replace")
        base = final.replace(query="", fragment="")
        try:
            return parse_index(
                page,
                base.display(),
                max_entries=MAX_ENTRIES if max_entries is None else max_entries,
            )
        except ResponseTooLarge as exc:
            raise ResponseTooLarge(exc.message, protocol=self.protocol, url=final) from None

    # -- one request ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _exchange(
        self,
        method: str,
        target: URL,
        hdrs: dict[str, str],
        wait: float,
        allow_downgrade: bool,
        secret_headers: Iterable[str],
        *,
        ok: Iterable[int] = _SUCCESS,
        body: UploadBody | bytes | None = None,
    ) -> Iterator[tuple[requests.Response, URL]]:
        """Send ``method target`` inside the error boundary; yield ``(response, final URL)``.

        The status is checked against ``ok`` first; the response is closed afterwards.
        """
        with self._boundary(target):
            resp, final = self._request(
                method,
                target,
                headers=hdrs,
                body=body,
                timeout=wait,
                allow_downgrade=allow_downgrade,
                secret_names=tuple(secret_headers),
            )
            with contextlib.closing(resp):
                self._check_status(resp, final, ok=ok)
                yield resp, final

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
                validator = if_range_validator(meta)
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
                    match = UNSATISFIED_RANGE_RE.fullmatch(header(resp, "Content-Range") or "")
                    if match and int(match[1]) == offset:
                        self.trace("* the partial file is already complete")
                        return TransferResult(
                            url=str(target),
                            bytes=0,
                            size=offset,
                            path=sink.path,
                            resumed_from=offset,
                            details=details(resp, final, meta.get("etag")),
                        )
                    self.trace("* the partial file does not fit the remote file; starting again")
                    sink.restart()
                    offset, meta = 0, {}
                    continue
                self._check_status(resp, final, ok=(200, 206))
                return receive(
                    resp,
                    final,
                    target,
                    sink,
                    offset,
                    meta,
                    wait=self._timeout_shown,
                    trace=self.trace,
                )
        raise ProtocolError(  # pragma: no cover - the second attempt has no Range
            "server keeps refusing the requested range", protocol=self.protocol, url=target
        )


def _no_extra(kwargs: Mapping[str, Any], verb: str) -> None:
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise InvalidInput(f"unknown keyword argument(s) for HTTP {verb}: {names}")
