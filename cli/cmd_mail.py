"""``protoclients mail ...``: compose and send a message (being written)."""

from __future__ import annotations

import typer

__all__ = ["mail_app"]

mail_app = typer.Typer(help="Compose and send mail.", no_args_is_help=True)


@mail_app.command("send")
def send_mail(ctx: typer.Context) -> None:
    """Compose a message and send it over SMTP."""
    raise typer.Exit(1)
