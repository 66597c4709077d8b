"""The interop tier: protoclients against real servers nobody here wrote (nginx, vsftpd,
Postfix, Dovecot).

``tests/interop/servers.sh`` configures and starts Debian's nginx (HTTP, HTTPS, WebDAV
PUT/DELETE, autoindex) and vsftpd (FTP + explicit FTPS, a local system user) on 127.0.0.1
high ports in a scratch directory, once per test session, and stops them afterwards.
``tests/interop/mailservers.sh`` does the same for Postfix (SMTP + STARTTLS, SMTPS)
delivering over LMTP into Dovecot (IMAP, IMAPS, POP3, POP3S), started only when a mail test
asks for the ``mail_servers`` fixture.

Without the server binaries the tier is skipped with the command that installs them; with
``PROTOCLIENTS_INTEROP_INSTALL=1`` they are installed (as root, with apt-get) before the
first interop test runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVERS_SH = Path(__file__).resolve().with_name("servers.sh")
MAILSERVERS_SH = Path(__file__).resolve().with_name("mailservers.sh")
INSTALL_HINT = (
    "install them with `sudo tests/interop/servers.sh install` (Debian/Ubuntu) or set "
    "PROTOCLIENTS_INTEROP_INSTALL=1 to let the test run do it"
)
_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
_REQUIRED = ("nginx", "vsftpd", "openssl")
_MAIL_REQUIRED = ("dovecot", "postfix", "openssl")
# Dovecot's protocol binaries come from separate packages (dovecot-imapd, -pop3d, -lmtpd).
_DOVECOT_LIBEXEC = Path("/usr/lib/dovecot")
_DOVECOT_PARTS = {"imap": "dovecot-imapd", "pop3": "dovecot-pop3d", "lmtp": "dovecot-lmtpd"}


def _missing_binaries() -> list[str]:
    return [name for name in _REQUIRED if shutil.which(name, path=_SBIN_PATH) is None]


def _missing_mail_binaries() -> list[str]:
    missing = [name for name in _MAIL_REQUIRED if shutil.which(name, path=_SBIN_PATH) is None]
    if "dovecot" not in missing:
        missing += [
            package
            for part, package in _DOVECOT_PARTS.items()
            if not (_DOVECOT_LIBEXEC / part).exists()
        ]
    return missing


def _wants_interop(session: pytest.Session) -> bool:
    return any(item.get_closest_marker("interop") for item in session.items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install the servers before any test starts (outside the per-test timeout), if asked."""
    if os.environ.get("PROTOCLIENTS_INTEROP_INSTALL") != "1" or session.config.option.collectonly:
        return
    if not _wants_interop(session) or not (_missing_binaries() or _missing_mail_binaries()):
        return
    subprocess.run(["bash", str(SERVERS_SH), "install"], check=False, timeout=1800)


@dataclass(frozen=True)
class InteropServers:
    """What ``servers.sh start`` reported (see the ``env`` file it writes)."""

    env: dict[str, str]
    directory: Path = field(repr=False)

    @property
    def ca_file(self) -> str:
        return self.env["CA_FILE"]

    @property
    def http_root(self) -> Path:
        """The directory nginx serves (``/dav/`` below it is writable over WebDAV)."""
        return Path(self.env["HTTP_ROOT"])

    def dav_url(self, scheme: str) -> str:
        """``http://127.0.0.1:PORT/dav/`` or the ``https`` one."""
        return self.env["HTTPS_DAV_URL" if scheme == "https" else "HTTP_DAV_URL"]

    @property
    def ftp_available(self) -> bool:
        return bool(self.env.get("FTP_URL"))

    @property
    def ftp_root(self) -> Path:
        """The FTP user's (chroot) home directory on disk."""
        return Path(self.env["FTP_ROOT"])

    @property
    def ftp_user(self) -> str:
        return self.env["FTP_USER"]

    @property
    def ftp_password(self) -> str:
        return self.env["FTP_PASSWORD"]

    def ftp_url(self, path: str = "", *, implicit: bool = False) -> str:
        """``ftp://USER@127.0.0.1:PORT/path``, or the implicit-TLS ``ftps://`` instance's URL.

        No password in it: pass that with ``password=``.
        """
        if implicit:
            return f"ftps://{self.ftp_user}@{self.env['FTP_HOST']}:{self.env['FTPS_PORT']}/{path}"
        return f"ftp://{self.ftp_user}@{self.env['FTP_HOST']}:{self.env['FTP_PORT']}/{path}"


