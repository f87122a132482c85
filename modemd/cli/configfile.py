"""``modemd config``: check a config file, print the commented template."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from modemd import config
from modemd.cli.common import main
from modemd.config_check import template
from modemd.errors import ConfigError


@main.group("config")
def config_group() -> None:
    """Check the config file; print a commented one."""


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def check(file: str | None) -> None:
    """Validate FILE (default: $MODEMD_CONFIG or /etc/modemd/modemd.toml) without starting."""
    path = config.config_file(file)
    if path is None:
        raise click.ClickException(f"no config file: none given, no {config.SYSTEM_CONFIG}")
    try:
        settings = config.load(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(
        f"config {path}: ok ({len(settings.devices)} devices, {len(settings.phones)} phones, "
        f"udev {'on' if settings.udev else 'off'}, database {settings.db})"
    )


@config_group.command("template")
@click.option(
    "--set",
    "values",
    multiple=True,
    metavar="SECTION.KEY=TOML",
    help="Write this key uncommented, e.g. --set 'server.db=\"/var/lib/modemd/modemd.db\"'.",
)
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def template_command(values: tuple[str, ...], output: str | None) -> None:
    """Print a config file listing every key, commented out, with its default and meaning."""
    wanted = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep:
            raise click.BadParameter(f"{value!r}: SECTION.KEY=VALUE", param_hint="--set")
        wanted[name.strip()] = text.strip()
    try:
        text = template(wanted)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from exc
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)
