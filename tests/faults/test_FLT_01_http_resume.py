"""FLT-01 (HTTP, fault): the server closes at 50 % of the body; resuming is checked.

The real HTTP server announces the full ``Content-Length`` and closes after half the body
(``faults.drop_after``). The first fetch fails with ``IncompleteTransferError``, no file
under the final name, the half in ``<name>.part``. ``resume=True`` sends
``Range: bytes=N-`` + ``If-Range: <strong ETag>`` (checked in the server's request log), and:

(a) ``206`` with the matching ``Content-Range``: appended, SHA-256 equals the original;
(b) the server ignores ``Range`` (``200``, full body): restarted from 0, not appended;
(c) ``206`` with the wrong start: aborted (``ProtocolError``), ``.part`` untouched, final
    name untouched; a later resume still completes;
(d) the file changed (new ETag, ``If-Range`` fails, ``200``): restarted, new content.

(requests does none of these checks itself.) These were ``test_resume_*`` in
``tests/integration/test_http_client.py``; the server-side assertions are new.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

import protoclients as pc
from protoclients.transfer import PART_SUFFIX

pytestmark = pytest.mark.timeout(60)

DATA = os.urandom(3 * 1024 * 1024 + 17)
HALF = len(DATA) // 2


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def srv(pc_http_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    (pc_http_server.root / "big.bin").write_bytes(DATA)
    return pc_http_server


def _interrupted(srv: Any, dest: Path) -> tuple[Path, str]:
    srv.faults.drop_after = HALF
    with pytest.raises(pc.IncompleteTransferError, match=f"{HALF} of {len(DATA)}"):
        pc.fetch(srv.url + "big.bin", dest)
    part = dest.parent / (dest.name + PART_SUFFIX)
    assert not dest.exists()
    assert part.read_bytes() == DATA[:HALF]
    etag = _etag(srv)
    srv.requests.clear()
    return part, etag


def _etag(srv: Any) -> str:
    with pc.connect(srv.url) as client:
        info = client.head("big.bin")  # type: ignore[attr-defined]
    return str(dict(info["headers"])["ETag"])


def _range_request(srv: Any) -> dict[str, str]:
    gets = [r for r in srv.requests if r.method == "GET" and r.path == "/big.bin"]
    assert len(gets) >= 1
    return dict(gets[0].headers)


def test_FLT_01_a_matching_206_is_appended(srv: Any, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    _part, etag = _interrupted(srv, dest)
    calls: list[tuple[int, int | None]] = []
    result = pc.fetch(
        srv.url + "big.bin", dest, resume=True, progress=lambda d, t: calls.append((d, t))
    )
    assert _sha(dest.read_bytes()) == _sha(DATA)
    assert result.details["status"] == 206
    assert result.resumed_from == HALF and result.bytes == len(DATA) - HALF
    assert result.size == len(DATA)
    assert calls[-1] == (len(DATA), len(DATA))
    headers = _range_request(srv)
    assert headers["Range"] == f"bytes={HALF}-"
    assert headers["If-Range"] == etag  # the strong ETag saved with the .part
    assert len(srv.requests) == 1
    assert not list(tmp_path.glob("*" + PART_SUFFIX + "*"))


def test_FLT_01_b_ignored_range_restarts_from_zero(srv: Any, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    _interrupted(srv, dest)
    srv.faults.ignore_range = True
    result = pc.fetch(srv.url + "big.bin", dest, resume=True)
    assert result.details["status"] == 200
    assert result.resumed_from == 0 and result.bytes == len(DATA)
    assert dest.read_bytes() == DATA  # restarted, not appended (would be 1.5x long)
    assert _range_request(srv)["Range"] == f"bytes={HALF}-"


def test_FLT_01_c_wrong_content_range_aborts_and_keeps_the_part(srv: Any, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"previous version")
    dest.chmod(0o600)
    part, _ = _interrupted_keeping(srv, dest)
    before = part.read_bytes()
    srv.faults.wrong_range = True
    with pytest.raises(pc.ProtocolError, match=f"not {HALF}"):
        pc.fetch(srv.url + "big.bin", dest, resume=True)
    assert part.read_bytes() == before  # nothing appended
    assert dest.read_bytes() == b"previous version"  # final name untouched
    srv.faults.wrong_range = False
    pc.fetch(srv.url + "big.bin", dest, resume=True)
    assert dest.read_bytes() == DATA
    assert dest.stat().st_mode & 0o777 == 0o600  # permissions not widened


def _interrupted_keeping(srv: Any, dest: Path) -> tuple[Path, str]:
    srv.faults.drop_after = HALF
    with pytest.raises(pc.IncompleteTransferError):
        pc.fetch(srv.url + "big.bin", dest)
    part = dest.parent / (dest.name + PART_SUFFIX)
    assert part.read_bytes() == DATA[:HALF]
    srv.requests.clear()
    return part, ""


def test_FLT_01_d_changed_etag_restarts(srv: Any, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    _part, old_etag = _interrupted(srv, dest)
    changed = os.urandom(len(DATA))
    (srv.root / "big.bin").write_bytes(changed)
    os.utime(srv.root / "big.bin", (1_700_000_000, 1_700_000_000))  # a new ETag for sure
    result = pc.fetch(srv.url + "big.bin", dest, resume=True)
    assert result.details["status"] == 200
    assert result.resumed_from == 0
    assert dest.read_bytes() == changed  # never half old, half new
    assert _range_request(srv)["If-Range"] == old_etag
    assert result.details["etag"] != old_etag


def test_FLT_01_part_metadata_names_the_validator(srv: Any, tmp_path: Path) -> None:
    dest = tmp_path / "big.bin"
    _part, etag = _interrupted(srv, dest)
    sidecars = [p for p in tmp_path.iterdir() if p.name != dest.name + PART_SUFFIX]
    records = [json.loads(p.read_text()) for p in sidecars if p.is_file()]
    assert any(etag in record.values() for record in records), records
