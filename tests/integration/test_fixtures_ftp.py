"""The local FTP(S) test server, driven with raw ftplib, a TLS-wrapped socket and curl."""

from __future__ import annotations

import ftplib
import io
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from protoclients_fixtures import LocalFTPServer, TestCA, serve_ftp

pytestmark = pytest.mark.timeout(10)

DATA = bytes(range(256)) * 400  # 102400 bytes


class ImplicitFTPTLS(ftplib.FTP_TLS):
    """ftplib has no implicit FTPS: wrap the control socket before reading the greeting."""

    def connect(
        self,
        host: str = "",
        port: int = 0,
        timeout: float = -999,
        source_address: tuple[str, int] | None = None,
    ) -> str:
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((host, port), self.timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


def fill(root: Path) -> None:
    (root / "data.bin").write_bytes(DATA)
    (root / "dir").mkdir()
    (root / "dir" / "inner.txt").write_text("inner\n")


@pytest.fixture
def srv(pc_ftp_server: LocalFTPServer) -> LocalFTPServer:
    fill(pc_ftp_server.root)
    return pc_ftp_server


@pytest.fixture
def ftp(srv: LocalFTPServer) -> Iterator[ftplib.FTP]:
    client = ftplib.FTP(timeout=5)
    client.connect(srv.host, srv.port)
    client.login("alice", srv.users["alice"])
    try:
        yield client
    finally:
        client.close()


def retr(client: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    out = io.BytesIO()
    client.retrbinary(f"RETR {name}", out.write, rest=rest)
    return out.getvalue()


# --- plain FTP --------------------------------------------------------------------------


def test_url_and_attributes(srv: LocalFTPServer) -> None:
    assert srv.url == f"ftp://127.0.0.1:{srv.port}/"
    assert srv.tls == "none"
    assert srv.ca_file is None
    assert list(srv.users) == ["alice"]
    assert srv.users["alice"] not in repr(srv)


def test_login_retr_and_commands_recorded(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    assert (ftp.welcome or "").startswith("220")
    assert retr(ftp, "data.bin") == DATA
    assert ftp.size("data.bin") == len(DATA)
    assert ftp.sendcmd("MDTM data.bin").startswith("213 ")
    assert "USER alice" in srv.commands
    assert "PASS ***" in srv.commands
    assert srv.users["alice"] not in " ".join(srv.commands)
    assert "RETR data.bin" in srv.commands


def test_wait_idle_after_quit(srv: LocalFTPServer) -> None:
    client = ftplib.FTP(timeout=5)
    client.connect(srv.host, srv.port)
    client.login("alice", srv.users["alice"])
    assert not srv.wait_idle(timeout=0.1)  # still connected
    client.quit()
    client.close()
    assert srv.wait_idle(timeout=2)


def test_wrong_password_is_530(srv: LocalFTPServer) -> None:
    with ftplib.FTP(timeout=5) as client:
        client.connect(srv.host, srv.port)
        with pytest.raises(ftplib.error_perm, match="530"):
            client.login("alice", "wrong")


def test_list_nlst_mlsd(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    assert any(line.endswith(" data.bin") and line.startswith("-") for line in lines)
    assert any(line.endswith(" dir") and line.startswith("d") for line in lines)
    assert sorted(ftp.nlst()) == ["data.bin", "dir"]
    facts = dict(ftp.mlsd())
    assert facts["data.bin"]["type"] == "file"
    assert facts["data.bin"]["size"] == str(len(DATA))
    assert facts["dir"]["type"] == "dir"
    assert "modify" in facts["data.bin"]


def test_stor_and_rest(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    ftp.storbinary("STOR up.bin", io.BytesIO(DATA))
    assert (srv.root / "up.bin").read_bytes() == DATA
    assert retr(ftp, "up.bin", rest=1000) == DATA[1000:]
    # resumed upload: APPE after a partial STOR
    ftp.storbinary("STOR part.bin", io.BytesIO(DATA[:500]))
    ftp.storbinary("APPE part.bin", io.BytesIO(DATA[500:]))
    assert (srv.root / "part.bin").read_bytes() == DATA


def test_directory_operations(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    ftp.mkd("newdir")
    assert (srv.root / "newdir").is_dir()
    ftp.cwd("newdir")
    assert ftp.pwd() == "/newdir"
    ftp.storbinary("STOR f.txt", io.BytesIO(b"x"))
    ftp.rename("f.txt", "g.txt")
    assert (srv.root / "newdir" / "g.txt").exists()
    ftp.delete("g.txt")
    ftp.cwd("/")
    ftp.rmd("newdir")
    assert not (srv.root / "newdir").exists()


def test_traversal_stays_in_root(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    ftp.cwd("/../../..")
    assert ftp.pwd() == "/"
    with pytest.raises(ftplib.error_perm):
        retr(ftp, "../../../../etc/passwd")


def test_anonymous_is_read_only(srv: LocalFTPServer) -> None:
    with ftplib.FTP(timeout=5) as client:
        client.connect(srv.host, srv.port)
        client.login()  # anonymous
        assert retr(client, "data.bin") == DATA
        with pytest.raises(ftplib.error_perm, match="550"):
            client.storbinary("STOR nope.bin", io.BytesIO(b"x"))
        with pytest.raises(ftplib.error_perm, match="550"):
            client.delete("data.bin")
    assert (srv.root / "data.bin").exists()
    assert not (srv.root / "nope.bin").exists()


def test_anonymous_can_be_disabled(tmp_path: Path) -> None:
    with serve_ftp(tmp_path, anonymous=False) as srv, ftplib.FTP(timeout=5) as client:
        client.connect(srv.host, srv.port)
        with pytest.raises(ftplib.error_perm, match="530"):
            client.login()


def test_custom_users(tmp_path: Path) -> None:
    with serve_ftp(tmp_path, users={"bob": "pw"}) as srv, ftplib.FTP(timeout=5) as client:
        assert srv.users == {"bob": "pw"}
        client.connect(srv.host, srv.port)
        client.login("bob", "pw")
        client.storbinary("STOR b.txt", io.BytesIO(b"bob"))
    assert (tmp_path / "b.txt").read_bytes() == b"bob"


def test_concurrent_clients(srv: LocalFTPServer) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with ftplib.FTP(timeout=5) as client:
                client.connect(srv.host, srv.port)
                client.login("alice", srv.users["alice"])
                assert retr(client, "data.bin") == DATA
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert not errors


def test_stop_with_a_client_still_connected(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(DATA)
    client = ftplib.FTP(timeout=5)
    try:
        with serve_ftp(tmp_path) as srv:
            client.connect(srv.host, srv.port)
            client.login("alice", srv.users["alice"])
            port = srv.port
        with pytest.raises((EOFError, OSError, ftplib.Error)):
            client.voidcmd("NOOP")
    finally:
        client.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


# --- faults -----------------------------------------------------------------------------


def test_fault_drop_after(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    srv.faults.drop_after = 1000
    out = io.BytesIO()
    with pytest.raises(ftplib.error_temp, match="426"):
        ftp.retrbinary("RETR data.bin", out.write)
    assert out.getvalue() == DATA[:1000]
    assert srv.faults.drop_after is None  # one-shot
    assert retr(ftp, "data.bin") == DATA


def test_fault_drop_after_with_rest(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    srv.faults.drop_after = 10
    out = io.BytesIO()
    with pytest.raises(ftplib.error_temp):
        ftp.retrbinary("RETR data.bin", out.write, rest=500)
    assert out.getvalue() == DATA[500:510]


def test_fault_drop_silently(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    srv.faults.drop_after = 1000
    srv.faults.drop_silently = True
    assert retr(ftp, "data.bin") == DATA[:1000]  # 226 although cut short


def test_fault_drop_after_survives_failed_retr(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    srv.faults.drop_after = 5
    with pytest.raises(ftplib.error_perm):
        retr(ftp, "missing.bin")
    with pytest.raises(ftplib.error_temp):
        retr(ftp, "data.bin")


def test_fault_lie_rest(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    srv.faults.lie_rest = True
    assert ftp.sendcmd("TYPE I").startswith("200")
    assert retr(ftp, "data.bin", rest=1000) == DATA  # 350 accepted, whole file sent
    assert "REST 1000" in srv.commands
    srv.faults.lie_rest = False
    assert retr(ftp, "data.bin", rest=1000) == DATA[1000:]


def test_drop_after_larger_than_file_is_harmless(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    srv.faults.drop_after = len(DATA) + 10
    assert retr(ftp, "data.bin") == DATA


def _feat_names(client: ftplib.FTP) -> set[str]:
    reply = client.sendcmd("FEAT")
    return {line.split()[0].upper() for line in reply.splitlines()[1:-1]}


def test_fault_disabled_commands(srv: LocalFTPServer, ftp: ftplib.FTP) -> None:
    assert {"MLST", "REST", "SIZE", "MDTM"} <= _feat_names(ftp)
    srv.faults.disabled_commands = {"mlsd", "REST"}  # any case
    with pytest.raises(ftplib.error_perm, match=r"^502 Command not implemented"):
        list(ftp.mlsd())
    with pytest.raises(ftplib.error_perm, match=r"^502"):
        ftp.sendcmd("REST 10")
    features = _feat_names(ftp)
    assert "REST" not in features
    assert "MLST" in features  # RFC 3659: "MLST" in FEAT covers MLST and MLSD; MLST works
    assert ftp.sendcmd("MLST data.bin").startswith("250")
    assert "REST 10" in srv.commands  # refused commands are still recorded
    # Other commands are untouched; adding MLST hides the MLST feature too.
    assert retr(ftp, "data.bin") == DATA
    srv.faults.disabled_commands.add("MLST")
    assert "MLST" not in _feat_names(ftp)
    with pytest.raises(ftplib.error_perm, match=r"^502"):
        ftp.sendcmd("MLST data.bin")
    # A new connection sees the same; reset() switches it off.
    with ftplib.FTP(timeout=5) as other:
        other.connect(srv.host, srv.port)
        other.login("alice", srv.users["alice"])
        assert not {"MLST", "REST"} & _feat_names(other)
    srv.faults.reset()
    assert srv.faults.disabled_commands == set()
    assert {"MLST", "REST", "SIZE", "MDTM"} <= _feat_names(ftp)
    assert retr(ftp, "data.bin", rest=1000) == DATA[1000:]
    assert dict(ftp.mlsd())["data.bin"]["type"] == "file"


def test_fault_disabled_commands_before_login_and_site(srv: LocalFTPServer) -> None:
    srv.faults.disabled_commands = {"SITE CHMOD", "size"}
    with ftplib.FTP(timeout=5) as client:
        client.connect(srv.host, srv.port)
        with pytest.raises(ftplib.error_perm, match=r"^502"):
            client.sendcmd("SIZE data.bin")  # answered before the login check (530)
        client.login("alice", srv.users["alice"])
        assert "SIZE" not in _feat_names(client)
        with pytest.raises(ftplib.error_perm, match=r"^502"):
            client.sendcmd("SITE CHMOD 644 data.bin")
        assert client.sendcmd("SITE HELP").startswith("214")


# --- explicit FTPS ----------------------------------------------------------------------


@pytest.fixture
def ftps(pc_ftps_server: LocalFTPServer) -> LocalFTPServer:
    fill(pc_ftps_server.root)
    return pc_ftps_server


def test_explicit_ftps(ftps: LocalFTPServer, pc_ca: TestCA) -> None:
    assert ftps.url.startswith("ftp://")
    assert ftps.tls == "explicit"
    assert ftps.ca_file == pc_ca.ca_file
    with ftplib.FTP_TLS(context=pc_ca.client_context(), timeout=5) as client:
        client.connect(ftps.host, ftps.port)
        client.login("alice", ftps.users["alice"])
        assert isinstance(client.sock, ssl.SSLSocket)
        client.prot_p()
        assert retr(client, "data.bin") == DATA
        client.storbinary("STOR up.bin", io.BytesIO(DATA))
        assert sorted(name for name, _ in client.mlsd()) == ["data.bin", "dir", "up.bin"]
    assert (ftps.root / "up.bin").read_bytes() == DATA
    assert ftps.commands[0] == "AUTH TLS"


def test_explicit_ftps_requires_tls(ftps: LocalFTPServer) -> None:
    with ftplib.FTP(timeout=5) as client:
        client.connect(ftps.host, ftps.port)
        assert "AUTH TLS" in client.sendcmd("FEAT")
        with pytest.raises(ftplib.error_perm, match="550"):
            client.login("alice", ftps.users["alice"])
    assert "PASS ***" not in ftps.commands  # refused at USER, password never sent


def test_explicit_ftps_requires_prot_p(ftps: LocalFTPServer, pc_ca: TestCA) -> None:
    with ftplib.FTP_TLS(context=pc_ca.client_context(), timeout=5) as client:
        client.connect(ftps.host, ftps.port)
        client.login("alice", ftps.users["alice"])
        with pytest.raises(ftplib.error_perm, match="550"):
            retr(client, "data.bin")  # PROT C (the default): data in clear refused


def test_explicit_ftps_certificate_is_verified(ftps: LocalFTPServer) -> None:
    ctx = ssl.create_default_context()  # system trust store only
    with ftplib.FTP_TLS(context=ctx, timeout=5) as client:
        client.connect(ftps.host, ftps.port)
        with pytest.raises(ssl.SSLCertVerificationError):
            client.auth()


def test_explicit_ftps_faults(ftps: LocalFTPServer, pc_ca: TestCA) -> None:
    with ftplib.FTP_TLS(context=pc_ca.client_context(), timeout=5) as client:
        client.connect(ftps.host, ftps.port)
        client.login("alice", ftps.users["alice"])
        client.prot_p()
        ftps.faults.drop_after = 100
        out = io.BytesIO()
        with pytest.raises(ftplib.error_temp, match="426"):
            client.retrbinary("RETR data.bin", out.write)
        assert out.getvalue() == DATA[:100]
        ftps.faults.lie_rest = True
        assert retr(client, "data.bin", rest=7) == DATA


def test_explicit_ftps_disabled_auth(ftps: LocalFTPServer, pc_ca: TestCA) -> None:
    ftps.faults.disabled_commands = {"AUTH"}
    with ftplib.FTP_TLS(context=pc_ca.client_context(), timeout=5) as client:
        client.connect(ftps.host, ftps.port)
        features = _feat_names(client)
        assert "AUTH" not in features
        assert {"PBSZ", "PROT"} <= features
        with pytest.raises(ftplib.error_perm, match=r"^502"):
            client.auth()
        assert not isinstance(client.sock, ssl.SSLSocket)


# --- implicit FTPS ----------------------------------------------------------------------


@pytest.fixture
def iftps(pc_ftps_implicit_server: LocalFTPServer) -> LocalFTPServer:
    fill(pc_ftps_implicit_server.root)
    return pc_ftps_implicit_server


def test_implicit_ftps_with_wrapped_socket(iftps: LocalFTPServer, pc_ca: TestCA) -> None:
    assert iftps.url == f"ftps://127.0.0.1:{iftps.port}/"
    with ImplicitFTPTLS(context=pc_ca.client_context(), timeout=5) as client:
        welcome = client.connect(iftps.host, iftps.port)
        assert welcome.startswith("220")
        assert isinstance(client.sock, ssl.SSLSocket)
        client.login("alice", iftps.users["alice"])
        client.prot_p()
        assert retr(client, "data.bin") == DATA
        client.storbinary("STOR up.bin", io.BytesIO(b"implicit"))
        with pytest.raises(ftplib.error_perm, match="503"):
            client.sendcmd("AUTH TLS")  # already encrypted
    assert (iftps.root / "up.bin").read_bytes() == b"implicit"
    assert "AUTH TLS" in iftps.commands


def test_implicit_ftps_data_is_protected_by_default(iftps: LocalFTPServer, pc_ca: TestCA) -> None:
    with ImplicitFTPTLS(context=pc_ca.client_context(), timeout=5) as client:
        client.connect(iftps.host, iftps.port)
        client.login("alice", iftps.users["alice"])
        # no PBSZ/PROT sent: the server still expects TLS on the data connection
        client._prot_p = True  # type: ignore[attr-defined]
        assert retr(client, "data.bin") == DATA


def test_implicit_ftps_refuses_plaintext(iftps: LocalFTPServer) -> None:
    with socket.create_connection((iftps.host, iftps.port), timeout=2) as sock:
        sock.sendall(b"USER alice\r\n")
        try:
            reply = sock.recv(1024)
        except (ConnectionResetError, TimeoutError):
            reply = b""
    assert not reply.startswith(b"220")
    assert not reply.startswith(b"331")


# --- curl -------------------------------------------------------------------------------

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "5", *args], check=False, capture_output=True, timeout=10
    )


@needs_curl
def test_curl_plain_ftp(srv: LocalFTPServer, tmp_path: Path) -> None:
    result = curl("-u", f"alice:{srv.users['alice']}", srv.url + "data.bin")
    assert result.returncode == 0, result.stderr
    assert result.stdout == DATA
    listing = curl("--list-only", srv.url)  # anonymous
    assert sorted(listing.stdout.decode().split()) == ["data.bin", "dir"]
    src = tmp_path / "src.bin"
    src.write_bytes(b"via curl")
    up = curl("-u", f"alice:{srv.users['alice']}", "-T", str(src), srv.url + "sub/c.bin",
              "--ftp-create-dirs")  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert (srv.root / "sub" / "c.bin").read_bytes() == b"via curl"


@needs_curl
def test_curl_explicit_ftps(ftps: LocalFTPServer) -> None:
    assert ftps.ca_file is not None
    result = curl("--ssl-reqd", "--cacert", ftps.ca_file,
                  "-u", f"alice:{ftps.users['alice']}", ftps.url + "data.bin")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == DATA
    assert "PROT P" in ftps.commands


@needs_curl
def test_curl_implicit_ftps(iftps: LocalFTPServer, tmp_path: Path) -> None:
    assert iftps.ca_file is not None
    result = curl("--cacert", iftps.ca_file, "-u", f"alice:{iftps.users['alice']}",
                  iftps.url + "data.bin")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == DATA
    out = tmp_path / "partial.bin"
    out.write_bytes(DATA[:4096])
    resumed = curl("--cacert", iftps.ca_file, "-u", f"alice:{iftps.users['alice']}",
                   "-C", "-", "-o", str(out), iftps.url + "data.bin")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == DATA
    assert "REST 4096" in iftps.commands


@needs_curl
def test_curl_implicit_ftps_untrusted(iftps: LocalFTPServer) -> None:
    result = curl("-u", f"alice:{iftps.users['alice']}", iftps.url + "data.bin")
    assert result.returncode != 0
    assert "PASS ***" not in iftps.commands
