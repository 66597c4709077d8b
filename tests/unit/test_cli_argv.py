"""Command-line parsing: global options after the command, and cheap value conversion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from protoclients_cli.app import TLSMode, app
from protoclients_cli.argv import hoist_global_options
from protoclients_cli.coercion import install_cheap_coercion


@pytest.fixture(scope="module")
def command() -> Any:
    cmd = typer.main.get_command(app)
    install_cheap_coercion(cmd)
    return cmd


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["fetch", "U", "-v"], ["-v", "fetch", "U"]),
        (["fetch", "U", "--timeout", "5", "-q"], ["--timeout", "5", "-q", "fetch", "U"]),
        (["fetch", "U", "--timeout=5"], ["--timeout=5", "fetch", "U"]),
        (["-v", "ls", "U", "--json"], ["-v", "--json", "ls", "U"]),
        # A value of the command's own option is never taken for a global option.
        (["fetch", "U", "-o", "-v"], ["fetch", "U", "-o", "-v"]),
        (["mail", "send", "--subject", "-v", "U"], ["mail", "send", "--subject", "-v", "U"]),
        # Clusters of short flags are split between the app and the command.
        (["fetch", "U", "-vq"], ["-v", "-q", "fetch", "U"]),
        (["fetch", "U", "-vf"], ["-v", "fetch", "U", "-f"]),
        (["delete", "U", "-yv"], ["-v", "delete", "U", "-y"]),
        (["fetch", "U", "-of"], ["fetch", "U", "-of"]),  # -o takes a value: left alone
        # The command's own option of the same name wins (serve --tls is serve's).
        (["serve", "--tls", "--json"], ["--json", "serve", "--tls"]),
        # Nothing after -- moves; '-' (stdin) is an argument.
        (["ls", "U", "--", "-v"], ["ls", "U", "--", "-v"]),
        (["send", "U", "-", "-v"], ["-v", "send", "U", "-"]),
        (["nosuchcommand", "-v"], ["nosuchcommand", "-v"]),
    ],
)
def test_hoist_global_options(command: Any, argv: list[str], expected: list[str]) -> None:
    assert hoist_global_options(command, argv) == expected


def _runtime(command: Any, name: str, sub: str | None = None) -> Any:
    target = command.commands[sub] if sub else command
    param = next(p for p in target.params if p.name == name)
    return param, param._runtime_param


def test_cheap_coercion_is_installed_on_plain_parameters(command: Any) -> None:
    for name in ("timeout", "cacert", "tls", "user", "verbose", "insecure"):
        _param, runtime = _runtime(command, name)
        assert type(runtime).__name__ == "Cheap", name
    _, rcpt = _runtime(command, "rcpt", "send")
    assert type(rcpt).__name__ == "Cheap"
    # Ranges keep Typer's own conversion.
    _, port_base = _runtime(command, "port_base", "serve")
    assert port_base is None or type(port_base).__name__ != "Cheap"


def test_cheap_coercion_converts_like_typer(command: Any) -> None:
    ctx = typer.Context(command)
    param, runtime = _runtime(command, "timeout")
    assert runtime.coerce("2.5", param=param, ctx=ctx) == 2.5
    assert runtime.coerce(None, param=param, ctx=ctx) is None
    with pytest.raises(typer.BadParameter, match="not a valid float"):
        runtime.coerce("soon", param=param, ctx=ctx)
    param, runtime = _runtime(command, "tls")
    assert runtime.coerce("starttls", param=param, ctx=ctx) is TLSMode.starttls
    with pytest.raises(typer.BadParameter, match="not one of"):
        runtime.coerce("maybe", param=param, ctx=ctx)
    param, runtime = _runtime(command, "cacert")
    assert runtime.coerce("/x/ca.pem", param=param, ctx=ctx) == Path("/x/ca.pem")
    param, runtime = _runtime(command, "rcpt", "send")
    assert runtime.coerce(("a@x", "b@y"), param=param, ctx=ctx) == ["a@x", "b@y"]
    param, runtime = _runtime(command, "insecure")
    assert runtime.coerce("yes", param=param, ctx=ctx) is True
