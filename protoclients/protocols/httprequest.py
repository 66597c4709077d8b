"""One HTTP request at a time, over a ``requests.Session``: the base of :class:`HTTPClient`.

:class:`HTTPRequester` owns the session (:func:`.httpsession.build_session`), sends one
request and follows its redirects by the client's rules (at most
:data:`~.httpredirects.MAX_REDIRECTS` hops; credentials and secret-looking headers only to
the original origin; Basic auth only over TLS, to loopback, or when allowed), traces
requests with secrets masked, and is the one boundary where library exceptions and bad
statuses become protoclients errors (:mod:`.httperrors`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import requests
import requests.exceptions as rex
import urllib3.exceptions as u3ex
from requests.auth import HTTPBasicAuth

from ..client import Client
from ..errors import (
    InsecureAuthError,
    InvalidInput,
    ProtoClientError,
    ProtocolError,
    TLSError,
    clean_server_text,
)
from ..options import ClientOptions
from ..urls import URL, Secret
from .httperrors import reply_text, secret_strings, status_error, translate
from .httpheaders import CONTENT_HEADERS, header, is_secret_header
from .httpredirects import MAX_REDIRECTS, REDIRECT_STATUSES, redirect_target
from .httpsession import build_session, proxies_for, verify_setting
from .httpupload import UploadBody

__all__ = ["HTTPRequester"]

# Credentials the caller gave for this very call: used (or refused) up front.
_EXPLICIT_SOURCES = frozenset({"argument", "url"})


class HTTPRequester(Client):
    """A :class:`~protoclients.client.Client` that sends HTTP requests (no verbs of its own).

    :attr:`raw` is the ``requests.Session``.
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
        self._session = build_session(self.options.retries, self.options.pin_sha256)

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

    # -- one request, with redirects -----------------------------------------------------

    def _request(
        self,
        method: str,
        url: URL,
        *,
        headers: dict[str, str],
        timeout: float,
        body: UploadBody | bytes | None = None,
        allow_downgrade: bool = False,
        secret_names: tuple[str, ...] = (),
    ) -> tuple[requests.Response, URL]:
        """Send ``method url``, following redirects by the rules in the module docstring.

        Returns the final response (streamed: the caller must close it) and its URL.
        """
        session = self._get_session()
        creds = self.credentials()
        self._secrets = secret_strings(url, headers, secret_names, creds)
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
            if isinstance(body, UploadBody) and body.tell():
                body.seek(0)
            resp = self._send_once(session, method, current, hop_headers, body, auth, timeout)
            location = header(resp, "Location")
            if resp.status_code not in REDIRECT_STATUSES or not location:
                return resp, current
            resp.close()
            hops += 1
            if hops > MAX_REDIRECTS:
                raise ProtocolError(
                    f"too many redirects (more than {MAX_REDIRECTS})",
                    protocol=self.protocol,
                    url=url,
                )
            target = redirect_target(current, location, allow_downgrade, protocol=self.protocol)
            status = resp.status_code
            if (status == 303 and method != "HEAD") or (status in {301, 302} and method == "POST"):
                method = "GET"
                body = None
                headers = {k: v for k, v in headers.items() if k.lower() not in CONTENT_HEADERS}
            elif isinstance(body, UploadBody) and not body.rewindable:
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

    def _send_once(
        self,
        session: requests.Session,
        method: str,
        url: URL,
        headers: dict[str, str],
        body: UploadBody | bytes | None,
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
                verify=verify_setting(self.options),
                proxies=proxies_for(url),
            )
        if tracing:
            self.trace(f"< {resp.status_code} {clean_server_text(resp.reason or '', 80)}")
            for name, value in resp.headers.items():
                secret = name.lower() == "set-cookie" or is_secret_header(name)
                self.trace(f"< {name}: {'***' if secret else clean_server_text(value, 200)}")
        return resp

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
            raise translate(
                exc, self._where, protocol=self.protocol, wait=self._timeout_shown
            ) from None

    def _check_status(self, resp: requests.Response, url: URL, ok: Iterable[int]) -> None:
        if resp.status_code in ok:
            return
        raise self._status_error(resp, url)

    def _status_error(self, resp: requests.Response, url: URL) -> ProtoClientError:
        reply = reply_text(resp, self._secrets)
        if resp.status_code == 401 and self._credentials is not None and self._held_back:
            try:
                self.ensure_safe_to_send_password(encrypted=url.scheme == "https")
            except InsecureAuthError as exc:
                exc.reply = clean_server_text(reply)
                return exc
        return status_error(
            resp,
            url,
            protocol=self.protocol,
            reply=reply,
            creds=self._credentials,
            creds_apply=url.origin == self.url.origin,
        )
