"""protoclients.probe() against every local server: greeting, capabilities per stage, TLS."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme

import protoclients as pc
from protoclients.probereport import ProbeReport
from protoclients.tlsinfo import fingerprint

pytestmark = pytest.mark.timeout(30)


def _leaf_der(ca: Any) -> bytes:
    chain = Path(ca.cert_files()[0]).read_text("ascii")
    first = chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return ssl.PEM_cert_to_DER_cert(first)


def _with_user(url: str, user: str = "alice") -> str:
    return url.replace("://", f"://{user}@", 1)


def _stages(report: ProbeReport) -> list[str]:
    return [caps.stage for caps in report.capabilities]


def _check_certificate(report: ProbeReport, ca: Any) -> None:
    assert report.tls is not None and report.tls.certificate is not None
    cert = report.tls.certificate
    assert {"DNS:localhost", "IP:127.0.0.1", "IP:::1"} <= set(cert.subject_alt_names)
    assert "protoclients test CA" in cert.issuer
    assert cert.days_left > 365
    assert cert.not_before < datetime.datetime.now(datetime.timezone.utc) < cert.not_after
    assert cert.sha256 == fingerprint(_leaf_der(ca))
    assert report.tls.version in {"TLSv1.2", "TLSv1.3"}
    assert report.tls.cipher and report.tls.cipher_bits


def _json_roundtrip(report: ProbeReport) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(report.to_dict()))
    return doc


# -- HTTP ------------------------------------------------------------------------------------


def test_http_status_server_and_no_tls(pc_http_server: Any) -> None:
    report = pc.probe(pc_http_server.url, timeout=10)
    assert report.ok, report.error
    assert report.protocol == "http" and report.tls is None and report.tls_mode == "none"
    assert report.http is not None and report.http.status == 200
    assert report.http.server and "Werkzeug" in report.http.server
    assert report.greeting is None and report.capabilities == []
    assert any("no TLS" in note for note in report.notes)
    assert pc_http_server.requests[-1].method == "GET"


def test_http_redirect_location_is_reported_not_followed(pc_http_server: Any) -> None:
    pc_http_server.add_redirect("/old", "/new/place", code=301)
    report = pc.probe(pc_http_server.url + "old", timeout=10)
    assert report.http is not None and report.http.status == 301
    assert report.http.location == pc_http_server.url + "new/place"
    assert [r.path for r in pc_http_server.requests] == ["/old"]


def test_https_verified_certificate(pc_https_server: Any, pc_ca: Any) -> None:
    report = pc.probe(pc_https_server.url, ca_file=pc_ca.ca_file, timeout=10)
    assert report.ok, report.error
    assert report.tls is not None and report.tls.verified and report.tls.how == "implicit"
    assert report.tls.verify_error is None
    _check_certificate(report, pc_ca)
    assert report.http is not None and report.http.status == 200
    doc = _json_roundtrip(report)
    assert doc["tls"]["certificate"]["sha256"] == report.tls.certificate.sha256  # type: ignore[union-attr]
    assert doc["tls"]["certificate"]["not_after"].endswith("Z")


def test_https_unverified_certificate_is_an_error_without_details(pc_https_server: Any) -> None:
    report = pc.probe(pc_https_server.url, timeout=10)  # the test CA is not trusted
    assert not report.ok
    assert report.error is not None and report.error.kind == "CertificateError"
    assert report.error.exit_code == 4
    assert report.tls is not None and not report.tls.verified
    assert report.tls.verify_error and "verif" in report.tls.verify_error
    assert report.tls.certificate is None and report.http is None
    assert any("insecure" in note for note in report.notes)
    with pytest.raises(pc.CertificateError):
        report.raise_for_error()
    assert pc_https_server.requests == []  # nothing was sent over the unverified link


def test_https_insecure_reports_the_failure_and_the_certificate(
    pc_https_server: Any, pc_ca: Any
) -> None:
    report = pc.probe(pc_https_server.url, insecure=True, timeout=10)
    assert report.ok, report.error
    assert report.tls is not None and not report.tls.verified
    assert report.tls.verify_error and "verif" in report.tls.verify_error
    _check_certificate(report, pc_ca)
    assert report.http is not None and report.http.status == 200


def test_verified_and_unverified_certificates_read_alike(pc_https_server: Any, pc_ca: Any) -> None:
    # Verified: the fields come from getpeercert(); unverified: from the DER reader.
    verified = pc.probe(pc_https_server.url, ca_file=pc_ca.ca_file, timeout=10)
    blind = pc.probe(pc_https_server.url, insecure=True, timeout=10)
    assert verified.tls and blind.tls and verified.tls.certificate and blind.tls.certificate
    a, b = verified.tls.certificate.to_dict(), blind.tls.certificate.to_dict()
    a.pop("days_left"), b.pop("days_left")
    assert a == b


def test_insecure_with_a_trusted_certificate_says_verified(
    pc_https_server: Any, pc_ca: Any
) -> None:
    report = pc.probe(pc_https_server.url, insecure=True, ca_file=pc_ca.ca_file, timeout=10)
    assert report.tls is not None and report.tls.verified and report.tls.verify_error is None


def test_http_starttls_and_mismatched_tls_are_refused(pc_http_server: Any) -> None:
    with pytest.raises(pc.InvalidInput, match="STARTTLS"):
        pc.probe(pc_http_server.url, tls="starttls")
    with pytest.raises(pc.InvalidInput):
        pc.probe(pc_http_server.url, tls="implicit")
    with pytest.raises(pc.InvalidInput, match="bogus"):
        pc.probe(pc_http_server.url, bogus=1)


# -- FTP -------------------------------------------------------------------------------------


def test_ftp_plain_feat_and_syst_without_login(pc_ftp_server: Any) -> None:
    report = pc.probe(pc_ftp_server.url, timeout=10)
    assert report.ok, report.error
    assert report.greeting and report.greeting.startswith("220")
    assert _stages(report) == ["plaintext"]
    feat = report.capabilities[0]
    assert feat.command == "FEAT" and not feat.encrypted and not feat.authenticated
    assert "SIZE" in feat.items and "MLST" in feat.items
    assert report.system and "UNIX" in report.system
    assert report.tls is None and report.login is None
    assert not any(c.upper().startswith(("USER", "PASS")) for c in pc_ftp_server.commands)


def test_ftp_explicit_tls_before_and_after_auth_tls(pc_ftps_server: Any, pc_ca: Any) -> None:
    plain = pc.probe(pc_ftps_server.url, timeout=10)
    assert any("AUTH TLS is offered" in note for note in plain.notes)
    report = pc.probe(pc_ftps_server.url, tls="starttls", ca_file=pc_ca.ca_file, timeout=10)
    assert report.ok, report.error
    assert _stages(report) == ["before-starttls", "tls"]
    before, after = report.capabilities
    assert not before.encrypted and after.encrypted
    assert "TLS" in before.items["AUTH"]
    assert report.tls is not None and report.tls.how == "starttls" and report.tls.verified
    _check_certificate(report, pc_ca)


def test_ftp_implicit_tls(pc_ftps_implicit_server: Any, pc_ca: Any) -> None:
    report = pc.probe(pc_ftps_implicit_server.url, ca_file=pc_ca.ca_file, timeout=10)
    assert report.ok, report.error
    assert report.tls_mode == "implicit" and _stages(report) == ["tls"]
    assert report.capabilities[0].encrypted
    assert report.tls is not None and report.tls.how == "implicit"
    _check_certificate(report, pc_ca)


def test_ftp_starttls_required_but_refused_keeps_what_was_learnt(pc_ftp_server: Any) -> None:
    report = pc.probe(pc_ftp_server.url, tls="starttls", timeout=10)
    assert not report.ok
    assert isinstance(report.exception, pc.TLSRequiredError)
    assert report.greeting and _stages(report) == ["before-starttls"]
    assert report.tls is None


def test_ftp_login_reports_features_after_login(pc_ftps_server: Any, pc_ca: Any) -> None:
    user, password = next(iter(pc_ftps_server.users.items()))
    report = pc.probe(
        _with_user(pc_ftps_server.url, user),
        login=True,
        password=password,
        tls="starttls",
        ca_file=pc_ca.ca_file,
        timeout=10,
    )
    assert report.ok, report.error
    assert report.login is not None and report.login.ok and report.login.user == user
    assert _stages(report) == ["before-starttls", "tls", "after-login"]
    assert report.capabilities[-1].authenticated
    assert password not in json.dumps(report.to_dict())


# -- SMTP ------------------------------------------------------------------------------------


def test_smtp_plain_says_starttls_is_offered(pc_mail: Any) -> None:
    report = pc.probe(pc_mail.smtp_url, timeout=10)
    assert report.ok, report.error
    assert report.greeting and report.greeting.startswith("220")
    assert _stages(report) == ["plaintext"]
    assert "STARTTLS" in report.capabilities[0].items
    assert report.tls is None
    assert any("STARTTLS is offered" in note for note in report.notes)
    assert pc_mail.smtp_received == []


def test_smtp_starttls_capabilities_before_and_after(pc_mail: Any, pc_ca: Any) -> None:
    report = pc.probe(pc_mail.smtp_url, tls="starttls", ca_file=pc_ca.ca_file, timeout=10)
    assert report.ok, report.error
    assert _stages(report) == ["before-starttls", "tls"]
    before, after = report.capabilities
    assert before.label == "EHLO (before STARTTLS: plaintext, unauthenticated)"
    assert "STARTTLS" in before.items and "STARTTLS" not in after.items
    assert "PLAIN" in after.items["AUTH"]
    assert report.tls is not None and report.tls.how == "starttls"
    _check_certificate(report, pc_ca)


def test_smtps_implicit(pc_mail: Any, pc_ca: Any) -> None:
    report = pc.probe(pc_mail.smtps_url, ca_file=pc_ca.ca_file, timeout=10)
    assert report.ok, report.error
    assert _stages(report) == ["tls"] and report.capabilities[0].encrypted
    _check_certificate(report, pc_ca)


def test_smtp_login_ok_and_wrong_password(pc_mail: Any, pc_ca: Any) -> None:
    url = _with_user(pc_mail.smtp_url)
    good = pc.probe(
        url, login=True, password=pc_mail.users["alice"], tls="starttls",
        ca_file=pc_ca.ca_file, timeout=10,
    )
    assert good.ok, good.error
    assert good.login is not None and good.login.ok
    assert _stages(good) == ["before-starttls", "tls"]  # SMTP announces nothing new
    bad_password = "not-" + pc_mail.users["alice"]
    bad = pc.probe(
        url, login=True, password=bad_password, tls="starttls", ca_file=pc_ca.ca_file,
        timeout=10,
    )
    assert not bad.ok and isinstance(bad.exception, pc.AuthenticationError)
    assert bad.login is not None and not bad.login.ok
    assert bad_password not in json.dumps(bad.to_dict()) + repr(bad)


def test_smtp_starttls_required_but_not_offered(pc_ca: Any) -> None:
    from protoclients_fixtures import serve_mail

    with serve_mail(tls=False) as mail:
        report = pc.probe(mail.smtp_url, tls="starttls", timeout=10)
    assert isinstance(report.exception, pc.TLSRequiredError)
    assert _stages(report) == ["before-starttls"]
    assert "STARTTLS" not in report.capabilities[0].items
    assert report.tls is None


# -- POP3 ------------------------------------------------------------------------------------


def test_pop3_stls_capabilities_before_and_after(pc_mail: Any, pc_ca: Any) -> None:
    report = pc.probe(pc_mail.pop3_url, tls="starttls", ca_file=pc_ca.ca_file, timeout=10)
    assert report.ok, report.error
    assert report.greeting and report.greeting.startswith("+OK")
    assert _stages(report) == ["before-starttls", "tls"]
    before, after = report.capabilities
    assert before.command == "CAPA" and "STLS" in before.items and "STLS" not in after.items
    _check_certificate(report, pc_ca)


def test_pop3s_implicit_and_login(pc_mail: Any, pc_ca: Any) -> None:
    report = pc.probe(
        _with_user(pc_mail.pop3s_url), login=True, password=pc_mail.users["alice"],
        ca_file=pc_ca.ca_file, timeout=10,
    )
    assert report.ok, report.error
    assert _stages(report) == ["tls", "after-login"]
    assert report.login is not None and report.login.ok and report.login.mechanism
    assert "UIDL" in report.capabilities[-1].items


def test_pop3_plain_notes_stls(pc_mail: Any) -> None:
    report = pc.probe(pc_mail.pop3_url, timeout=10)
    assert report.ok and _stages(report) == ["plaintext"]
    assert any("STLS is offered" in note for note in report.notes)


# -- IMAP ------------------------------------------------------------------------------------


def test_imap_starttls_capabilities_before_and_after(pc_mail: Any, pc_ca: Any) -> None:
    report = pc.probe(pc_mail.imap_url, tls="starttls", ca_file=pc_ca.ca_file, timeout=10)
    assert report.ok, report.error
    assert report.greeting and report.greeting.startswith("* OK")
    assert _stages(report) == ["before-starttls", "tls"]
    before, after = report.capabilities
    assert "STARTTLS" in before.items and "STARTTLS" not in after.items
    assert "IMAP4REV1" in after.items
    _check_certificate(report, pc_ca)


def test_imaps_implicit_and_login(pc_mail: Any, pc_ca: Any) -> None:
    report = pc.probe(
        _with_user(pc_mail.imaps_url), login=True, password=pc_mail.users["alice"],
        ca_file=pc_ca.ca_file, timeout=10,
    )
    assert report.ok, report.error
    assert _stages(report) == ["tls", "after-login"]
    assert report.capabilities[-1].authenticated and "IMAP4REV1" in report.capabilities[-1].items


def test_imaps_unverified_then_insecure(pc_mail: Any, pc_ca: Any) -> None:
    failed = pc.probe(pc_mail.imaps_url, timeout=10)
    assert isinstance(failed.exception, pc.CertificateError)
    assert failed.greeting is None and failed.capabilities == []
    looked = pc.probe(pc_mail.imaps_url, insecure=True, timeout=10)
    assert looked.ok and looked.tls is not None and not looked.tls.verified
    _check_certificate(looked, pc_ca)


def test_starttls_certificate_failure_keeps_plaintext_stage(pc_mail: Any) -> None:
    report = pc.probe(pc_mail.imap_url, tls="starttls", timeout=10)
    assert isinstance(report.exception, pc.CertificateError)
    assert _stages(report) == ["before-starttls"]
    assert report.tls is not None and report.tls.how == "starttls" and not report.tls.verified


# -- login arguments, connection failures ------------------------------------------------------


def test_login_needs_a_user_and_a_password(pc_mail: Any, tmp_path: Path) -> None:
    with pytest.raises(pc.InvalidInput, match="user"):
        pc.probe(pc_mail.imap_url, login=True)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    netrc.chmod(0o600)
    with pytest.raises(pc.CredentialsNotFound):
        pc.probe(
            _with_user(pc_mail.imap_url), login=True, use_keyring=False,
            netrc_file=str(netrc), timeout=10,
        )


def test_refused_connection_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for scheme in ("http", "ftp", "smtp", "pop3", "imap"):
        report = pc.probe(f"{scheme}://127.0.0.1:{port}/", timeout=5)
        assert isinstance(report.exception, pc.ConnectionFailed), scheme
        assert report.error is not None and report.error.exit_code == 3


# -- certificates that fail verification in other ways ---------------------------------------------


@contextmanager
def _tls_http_server(context: ssl.SSLContext) -> Iterator[int]:
    """A tiny HTTPS responder (any request -> 204) presenting ``context``'s certificate."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        data = b""
                        while b"\r\n\r\n" not in data and len(data) < 65536:
                            chunk = tls.recv(4096)
                            if not chunk:
                                break
                            data += chunk
                        tls.sendall(b"HTTP/1.1 204 No Content\r\nServer: tiny\r\n"
                                    b"Connection: close\r\n\r\n")
                except (ssl.SSLError, OSError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize(
    ("identities", "days", "reason"),
    [
        (("localhost", "127.0.0.1"), -1, "expired"),
        (("wrong.example.org",), 30, "mismatch"),
    ],
)
def test_expired_or_wrong_host_certificate(
    identities: tuple[str, ...], days: int, reason: str, tmp_path: Path
) -> None:
    ca = trustme.CA()
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = ca.issue_cert(
        *identities,
        not_before=now - datetime.timedelta(days=60),
        not_after=now + datetime.timedelta(days=days),
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with _tls_http_server(context) as port:
        url = f"https://127.0.0.1:{port}/"
        failed = pc.probe(url, ca_file=str(ca_file), timeout=5)
        looked = pc.probe(url, ca_file=str(ca_file), insecure=True, timeout=5)
    assert isinstance(failed.exception, pc.CertificateError)
    assert failed.tls is not None and reason in (failed.tls.verify_error or "")
    assert looked.ok, looked.error
    assert looked.tls is not None and not looked.tls.verified
    assert reason in (looked.tls.verify_error or "")
    cert = looked.tls.certificate
    assert cert is not None
    assert cert.days_left in {days - 1, days}
    assert cert.expired is (days < 0) and not cert.not_yet_valid
    assert cert.subject_alt_names[0] == f"DNS:{identities[0]}"
    assert looked.http is not None and looked.http.status == 204 and looked.http.server == "tiny"