def parse_env(text: str) -> dict[str, str]:
    """Parse the ``KEY=VALUE`` lines of ``servers.sh``'s env file."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key] = value
    return env


def _run_script(
    *args: str, timeout: float, script: Path = SERVERS_SH
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def interop_servers() -> Iterator[InteropServers]:
    """nginx and vsftpd started by ``servers.sh start`` for the whole session."""
    missing = _missing_binaries()
    if missing:
        pytest.skip(f"real servers not installed (missing: {', '.join(missing)}); {INSTALL_HINT}")
    # Not tmp_path_factory: its base directory is private (0700) and the servers' unprivileged
    # processes (nginx workers, the FTP user's session) must traverse the scratch directory.
    directory = Path(tempfile.mkdtemp(prefix="protoclients-interop-"))
    try:
        started = _run_script("start", str(directory), timeout=60)
        if started.returncode != 0:
            pytest.fail(
                f"servers.sh start failed (exit {started.returncode}):\n{started.stderr}",
                pytrace=False,
            )
        env = parse_env((directory / "env").read_text(encoding="utf-8"))
        yield InteropServers(env=env, directory=directory)
    finally:
        _run_script("stop", str(directory), timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def nginx(interop_servers: InteropServers) -> InteropServers:
    """The session's servers, for the nginx tests."""
    return interop_servers


@pytest.fixture(scope="session")
def vsftpd(interop_servers: InteropServers) -> InteropServers:
    """The session's servers, for the vsftpd tests (skipped where vsftpd could not start)."""
    if not interop_servers.ftp_available:
        reason = interop_servers.env.get("FTP_SKIP_REASON", "vsftpd was not started")
        pytest.skip(f"vsftpd not available: {reason}")
    return interop_servers


# ------------------------------------------------------------------------------ mail servers

_DELIVERED = 0  # a counter that keeps the Maildir file names of one process unique


