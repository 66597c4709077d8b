"""TLS-07: bad server certificates, implicit TLS and after STARTTLS (gh-91826: the stdlib
clients do not verify by default; msmtp ``tls_trust_file`` / ``tls_fingerprint``).

Certificates are generated per test session: self-signed, expired, not yet valid, wrong
host name, unknown CA, and a TLS 1.0-only server.  The client raises
:class:`CertificateError` (or :class:`TLSError` for the protocol version) with the reason,
and no credential byte leaves it.  Only ``ca_file=``, a pin or an explicit ``insecure=True``
(with a warning) change this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from protoclients_fixtures import CertVariants, HostileServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp
from protoclients_fixtures.certs import BAD_VARIANTS

from protoclients.errors import AuthenticationError, CertificateError, TLSError

pytestmark = pytest.mark.timeout(15)

Make = Callable[..., HostileServer]

REASONS = {
    "self_signed": "self-signed|self signed",
    "expired": "expired",
    "not_yet_valid": "not yet valid",
    "wrong_host": "mismatch|not valid for",
    "unknown_ca": "local issuer|unknown ca|unable to get",
    "weak": "protocol|version",
}
HTTP_REPLY = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=x\r\nContent-Length: 0\r\n\r\n"
MODES = [(proto, "implicit") for proto in (*hp.STARTTLS_PROTOCOLS, "http")] + [
    (proto, "starttls") for proto in hp.STARTTLS_PROTOCOLS
]


def _server(pc_hostile: Make, proto: str, mode: str, context: object, after: list[h.Step]) -> HostileServer:
    if mode == "implicit":
        return pc_hostile(after, tls_context=context, implicit_tls=True)
    return pc_hostile(
        [*hp.until_starttls(proto), h.send(hp.go_ahead(proto)), h.start_tls(context), *after]
    )


def _drive(proto: str, mode: str, srv: HostileServer, **options: object) -> object:
    if mode == "implicit":
        return hp.drive(proto, srv, scheme=proto + "s", **options)
    return hp.drive(proto, srv, tls="starttls", **options)


@pytest.mark.parametrize("variant", BAD_VARIANTS)
@pytest.mark.parametrize(("proto", "mode"), MODES)
def test_TLS_07_bad_certificate_is_refused(
    proto: str, mode: str, variant: str, pc_hostile: Make, pc_ca: TestCA, pc_certs: CertVariants
) -> None:
    cert = pc_certs.get(variant)
    after = [h.send(hp.greeting(proto))] if mode == "implicit" and proto != "http" else []
    srv = _server(pc_hostile, proto, mode, cert.server_context(), after)
    expected = TLSError if variant == "weak" else CertificateError
    with pytest.raises(expected, match=f"(?i){REASONS[variant]}") as info:
        _drive(proto, mode, srv, ca_file=pc_ca.ca_file)
    assert info.value.exit_code == 4
    assert srv.wait(5)
    assert not srv.tls_handshake
    assert srv.received_tls == b""
    assert hp.problems(srv, proto, starttls_last=mode == "starttls") == []


@pytest.mark.parametrize(("proto", "mode"), MODES)
def test_TLS_07_valid_certificate_from_ca_file_is_accepted(
    proto: str, mode: str, pc_hostile: Make, pc_ca: TestCA, pc_certs: CertVariants
) -> None:
    # The control case: the same server with a good certificate gets the login (refused).
    if proto == "http":
        after = [h.expect(rb"^GET "), h.expect(rb"^$", skip_other=True), h.send(HTTP_REPLY)]
    elif mode == "implicit":
        after = [*hp.implicit_hello(proto), *hp.login_refused(proto, b"no")]
    else:
        after = [*hp.tls_hello(proto), *hp.login_refused(proto, b"no")]
    srv = _server(pc_hostile, proto, mode, pc_certs.get("valid").server_context(), after)
    with pytest.raises(AuthenticationError):
        _drive(proto, mode, srv, ca_file=pc_ca.ca_file)
    assert srv.wait(5)
    assert srv.tls_handshake


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_07_insecure_is_an_explicit_opt_out_with_a_warning(
    proto: str, pc_hostile: Make, pc_certs: CertVariants, caplog: pytest.LogCaptureFixture
) -> None:
    after = [*hp.implicit_hello(proto), *hp.login_refused(proto, b"no")]
    srv = _server(pc_hostile, proto, "implicit", pc_certs.get("self_signed").server_context(),
                  after)
    with caplog.at_level(logging.WARNING), pytest.raises(AuthenticationError):
        _drive(proto, "implicit", srv, insecure=True)
    assert srv.tls_handshake
    assert any("DISABLED" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_07_system_store_does_not_trust_the_test_ca(
    proto: str, pc_hostile: Make, pc_certs: CertVariants
) -> None:
    # Without ca_file the system CAs decide: a private CA's certificate is refused.
    srv = _server(pc_hostile, proto, "implicit", pc_certs.get("valid").server_context(),
                  [h.send(hp.greeting(proto))])
    with pytest.raises(CertificateError):
        _drive(proto, "implicit", srv)
    assert srv.wait(5)
    assert hp.problems(srv, proto) == []
