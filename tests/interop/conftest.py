"""The interop tier: protoclients against real servers nobody here wrote (nginx, vsftpd).

``tests/interop/servers.sh`` configures and starts Debian's nginx (HTTP, HTTPS, WebDAV
PUT/DELETE, autoindex) and vsftpd (FTP + explicit FTPS, a local system user) on 127.0.0.1
high ports in a scratch directory, once per test session, and stops them afterwards.

Without the server binaries the tier is skipped with the command that installs them; with
``PROTOCLIENTS_INTEROP_INSTALL=1`` they are installed (as root, with apt-get) before the
first interop test runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVERS_SH = Path(__file__).resolve().with_name("servers.sh")
INSTALL_HINT = (
    "install them with `sudo tests/interop/servers.sh install` (Debian/Ubuntu) or set "
    "PROTOCLIENTS_INTEROP_INSTALL=1 to let the test run do it"
)
_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
_REQUIRED = ("nginx", "vsftpd", "openssl")


def _missing_binaries() -> list[str]:
    return [name for name in _REQUIRED if shutil.which(name, path=_SBIN_PATH) is None]


def _wants_interop(session: pytest.Session) -> bool:
    return any(item.get_closest_marker("interop") for item in session.items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install the servers before any test starts (outside the per-test timeout), if asked."""
    if os.environ.get("PROTOCLIENTS_INTEROP_INSTALL") != "1" or session.config.option.collectonly:
        return
    if not _wants_interop(session) or not _missing_binaries():
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


def _run_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SERVERS_SH), *args],
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