@dataclass(frozen=True)
class MailServers:
    """What ``mailservers.sh start`` reported (see the ``env`` file it writes).

    One mail user (``user``, ``password``, ``address``) whose maildir (``maildir``) Dovecot
    serves over IMAP and POP3; Postfix accepts mail for ``address`` from loopback without
    authentication and delivers it over LMTP into that maildir. Plain ports offer
    STARTTLS/STLS; ``ca_file`` verifies every TLS port.
    """

    env: dict[str, str]
    directory: Path = field(repr=False)

    @property
    def ca_file(self) -> str:
        return self.env["CA_FILE"]

    @property
    def user(self) -> str:
        return self.env["MAIL_USER"]

    @property
    def password(self) -> str:
        return self.env["MAIL_PASSWORD"]

    @property
    def address(self) -> str:
        """The one deliverable address (``pcmail@mail.protoclients.test``)."""
        return self.env["MAIL_ADDRESS"]

    @property
    def host(self) -> str:
        return self.env["MAIL_HOST"]

    @property
    def maildir(self) -> Path:
        """The user's Maildir on disk (INBOX; other mailboxes are ``.Name`` below it)."""
        return Path(self.env["MAILDIR"])

    def port(self, scheme: str) -> int:
        """The port of ``smtp``, ``smtps``, ``imap``, ``imaps``, ``pop3`` or ``pop3s``."""
        return int(self.env[f"{scheme.upper()}_PORT"])

    def url(self, scheme: str, path: str = "") -> str:
        """``imap://pcmail@127.0.0.1:PORT/path`` (user in it, never the password);
        ``smtp(s)://127.0.0.1:PORT/`` without a user (loopback sends need no login)."""
        if scheme.startswith("smtp"):
            return f"{scheme}://{self.host}:{self.port(scheme)}/{path}"
        return f"{scheme}://{self.user}@{self.host}:{self.port(scheme)}/{path}"

    def mailbox_dir(self, mailbox: str = "INBOX") -> Path:
        """The Maildir++ directory of ``mailbox`` (``INBOX`` is the Maildir itself)."""
        if mailbox.upper() == "INBOX":
            return self.maildir
        return self.maildir / ("." + mailbox.replace("/", "."))

    def deliver(self, data: bytes, mailbox: str = "INBOX", *, seen: bool = False) -> Path:
        """Put one message straight into the maildir, as the mail user (no SMTP, no queue).

        Written to ``tmp/`` and renamed into ``new/`` (``cur/`` with the ``S`` flag when
        ``seen``), the way a Maildir delivery agent does; Dovecot picks it up at the next
        mailbox sync. Line endings are stored as LF, like Dovecot's own deliveries.
        """
        box = self.mailbox_dir(mailbox)
        owner = self.maildir.parent.stat()
        for sub in (
            *(self.maildir / part for part in ("", "tmp", "new", "cur")),
            *(box / part for part in ("", "tmp", "new", "cur")),
        ):
            if not sub.exists():
                sub.mkdir(mode=0o700)
                os.chown(sub, owner.st_uid, owner.st_gid)
        if box != self.maildir:
            marker = box / "maildirfolder"
            if not marker.exists():
                marker.touch(mode=0o600)
                os.chown(marker, owner.st_uid, owner.st_gid)
        body = data.replace(b"\r\n", b"\n")
        global _DELIVERED
        _DELIVERED += 1
        now = time.time()
        virtual_size = len(body) + body.count(b"\n")  # as served, with CRLF line endings
        name = (
            f"{int(now)}.M{int(now * 1e6) % 1_000_000}P{os.getpid()}Q{_DELIVERED}"
            f".pcinterop,S={len(body)},W={virtual_size}"
        )
        tmp = box / "tmp" / name
        tmp.write_bytes(body)
        os.chown(tmp, owner.st_uid, owner.st_gid)
        final = box / "cur" / f"{name}:2,S" if seen else box / "new" / name
        os.rename(tmp, final)
        return final

    @property
    def version(self) -> str:
        """``Postfix 3.7.11 + Dovecot 2.3.19.1`` (for reports)."""
        return (
            f"Postfix {self.env.get('POSTFIX_VERSION', '?')} + "
            f"Dovecot {self.env.get('DOVECOT_VERSION', '?')}"
        )


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    """Postfix and Dovecot started by ``mailservers.sh start`` for the whole session."""
    missing = _missing_mail_binaries()
    if missing:
        pytest.skip(
            f"real mail servers not installed (missing: {', '.join(missing)}); {INSTALL_HINT}"
        )
    if os.geteuid() != 0:
        pytest.skip("Postfix and Dovecot need root here (each runs as root and drops privileges)")
    # Not tmp_path_factory (private base directory): the servers' unprivileged processes
    # (Dovecot's mail processes as the mail user, Postfix's daemons) must traverse it.
    directory = Path(tempfile.mkdtemp(prefix="protoclients-mail-"))
    try:
        started = _run_script("start", str(directory), timeout=60, script=MAILSERVERS_SH)
        if started.returncode != 0:
            pytest.fail(
                f"mailservers.sh start failed (exit {started.returncode}):\n{started.stderr}",
                pytrace=False,
            )
        env = parse_env((directory / "env").read_text(encoding="utf-8"))
        yield MailServers(env=env, directory=directory)
    finally:
        _run_script("stop", str(directory), timeout=60, script=MAILSERVERS_SH)
        shutil.rmtree(directory, ignore_errors=True)
