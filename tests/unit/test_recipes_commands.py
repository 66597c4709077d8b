"""Every ``protoclients`` command line in docs/recipes.md names commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from protoclients_cli.app import app

RECIPES = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
_SHELL_BLOCK = re.compile(r"```(?:sh|bash)\n(.*?)```", re.S)
_SEPARATORS = {"|", "||", ";", "&&", "&", ")", "(", "<", ">", "<<<", ">>", "$("}
#: Options taking an optional shell name (Typer's completion options).
_SHELL_NAME_OPTIONS = {"--show-completion", "--install-completion"}


def command_lines() -> list[list[str]]:
    """Each ``protoclients ...`` invocation in the recipes' shell blocks, as tokens."""
    found = []
    for block in _SHELL_BLOCK.findall(RECIPES.read_text(encoding="utf-8")):
        text = block.replace("\\\n", " ")
        for raw in text.splitlines():
            line = "" if raw.lstrip().startswith("#") else raw.split(" #", 1)[0]
            lexer = shlex.shlex(line.replace("$(", " ( "), posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
            for i, token in enumerate(tokens):
                if token != "protoclients":
                    continue
                run = []
                for t in tokens[i + 1:]:
                    if t in _SEPARATORS or set(t) <= set("|;&()<>"):
                        break
                    run.append(t)
                found.append(run)
    return found


def _options(command: Any) -> dict[str, Any]:
    return {name: p for p in command.params if p.param_type_name == "option"
            for name in (*p.opts, *p.secondary_opts)}


def check(tokens: list[str]) -> None:
    root: Any = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="protoclients")
    command = root
    path = ["protoclients"]
    global_options = _options(root)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("-") and token != "-":
            name = token.split("=", 1)[0]
            known = {**global_options, **_options(command), "--help": None}
            assert name in known, f"{' '.join(path)}: no option {name} (in {tokens})"
            param = known[name]
            if name in _SHELL_NAME_OPTIONS:
                if i < len(tokens) and tokens[i] in {"bash", "zsh", "fish", "powershell"}:
                    i += 1
            elif param is not None and not param.is_flag and not param.count and "=" not in token:
                i += 1
            continue
        if hasattr(command, "list_commands"):
            sub = command.get_command(ctx, token)
            assert sub is not None, f"{' '.join(path)}: no command {token!r} (in {tokens})"
            command = sub
            path.append(token)


def test_recipes_have_command_lines() -> None:
    lines = command_lines()
    assert len(lines) >= 15
    used = {line[0] for line in lines if line}
    assert {"fetch", "mail", "ls", "probe", "serve", "auth"} <= used


@pytest.mark.parametrize("tokens", command_lines(), ids=lambda t: " ".join(t)[:60])
def test_recipe_command_line_exists(tokens: list[str]) -> None:
    check(tokens)


def test_checker_catches_unknown_commands_and_options() -> None:
    check(["mail", "send", "--attach", "f", "-q", "smtp://h/"])
    with pytest.raises(AssertionError, match="no option --nope"):
        check(["fetch", "https://h/x", "--nope"])
    with pytest.raises(AssertionError, match="no command"):
        check(["fecth", "https://h/x"])
