"""Property tests of the reply readers: POP3 multi-line bodies, FTP and SMTP replies,
HTTP ``Content-Range``.

Generated replies are serialised as a server sends them, cut into arbitrary segments (the
readers must not care where TCP splits the stream) and read back:

* POP3: any message (lines with leading dots, empty lines, CRLF or bare LF) dot-stuffed
  and terminated by ``.`` reads back byte for byte; a body without its ``.`` line is
  ``TruncatedReply`` (never a short message); a line or total over its bound is
  ``ReplyTooLarge``.
* FTP / SMTP: a multi-line reply ``ddd-...`` / ``ddd ...`` reads back as one reply with the
  same code and lines; malformed codes and NULs are protocol errors.
* HTTP: ``parse_content_range`` accepts exactly the consistent ``bytes a-b/n`` forms.

The byte source is a scripted stand-in for a socket (``recv`` hands out the chosen
segments): a real socket cannot be made to split the stream at chosen places.
"""

from __future__ import annotations

import ftplib
import itertools
import smtplib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoclients.errors import ProtocolError
from protoclients.protocols.ftpconn import FTPConnection
from protoclients.protocols.ftpconn import ReplyTooLarge as FTPReplyTooLarge
from protoclients.protocols.httpheaders import parse_content_range
from protoclients.protocols.pop3conn import LineReader, ReplyTooLarge, TruncatedReply
from protoclients.protocols.smtpconn import MalformedReply, SMTPConnection

_SETTINGS = settings(max_examples=100, deadline=None)
_FAR = 1e12  # a deadline that never expires (monotonic seconds)


class _Segments:
    """``recv`` returns the given segments one by one (then end of stream)."""

    def __init__(self, data: bytes, cuts: list[int]) -> None:
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        self.pieces = [data[a:b] for a, b in itertools.pairwise(points) if b > a]
        self.timeout: float | None = None

    def settimeout(self, value: float | None) -> None:
        self.timeout = value

    def gettimeout(self) -> float | None:
        return self.timeout

    def recv(self, size: int) -> bytes:
        if not self.pieces:
            return b""
        piece = self.pieces[0]
        if len(piece) > size:
            self.pieces[0] = piece[size:]
            return piece[:size]
        self.pieces.pop(0)
        return piece

    def close(self) -> None:
        self.pieces = []


_LINE = st.binary(max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b)
_DOTTY = st.one_of(_LINE, _LINE.map(lambda b: b"." + b), st.just(b"."), st.just(b".."))
_CUTS = st.lists(st.integers(0, 10_000), max_size=12)


def _stuff(lines: list[bytes], eol: bytes) -> bytes:
    return b"".join((b"." + line if line.startswith(b".") else line) + eol for line in lines)


@_SETTINGS
@given(st.lists(_DOTTY, max_size=12), st.sampled_from([b"\r\n", b"\n"]), _CUTS)
def test_properties_pop3_multiline_round_trip(
    lines: list[bytes], eol: bytes, cuts: list[int]
) -> None:
    wire = _stuff(lines, eol) + b"." + eol + b"+OK next\r\n"
    reader = LineReader(_Segments(wire, cuts), None)  # type: ignore[arg-type]
    out = bytearray()
    total = reader.read_multiline(out.extend, max_total=10**6, max_line=10**4, deadline=_FAR)
    assert bytes(out) == b"".join(line + eol for line in lines)
    assert total == len(out)
    # The reader stops exactly at the terminator: the next response is intact.
    assert reader.readline(100, _FAR) == b"+OK next\r\n"


@_SETTINGS
@given(st.lists(_DOTTY, max_size=8), _CUTS)
def test_properties_pop3_multiline_without_terminator(lines: list[bytes], cuts: list[int]) -> None:
    wire = _stuff(lines, b"\r\n")
    reader = LineReader(_Segments(wire, cuts), None)  # type: ignore[arg-type]
    with pytest.raises(TruncatedReply):
        reader.read_multiline(bytearray().extend, max_total=10**6, max_line=10**4, deadline=_FAR)


@_SETTINGS
@given(st.lists(_LINE, min_size=1, max_size=10), st.integers(1, 40), _CUTS)
def test_properties_pop3_multiline_bounds(lines: list[bytes], bound: int, cuts: list[int]) -> None:
    wire = _stuff(lines, b"\r\n") + b".\r\n"
    body = b"".join(line + b"\r\n" for line in lines)
    longest = max(len(line) for line in lines)
    reader = LineReader(_Segments(wire, cuts), None)  # type: ignore[arg-type]
    out = bytearray()
    try:
        reader.read_multiline(out.extend, max_total=bound * 4, max_line=bound + 1, deadline=_FAR)
    except ReplyTooLarge:
        assert len(body) > bound * 4 or longest + 2 > bound + 1
        return
    assert bytes(out) == body
    assert len(body) <= bound * 4


