"""``modemd console passwd``: the operator console's password (stored as a scrypt hash)."""

from __future__ import annotations

import click

from modemd.cli.common import db_option, main, open_db
from modemd.store import console as console_rows


@main.group()
def console() -> None:
    """The operator console (/console/ of the daemon)."""


@console.command()
@db_option
def passwd(db: str) -> None:
    """Set the console password (asked twice; the admin token also signs in)."""
    password = click.prompt("Console password", hide_input=True, confirmation_prompt=True)
    try:
        console_rows.set_password(open_db(db), password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("console password set: sign in at /console/login")
