"""Generate the CLI reference (Markdown) from the Typer app and the exit codes of the library.

    python -m protoclients_cli.docgen > docs/cli-reference.md

The output is deterministic: it does not depend on the terminal (no width, no colour), only
on the commands, their parameters and help texts, and :mod:`protoclients.errors`.
``tests/unit/test_cli_reference.py`` checks that ``docs/cli-reference.md`` is up to date.
"""

from __future__ import annotations

import html
import inspect
import itertools
import re
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import typer

__all__ = ["COMMAND", "exit_code_rows", "main", "render"]

#: How to regenerate the page (also printed at its top and by the sync test).
COMMAND = "python -m protoclients_cli.docgen > docs/cli-reference.md"
PROG = "protoclients"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Characters Markdown would read as markup in prose; ``<`` and ``|`` become entities (a
# backslash does not escape ``<`` in Python-Markdown, and ``|`` would end a table cell).
_MARKUP = re.compile(r"([\\`*_\[\]>#])")


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def _escape(text: str) -> str:
    """Prose for Markdown (also inside table cells); code spans are kept as code."""
    parts = re.split(r"(`[^`\n]+`)", _plain(text))
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(_code(part[1:-1]))
        else:
            out.append(_MARKUP.sub(r"\\\1", part).replace("<", "&lt;").replace("|", "&#124;"))
    return "".join(out)


def _code(text: str) -> str:
    """Inline code that is safe in a table cell (HTML, so ``|`` can be an entity)."""
    return "<code>" + html.escape(_plain(text), quote=False).replace("|", "&#124;") + "</code>"


def _help_blocks(text: str) -> list[str]:
    """Click help text as Markdown blocks: paragraphs, and indented lines as code blocks.

    Follows Click's conventions: ``\\f`` ends the help, a ``\\b`` line only stops
    re-wrapping (dropped here); indented lines are examples.
    """
    text = inspect.cleandoc(_plain(text).split("\f", 1)[0])
    blocks: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line for line in paragraph.splitlines() if line.strip() != "\b"]
        for indented, run in itertools.groupby(lines, key=lambda s: s.startswith((" ", "\t"))):
            chunk = list(run)
            if indented:
                body = textwrap.dedent("\n".join(chunk)).rstrip()
                blocks.append("```sh\n" + body + "\n```")
            else:
                blocks.append(_escape(" ".join(s.strip() for s in chunk)))
    # Consecutive code blocks (examples separated by blank lines) become one.
    merged: list[str] = []
    for block in blocks:
        if merged and merged[-1].startswith("```sh\n") and block.startswith("```sh\n"):
            merged[-1] = merged[-1][: -len("\n```")] + "\n\n" + block[len("```sh\n"):]
        else:
            merged.append(block)
    return merged


def _usage(command: Any, ctx: Any, path: str) -> str:
    pieces = [path]
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    pieces.append("[OPTIONS]")  # there is always --help
    for param in params:
        if param.param_type_name != "argument":
            continue
        name = (param.metavar or param.name or "ARG").upper().strip("[]")
        if param.nargs == -1:
            name += "..."
        pieces.append(name if param.required else f"[{name}]")
    if _is_group(command):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def _param_rows(command: Any, ctx: Any, kind: str) -> list[tuple[str, str]]:
    rows = []
    for param in command.params:
        if param.param_type_name != kind or getattr(param, "hidden", False):
            continue
        record = param.get_help_record(ctx)
        if record is None:
            name = (param.name or "").upper()
            record = (name, getattr(param, "help", None) or "")
        rows.append((record[0], record[1]))
    if kind == "option":
        rows.append(("--help", "Show the help and exit."))
    return rows


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> list[str]:
    out = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    out += [f"| {_code(a)} | {_escape(b) or ' '} |" for a, b in rows]
    return out


def _walk(command: Any, ctx: Any, path: str) -> Iterator[tuple[Any, Any, str]]:
    """``(command, context, "protoclients sub cmd")`` for the command and every sub-command."""
    yield command, ctx, path
    if not _is_group(command):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_ctx = sub.context_class(sub, info_name=name, parent=ctx)
        yield from _walk(sub, sub_ctx, f"{path} {name}")


def _summary(command: Any) -> str:
    text = command.short_help or command.help or ""
    blocks = _help_blocks(text)
    return blocks[0] if blocks and not blocks[0].startswith("```") else ""


def _anchor(path: str) -> str:
    return path.replace(" ", "-")


