"""``protoclients probe URL``: what a server offers (being written)."""

from __future__ import annotations

import typer

__all__ = ["probe"]


def probe(ctx: typer.Context, url: str) -> None:
    """Connect and report what the server offers."""
    raise typer.Exit(1)
