"""Rendering results for people (tables, one-line summaries) and scripts (``--json``),
and errors as one line on stderr.

Everything a server chose (file names, subjects, header values) is made printable before
it reaches a terminal: control characters and invisible formatting characters are shown
as ``?``, so a hostile listing cannot move the cursor or recolour the screen. The library
is imported only for type checking: this module loads with ``--help``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from protoclients.entries import Entry
    from protoclients.errors import ProtoClientError
    from protoclients.transfer import TransferResult

__all__ = [
    "echo_entries",
    "echo_headers",
    "echo_result",
    "echo_results",
    "error_line",
    "fail",
    "human_size",
    "printable",
]


def human_size(size: int | None) -> str:
    """``1536`` -> ``"1.5 KiB"``; ``None`` -> ``"-"``."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def printable(text: str) -> str:
    """``text`` with control and invisible formatting characters replaced by ``?``."""
    import unicodedata

    if text.isascii() and text.isprintable():
        return text
    return "".join(
        "?" if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp", "Cs"} else c for c in text
    )


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def result_dict(result: TransferResult) -> dict[str, Any]:
    """A JSON-friendly dict of a transfer result (SMTP results add their recipients)."""
    data: dict[str, Any] = {
        "url": result.url,
        "bytes": result.bytes,
        "size": result.size,
        "path": str(result.path) if result.path else None,
        "resumed_from": result.resumed_from,
        "elapsed": round(result.elapsed, 6),
        "details": {k: v for k, v in result.details.items() if _jsonable(v)},
    }
    for extra in ("accepted", "refused", "message_id", "partial"):
        if hasattr(result, extra) and _jsonable(getattr(result, extra)):
            data[extra] = getattr(result, extra)
    return data


def echo_result(verb: str, result: TransferResult, *, as_json: bool, quiet: bool) -> None:
    """Print what a fetch/send did (stdout), in one line or one JSON document."""
    if as_json:
        typer.echo(json.dumps(result_dict(result)))
        return
    if quiet:
        return
    rate = result.bytes / result.elapsed if result.elapsed > 0 else 0.0
    where = f" -> {printable(str(result.path))}" if result.path else ""
    resumed = f" (resumed at {human_size(result.resumed_from)})" if result.resumed_from else ""
    typer.echo(
        f"{verb} {printable(result.url)}{where}: {human_size(result.bytes)} in "
        f"{result.elapsed:.2f} s ({human_size(int(rate))}/s){resumed}"
    )


def echo_results(
    verb: str, results: Sequence[TransferResult], *, as_json: bool, quiet: bool
) -> None:
    """Print what a bulk fetch did: a one-line summary (``--json``: every result)."""
    if as_json:
        typer.echo(json.dumps([result_dict(r) for r in results]))
        return
    if quiet:
        return
    written = [r for r in results if not r.details.get("skipped")]
    total = sum(r.bytes for r in written)
    elapsed = max((r.elapsed for r in results), default=0.0)
    folders = {str(r.path.parent) for r in written if r.path is not None}
    where = f" into {printable(folders.pop())}" if len(folders) == 1 else ""
    skipped = len(results) - len(written)
    note = f" ({skipped} already present, skipped)" if skipped else ""
    typer.echo(
        f"{verb} {len(written)} message(s), {human_size(total)}{where} in {elapsed:.2f} s{note}"
    )


def echo_headers(head: dict[str, Any], *, as_json: bool) -> None:
    """Print an HTTP response head (``fetch --headers-only``) like ``curl -I``."""
    if as_json:
        typer.echo(json.dumps(head))
        return
    typer.echo(f"{head['status']} {printable(str(head['reason']))}".rstrip())
    for name, value in head["headers"]:
        typer.echo(f"{printable(name)}: {printable(value)}")


def echo_entries(entries: Sequence[Entry], *, as_json: bool) -> None:
    """Print a listing as an aligned table (``(empty)`` when empty) or one JSON array."""
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries]))
        return
    if not entries:
        typer.echo("(empty)")
        return
    if all(e.kind == "message" for e in entries):
        _echo_messages(entries)
        return
    rows = [("NAME", "KIND", "SIZE", "MODIFIED")]
    for e in entries:
        name = e.name + ("/" if e.kind == "dir" and not e.name.endswith("/") else "")
        rows.append((printable(name), e.kind, human_size(e.size), _date(e)))
    _echo_table(rows)


def _echo_messages(entries: Sequence[Entry]) -> None:
    if all("number" in e.details for e in entries):  # POP3: numbers and UIDLs, no flags
        rows = [("#", "UIDL", "SIZE", "DATE", "FROM", "SUBJECT")]
        for e in entries:
            rows.append(
                (
                    str(e.details["number"]),
                    printable(str(e.details.get("uidl") or "-")),
                    human_size(e.size),
                    _header_date(e.details.get("date")) or _date(e),
                    _short(str(e.details.get("from") or "-"), 30),
                    _short(str(e.details.get("subject") or "-"), 50),
                )
            )
        _echo_table(rows)
        return
    first = "UID" if all("uid" in e.details for e in entries) else "ID"
    rows = [(first, "SIZE", "DATE", "FLAGS", "FROM", "SUBJECT")]
    for e in entries:
        flags = " ".join(str(f) for f in e.details.get("flags", ())) or "-"
        rows.append(
            (
                printable(e.name),
                human_size(e.size),
                _date(e),
                _short(flags, 24),
                _short(str(e.details.get("from") or "-"), 30),
                _short(str(e.details.get("subject") or "-"), 50),
            )
        )
    _echo_table(rows)


def _header_date(value: Any) -> str | None:
    """A ``Date:`` header as ``YYYY-MM-DD HH:MM``, or ``None``."""
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(str(value)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError, IndexError):
        return None


def _date(entry: Entry) -> str:
    return entry.modified.strftime("%Y-%m-%d %H:%M") if entry.modified else "-"


def _short(text: str, width: int) -> str:
    text = printable(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _echo_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:-1])]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


_CREDENTIAL_HINT = (
    "give it with --password-stdin, the PROTOCLIENTS_PASSWORD environment variable, the "
    "keyring (protoclients auth set URL) or a netrc file (~/.netrc or --netrc-file, mode 600)"
)
_WHO = r"no password found for (\S+)\. Give"


def error_line(exc: ProtoClientError, command: str | None = None) -> str:
    """The one stderr line for ``exc``: what failed, where, the server's words, the class."""
    import re

    from protoclients.errors import CredentialsNotFound

    text, kind = str(exc), type(exc).__name__
    who = re.search(_WHO, exc.message) if isinstance(exc, CredentialsNotFound) else None
    if who is not None:
        # The library names its own API (password=...); on the command line, name the options.
        notes = exc.message.partition(" [")[2]
        text = f"no password found for {who[1]}: {_CREDENTIAL_HINT}"
        kind = "CredentialsNotFound"  # also when the keyring is unusable (KeyringUnavailable)
        if notes:
            text += " [" + notes
        if exc.url:
            text += f" ({exc.url})"
    text = " ".join(printable(text).split())
    what = f"{command} failed: " if command else ""
    return f"protoclients: {what}{kind}: {text}"


def fail(exc: ProtoClientError, command: str | None = None) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit with its class's exit code."""
    typer.secho(error_line(exc, command), err=True, fg=typer.colors.RED)
    raise typer.Exit(exc.exit_code)