def exit_code_rows() -> list[tuple[int, str, str]]:
    """``(code, what, meaning)`` rows: the command line's own codes and one row per
    :class:`~protoclients.errors.ProtoClientError` class, ordered by code."""
    from protoclients import errors

    from .destinations import EXIT_EXISTS
    from .mail_send import EXIT_NOT_SAVED, EXIT_PARTIAL
    from .state import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED

    rows: list[tuple[int, str, str]] = [
        (0, "success", "The command did what was asked."),
        (EXIT_INTERNAL, "internal error", "A bug in protoclients (not a ProtoClientError); "
         "run again with `--traceback` and report it."),
        (2, "usage error", "Bad command line (unknown option, missing argument, bad value)."),
        (EXIT_INTERRUPTED, "interrupted", "Ctrl-C (SIGINT); no partial file is left under a "
         "final name."),
        (EXIT_BROKEN_PIPE, "broken pipe", "stdout was closed by its reader "
         "(`fetch -o - | head`); exits quietly."),
        (EXIT_EXISTS, "destination exists", "`fetch`: the local file exists and `--force` "
         "was not given; nothing was downloaded."),
        (EXIT_PARTIAL, "partly delivered", "`mail send`: some recipients were refused; the "
         "others got the message."),
        (EXIT_NOT_SAVED, "sent, not saved", "`mail send --save-to`: the message WAS sent but "
         "could not be saved in the mailbox."),
    ]
    for name, obj in vars(errors).items():
        if inspect.isclass(obj) and issubclass(obj, errors.ProtoClientError):
            doc = inspect.getdoc(obj) or ""
            rows.append((obj.exit_code, f"`{name}`", doc.split("\n\n", 1)[0].replace("\n", " ")))
    return sorted(rows, key=lambda row: row[0])  # stable: definition order within a code


def render() -> str:
    """The whole reference page as Markdown."""
    from .app import app

    root: Any = typer.main.get_command(app)
    # The command's own Context class: Typer may bring its own copy of Click.
    root_ctx = root.context_class(root, info_name=PROG)
    commands = list(_walk(root, root_ctx, PROG))
    out = [
        "# CLI reference",
        "",
        f"<!-- Generated by `{COMMAND}`; do not edit. -->",
        "",
        "Every command and option of `protoclients`, generated from the program itself "
        "(the same text as `--help`). The [global options](#protoclients) may be given "
        "before or after the command: `protoclients -v ls URL` is `protoclients ls URL -v`.",
        "",
        "| Command | What it does |",
        "| --- | --- |",
    ]
    for command, _ctx, path in commands[1:]:
        if _is_group(command):
            continue
        out.append(f"| [{path[len(PROG) + 1:]}](#{_anchor(path)}) | {_summary(command)} |")
    for command, ctx, path in commands:
        out += ["", f"## {path}", ""]  # the toc extension's id is _anchor(path)
        for block in _help_blocks(command.help or ""):
            out += [block, ""]
        out += ["**Usage**", "", "```text", _usage(command, ctx, path), "```", ""]
        arguments = _param_rows(command, ctx, "argument")
        if arguments:
            out += ["**Arguments**", "", *_table(("Argument", "Description"), arguments), ""]
        title = "Global options" if command is root else "Options"
        out += [f"**{title}**", "", *_table(("Option", "Description"), _param_rows(
            command, ctx, "option")), ""]
        if _is_group(command) and command is not root:
            subs = [(n, command.get_command(ctx, n)) for n in command.list_commands(ctx)]
            rows = [(f"{path} {n}", _summary(c)) for n, c in subs if c is not None
                    and not getattr(c, "hidden", False)]
            out += ["**Commands**", "", "| Command | What it does |", "| --- | --- |"]
            out += [f"| [{p}](#{_anchor(p)}) | {s} |" for p, s in rows]
            out.append("")
        while out[-1] == "":
            out.pop()
    out += [
        "",
        "## Exit codes",
        "",
        "Errors are one line on stderr (`protoclients: ...`) and one of these exit codes, "
        "from the error classes of `protoclients.errors` (a class's code is inherited by its "
        "subclasses unless they set their own). Some commands document extra codes of "
        "their own in their help above.",
        "",
        "| Code | Error | Meaning |",
        "| ---: | --- | --- |",
    ]
    for code, what, meaning in exit_code_rows():
        out.append(f"| {code} | {_escape(what)} | {_escape(meaning)} |")
    return "\n".join(out) + "\n"


def main() -> None:
    """Write the reference to stdout."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