def _ftp(wire: bytes, cuts: list[int]) -> FTPConnection:
    ftp = FTPConnection(context=None, timeout=5.0)
    ftp._attach(_Segments(wire, cuts))  # type: ignore[arg-type]
    return ftp


_CODE = st.integers(100, 599).map(str)
_TEXTLINE = st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs")), max_size=30).map(
    lambda t: t.strip()
)


@_SETTINGS
@given(_CODE, st.lists(_TEXTLINE, min_size=1, max_size=6), _CUTS)
def test_properties_ftp_reply_round_trip(code: str, lines: list[str], cuts: list[int]) -> None:
    parts = [f"{code}-{line}" for line in lines[:-1]] + [f"{code} {lines[-1]}"]
    wire = "".join(p + "\r\n" for p in parts).encode() + b"200 next\r\n"
    ftp = _ftp(wire, cuts)
    assert ftp.getmultiline() == "\n".join(parts)
    assert ftp.getmultiline() == "200 next"


@_SETTINGS
@given(st.binary(min_size=1, max_size=40), _CUTS)
def test_properties_ftp_reply_total(junk: bytes, cuts: list[int]) -> None:
    """Any bytes: a reply, or one of ftplib's errors / EOFError; never anything else."""
    ftp = _ftp(junk + b"\r\n", cuts)
    try:
        reply = ftp.getmultiline()
    except (ftplib.Error, EOFError):
        return
    assert reply[:3].isdigit() and "\0" not in reply


def test_properties_ftp_reply_line_bound() -> None:
    ftp = _ftp(b"220 " + b"x" * 20_000 + b"\r\n", [100, 5000])
    with pytest.raises(FTPReplyTooLarge):
        ftp.getmultiline()


def _smtp(wire: bytes, cuts: list[int]) -> SMTPConnection:
    conn = SMTPConnection(context=None, timeout=5.0, local_hostname="client.test")
    conn._attach(_Segments(wire, cuts))  # type: ignore[arg-type]
    return conn


@_SETTINGS
@given(_CODE, st.lists(_TEXTLINE, min_size=1, max_size=6), _CUTS)
def test_properties_smtp_reply_round_trip(code: str, lines: list[str], cuts: list[int]) -> None:
    parts = [f"{code}-{line}" for line in lines[:-1]] + [f"{code} {lines[-1]}"]
    wire = "".join(p + "\r\n" for p in parts).encode() + b"250 next\r\n"
    conn = _smtp(wire, cuts)
    got_code, text = conn.getreply()
    assert got_code == int(code)
    assert text == b"\n".join(line.encode().strip(b" \t") for line in lines)
    assert conn.getreply() == (250, b"next")


@_SETTINGS
@given(st.binary(min_size=1, max_size=40), _CUTS)
def test_properties_smtp_reply_total(junk: bytes, cuts: list[int]) -> None:
    conn = _smtp(junk + b"\r\n", cuts)
    try:
        code, _ = conn.getreply()
    except (MalformedReply, smtplib.SMTPServerDisconnected):
        return
    assert 0 <= code <= 999


@_SETTINGS
@given(st.integers(0, 2**50), st.integers(0, 2**20), st.one_of(st.none(), st.integers(0, 2**51)))
def test_properties_http_content_range(start: int, length: int, total: int | None) -> None:
    end = start + length
    value = f"bytes {start}-{end}/{'*' if total is None else total}"
    if total is not None and end >= total:
        with pytest.raises(ProtocolError):
            parse_content_range(value)
        return
    assert parse_content_range(value) == (start, end, total)
    assert parse_content_range(value.replace("bytes", "BYTES")) == (start, end, total)


@_SETTINGS
@given(st.one_of(st.none(), st.text(max_size=40)))
def test_properties_http_content_range_total(value: str | None) -> None:
    try:
        start, end, total = parse_content_range(value)
    except ProtocolError as exc:
        message = str(exc)
        start = -1
    if start == -1:
        assert "\n" not in message and "\r" not in message
        return
    assert 0 <= start <= end
    assert total is None or end < total
