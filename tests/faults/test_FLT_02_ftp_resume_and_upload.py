"""FLT-02 (FTP, fault): interrupted downloads resume safely; interrupted uploads leave no
partial file under the final name.

(a) The real FTP server drops the data connection at 40 % of a ``RETR``: the first fetch
    fails, the final name is absent, the 40 % is in ``<name>.part``. ``resume=True`` sends
    ``REST N`` + ``RETR`` (server log) and the result is checked against ``SIZE``:
    byte-identical. A server that answers ``350`` to ``REST`` but sends from offset 0
    (lying) is caught by the size check: error, final name untouched, ``.part`` kept. A
    server without ``REST`` (``502``) gets a full restart.
(b) The server cuts a ``STOR`` short (``426`` after 40 %): the upload went to a temporary
    name, so the final name never exists (or keeps its previous content), and the temporary
    file is removed; the server's log shows ``STOR`` to the temporary name and no
    ``RNFR``/``RNTO``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

import protoclients as pc
from protoclients.transfer import PART_SUFFIX

pytestmark = pytest.mark.timeout(60)

DATA = os.urandom(2 * 1024 * 1024 + 333)
CUT = len(DATA) * 40 // 100


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def ftp(pc_ftp_server: Any) -> Any:
    (pc_ftp_server.root / "big.bin").write_bytes(DATA)
    return pc_ftp_server


def _url(srv: Any, path: str = "") -> str:
    return srv.url.replace("://", "://alice@", 1) + path


def _opts(srv: Any) -> dict[str, Any]:
    return {"password": srv.users["alice"]}


def _interrupted(srv: Any, dest: Path) -> Path:
    srv.faults.drop_after = CUT
    with pytest.raises(pc.IncompleteTransferError):
        pc.fetch(_url(srv, "big.bin"), dest, **_opts(srv))
    part = dest.parent / (dest.name + PART_SUFFIX)
    assert part.read_bytes() == DATA[:CUT]
    srv.commands.clear()
    return part


def _after_login(srv: Any) -> list[str]:
    return [c for c in srv.commands if not c.startswith(("USER", "PASS", "FEAT", "PWD", "OPTS"))]


def test_FLT_02_a_resume_with_rest(ftp: Any, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    _interrupted(ftp, dest)
    assert not dest.exists()
    result = pc.fetch(_url(ftp, "big.bin"), dest, resume=True, **_opts(ftp))
    assert _sha(dest.read_bytes()) == _sha(DATA)
    assert result.resumed_from == CUT and result.size == len(DATA)
    commands = _after_login(ftp)
    assert any(c.startswith("SIZE ") for c in commands)
    rest = commands.index(f"REST {CUT}")
    assert commands[rest + 1].startswith("RETR ")
    assert not any(c.startswith(("DELE", "STOR", "RNFR")) for c in ftp.commands)


def test_FLT_02_a_lying_rest_is_caught_by_the_size_check(ftp: Any, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"previous version")
    _interrupted(ftp, dest)
    ftp.faults.lie_rest = True
    with pytest.raises(pc.IncompleteTransferError):
        pc.fetch(_url(ftp, "big.bin"), dest, resume=True, **_opts(ftp))
    assert dest.read_bytes() == b"previous version"  # final name untouched
    assert f"REST {CUT}" in ftp.commands
    # A later honest resume (or a restart) still ends with the exact file.
    ftp.faults.lie_rest = False
    pc.fetch(_url(ftp, "big.bin"), dest, resume=True, **_opts(ftp))
    assert _sha(dest.read_bytes()) == _sha(DATA)


def test_FLT_02_a_rest_not_implemented_restarts(ftp: Any, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    _interrupted(ftp, dest)
    ftp.faults.disabled_commands = {"REST"}
    result = pc.fetch(_url(ftp, "big.bin"), dest, resume=True, **_opts(ftp))
    assert result.resumed_from == 0 and result.bytes == len(DATA)
    assert dest.read_bytes() == DATA  # restarted from 0, not appended
    retrs = [c for c in ftp.commands if c.startswith("RETR ")]
    assert len(retrs) == 1


def test_FLT_02_a_silent_short_transfer_is_caught(ftp: Any, tmp_path: Path) -> None:
    # The server says "226 Transfer complete" although it sent only 40 %: SIZE catches it.
    dest = tmp_path / "big.bin"
    ftp.faults.drop_after = CUT
    ftp.faults.drop_silently = True
    with pytest.raises(pc.IncompleteTransferError):
        pc.fetch(_url(ftp, "big.bin"), dest, **_opts(ftp))
    assert not dest.exists()


@pytest.mark.parametrize("existing", [False, True])
def test_FLT_02_b_upload_cut_short_never_shows_under_the_final_name(
    ftp: Any, tmp_path: Path, existing: bool
) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(DATA)
    final = ftp.root / "in" / "upload.bin"
    final.parent.mkdir()
    if existing:
        final.write_bytes(b"previous upload")
    ftp.faults.drop_upload_after = CUT
    with pytest.raises(pc.ProtoClientError):
        pc.send(_url(ftp, "in/upload.bin"), source, **_opts(ftp))
    if existing:
        assert final.read_bytes() == b"previous upload"
    else:
        assert not final.exists()
    # The partial data went to a temporary name, which the client removed.
    assert sorted(p.name for p in final.parent.iterdir()) == (["upload.bin"] if existing else [])
    stors = [c for c in ftp.commands if c.startswith("STOR ")]
    assert len(stors) == 1 and stors[0].endswith(".part") and "/in/.upload.bin." in stors[0]
    assert not any(c.startswith(("RNFR", "RNTO")) for c in ftp.commands)
    assert any(c.startswith("DELE ") and c.endswith(".part") for c in ftp.commands)
    # A retry completes, and only then is the final name (re)placed, by a rename.
    ftp.commands.clear()
    pc.send(_url(ftp, "in/upload.bin"), source, **_opts(ftp))
    assert final.read_bytes() == DATA
    verbs = [c.split()[0] for c in ftp.commands]
    assert verbs.index("STOR") < verbs.index("RNFR") < verbs.index("RNTO")


def test_FLT_02_b_upload_cut_short_over_explicit_ftps(pc_ftps_server: Any, tmp_path: Path) -> None:
    srv = pc_ftps_server
    source = tmp_path / "upload.bin"
    source.write_bytes(DATA)
    opts = {"password": srv.users["alice"], "tls": "starttls", "ca_file": srv.ca_file}
    srv.faults.drop_upload_after = CUT
    with pytest.raises(pc.ProtoClientError):
        pc.send(_url(srv, "upload.bin"), source, **opts)
    assert not (srv.root / "upload.bin").exists()
    assert [p.name for p in srv.root.iterdir()] == []
    assert not any(c.startswith(("RNFR", "RNTO")) for c in srv.commands)
    pc.send(_url(srv, "upload.bin"), source, **opts)
    assert (srv.root / "upload.bin").read_bytes() == DATA
