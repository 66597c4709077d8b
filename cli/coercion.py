"""Cheap conversion of command-line values, so a command does not start by importing pydantic.

Typer (0.29+) converts every parameter value, even a default, with a pydantic
``TypeAdapter``: importing pydantic and building the adapters costs about 0.2 s on each
run of any command. The CLI's parameters are plain (``str``, ``int``, ``float``,
``Path``, an ``Enum``, lists of ``str``/``Path``), so :func:`install_cheap_coercion`
gives them a small converter with the same behaviour (same ``BadParameter`` usage
errors). Parameters with anything special (a parser, ranges, path checks) keep Typer's.
With a Typer that has no such machinery this does nothing.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

__all__ = ["install_cheap_coercion"]


class _PathMarker:
    """Stands for ``Path``: converted with Typer's own (pydantic-free) path checks."""


def _plain(info: Any) -> bool:
    """Whether the parameter asks for nothing but a type conversion (path checks included)."""
    special = ("parser", "min", "max", "formats", "path_type")
    return not getattr(info, "clamp", False) and all(
        getattr(info, name, None) is None for name in special
    )


_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(value)


def _converter(annotation: Any) -> Any:
    """A function ``value -> converted`` raising ``ValueError``, or ``None`` if unsupported."""
    if annotation in (str, int, float):
        return annotation
    if annotation is bool:
        return _boolean
    if annotation is Path:
        return _PathMarker
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        members = {str(m.value): m for m in annotation}

        def choice(value: Any) -> Any:
            if isinstance(value, annotation):
                return value
            if str(value) in members:
                return members[str(value)]
            allowed = ", ".join(repr(v) for v in members)
            raise ValueError(f"{value!r} is not one of {allowed}.")

        return choice
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (None,)
        inner = _converter(item)
        if inner is None or inner is _PathMarker or get_origin(item) is not None:
            return None

        def each(value: Any) -> list[Any]:
            items = value if isinstance(value, (list, tuple)) else [value]
            return [inner(v) for v in items]

        return each
    return None


def _runtime_param(param: Any) -> Any:
    """A Typer ``RuntimeParam`` doing the conversion cheaply, or ``None``."""
    try:
        from typer._click.exceptions import BadParameter
        from typer._coercion import RuntimeParam
    except ImportError:  # another Typer: nothing to do
        return None
    desc = getattr(param, "type_descriptor", None)
    if desc is None or getattr(desc, "file_annotation", None) is not None:
        return None
    if not _plain(desc.parameter_info):
        return None
    convert = _converter(desc.annotation)
    if convert is None:
        return None
    name = getattr(desc.annotation, "__name__", "value")

    def path(value: Any, param: Any, ctx: Any) -> Path:
        from typer._param_types import coerce_cli_path

        checked = coerce_cli_path(value, desc.parameter_info, path_type=None, param=param, ctx=ctx)
        return Path(checked)  # type: ignore[arg-type]

    class Cheap(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if convert is str and isinstance(value, str):
                return value
            if convert is _PathMarker:
                return path(value, param, ctx)
            try:
                return convert(value)
            except (TypeError, ValueError) as exc:
                text = str(exc)
                if "is not one of" not in text:
                    text = f"{value!r} is not a valid {name}."
                raise BadParameter(text, ctx=ctx, param=param) from None

    return Cheap(parameter_info=desc.parameter_info, annotation=desc.annotation)


def _help_option(command: Any) -> Any:
    """The command's ``--help`` option (Typer creates and caches it on first use)."""
    get = getattr(command, "get_help_option", None)
    if get is None:
        return None
    try:
        import typer

        return get(typer.Context(command))
    except Exception:  # pragma: no cover - another Click/Typer
        return None


def install_cheap_coercion(command: Any) -> None:
    """Give every plain parameter of ``command`` and its sub-commands the cheap converter."""
    params = [*getattr(command, "params", ()), _help_option(command)]
    for param in params:
        if getattr(param, "_runtime_param", "absent") is None:
            runtime = _runtime_param(param)
            if runtime is not None:
                param._runtime_param = runtime
    for sub in getattr(command, "commands", {}).values():
        install_cheap_coercion(sub)
