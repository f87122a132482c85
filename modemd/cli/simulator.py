"""``modemd simulate``: drive the emulated devices of a daemon started with ``--simulate`` or
``--simulate-phones``: text them (``mo``), give a modem a fault (``fault``)."""

from __future__ import annotations

import os

import click

from modemd.cli.common import call_api, key_option, main, url_option
from modemd.emulators.fault_kinds import FaultKind


@main.group()
def simulate() -> None:
    """Drive a --simulate daemon's emulated devices (watch modemd react)."""


@simulate.command("mo")
@click.option("--from", "sender", required=True, help="The sender's number (or name).")
@click.option("--text", required=True, help="The message.")
@click.option(
    "--device", default=None, help="The emulated modem (IMEI) or phone (device id) that gets it."
)
@url_option
@key_option
def mo(sender: str, text: str, device: str | None, url: str, key: str) -> None:
    """Text the bank: the emulated network stores the SMS in an emulated modem's SIM or an
    emulated phone's inbox."""
    payload = {"from": sender, "text": text, **({"device_id": device} if device else {})}
    call_api(url, "/simulator/v1/mo", payload, key)


@simulate.command("fault")
@url_option
@click.option(
    "--key",
    envvar="MODEMD_KEY",
    default=None,
    help="An API key of the device's pool (env MODEMD_KEY); else the admin token "
    "(env MODEMD_ADMIN_TOKEN).",
)
@click.argument("device_id")
@click.argument("kind", type=click.Choice([k.value for k in FaultKind]))
def fault(url: str, key: str | None, device_id: str, kind: str) -> None:
    """Give emulated modem DEVICE_ID a fault KIND (clear: end them all)."""
    token = key or os.environ.get("MODEMD_ADMIN_TOKEN")
    if not token:
        raise click.UsageError("give --key (env MODEMD_KEY) or set MODEMD_ADMIN_TOKEN")
    call_api(url, f"/simulator/v1/devices/{device_id}/fault", {"kind": kind}, token)
