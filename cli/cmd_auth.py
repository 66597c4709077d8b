"""``protoclients auth ...``: passwords and tokens in the system keyring (being written)."""

from __future__ import annotations

import typer

__all__ = ["auth_app"]

auth_app = typer.Typer(
    help="Store, show and delete credentials in the keyring.", no_args_is_help=True
)


@auth_app.command("show")
def show(ctx: typer.Context, url: str) -> None:
    """Say where the credential for URL would come from."""
    raise typer.Exit(1)
