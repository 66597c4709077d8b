"""Describe a TLS connection: version, cipher and the server certificate (:class:`TLSInfo`).

For a verified connection the certificate fields come from
:meth:`ssl.SSLSocket.getpeercert` (OpenSSL's decoding); for an unverified one (the caller
chose ``insecure=True``) Python only gives the DER bytes, which the ``cryptography`` package
decodes when it is installed (it comes with the ``servers`` extra; without it the report
carries the fingerprint and a note). The SHA-256 fingerprint is always computed from the DER
bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import ssl
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from .probereport import CertificateInfo, TLSInfo

__all__ = [
    "CertificateParseError",
    "certificate_from_der",
    "certificate_from_dict",
    "fingerprint",
    "tls_info",
]

# OpenSSL's long attribute names (as getpeercert() gives them) -> the short ones.
_LONG_NAMES = {
    "commonName": "CN",
    "surname": "SN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "streetAddress": "street",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "givenName": "GN",
    "domainComponent": "DC",
    "userId": "UID",
}


class CertificateParseError(ValueError):
    """The DER bytes could not be decoded (or no decoder is installed)."""


_SAN_KINDS = {"DNS": "DNS", "IP Address": "IP", "email": "email", "URI": "URI"}
_DAY = 86400


def fingerprint(der: bytes) -> str:
    """SHA-256 of ``der`` as upper-case hex pairs joined with ``:`` (as OpenSSL prints it)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _validity(not_before: datetime, not_after: datetime, now: datetime | None) -> dict[str, Any]:
    """``days_left`` (whole days, truncated towards zero), ``expired``, ``not_yet_valid``."""
    now = now or datetime.now(timezone.utc)
    return {
        "days_left": int((not_after - now).total_seconds() / _DAY),
        "expired": not_after < now,
        "not_yet_valid": now < not_before,
    }


def _dn(pairs: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{name}={value}" for name, value in pairs)


def _dict_pairs(rdns: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for rdn in rdns or ():
        for name, value in rdn:
            short = _LONG_NAMES.get(str(name)) or str(name)
            pairs.append((short, str(value)))
    return pairs


def _alt_name(kind: str, value: str) -> str:
    short = _SAN_KINDS.get(kind, kind)
    if short == "IP":
        # OpenSSL writes IPv6 uncompressed (0:0:0:0:0:0:0:1); show it as Python does (::1).
        with contextlib.suppress(ValueError):
            value = str(ipaddress.ip_address(value.strip()))
    return f"{short}:{value}"


def _from_openssl_time(text: str) -> datetime:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), timezone.utc)


def certificate_from_dict(
    cert: dict[str, Any], der: bytes, *, now: datetime | None = None
) -> CertificateInfo:
    """A :class:`CertificateInfo` from ``getpeercert()`` (verified) and the DER bytes."""
    sans: Sequence[tuple[str, str]] = cert.get("subjectAltName", ())
    not_before = _from_openssl_time(cert["notBefore"])
    not_after = _from_openssl_time(cert["notAfter"])
    return CertificateInfo(
        subject=_dn(_dict_pairs(cert.get("subject"))),
        issuer=_dn(_dict_pairs(cert.get("issuer"))),
        subject_alt_names=[_alt_name(str(kind), str(value)) for kind, value in sans],
        not_before=not_before,
        not_after=not_after,
        serial=str(cert.get("serialNumber", "")).upper(),
        sha256=fingerprint(der),
        **_validity(not_before, not_after, now),
    )


def certificate_from_der(der: bytes, *, now: datetime | None = None) -> CertificateInfo:
    """A :class:`CertificateInfo` decoded from DER bytes (an unverified certificate).

    Uses the ``cryptography`` package; raises :class:`CertificateParseError` when it is not
    installed or cannot read the bytes.
    """
    try:
        from cryptography import x509
    except ImportError:
        raise CertificateParseError(
            "install the 'cryptography' package to decode unverified certificates"
        ) from None
    # A hostile certificate can make cryptography warn (e.g. a country name of the wrong
    # length); the report is what the user sees, not a Python warning on stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _describe(x509.load_der_x509_certificate(der), der, now)
        except Exception as exc:  # cryptography raises several unrelated types
            raise CertificateParseError(
                f"not a DER X.509 certificate: {type(exc).__name__}"
            ) from None


def _describe(cert: Any, der: bytes, now: datetime | None) -> CertificateInfo:
    """A :class:`CertificateInfo` from a ``cryptography`` certificate object."""
    from cryptography import x509

    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [f"DNS:{n}" for n in alt.get_values_for_type(x509.DNSName)]
        sans += [f"IP:{ip}" for ip in alt.get_values_for_type(x509.IPAddress)]
        sans += [f"email:{n}" for n in alt.get_values_for_type(x509.RFC822Name)]
        sans += [f"URI:{n}" for n in alt.get_values_for_type(x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        sans = []
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc

    def dn(name: x509.Name) -> str:
        return _dn((a.rfc4514_attribute_name, str(a.value)) for a in name)

    serial = f"{cert.serial_number:X}"
    return CertificateInfo(
        subject=dn(cert.subject),
        issuer=dn(cert.issuer),
        subject_alt_names=sans,
        not_before=not_before,
        not_after=not_after,
        serial=serial if len(serial) % 2 == 0 else "0" + serial,
        sha256=fingerprint(der),
        **_validity(not_before, not_after, now),
    )


def tls_info(
    sock: ssl.SSLSocket, *, how: str, verified: bool, verify_error: str | None = None
) -> tuple[TLSInfo, str | None]:
    """Describe the TLS session of ``sock``.

    ``verified`` says whether the context verified the peer (``CERT_REQUIRED`` with a host
    name check). Returns the :class:`TLSInfo` and a note for the reader when there is no
    certificate to show or it could not be decoded (the note then carries its SHA-256
    fingerprint), else ``None``.
    """
    cipher = sock.cipher()
    info = TLSInfo(
        how=how,
        verified=verified,
        verify_error=verify_error,
        version=sock.version(),
        cipher=cipher[0] if cipher else None,
        cipher_bits=cipher[2] if cipher else None,
    )
    der = sock.getpeercert(binary_form=True)
    if not der:
        return info, "the server sent no certificate"
    decoded = sock.getpeercert() if verified else None
    try:
        if decoded:
            info.certificate = certificate_from_dict(decoded, der)
        else:
            info.certificate = certificate_from_der(der)
    except (CertificateParseError, KeyError, ValueError) as exc:
        return info, f"the certificate could not be decoded ({exc}); SHA-256 {fingerprint(der)}"
    return info, None
