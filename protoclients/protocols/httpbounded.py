"""HTTP responses read under a deadline (status line, headers) and a progress rule (body).

``http.client`` reads the status line and headers through ``sock.makefile("rb")`` with the
socket's per-``recv`` timeout only, so a server dribbling its headers one byte at a time
holds a ``requests`` call for as long as it likes (HOS-08). The connection pools mounted by
:func:`.httpsession.build_session` use :class:`BoundedResponse` instead, whose reader is a
:class:`~.deadlineio.DeadlineIO`:

* the status line and all headers must arrive within the read timeout of the request;
* the body must keep up the minimum progress (:data:`~.deadlineio.MIN_PROGRESS_BYTES`
  per timeout window; a silent server is cut off after one timeout, as before).

A :class:`TimeoutError` raised by either rule reaches urllib3 as a read timeout, which the
HTTP error boundary reports as :class:`~protoclients.errors.OperationTimeoutError`.
"""

from __future__ import annotations

import http.client
import socket
import time
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .deadlineio import DeadlineIO, ProgressWatch, open_reader

__all__ = ["POOL_CLASSES", "BoundedResponse"]


class BoundedResponse(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` whose headers have a deadline and body a progress rule."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self._bounded: DeadlineIO | None = None
        # A plain or TLS socket (not urllib3's TLS-in-TLS transport): swap in the bounded
        # reader for the one http.client just made.
        if isinstance(sock, socket.socket):
            self.fp.close()
            self.fp, self._bounded = open_reader(sock, sock.gettimeout())

    def begin(self) -> None:
        raw = self._bounded
        if raw is None:
            super().begin()
            return
        timeout = raw.per_recv
        raw.deadline = None if timeout is None else time.monotonic() + timeout
        try:
            super().begin()
        finally:
            raw.deadline = None
            raw.watch = None if timeout is None else ProgressWatch(timeout)


class _HTTPConnection(HTTPConnection):
    response_class = BoundedResponse


class _HTTPSConnection(HTTPSConnection):
    response_class = BoundedResponse


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


#: ``PoolManager.pool_classes_by_scheme`` for pools whose responses are bounded.
POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {
    "http": _HTTPConnectionPool,
    "https": _HTTPSConnectionPool,
}
