"""Decoding certificates for probe: the unverified (DER) path agrees with OpenSSL's."""

from __future__ import annotations

import contextlib
import datetime
import ssl
import tempfile
import warnings
from pathlib import Path

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.tlsinfo import (
    CertificateParseError,
    certificate_from_der,
    certificate_from_dict,
    fingerprint,
)

_CA = trustme.CA(organization_name="Probe Test CA")
_LEAF = _CA.issue_cert(
    "example.org",
    "*.example.org",
    "192.0.2.7",
    "2001:db8::1",
    common_name="example.org",
    organization_name="Zürich Ünits",
    organization_unit_name="Ops",
    not_before=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    not_after=datetime.datetime(2051, 6, 7, 8, 9, 10, tzinfo=datetime.timezone.utc),
)
_DER = ssl.PEM_cert_to_DER_cert(_LEAF.cert_chain_pems[0].bytes().decode("ascii"))


def test_der_decoding_matches_openssl() -> None:
    """The unverified path (cryptography) reports what OpenSSL's getpeercert() decodes."""
    pem = _LEAF.cert_chain_pems[0].bytes().decode("ascii")
    with tempfile.TemporaryDirectory() as tmp:
        leaf = Path(tmp) / "leaf.pem"
        leaf.write_text(pem)
        decoded = ssl._ssl._test_decode_cert(str(leaf))  # type: ignore[attr-defined]
    via_openssl = certificate_from_dict(decoded, _DER)
    via_der = certificate_from_der(_DER)
    assert via_der.subject == via_openssl.subject
    assert via_der.issuer == via_openssl.issuer
    assert via_der.subject_alt_names == via_openssl.subject_alt_names
    assert via_der.not_before == via_openssl.not_before
    assert via_der.not_after == via_openssl.not_after
    assert via_der.serial == via_openssl.serial
    assert via_der.subject_alt_names == [
        "DNS:example.org",
        "DNS:*.example.org",
        "IP:192.0.2.7",
        "IP:2001:db8::1",
    ]


def test_certificate_info_from_der() -> None:
    now = datetime.datetime(2050, 6, 7, 20, 0, 0, tzinfo=datetime.timezone.utc)
    info = certificate_from_der(_DER, now=now)
    assert info.subject == "O=Zürich Ünits, OU=Ops, CN=example.org"
    assert info.issuer.startswith("O=Probe Test CA")
    assert info.days_left == 364 and not info.expired and not info.not_yet_valid
    assert info.sha256 == fingerprint(_DER) and info.sha256.count(":") == 31
    later = certificate_from_der(_DER, now=now.replace(year=2052))
    assert later.expired and later.days_left < 0


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x30", b"\x30\x03\x02\x01", b"\x30\x84\xff\xff\xff\xff", _DER[:-10], b"\x00" * 64],
)
def test_malformed_input_raises_only_parse_error(blob: bytes) -> None:
    with pytest.raises(CertificateParseError):
        certificate_from_der(blob)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(_DER) - 1), st.integers(0, 255))
def test_corrupted_certificates_never_crash(position: int, value: int) -> None:
    corrupted = bytearray(_DER)
    corrupted[position] = value
    with contextlib.suppress(CertificateParseError):
        certificate_from_der(bytes(corrupted))


def test_a_hostile_certificate_makes_no_python_warning() -> None:
    """Turning the issuer's O= into C= (13 letters for a 2-letter field) makes cryptography
    warn; the probe reports the certificate and prints no Python warning."""
    organisation = bytes.fromhex("060355040a")  # OID 2.5.4.10, first in the issuer
    at = _DER.index(organisation) + len(organisation) - 1
    corrupted = bytearray(_DER)
    corrupted[at] = 0x06  # 2.5.4.6: countryName
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = certificate_from_der(bytes(corrupted))
    assert [str(w.message) for w in caught] == []
    assert info.issuer.startswith("C=Probe Test CA")
