"""Hardware commands: ``modemd doctor`` and ``modemd udev-rule``."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modemd import config
from modemd.cli.common import CONFIG_HELP, main, open_db
from modemd.errors import ConfigError
from modemd.store import devices as device_rows

if TYPE_CHECKING:  # imported by the commands that use them: pyudev is not on serve's way
    from modemd.hardware import Port
    from modemd.hardware.doctor import Finding


@main.command()
@click.option("--config", "config_file", default=None, metavar="FILE", help=CONFIG_HELP)
def doctor(config_file: str | None) -> None:
    """Say for every tty and USB net device (and every port the config lists) whether modemd
    can use it, and why not."""
    try:
        settings = config.load(config.config_file(config_file))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    from modemd.hardware import Udev, examine

    findings = asyncio.run(
        examine(
            Udev(),
            settings.labels,
            phones=settings.phones,
            devices=tuple((d.port, d.pin) for d in settings.devices),
        )
    )
    findings += _given_up(settings.db, bool(settings.option("recovery.usb_reset")))
    if not findings:
        click.echo("no USB or labelled tty found (is the modem plugged in? see `modemd udev-rule`)")
        sys.exit(1)
    for finding in findings:
        click.echo(f"{'ok ' if finding.ok else 'BAD'} {finding.device}: {finding.words}")
    if not all(f.ok for f in findings):
        sys.exit(1)


def _given_up(db: str, usb_reset: bool) -> list[Finding]:
    """The devices the daemon's recovery gave up on, from its database (none without one)."""
    if not Path(db).exists():
        return []
    try:
        rows = device_rows.list_devices(open_db(db))
    except (click.ClickException, sqlite3.Error):
        return []  # a database of another version or not readable: the ports speak for themselves
    from modemd.hardware.doctor import recovery_findings

    return recovery_findings(rows, usb_reset)


@main.command("udev-rule")
@click.option("--pin", required=True, help="The pool the device belongs to.")
@click.option(
    "--by",
    type=click.Choice(["port", "serial"]),
    default="port",
    show_default=True,
    help="Match the physical USB port (a modem bank) or the device's serial number.",
)
@click.argument("device")
def udev_rule(pin: str, by: str, device: str) -> None:
    """Print a udev rule that labels the attached DEVICE (/dev/ttyUSB2) with --pin."""
    from modemd.hardware import PIN_LABEL, Udev

    if not PIN_LABEL.fullmatch(pin):
        raise click.BadParameter("1-32 letters, digits, '.', '_' or '-'", param_hint="--pin")
    port = next((p for p in Udev().ports() if p.devnode == device), None)
    if port is None:
        raise click.ClickException(f"udev knows no tty {device}")
    click.echo(rule_for(port, pin, by))


def rule_for(port: Port, pin: str, by: str) -> str:
    """Two lines: the pin for every port of the device, and MODEMD_PORT=at for this one."""
    props = port.properties
    if by == "serial":
        serial = props.get("ID_SERIAL_SHORT")
        if not serial or not props.get("ID_VENDOR_ID"):
            raise click.ClickException(f"{port.devnode} has no USB serial number: use --by port")
        # Properties of the tty itself: ATTRS{serial} (USB device) and ATTRS{bInterfaceNumber}
        # (interface) on one line never match, udev wants every ATTRS on the same device.
        vendor = props["ID_VENDOR_ID"]
        match = f'ENV{{ID_VENDOR_ID}}=="{vendor}", ENV{{ID_SERIAL_SHORT}}=="{serial}"'
        this_port = f'ENV{{ID_USB_INTERFACE_NUM}}=="{props.get("ID_USB_INTERFACE_NUM", "00")}"'
    else:
        id_path = props.get("ID_PATH")
        if not id_path:
            raise click.ClickException(f"{port.devnode} has no ID_PATH: use --by serial")
        usb_port, _, interface = id_path.rpartition(":") if port.usb else (id_path, "", "")
        match = f'ENV{{ID_PATH}}=="{usb_port}:*"' if interface else f'ENV{{ID_PATH}}=="{id_path}"'
        this_port = f'ENV{{ID_PATH}}=="{id_path}"'
    label = (
        f'ENV{{MODEMD_PIN}}="{pin}", ENV{{ID_MM_DEVICE_IGNORE}}="1", '
        f'GROUP="dialout", MODE="0660", SYMLINK+="modemd/{pin}/%k"'
    )
    what = props.get("ID_SERIAL", port.devnode)
    return (
        f"# {what}: pool {pin} (put in /etc/udev/rules.d/70-modemd.rules)\n"
        f'SUBSYSTEM=="tty", {match}, {label}\n'
        f'SUBSYSTEM=="tty", {this_port if by == "port" else f"{match}, {this_port}"}, '
        'ENV{MODEMD_PORT}="at"'
    )
