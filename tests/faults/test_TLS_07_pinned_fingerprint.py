"""TLS-07 (pinning): ``pin_sha256`` replaces CA trust with one exact certificate fingerprint.

With the right fingerprint a server whose CA is *not* trusted is accepted (the lab case the
catalogue names: only ``ca_file``, ``pin_sha256`` or ``insecure`` change verification); with
a wrong one the handshake is refused with ``CertificateError`` before any credential or
command is sent — on every protocol, for implicit TLS, STARTTLS and FTP data connections.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from typing import Any

import pytest

import protoclients
from protoclients.errors import CertificateError, InvalidInput
from protoclients.options import ClientOptions

pytestmark = pytest.mark.timeout(30)

WRONG = hashlib.sha256(b"not the server's certificate").hexdigest()


def _pin(ca: Any) -> str:
    """SHA-256 of the local servers' leaf certificate, as ``AB:CD:...`` (openssl style)."""
    pem = Path(ca.cert_files()[0]).read_text(encoding="ascii")
    first = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def _with_user(url: str, user: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}@{rest}"


def test_TLS_07_pin_must_be_a_sha256_fingerprint() -> None:
    for bad in ("", "abcd", "zz" * 32, "sha1/" + "ab" * 20):
        with pytest.raises(InvalidInput):
            ClientOptions(pin_sha256=bad)
    assert ClientOptions(pin_sha256="AB:" * 31 + "AB").pin_sha256 == "ab" * 32


def test_TLS_07_https_pinned(pc_https_server: Any, pc_ca: Any) -> None:
    srv = pc_https_server
    (Path(srv.root) / "f.txt").write_bytes(b"pinned\n")
    url = srv.url + "f.txt"
    # Not trusted by the system store, so only the pin can make this work.
    assert protoclients.fetch(url, pin_sha256=_pin(pc_ca)) == b"pinned\n"
    seen = len(srv.requests)
    with pytest.raises(CertificateError, match="pinned"):
        protoclients.fetch(url, pin_sha256=WRONG, retries=0)
    assert len(srv.requests) == seen  # no request reached the server


@pytest.mark.parametrize("fixture", ["pc_ftps_server", "pc_ftps_implicit_server"])
def test_TLS_07_ftps_pinned(fixture: str, request: pytest.FixtureRequest, pc_ca: Any) -> None:
    srv = request.getfixturevalue(fixture)
    (Path(srv.root) / "f.txt").write_bytes(b"ftp pinned\n")
    [(user, password)] = srv.users.items()
    url = _with_user(srv.url, user)
    tls = {"tls": "starttls"} if fixture == "pc_ftps_server" else {}
    # The listing and the download use data connections: they are pinned too.
    names = {e.name for e in protoclients.ls(url, password=password, pin_sha256=_pin(pc_ca), **tls)}
    assert "f.txt" in names
    got = protoclients.fetch(url + "f.txt", password=password, pin_sha256=_pin(pc_ca), **tls)
    assert got == b"ftp pinned\n"
    before = list(srv.commands)
    with pytest.raises(CertificateError, match="pinned"):
        protoclients.ls(url, password=password, pin_sha256=WRONG, **tls)
    new = srv.commands[len(before) :]
    assert not [c for c in new if c.upper().startswith(("USER", "PASS", "LIST", "MLSD"))]


@pytest.mark.parametrize(
    ("attr", "tls"),
    [("imaps_url", None), ("imap_url", "starttls"), ("pop3s_url", None), ("pop3_url", "starttls")],
)
def test_TLS_07_mailbox_pinned(pc_mail: Any, pc_ca: Any, attr: str, tls: str | None) -> None:
    mail = pc_mail
    [(user, password)] = list(mail.users.items())[:1]
    mail.store.deliver(user, b"Subject: pinned\r\n\r\nbody\r\n")
    base = _with_user(getattr(mail, attr), user)
    url = base + ("INBOX" if attr.startswith("imap") else "")
    extra = {"tls": tls} if tls else {}
    assert len(protoclients.ls(url, password=password, pin_sha256=_pin(pc_ca), **extra)) == 1
    server = mail.imap if attr.startswith("imap") else mail.pop3
    before = len(server.commands)
    with pytest.raises(CertificateError, match="pinned"):
        protoclients.ls(url, password=password, pin_sha256=WRONG, **extra)
    after = [c.upper() for c in server.commands[before:]]
    assert not [c for c in after if any(w in c for w in ("LOGIN", "AUTH", "USER", "PASS"))]


@pytest.mark.parametrize(("attr", "tls"), [("smtps_url", None), ("smtp_url", "starttls")])
def test_TLS_07_smtp_pinned(pc_mail: Any, pc_ca: Any, attr: str, tls: str | None) -> None:
    mail = pc_mail
    [(user, password)] = list(mail.users.items())[:1]
    url = _with_user(getattr(mail, attr), user)
    extra = {"tls": tls} if tls else {}
    message = protoclients.compose(
        from_=f"{user}@example.test", to=f"{user}@example.test", subject="pinned", text="x\n"
    )
    protoclients.send(url, message, password=password, pin_sha256=_pin(pc_ca), **extra)
    assert len(mail.store.messages(user, "INBOX")) == 1
    with pytest.raises(CertificateError, match="pinned"):
        protoclients.send(url, message, password=password, pin_sha256=WRONG, **extra)
    assert len(mail.store.messages(user, "INBOX")) == 1  # nothing delivered


def test_TLS_07_cli_pin_sha256(pc_https_server: Any, pc_ca: Any) -> None:
    import os
    import subprocess
    import sys

    srv = pc_https_server
    (Path(srv.root) / "f.txt").write_bytes(b"cli pinned\n")
    exe = Path(sys.executable).parent / "protoclients"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

    def run(pin: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*cmd, "fetch", srv.url + "f.txt", "-o", "-", "--pin-sha256", pin],
            capture_output=True, env=env, timeout=25, check=False, stdin=subprocess.DEVNULL,
        )

    good = run(_pin(pc_ca))
    assert good.returncode == 0, good.stderr
    assert good.stdout == b"cli pinned\n"
    bad = run(WRONG)
    assert bad.returncode == CertificateError.exit_code
    assert b"pinned" in bad.stderr and bad.stdout == b""
