"""Download sinks: bounded memory, atomic files, locks, permissions, disk full."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from protoclients import DiskFullError, InvalidInput, ResponseTooLarge, TransferInProgress
from protoclients.transfer import FileSink, MemorySink, open_sink, safe_filename


def test_memory_sink_is_bounded() -> None:
    sink = MemorySink(limit=10)
    sink.write(b"12345")
    with pytest.raises(ResponseTooLarge):
        sink.write(b"678901")
    assert sink.getvalue() == b"12345"


def test_file_sink_commits_atomically(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    seen: list[tuple[int, int | None]] = []
    with open_sink(dest, remote_name="x", resume=False, progress=lambda d, t: seen.append((d, t)),
                   max_memory=1) as sink:
        sink.write(b"abc")
        assert not dest.exists()
        assert (tmp_path / "out.bin.part").read_bytes() == b"abc"
        sink.write(memoryview(b"def"))
    assert dest.read_bytes() == b"abcdef"
    assert not (tmp_path / "out.bin.part").exists()
    assert seen == [(3, None), (6, None)]


def test_failure_leaves_no_final_file_and_keeps_part(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), open_sink(dest, remote_name="x", resume=False, progress=None,
                                                 max_memory=1) as sink:
        sink.write(b"half")
        raise RuntimeError("connection dropped")
    assert not dest.exists()
    assert (tmp_path / "out.bin.part").read_bytes() == b"half"
    # Resume continues from the partial file.
    with open_sink(dest, remote_name="x", resume=True, progress=None, max_memory=1) as sink:
        assert sink.offset == 4
        sink.write(b"-rest")
    assert dest.read_bytes() == b"half-rest"


def test_failure_keeps_old_version_intact(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old content")
    with pytest.raises(RuntimeError), open_sink(dest, remote_name="x", resume=False, progress=None,
                                                 max_memory=1) as sink:
        sink.write(b"new")
        raise RuntimeError("boom")
    assert dest.read_bytes() == b"old content"


def test_restart_discards_partial(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    (tmp_path / "f.part").write_bytes(b"stale")
    with open_sink(dest, remote_name="x", resume=True, progress=None, max_memory=1) as sink:
        assert sink.offset == 5
        sink.restart()
        sink.write(b"fresh")
    assert dest.read_bytes() == b"fresh"


def test_meta_saved_and_removed(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    with pytest.raises(RuntimeError), FileSink(dest, resume=False) as sink:
        sink.save_meta({"etag": '"abc"'})
        sink.write(b"x")
        raise RuntimeError
    with FileSink(dest, resume=True) as sink:
        assert sink.load_meta() == {"etag": '"abc"'}
        sink.write(b"y")
    assert not sink.meta_path.exists()
    assert dest.read_bytes() == b"xy"


def test_permissions_never_widen(tmp_path: Path) -> None:
    dest = tmp_path / "secret.txt"
    dest.write_bytes(b"old")
    dest.chmod(0o600)
    with FileSink(dest, resume=False) as sink:
        sink.write(b"new")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert dest.read_bytes() == b"new"


def test_concurrent_download_to_same_target_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    with FileSink(dest, resume=False) as first:
        first.write(b"a")
        with pytest.raises(TransferInProgress):
            FileSink(dest, resume=False)
    assert dest.read_bytes() == b"a"


def test_directory_destination_uses_safe_remote_name(tmp_path: Path) -> None:
    with open_sink(tmp_path, remote_name="../../etc/passwd", resume=False, progress=None,
                   max_memory=1) as sink:
        sink.write(b"x")
    assert sink.path is not None and sink.path.parent == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == [".._.._etc_passwd"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.txt", "a.txt"), ("..", "dl"), (".", "dl"), ("", "dl"), ("a/b", "a_b"), ("x\r\ny", "x__y")],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name, "dl") == expected


def test_file_object_destination(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with open_sink(buf, remote_name="x", resume=False, progress=None, max_memory=1) as sink:
        sink.write(b"data")
    assert buf.getvalue() == b"data"


def test_missing_directory_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        open_sink(tmp_path / "nope" / "f", remote_name="x", resume=False, progress=None,
                  max_memory=1)


def test_resume_needs_a_destination() -> None:
    with pytest.raises(InvalidInput):
        open_sink(None, remote_name="x", resume=True, progress=None, max_memory=1)


def test_dev_full_is_disk_full(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "wb", buffering=0) as full:
        sink = open_sink(full, remote_name="x", resume=False, progress=None, max_memory=1)
        with pytest.raises(DiskFullError):
            sink.write(b"x" * 8192)


def test_file_size_limit_gives_disk_full_and_removes_part(tmp_path: Path) -> None:
    """RLIMIT_FSIZE in a child process: EFBIG -> DiskFullError, no final file, no .part."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from protoclients import DiskFullError
        from protoclients.transfer import FileSink
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        dest = Path({str(tmp_path / "big.bin")!r})
        try:
            with FileSink(dest, resume=False) as sink:
                for _ in range(10):
                    sink.write(b"x" * 1024)
        except DiskFullError:
            sys.exit(42)
        sys.exit(0)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)
    assert proc.returncode == 42
    assert sorted(p.name for p in tmp_path.iterdir()) == []
