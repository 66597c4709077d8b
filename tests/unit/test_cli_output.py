"""What the CLI writes: local file names, the overwrite rule, tables, error lines, progress."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from protoclients_cli.destinations import (
    EXIT_EXISTS,
    MAX_NAME_BYTES,
    DestinationExists,
    choose_destination,
    remote_name,
    safe_local_name,
)
from protoclients_cli.progress import BarProgress, wants_progress
from protoclients_cli.render import echo_entries, error_line, human_size, printable

from protoclients.entries import Entry
from protoclients.errors import CredentialsNotFound, InvalidInput, NotFoundError
from protoclients.urls import parse_url


@pytest.mark.parametrize(
    ("remote", "local"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..", "download"),
        (".", "download"),
        ("", "download"),
        ("...", "download"),
        (".bashrc", "bashrc"),
        ("a\\b", "a_b"),
        ("evil\x1b[31m.txt", "evil_[31m.txt"),
        ("line\nbreak", "line_break"),
        ("cod\u202egpj.exe", "cod_gpj.exe"),  # right-to-left override
        ("  spaced  ", "spaced"),
        ("nul\x00byte", "nul_byte"),
    ],
)
def test_safe_local_name(remote: str, local: str) -> None:
    assert safe_local_name(remote) == local


def test_safe_local_name_cuts_long_names_keeping_the_extension() -> None:
    name = safe_local_name("é" * 300 + ".tar.gz")
    assert name.endswith(".gz") and len(name.encode()) <= MAX_NAME_BYTES


@given(st.text(max_size=400))
def test_safe_local_name_never_leaves_the_directory(remote: str) -> None:
    name = safe_local_name(remote)
    assert name and "/" not in name and "\\" not in name and not name.startswith(".")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert all(c.isprintable() for c in name)
    base = Path("/base/dir")
    assert (base / name).resolve().parent == base


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://h/files/data.csv", "data.csv"),
        ("https://h/files/", "index.html"),
        ("https://h", "index.html"),
        ("http://h/a%20b.txt", "a b.txt"),
        ("ftp://h/pub/f.iso", "f.iso"),
        ("imap://u@h/INBOX;UID=42", "42.eml"),
        ("imap://u@h/INBOX", None),
        ("pop3://u@h/3", "3.eml"),
        ("pop3://u@h/UIDL=abc", "abc.eml"),
        ("pop3://u@h/", None),
    ],
)
def test_remote_name(url: str, name: str | None) -> None:
    assert remote_name(parse_url(url)) == name


def test_remote_name_refuses_an_ftp_directory() -> None:
    with pytest.raises(InvalidInput, match="protoclients ls"):
        remote_name(parse_url("ftp://h/pub/"))


def test_remote_name_headers_only() -> None:
    assert remote_name(parse_url("imap://u@h/INBOX;UID=7"), headers_only=True) == "7.headers"


def test_choose_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = parse_url("https://h/d/file.txt")
    assert choose_destination(url, "-", force=False).kind == "stdout"
    dest = choose_destination(url, str(tmp_path), force=False)
    assert (dest.kind, dest.path) == ("file", tmp_path / "file.txt")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DestinationExists) as info:
        choose_destination(url, str(tmp_path), force=False)
    assert info.value.exit_code == EXIT_EXISTS == 15
    assert choose_destination(url, str(tmp_path), force=True).path == tmp_path / "file.txt"
    with pytest.raises(DestinationExists):
        choose_destination(url, str(tmp_path / "file.txt"), force=False)
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")  # a dangling link counts as existing
    with pytest.raises(DestinationExists):
        choose_destination(url, str(tmp_path / "link"), force=False)
    made = choose_destination(url, str(tmp_path / "newdir" / "sub") + "/", force=False)
    assert made.path == tmp_path / "newdir" / "sub" / "file.txt"  # "DIR/" is created
    assert (tmp_path / "newdir" / "sub").is_dir()
    with pytest.raises(InvalidInput, match="does not exist"):
        choose_destination(url, str(tmp_path / "nodir" / "f"), force=False)
    monkeypatch.chdir(tmp_path)
    assert choose_destination(parse_url("https://h/new.txt"), None, force=False).path == (
        tmp_path / "new.txt"
    )
    box = parse_url("imap://u@h/INBOX")
    with pytest.raises(InvalidInput, match="-o DIR"):
        choose_destination(box, None, force=False)
    with pytest.raises(InvalidInput, match="existing directory"):
        choose_destination(box, str(tmp_path / "file.txt"), force=False)
    assert choose_destination(box, str(tmp_path), force=False).kind == "bulk"
    assert choose_destination(box, str(tmp_path / "mails") + "/", force=False).kind == "bulk"
    assert (tmp_path / "mails").is_dir()


def test_printable_and_human_size() -> None:
    assert printable("a\x1b[2Jb\u202ec\td") == "a?[2Jb?c?d"
    assert human_size(None) == "-" and human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB" and human_size(3 * 1024**3) == "3.0 GiB"


def test_entries_tables(capsys: pytest.CaptureFixture[str]) -> None:
    echo_entries([], as_json=False)
    assert capsys.readouterr().out == "(empty)\n"
    echo_entries([], as_json=True)
    assert capsys.readouterr().out == "[]\n"
    when = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
    echo_entries(
        [
            Entry("sub", "dir"),
            Entry("a\x1b[31m.txt", "file", 2048, when),
        ],
        as_json=False,
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "SIZE", "MODIFIED"]
    assert lines[1].startswith("sub/") and "a?[31m.txt" in lines[2] and "2.0 KiB" in lines[2]
    assert "2024-05-01 12:30" in lines[2]
    message = Entry(
        "42", "message", 900, when,
        details={"uid": 42, "flags": ["\\Seen"], "from": "Bob <b@x>", "subject": "Hi\x07"},
    )
    echo_entries([message], as_json=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["UID", "SIZE", "DATE", "FLAGS", "FROM", "SUBJECT"]
    assert "\\Seen" in lines[1] and "Hi?" in lines[1]


def test_error_line() -> None:
    exc = NotFoundError("not found (HTTP 404)", url="https://u:pw@h/x", reply="404\nNot\x1bFound")
    line = error_line(exc, "fetch")
    assert line.startswith("protoclients: fetch failed: NotFoundError: not found (HTTP 404)")
    assert "\n" not in line and "\x1b" not in line and "pw" not in line
    missing = CredentialsNotFound(
        "no password found for alice@h.example. Give one with password=..., the ... "
        "[ignored /x/.netrc: it is readable by others]",
        url="imap://alice@h.example/",
    )
    line = error_line(missing, "ls")
    assert "no password found for alice@h.example:" in line
    for hint in ("--password-stdin", "PROTOCLIENTS_PASSWORD", "--netrc-file", "auth set"):
        assert hint in line
    assert "password=..." not in line and "readable by others" in line


def test_no_progress_without_a_terminal() -> None:
    # Under pytest stderr is captured: not a terminal.
    assert not wants_progress(quiet=False, as_json=False, verbose=0)


def test_progress_callback_is_throttled_and_cheap() -> None:
    pushes = []

    class Counting(BarProgress):
        def _push(self) -> None:
            pushes.append(self._done)

    bar = Counting("x")
    started = time.perf_counter()
    for done in range(0, 200_000):
        bar(done, 200_000)
    elapsed = time.perf_counter() - started
    assert len(pushes) <= 1 + elapsed * 10 + 1
    assert elapsed < 2.0  # ~1 µs per call: nothing next to a chunk of network I/O
    bar.stop()
    assert pushes[-1] == 199_999


def test_bulk_progress_counts_messages() -> None:
    bar = BarProgress("box", count_messages=True)
    for total in (100, 250, 400):
        bar(total, None)
    assert bar._messages == 3
    bar.stop()


def test_docs_exit_code_table_matches_the_error_classes() -> None:
    import inspect
    import re

    from protoclients_cli.state import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED

    import protoclients.errors as errors

    page = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    table = page[page.index("## Errors and exit codes") :]
    rows = {
        int(m[1]): m[2]
        for m in re.finditer(r"^\| +(\d+) \| (.*) \|$", table, flags=re.MULTILINE)
    }
    for name in errors.__all__:
        cls = getattr(errors, name)
        if inspect.isclass(cls) and issubclass(cls, errors.ProtoClientError):
            assert f"`{name}`" in rows[cls.exit_code], name
    for code in (EXIT_EXISTS, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE):
        assert code in rows
