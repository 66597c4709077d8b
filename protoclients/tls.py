"""TLS contexts: verified by default, a custom CA file on request, an explicit opt-out.

The standard-library mail and FTP clients use an *unverified* context when none is
passed (gh-91826). Every protoclients client passes one built here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
from collections.abc import Callable, Iterator

from .errors import CertificateError, ProtoClientError, TLSError
from .options import ClientOptions

__all__ = [
    "check_tls_socket",
    "create_context",
    "plaintext_phase_guard",
    "tls_error",
    "withhold_server_text",
]

log = logging.getLogger("protoclients.tls")


def create_context(options: ClientOptions) -> ssl.SSLContext:
    """A client context: system CAs (or ``options.ca_file``), hostname check, TLS >= 1.2.

    With ``options.insecure`` the certificate is not checked, and a warning is logged.
    """
    try:
        context = ssl.create_default_context(cafile=options.ca_file)
    except (FileNotFoundError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load CA file {options.ca_file!r}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.insecure:
        log.warning("TLS certificate verification is DISABLED (insecure=True)")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def check_tls_socket(sock: object, options: ClientOptions) -> None:
    """Assert that ``sock`` really is TLS >= 1.2 with a verified peer (unless insecure)."""
    if not isinstance(sock, ssl.SSLSocket):
        raise TLSError("connection is not encrypted after the TLS upgrade")
    version = sock.version()
    if version not in {"TLSv1.2", "TLSv1.3"}:
        raise TLSError(f"negotiated {version}, which is too old")
    if not options.insecure and not sock.getpeercert():
        raise CertificateError("server certificate was not verified")


def tls_error(exc: ssl.SSLError | ssl.CertificateError, **context: object) -> TLSError:
    """Translate an ``ssl`` exception into :class:`TLSError`/:class:`CertificateError`."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return CertificateError(
            f"certificate verification failed: {reason}",
            **context,  # type: ignore[arg-type]
        )
    if isinstance(exc, ssl.CertificateError):
        return CertificateError(f"certificate error: {exc}", **context)  # type: ignore[arg-type]
    reason = getattr(exc, "reason", None) or str(exc)
    return TLSError(f"TLS failed: {reason}", **context)  # type: ignore[arg-type]


# A bytes literal in a message: library messages quote server bytes this way
# (``malformed response line: b'...'``).
_QUOTED = re.compile(r"b'(?:[^'\\]|\\.)*'" "|" r'b"(?:[^"\\]|\\.)*"')


def withhold_server_text(exc: ProtoClientError) -> None:
    """Remove what the server said from ``exc`` (its reply and quoted bytes in the message).

    Used for errors raised before a STARTTLS upgrade completed: that text came over an
    unauthenticated channel (anyone on the path could have written it), so it is never
    shown (RELIABILITY.md TLS-10, EAST "UI spoofing").
    """
    message = _QUOTED.sub("<...>", exc.message)
    if exc.reply is None and message == exc.message:
        return
    exc.reply = None
    exc.message = message + " (the server's text is not shown: it was not protected by TLS)"
    exc.args = (exc.message,)


@contextlib.contextmanager
def plaintext_phase_guard(active: Callable[[], bool]) -> Iterator[None]:
    """Apply :func:`withhold_server_text` to errors raised while ``active()`` is true."""
    try:
        yield
    except ProtoClientError as exc:
        if active():
            withhold_server_text(exc)
        raise
