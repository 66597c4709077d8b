"""TLS-11: (a) FTPS data connections are protected (``PBSZ 0`` / ``PROT P`` before any
``RETR``/``STOR``/listing; ``PROT P`` refused -> abort; ftplib's ``_prot_p=False`` default);
(b) no connection is reused across TLS modes or credentials (curl CVE-2026-4873,
CVE-2026-8286, CVE-2023-27535; requests CVE-2024-35195).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from protoclients_fixtures import HostileServer, LocalFTPServer, LocalHTTPServer, TestCA
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp

import protoclients
from protoclients.errors import AuthenticationError, InvalidInput, TLSRequiredError

pytestmark = pytest.mark.timeout(20)

Make = Callable[..., HostileServer]

DATA_VERBS = ("PASV", "EPSV", "PORT", "EPRT", "RETR", "STOR", "APPE", "LIST", "NLST", "MLSD")


# -- (a) FTPS data protection ---------------------------------------------------------------


def _order_problems(commands: list[str]) -> list[str]:
    verbs = [line.split(" ", 1)[0].upper() for line in commands]
    found = []
    if "PBSZ" not in verbs or "PROT" not in verbs:
        return [f"no PBSZ/PROT in {verbs}"]
    prot = verbs.index("PROT")
    if commands[prot].upper() != "PROT P":
        found.append(f"{commands[prot]!r} instead of PROT P")
    if verbs.index("PBSZ") > prot:
        found.append("PROT before PBSZ")
    first_data = min((i for i, v in enumerate(verbs) if v in DATA_VERBS), default=len(verbs))
    if first_data < prot:
        found.append(f"{commands[first_data]!r} before PROT P")
    if any(line.upper() == "PROT C" for line in commands):
        found.append("PROT C sent")
    return found


@pytest.mark.parametrize("verb", ["ls", "fetch", "send"])
@pytest.mark.parametrize("mode", ["explicit", "implicit"])
def test_TLS_11_ftps_protects_data_before_any_transfer(
    verb: str,
    mode: str,
    pc_ftps_server: LocalFTPServer,
    pc_ftps_implicit_server: LocalFTPServer,
    tmp_path: Path,
) -> None:
    srv = pc_ftps_server if mode == "explicit" else pc_ftps_implicit_server
    (srv.root / "file.txt").write_bytes(b"secret data\n")
    scheme = "ftp" if mode == "explicit" else "ftps"
    base = f"{scheme}://alice@{srv.host}:{srv.port}/"
    options = {"password": srv.users["alice"], "ca_file": srv.ca_file, "timeout": 10}
    if mode == "explicit":
        options["tls"] = "starttls"
    if verb == "ls":
        assert [e.name for e in protoclients.ls(base, **options)] == ["file.txt"]
    elif verb == "fetch":
        assert protoclients.fetch(base + "file.txt", **options) == b"secret data\n"
    else:
        protoclients.send(base + "up.txt", io.BytesIO(b"upload"), **options)
        assert (srv.root / "up.txt").read_bytes() == b"upload"
    assert _order_problems(srv.commands) == [], srv.commands


REFUSALS = {
    "prot-p-536": [h.expect(rb"^PBSZ 0$"), h.send(b"200 PBSZ=0\r\n"), h.expect(rb"^PROT P$"),
                   h.send(b"536 Requested PROT level not supported\r\n")],
    "prot-p-504": [h.expect(rb"^PBSZ 0$"), h.send(b"200 PBSZ=0\r\n"), h.expect(rb"^PROT P$"),
                   h.send(b"504 Command not implemented for that parameter\r\n")],
    "pbsz-500": [h.expect(rb"^PBSZ 0$"), h.send(b"500 unknown command\r\n")],
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
@pytest.mark.parametrize("mode", ["explicit", "implicit"])
def test_TLS_11_ftps_prot_p_refused_aborts(
    case: str, mode: str, pc_hostile: Make, pc_ca: TestCA
) -> None:
    login = [h.expect(rb"^USER "), h.send(b"331 password\r\n"), h.expect(rb"^PASS "),
             h.send(b"230 logged in\r\n")]
    tail = [*login, *REFUSALS[case], h.stall(3)]
    if mode == "explicit":
        srv = pc_hostile([*hp.until_starttls("ftp"), h.send(hp.go_ahead("ftp")), h.start_tls(),
                          *tail])
        options = {"tls": "starttls"}
    else:
        srv = pc_hostile([h.send(hp.greeting("ftp")), *tail], implicit_tls=True)
        options = {}
    with pytest.raises(TLSRequiredError, match="PROT P"):
        hp.drive("ftp", srv, scheme="ftp" if mode == "explicit" else "ftps",
                 ca_file=pc_ca.ca_file, **options)
    assert srv.wait(5)
    sent = [line.split(b" ", 1)[0].decode() for line in srv.lines]
    assert not set(sent) & set(DATA_VERBS), sent
    # Nothing after the refusal: no PROT C, no data command, no QUIT-and-retry in clear.
    assert sent[-1] == ("PBSZ" if case == "pbsz-500" else "PROT"), sent
    assert b"PROT C" not in srv.received


# -- (b) no reuse across TLS modes or credentials ---------------------------------------------


def _accept_everything(proto: str) -> Callable[[h.Turn], bytes]:
    """A lenient plaintext server: every command succeeds (enough for connect + close)."""

    def answer(turn: h.Turn) -> bytes:
        words = turn.line.upper().split()
        if proto == "imap":
            if b"CAPABILITY" in words[1:2]:
                return h.tagged(b"OK done\r\n", untagged=b"* CAPABILITY IMAP4rev1\r\n")(turn)
            if b"LOGOUT" in words[1:2]:
                return h.tagged(b"OK bye\r\n", untagged=b"* BYE\r\n")(turn)
            return h.tagged(b"OK done\r\n")(turn)
        if proto == "pop3":
            return b"+OK\r\n"
        if proto == "smtp":
            if words[:1] == [b"EHLO"]:
                return b"250-hostile.test\r\n250 AUTH PLAIN\r\n"
            return {b"AUTH": b"235 ok\r\n", b"QUIT": b"221 bye\r\n"}.get(words[0], b"250 ok\r\n")
        replies = {b"USER": b"331 pw\r\n", b"PASS": b"230 ok\r\n", b"PWD": b'257 "/"\r\n',
                   b"FEAT": b"211-x\r\n211 end\r\n", b"QUIT": b"221 bye\r\n"}
        return replies.get(words[0], b"200 ok\r\n")

    return answer


def _use(client: protoclients.Client, proto: str) -> None:
    """Make the client open its connection (SMTP connects lazily)."""
    if proto == "smtp":
        client.ehlo_features()  # type: ignore[attr-defined]


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_11_tls_required_call_after_a_plaintext_session_opens_a_new_connection(
    proto: str, pc_hostile: Make, pc_ca: TestCA
) -> None:
    plain = [h.send(hp.greeting(proto)), h.respond([_accept_everything(proto)] * 8)]
    secure = [*hp.until_starttls(proto), h.send(hp.go_ahead(proto)), h.start_tls(),
              *hp.tls_hello(proto), *hp.login_refused(proto, b"no")]
    srv = pc_hostile([], per_connection=[plain, secure])
    url = srv.url(proto, user=hp.USER)
    with protoclients.connect(url, password=hp.PASSWORD, tls="none", timeout=5) as client:
        _use(client, proto)
    with pytest.raises(AuthenticationError):
        hp.drive(proto, srv, tls="starttls", ca_file=pc_ca.ca_file)
    assert srv.wait(5)
    assert len(srv.connections) == 2
    second = srv.connections[1]
    assert second.tls_handshake
    assert not hp.auth_commands(second.plain_lines), second.plain_lines
    assert hp.auth_commands(second.tls_lines)


@pytest.mark.parametrize("proto", hp.STARTTLS_PROTOCOLS)
def test_TLS_11_client_refuses_targets_with_other_credentials(
    proto: str, pc_hostile: Make
) -> None:
    srv = pc_hostile([h.send(hp.greeting(proto)), h.respond([_accept_everything(proto)] * 8)])
    url = srv.url(proto, user=hp.USER)
    with protoclients.connect(url, password=hp.PASSWORD, tls="none", timeout=5) as client:
        _use(client, proto)
        other = srv.url(proto, user="bob", path="/INBOX" if proto == "imap" else "/x")
        with pytest.raises(InvalidInput, match="new connection"):
            client.resolve(other)
        with pytest.raises(InvalidInput, match="new connection"):
            client.resolve(other.replace("bob@", "alice:other-password@"))
        assert client.resolve(srv.url(proto, path="/y")).username is None  # same user: fine
    assert srv.wait(5)
    assert len(srv.connections) == 1
    assert b"bob" not in srv.received


def test_TLS_11_http_client_is_bound_to_its_origin_and_user(pc_http_server: LocalHTTPServer) -> None:
    (pc_http_server.root / "a.txt").write_bytes(b"a")
    base = f"http://alice@{pc_http_server.host}:{pc_http_server.port}/"
    with protoclients.connect(base, password=pc_http_server.users["alice"]) as client:
        assert client.fetch("a.txt") == b"a"
        for other in (base.replace("alice@", "bob@") + "a.txt",
                      base.replace("http://", "https://") + "a.txt"):
            with pytest.raises(InvalidInput, match="new connection"):
                client.fetch(other)
    assert [r.path for r in pc_http_server.requests] == ["/a.txt"]
