"""The ``requests.Session`` behind an HTTP client: adapter, retries, TLS verification, proxies.

* :func:`build_session` makes a session that never reads the environment (``trust_env``
  off: no ``~/.netrc``, CVE-2024-47081), keeps no cookies, and mounts one adapter whose
  pools send and receive in :data:`SOCKET_BLOCKSIZE` blocks and retry idempotent requests
  (:data:`RETRY_METHODS`) on connection failures and :data:`RETRY_STATUSES` with jittered
  exponential backoff, honouring ``Retry-After`` up to :data:`RETRY_AFTER_CAP` seconds.
* :func:`proxies_for` reads the proxy environment variables explicitly, per request;
  loopback hosts never go through a proxy.
"""

from __future__ import annotations

from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from ..options import ClientOptions
from ..urls import URL
from .httpbounded import POOL_CLASSES
from .httplogs import install_log_redaction

__all__ = [
    "RETRY_AFTER_CAP",
    "RETRY_METHODS",
    "RETRY_STATUSES",
    "SOCKET_BLOCKSIZE",
    "build_session",
    "proxies_for",
    "verify_setting",
]

#: Socket block size of the connection pool (urllib3 ``blocksize``): bytes per ``send``.
SOCKET_BLOCKSIZE = 1024 * 1024
#: Longest ``Retry-After`` honoured, in seconds (a longer one is shortened to this).
RETRY_AFTER_CAP = 30.0
#: Methods retried automatically (idempotent ones; never POST).
RETRY_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Statuses that trigger a retry of an idempotent request.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class _BlockSizeAdapter(HTTPAdapter):
    """An adapter whose connections send and receive in large blocks."""

    def __init__(self, *, blocksize: int, max_retries: Retry, pin: str | None = None) -> None:
        self._blocksize = blocksize  # set first: HTTPAdapter.__init__ builds the pool
        self._pin = pin
        super().__init__(max_retries=max_retries)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("blocksize", self._blocksize)
        if self._pin is not None:
            # urllib3 checks it after every handshake (it then counts as verified).
            pool_kwargs["assert_fingerprint"] = self._pin
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        # Responses whose headers have a deadline and body a progress rule (HOS-08).
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("blocksize", self._blocksize)
        if self._pin is not None:
            proxy_kwargs["assert_fingerprint"] = self._pin
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(POOL_CLASSES)
        return manager


class _CappedRetry(Retry):
    """urllib3 Retry whose honoured ``Retry-After`` is capped."""

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, RETRY_AFTER_CAP)


def build_session(retries: int, pin_sha256: str | None = None) -> requests.Session:
    """A session with the protoclients adapter mounted for ``http://`` and ``https://``."""
    from .. import __version__

    install_log_redaction()  # urllib3 logs request targets, query strings included
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc, no REQUESTS_CA_BUNDLE: proxies done by hand
    session.headers["User-Agent"] = f"protoclients/{__version__}"
    # No cookie engine (like curl without -b): cookies ignore ports, origins do not.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    retry = _CappedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
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
    adapter = _BlockSizeAdapter(blocksize=SOCKET_BLOCKSIZE, max_retries=retry, pin=pin_sha256)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def verify_setting(options: ClientOptions) -> bool | str:
    """The ``verify=`` argument of a request: off, a CA file, or the default trust store.

    With a pinned fingerprint the CA check is off and the adapter checks the pin instead.
    """
    if options.insecure or options.pin_sha256 is not None:
        return False
    return options.ca_file or True


def proxies_for(url: URL) -> dict[str, str]:
    """The proxies the environment names for ``url`` (none for loopback hosts)."""
    if url.is_loopback:
        return {}
    proxies: dict[str, str] = requests.utils.get_environ_proxies(url.geturl_without_credentials())
    return proxies
