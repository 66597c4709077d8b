"""Global options may also follow the command: ``fetch URL -v`` is ``-v fetch URL``.

Click (vendored by Typer) only accepts a group's options before the sub-command.
:func:`hoist_global_options` moves the global options (and their values) found after the
sub-command to the front, unless the sub-command defines an option of the same name itself
(``serve --tls``). Values of the sub-command's own options are skipped, so ``--subject
-v`` keeps ``-v`` as the subject; clusters of short flags are split (``-vf`` = global
``-v`` + the command's ``-f``). Everything after ``--`` is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer

__all__ = ["hoist_global_options"]


def _option_names(command: Any) -> tuple[set[str], set[str]]:
    """``(all option names, names of options that take a value)`` of a Click command."""
    names: set[str] = set()
    valued: set[str] = set()
    for param in command.params:
        if getattr(param, "param_type_name", None) != "option":
            continue
        opts = {*param.opts, *param.secondary_opts}
        names |= opts
        if not param.is_flag and not param.count:
            valued |= set(param.opts)
    return names, valued


def _split_option(token: str) -> tuple[str, bool]:
    """``"--timeout=5"`` -> ``("--timeout", True)``; ``"-v"`` -> ``("-v", False)``."""
    if token.startswith("--") and "=" in token:
        return token.split("=", 1)[0], True
    return token, False


def _split_cluster(
    token: str, global_flags: set[str], own_flags: set[str]
) -> tuple[list[str], list[str]] | None:
    """Split a cluster of short flags such as ``-vq`` or ``-vf`` into ``(global, own)``.

    ``None`` when ``token`` is not such a cluster (a value, an option taking a value, an
    unknown letter). A letter the command defines itself stays with the command.
    """
    if len(token) < 3 or token.startswith("--") or not token.startswith("-"):
        return None
    hoisted: list[str] = []
    kept: list[str] = []
    for char in token[1:]:
        flag = f"-{char}"
        if flag in own_flags:
            kept.append(flag)
        elif flag in global_flags:
            hoisted.append(flag)
        else:
            return None
    return hoisted, kept


def _subcommand(group: Any, ctx: typer.Context, name: str) -> Any:
    get = getattr(group, "get_command", None)
    return get(ctx, name) if get is not None else None


def hoist_global_options(group: Any, argv: Sequence[str]) -> list[str]:
    """Return ``argv`` with the options of ``group`` (a Click group, as built by Typer)
    moved in front of the sub-command."""
    ctx = typer.Context(group)
    global_names, global_valued = _option_names(group)
    args = list(argv)
    front: list[str] = []
    i = 0
    # Leading global options stay where they are.
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        name, inline = _split_option(args[i])
        front.append(args[i])
        i += 1
        if name in global_valued and not inline and i < len(args):
            front.append(args[i])
            i += 1
    if i >= len(args) or args[i] == "--":
        return args
    command = _subcommand(group, ctx, args[i])
    rest: list[str] = [args[i]]
    i += 1
    if command is None:
        return args
    if i < len(args):
        sub = _subcommand(command, ctx, args[i])
        if sub is not None:
            rest.append(args[i])
            i += 1
            command = sub
    own_names, own_valued = _option_names(command)
    hoisted: list[str] = []
    while i < len(args):
        token = args[i]
        i += 1
        if token == "--":  # noqa: S105 - the end of options, not a password
            rest.append(token)
            rest.extend(args[i:])
            break
        name, inline = _split_option(token)
        cluster = _split_cluster(token, global_names - global_valued, own_names - own_valued)
        if cluster is not None:  # -vv, -vq, -vf
            hoisted.extend(cluster[0])
            rest.extend(cluster[1])
            continue
        if name in own_names:
            rest.append(token)
            if name in own_valued and not inline and i < len(args):
                rest.append(args[i])
                i += 1
            continue
        if name in global_names:
            hoisted.append(token)
            if name in global_valued and not inline and i < len(args):
                hoisted.append(args[i])
                i += 1
            continue
        rest.append(token)
    return front + hoisted + rest
