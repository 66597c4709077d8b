"""What :func:`protoclients.probe` found out about a server: :class:`ProbeReport`.

Plain dataclasses; :meth:`ProbeReport.to_dict` gives one JSON-ready document (dates as
ISO 8601 UTC). Server-supplied text (greetings, capability names, headers, certificate
names) is kept as the server sent it here; renderers escape it before showing it
(:func:`protoclients.errors.clean_server_text`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .errors import ProtoClientError

__all__ = [
    "CapabilitySet",
    "CertificateInfo",
    "HTTPInfo",
    "LoginInfo",
    "ProbeError",
    "ProbeReport",
    "TLSInfo",
]

#: Where a set of capabilities was read.
Stage = Literal["plaintext", "before-starttls", "tls", "after-login"]

_STAGE_LABELS: dict[str, str] = {
    "plaintext": "plaintext, unauthenticated",
    "before-starttls": "before STARTTLS: plaintext, unauthenticated",
    "tls": "over TLS, unauthenticated",
    "after-login": "after login",
}


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CertificateInfo:
    """The server's (leaf) certificate.

    Attributes:
        subject, issuer: distinguished names as ``"CN=example.org, O=Example"``.
        subject_alt_names: ``["DNS:example.org", "IP:192.0.2.1"]``.
        not_before, not_after: the validity period (UTC, timezone-aware).
        days_left: whole days from the probe until ``not_after`` (negative: days since it
            expired).
        serial: the serial number, upper-case hexadecimal.
        sha256: SHA-256 fingerprint of the DER certificate, ``"AB:CD:..."``.
        expired: ``not_after`` was in the past at the time of the probe.
        not_yet_valid: ``not_before`` was in the future at the time of the probe.
    """

    subject: str
    issuer: str
    subject_alt_names: list[str]
    not_before: datetime
    not_after: datetime
    days_left: int
    serial: str
    sha256: str
    expired: bool = False
    not_yet_valid: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "subject_alt_names": list(self.subject_alt_names),
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "days_left": self.days_left,
            "serial": self.serial,
            "sha256": self.sha256,
            "expired": self.expired,
            "not_yet_valid": self.not_yet_valid,
        }


@dataclass
class TLSInfo:
    """The TLS session of the probe connection.

    Attributes:
        how: ``"implicit"`` (TLS from the first byte) or ``"starttls"`` (upgraded in-band:
            SMTP/IMAP ``STARTTLS``, POP3 ``STLS``, FTP ``AUTH TLS``).
        verified: whether the certificate chain and host name verified against the trusted
            CAs (the system's, or ``ca_file``).
        verify_error: why verification failed (``None`` when it succeeded).
        version, cipher, cipher_bits: the negotiated protocol version and cipher suite
            (``None`` when the handshake did not complete).
        certificate: the server certificate; ``None`` when verification failed and the
            probe was not asked to look anyway (``insecure=True``).
    """

    how: str
    verified: bool
    verify_error: str | None = None
    version: str | None = None
    cipher: str | None = None
    cipher_bits: int | None = None
    certificate: CertificateInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "how": self.how,
            "verified": self.verified,
            "verify_error": self.verify_error,
            "version": self.version,
            "cipher": self.cipher,
            "cipher_bits": self.cipher_bits,
            "certificate": self.certificate.to_dict() if self.certificate else None,
        }


@dataclass
class CapabilitySet:
    """What the server announced at one stage of the session.

    Attributes:
        command: what was asked: ``"EHLO"``, ``"CAPABILITY"``, ``"CAPA"`` or ``"FEAT"``.
        stage: ``"plaintext"`` (no TLS at all), ``"before-starttls"``, ``"tls"``
            (implicit TLS, or after the upgrade) or ``"after-login"``.
        encrypted: whether the connection was TLS at that point.
        authenticated: whether the client had logged in.
        items: capability name (upper-case) -> its parameters (``""`` when none).
        supported: ``False`` when the server does not implement ``command`` at all.
    """

    command: str
    stage: Stage
    encrypted: bool
    authenticated: bool
    items: dict[str, str] = field(default_factory=dict)
    supported: bool = True

    @property
    def label(self) -> str:
        """``"EHLO (before STARTTLS: plaintext, unauthenticated)"`` and the like."""
        return f"{self.command} ({_STAGE_LABELS[self.stage]})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "command": self.command,
            "stage": self.stage,
            "label": self.label,
            "encrypted": self.encrypted,
            "authenticated": self.authenticated,
            "supported": self.supported,
            "items": dict(self.items),
        }


@dataclass
class HTTPInfo:
    """The answer to the probe's ``GET``: status line and the headers worth reporting.

    Attributes:
        status, reason, version: ``200``, ``"OK"``, ``"HTTP/1.1"``.
        server: the ``Server`` header.
        location: for a redirect, where it points (made absolute; not followed).
        content_type: the ``Content-Type`` header.
        hsts: the ``Strict-Transport-Security`` header.
    """

    status: int
    reason: str
    version: str
    server: str | None = None
    location: str | None = None
    content_type: str | None = None
    hsts: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "status": self.status,
            "reason": self.reason,
            "version": self.version,
            "server": self.server,
            "location": self.location,
            "content_type": self.content_type,
            "hsts": self.hsts,
        }


@dataclass
class LoginInfo:
    """The outcome of the optional login (``login=True``).

    Attributes:
        user: the user name used.
        ok: whether the server accepted the credentials.
        mechanism: the mechanism used, when the client reports it (POP3).
    """

    user: str
    ok: bool
    mechanism: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"user": self.user, "ok": self.ok, "mechanism": self.mechanism}


@dataclass
class ProbeError:
    """The failure that ended a probe early (its class name, message and exit code)."""

    kind: str
    message: str
    exit_code: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "message": self.message, "exit_code": self.exit_code}


@dataclass
class ProbeReport:
    """Everything one probe learnt, in the order it was learnt.

    A probe that fails part-way still returns its report: what was learnt before the
    failure is kept and :attr:`error` says what went wrong (:meth:`raise_for_error` raises
    it). A certificate that does not verify is such a failure unless the probe was run
    with ``insecure=True``, in which case :attr:`tls` holds both the verification error
    and the certificate.

    Attributes:
        url: the URL probed (password removed).
        protocol: ``"http"``, ``"ftp"``, ``"smtp"``, ``"pop3"`` or ``"imap"``.
        host, port: where the probe connected.
        tls_mode: ``"implicit"``, ``"starttls"`` or ``"none"``.
        greeting: the server's greeting (FTP/SMTP/POP3/IMAP), as sent.
        capabilities: what the server announced, one :class:`CapabilitySet` per stage.
        system: the FTP ``SYST`` answer.
        http: the HTTP status and headers.
        tls: the TLS session and certificate (``None`` without TLS).
        login: the login outcome (only with ``login=True``).
        notes: hints for the reader (``"STARTTLS is offered: ..."``).
        elapsed: seconds the probe took.
        error: what ended the probe early, or ``None``.
        exception: the :class:`~protoclients.errors.ProtoClientError` behind :attr:`error`.
    """

    url: str
    protocol: str
    host: str
    port: int
    tls_mode: str
    greeting: str | None = None
    capabilities: list[CapabilitySet] = field(default_factory=list)
    system: str | None = None
    http: HTTPInfo | None = None
    tls: TLSInfo | None = None
    login: LoginInfo | None = None
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    error: ProbeError | None = None
    exception: ProtoClientError | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the probe ran to the end without an error."""
        return self.error is None

    def raise_for_error(self) -> None:
        """Raise the error that ended the probe early, if there was one."""
        if self.exception is not None:
            raise self.exception

    def fail(self, exc: ProtoClientError) -> None:
        """Record ``exc`` as the error that ended the probe."""
        self.exception = exc
        self.error = ProbeError(type(exc).__name__, str(exc), exc.exit_code)

    def add_capabilities(
        self,
        command: str,
        stage: Stage,
        items: dict[str, str] | None,
        *,
        encrypted: bool,
        authenticated: bool = False,
    ) -> CapabilitySet:
        """Record a capability set (``items=None``: the server lacks ``command``)."""
        caps = CapabilitySet(
            command=command,
            stage=stage,
            encrypted=encrypted,
            authenticated=authenticated,
            items=dict(items or {}),
            supported=items is not None,
        )
        self.capabilities.append(caps)
        return caps

    def to_dict(self) -> dict[str, Any]:
        """One JSON-ready document (``json.dumps(report.to_dict())``)."""
        return {
            "url": self.url,
            "protocol": self.protocol,
            "host": self.host,
            "port": self.port,
            "tls_mode": self.tls_mode,
            "ok": self.ok,
            "greeting": self.greeting,
            "capabilities": [caps.to_dict() for caps in self.capabilities],
            "system": self.system,
            "http": self.http.to_dict() if self.http else None,
            "tls": self.tls.to_dict() if self.tls else None,
            "login": self.login.to_dict() if self.login else None,
            "notes": list(self.notes),
            "elapsed": round(self.elapsed, 6),
            "error": self.error.to_dict() if self.error else None,
        }
