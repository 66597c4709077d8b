"""Unit tests for the HTTP client's pure helpers: header validation, secrets, ranges."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from protoclients.errors import InvalidInput, ProtocolError
from protoclients.protocols.http import is_secret_header, validate_headers
from protoclients.protocols.httpheaders import if_range_validator, parse_content_range
from protoclients.protocols.httpupload import UPLOAD_BUFFER, FileBody, UploadReader, open_source


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Test": "v\r\nX-Injected: 1"},
        {"X-Test": "v\nX-Injected: 1"},
        {"X-Test": "v\rx"},
        {"X-Test": "v\x00"},
        {"X-Test": "v\x7f"},
        {"X-Test\r\nX-Injected": "1"},
        {"X Test": "1"},
        {"X-Test:": "1"},
        {"": "1"},
        {"X-Nul\x00": "1"},
    ],
)
def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        validate_headers(headers)


def test_header_error_does_not_echo_the_value() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_headers({"Authorization": "Bearer s3cr3t-token\r\n"})
    assert "s3cr3t" not in str(info.value)
    assert "Authorization" in str(info.value)


def test_valid_headers_pass_unchanged() -> None:
    headers = {"X-Test": "a\tb c", "Accept": "text/html", "X-Unicode": "caf\u00e9"}
    assert validate_headers(headers) == headers
    assert validate_headers(None) == {}


def test_non_string_values_are_refused() -> None:
    with pytest.raises(InvalidInput):
        validate_headers({"X-Num": 3})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput):
        validate_headers([("X-A", "b")])  # type: ignore[arg-type]


def test_reserved_headers_are_refused() -> None:
    reserved = {"content-length", "transfer-encoding", "range", "if-range"}
    for name in ("Content-Length", "transfer-encoding", "Range", "If-Range"):
        with pytest.raises(InvalidInput):
            validate_headers({name: "1"}, reserved=reserved)


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "cookie",
        "Proxy-Authorization",
        "X-Api-Key",
        "X-Auth-Token",
        "Private-Token",
        "X-Session-Id",
        "X-My-Secret",
        "X-Amz-Security-Token",
    ],
)
def test_secret_headers(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize("name", ["Accept", "User-Agent", "X-Trace-Id", "Content-Type", "Range"])
def test_ordinary_headers(name: str) -> None:
    assert not is_secret_header(name)


def test_extra_secret_header_names() -> None:
    assert is_secret_header("X-Tenant", ["x-tenant"])
    assert not is_secret_header("X-Tenant")


def test_content_range_parsing() -> None:
    assert parse_content_range("bytes 5-9/10") == (5, 9, 10)
    assert parse_content_range("bytes 0-0/*") == (0, 0, None)
    bad_values = [
        None,
        "",
        "bytes 5-4/10",
        "bytes 5-10/10",
        "bytes */10",
        "items 0-1/2",
        "bytes 1-2",
    ]
    for bad in bad_values:
        with pytest.raises(ProtocolError):
            parse_content_range(bad)


def test_if_range_prefers_a_strong_etag() -> None:
    assert if_range_validator({"etag": '"abc"', "last_modified": "x"}) == '"abc"'
    assert if_range_validator({"etag": 'W/"abc"', "last_modified": "Mon"}) == "Mon"
    assert if_range_validator({"etag": None, "last_modified": None}) is None
    assert if_range_validator({}) is None


def test_upload_reader_counts_bounds_and_rewinds() -> None:
    calls: list[tuple[int, int | None]] = []
    source = io.BytesIO(b"0123456789extra")
    reader = UploadReader(source, 10, lambda done, total: calls.append((done, total)))
    assert reader.len == 10
    assert b"".join(reader) == b"0123456789"  # never past the announced size
    assert reader.read() == b""
    assert calls[-1] == (10, 10)
    assert reader.tell() == 10
    reader.seek(0)
    assert reader.read(4) == b"0123"


def test_upload_reader_detects_a_shrinking_source() -> None:
    reader = UploadReader(io.BytesIO(b"abc"), 10, None)
    assert reader.read(3) == b"abc"
    with pytest.raises(InvalidInput, match="shrank"):
        reader.read(3)


def test_upload_reader_on_a_non_seekable_source_cannot_rewind() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            return 0

    reader = UploadReader(Pipe(), None, None)
    assert not reader.rewindable
    with pytest.raises(OSError):
        reader.seek(0)


def _file_body(
    path: Path, size: int | None = None, calls: list[tuple[int, int | None]] | None = None
) -> FileBody:
    raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller
    progress = None if calls is None else (lambda d, t: calls.append((d, t)))
    return FileBody(raw, path.stat().st_size if size is None else size, progress)


def test_file_body_sends_one_reused_buffer_and_counts(tmp_path: Path) -> None:
    data = bytes(range(256)) * (UPLOAD_BUFFER // 256 * 2 + 3)  # two buffers and a bit
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    calls: list[tuple[int, int | None]] = []
    body = _file_body(path, calls=calls)
    assert not hasattr(body, "read")  # so urllib3 iterates it (and sends memoryviews)
    assert body.len == len(data)
    sent = bytearray()
    buffers = set()
    for chunk in body:
        assert isinstance(chunk, memoryview)
        buffers.add(id(chunk.obj))
        sent += chunk
    assert bytes(sent) == data
    assert len(buffers) == 1
    assert body.sent == body.tell() == len(data)
    assert [d for d, _ in calls] == [UPLOAD_BUFFER, 2 * UPLOAD_BUFFER, len(data)]
    body.seek(0)
    assert bytes(b"".join(bytes(c) for c in body)) == data
    body._file.close()


def test_file_body_reports_a_shrinking_file_and_cuts_a_growing_one(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    shrunk = _file_body(path, size=10)
    with pytest.raises(InvalidInput, match="shrank"):
        list(shrunk)
    shrunk._file.close()
    grown = _file_body(path, size=2)
    assert b"".join(bytes(c) for c in grown) == b"ab"
    grown._file.close()


def test_open_source_picks_the_body_by_kind(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"<p>x</p>")
    with open_source(path, None) as (body, size, guessed):
        assert isinstance(body, FileBody)
        assert (size, guessed) == (8, "text/html")
    (tmp_path / "empty").write_bytes(b"")
    with open_source(tmp_path / "empty", None) as (body, size, _):
        assert (body, size) == (b"", 0)
    with open_source(b"data", None) as (body, size, _):
        assert (body, size) == (b"data", 4)
    with open(path, "rb") as f, open_source(f, None) as (body, size, _):
        assert isinstance(body, UploadReader)
        assert size == 8
