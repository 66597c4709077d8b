"""TLS contexts: verified by default, a custom CA file on request, an explicit opt-out.

The standard-library mail and FTP clients use an *unverified* context when none is
passed (gh-91826). Every protoclients client passes one built here.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import ssl
from collections.abc import Callable, Iterator

from .errors import CertificateError, ProtoClientError, TLSError
from .options import ClientOptions

__all__ = [
    "check_pin",
    "check_tls_socket",
    "create_context",
    "plaintext_phase_guard",
    "tls_error",
    "withhold_server_text",
]

log = logging.getLogger("protoclients.tls")


def create_context(options: ClientOptions) -> ssl.SSLContext:
    """A client context: system CAs (or ``options.ca_file``), hostname check, TLS >= 1.2.

    With ``options.pin_sha256`` the certificate must have that SHA-256 fingerprint instead
    (checked in every handshake). With ``options.insecure`` the certificate is not checked,
    and a warning is logged.
    """
    try:
        context = ssl.create_default_context(cafile=options.ca_file)
    except (FileNotFoundError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load CA file {options.ca_file!r}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.pin_sha256 is not None:
        # The fingerprint replaces CA and host-name checks: every socket this context
        # wraps (control, data, after STARTTLS) checks it right after its handshake.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.sslsocket_class = _pinned_socket_class(options.pin_sha256)
    elif options.insecure:
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
    if options.pin_sha256 is not None:
        check_pin(sock.getpeercert(binary_form=True), options.pin_sha256)
    elif not options.insecure and not sock.getpeercert():
        raise CertificateError("server certificate was not verified")


def check_pin(der: bytes | None, pin: str) -> None:
    """Raise :class:`CertificateError` unless ``der`` has the SHA-256 fingerprint ``pin``."""
    got = hashlib.sha256(der or b"").hexdigest()
    if not der or not hmac.compare_digest(got, pin):
        raise CertificateError(
            "server certificate does not match the pinned SHA-256 fingerprint "
            f"(it has {_colons(got) if der else 'no certificate'})"
        )


def _colons(hexdigest: str) -> str:
    return ":".join(hexdigest[i : i + 2] for i in range(0, len(hexdigest), 2)).upper()


def _pinned_socket_class(pin: str) -> type[ssl.SSLSocket]:
    """An ``SSLSocket`` class that checks ``pin`` after each handshake."""

    class PinnedSSLSocket(ssl.SSLSocket):
        def do_handshake(self, block: bool = False) -> None:
            super().do_handshake(block)
            der = self.getpeercert(binary_form=True)
            if not der or not hmac.compare_digest(hashlib.sha256(der).hexdigest(), pin):
                got = _colons(hashlib.sha256(der).hexdigest()) if der else "no certificate"
                error = ssl.SSLCertVerificationError(
                    1, "certificate does not match the pinned SHA-256 fingerprint"
                )
                error.verify_message = (
                    f"certificate does not match the pinned SHA-256 fingerprint (it has {got})"
                )
                error.verify_code = 0
                raise error

    return PinnedSSLSocket


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
