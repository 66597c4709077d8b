"""Connection options shared by every protocol client."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput
from .registry import TLS_MODES, TLSMode

__all__ = ["DEFAULT_TIMEOUT", "ClientOptions", "normalise_pin"]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_MEMORY = 64 * 1024 * 1024


@dataclass(frozen=True)
class ClientOptions:
    """Options every client understands. Pass them as keyword arguments to
    :func:`protoclients.connect` (or any one-shot verb), or build one and pass ``options=``.

    Attributes:
        timeout: seconds allowed for connecting and for each network wait.
        ca_file: a PEM file of CA certificates to trust instead of the system store.
        insecure: skip certificate verification (lab use only; a warning is logged).
        tls: ``"implicit"``, ``"starttls"`` or ``"none"``; ``None`` takes the scheme's default
            (``https``/``ftps``... implicit, ``http``/``ftp``... none).
        allow_insecure_auth: allow sending a password over an unencrypted link to a host
            that is not loopback. Off by default.
        username: user name to log in with, overriding the one in the URL.
        netrc_file: the netrc file to read (default: ``$NETRC`` or ``~/.netrc``).
        netrc_default: allow the netrc ``default`` entry to supply credentials.
        use_keyring: look up passwords in the system keyring.
        retries: how many times an idempotent operation is retried after a transient failure.
        max_memory: the largest body ``fetch`` returns in memory (``dest=None``).
        trace: a callable that receives protocol trace lines, with secrets redacted.
        pin_sha256: the SHA-256 fingerprint of the server's certificate (64 hex digits,
            colons allowed, as ``openssl x509 -fingerprint -sha256`` prints it). The
            certificate must match it exactly; it *replaces* CA and host-name verification
            (like msmtp's ``tls_fingerprint``), for self-signed lab servers.
    """

    timeout: float = DEFAULT_TIMEOUT
    ca_file: str | None = None
    insecure: bool = False
    tls: TLSMode | None = None
    allow_insecure_auth: bool = False
    username: str | None = None
    netrc_file: str | None = None
    netrc_default: bool = False
    use_keyring: bool = True
    retries: int = 2
    max_memory: int = DEFAULT_MAX_MEMORY
    trace: Callable[[str], None] | None = None
    pin_sha256: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise InvalidInput(
                f"timeout must be a positive number of seconds, not {self.timeout!r}"
            )
        if self.tls is not None and self.tls not in TLS_MODES:
            raise InvalidInput(f"tls must be one of {', '.join(TLS_MODES)}, not {self.tls!r}")
        if self.retries < 0:
            raise InvalidInput("retries must be 0 or more")
        if self.max_memory <= 0:
            raise InvalidInput("max_memory must be positive")
        if self.pin_sha256 is not None:
            object.__setattr__(self, "pin_sha256", normalise_pin(self.pin_sha256))

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """Names of all option fields."""
        return frozenset(f.name for f in dataclasses.fields(cls))

    @classmethod
    def split(cls, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split keyword arguments into (option fields, everything else)."""
        names = cls.field_names()
        opts = {k: v for k, v in kwargs.items() if k in names}
        rest = {k: v for k, v in kwargs.items() if k not in names}
        return opts, rest


def normalise_pin(pin: str) -> str:
    """``"AB:CD:..."`` or ``"abcd..."`` -> 64 lower-case hex digits; anything else is refused."""
    text = pin.strip().replace(":", "").lower()
    if text.startswith("sha256/") or text.startswith("sha256:"):
        text = text[7:]
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInput("pin_sha256 must be a SHA-256 fingerprint: 64 hexadecimal digits")
    return text
