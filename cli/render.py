"""Rendering results for people (tables) and scripts (``--json``), and errors as one line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from protoclients.entries import Entry
from protoclients.errors import ProtoClientError
from protoclients.transfer import TransferResult

__all__ = ["echo_entries", "echo_result", "echo_results", "fail", "human_size"]


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


def result_dict(result: TransferResult) -> dict[str, Any]:
    """A JSON-friendly dict of a transfer result."""
    return {
        "url": result.url,
        "bytes": result.bytes,
        "size": result.size,
        "path": str(result.path) if result.path else None,
        "resumed_from": result.resumed_from,
        "elapsed": round(result.elapsed, 6),
        "details": {k: v for k, v in result.details.items() if _jsonable(v)},
    }


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def echo_result(verb: str, result: TransferResult, *, as_json: bool, quiet: bool) -> None:
    """Print what a fetch/send did."""
    if as_json:
        typer.echo(json.dumps(result_dict(result)))
        return
    if quiet:
        return
    rate = result.bytes / result.elapsed if result.elapsed > 0 else 0.0
    where = f" -> {result.path}" if result.path else ""
    resumed = f" (resumed at {human_size(result.resumed_from)})" if result.resumed_from else ""
    typer.echo(
        f"{verb} {result.url}{where}: {human_size(result.bytes)} in {result.elapsed:.2f} s "
        f"({human_size(int(rate))}/s){resumed}"
    )


def echo_results(
    verb: str, results: Sequence[TransferResult], *, as_json: bool, quiet: bool
) -> None:
    """Print what a bulk fetch did: one line per file, then a total."""
    if as_json:
        typer.echo(json.dumps([result_dict(r) for r in results]))
        return
    if quiet:
        return
    for result in results:
        echo_result(verb, result, as_json=False, quiet=False)
    total = sum(r.bytes for r in results)
    typer.echo(f"{verb} {len(results)} item(s), {human_size(total)} in all")


def echo_entries(entries: Sequence[Entry], *, as_json: bool) -> None:
    """Print a listing as an aligned table or a JSON array."""
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries]))
        return
    if entries and all(e.kind == "message" for e in entries):
        _echo_table(
            [("ID", "SIZE", "DATE", "FLAGS", "FROM", "SUBJECT")]
            + [
                (
                    e.name,
                    human_size(e.size),
                    e.modified.strftime("%Y-%m-%d %H:%M") if e.modified else "-",
                    " ".join(str(f) for f in e.details.get("flags", ())) or "-",
                    _short(str(e.details.get("from") or "-"), 30),
                    _short(str(e.details.get("subject") or "-"), 50),
                )
                for e in entries
            ]
        )
        return
    rows = [("NAME", "KIND", "SIZE", "MODIFIED")]
    for e in entries:
        modified = e.modified.strftime("%Y-%m-%d %H:%M") if e.modified else "-"
        name = e.name + ("/" if e.kind == "dir" and not e.name.endswith("/") else "")
        rows.append((name, e.kind, human_size(e.size), modified))
    _echo_table(rows)


def _short(text: str, width: int) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _echo_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:-1])]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


def fail(exc: ProtoClientError) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit with its class's exit code."""
    kind = type(exc).__name__
    typer.secho(f"protoclients: {kind}: {exc}", err=True, fg=typer.colors.RED)
    raise typer.Exit(exc.exit_code)
