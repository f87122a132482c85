"""The daemon's own commands: ``serve``, ``devices``, ``send``, ``emulate``, ``ipn-listen``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import click

from modemd import caps, config, service, serving
from modemd.api.listener import start_listener
from modemd.cli.common import (
    CONFIG_HELP,
    _table,
    call_api,
    current_settings,
    db_option,
    in_use,
    main,
    open_db,
    run_until_interrupted,
)
from modemd.errors import ConfigError
from modemd.observe import logs
from modemd.store import devices as device_rows
from modemd.store import pacing as pacing_rows
from modemd.store.files import check_database


@main.command()
@click.option("--config", "config_file", default=None, metavar="FILE", help=CONFIG_HELP)
@click.option("--host", default=None, help=f"Listen address [server.host, {config.DEFAULT_HOST}].")
@click.option(
    "--port", type=int, default=None, help=f"Listen port [server.port, {config.DEFAULT_PORT}]."
)
@click.option(
    "--db",
    default=None,
    metavar="PATH",
    help="SQLite database file or postgresql:// URL [$MODEMD_DB, else server.db, else "
    "./modemd.db]; a file is created if absent.",
)
@click.option(
    "--host-id",
    default=None,
    help="This host's name among hosts sharing a PostgreSQL database [server.host_id, else "
    "the machine id].",
)
@click.option("--simulate", type=int, default=None, help="Start N emulated modems in-process.")
@click.option(
    "--simulate-phones", type=int, default=None, help="Start N emulated SMSGate phones in-process."
)
@click.option("--pin", default=None, help="Pin label of the emulated modems and phones.")
@click.option(
    "--device",
    "devices",
    multiple=True,
    metavar="PORT[:PIN]",
    help="Use a serial port directly (repeatable).",
)
@click.option("--record", default=None, help="Emulated network: JSON line per accepted SMS.")
@click.option(
    "--simulate-replies",
    default=None,
    metavar="TEXT",
    help="Emulated network: each number the emulated modems text answers with TEXT a few "
    "seconds later (at most once a minute per number).",
)
@click.option(
    "--udev/--no-udev",
    default=None,
    help="Find modems labelled MODEMD_PIN by udev and follow hot-plug [config udev.enabled].",
)
@click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default=None,
    help="Log lines as text or JSON objects [server.log_format, text].",
)
def serve(
    config_file: str | None,
    host: str | None,
    port: int | None,
    db: str | None,
    host_id: str | None,
    simulate: int | None,
    simulate_phones: int | None,
    pin: str | None,
    devices: tuple[str, ...],
    record: str | None,
    simulate_replies: str | None,
    udev: bool | None,
    log_format: str | None,
) -> None:
    """Run the daemon."""
    default_pin = pin or config.DEFAULT_PIN
    try:
        settings = config.load(
            config.config_file(config_file),
            host=host,
            port=port,
            db=db,
            host_id=host_id,
            simulate=simulate,
            simulate_phones=simulate_phones,
            simulate_pin=pin,
            record=record,
            simulate_replies=simulate_replies,
            udev=udev,
            extra_devices=[config.parse_device(d, default_pin) for d in devices],
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    check_database(settings.db, must_exist=False)
    logs.configure(
        logging.getLogger().level,
        log_format or settings.option("server.log_format"),
        known_secrets=service.secrets_of(settings),
    )
    choice = os.environ.get(serving.EVENT_LOOP_ENV) or settings.option("server.event_loop")
    if choice not in ("uvloop", "asyncio"):
        raise click.ClickException(f"{serving.EVENT_LOOP_ENV}={choice!r}: uvloop or asyncio")
    try:
        with asyncio.Runner(loop_factory=serving.loop_factory(choice)) as runner:
            runner.run(service.serve(settings))
    except OSError as exc:
        raise in_use(exc, settings.host, settings.port, "--port or server.port") from exc


@main.command()
@db_option
def devices(db: str) -> None:
    """List devices as last seen by the daemon, with their SIM's and pool's caps."""
    found = open_db(db)
    rows = device_rows.list_devices(found)
    window = caps.window()
    listed = (
        current_settings().caps().rows(rows, pacing_rows.device_usage(found, rows, window), window)
    )
    for row in listed:
        for whose in ("sim", "pool"):
            counted = row[f"{whose}_caps"]
            row[f"{whose}_today"] = _of(counted["sent_today"], counted["daily_cap"])
            row[f"{whose}_month"] = _of(counted["sent_month"], counted["monthly_cap"])
    _table(
        listed,
        [
            "device_id",
            "pin",
            "kind",
            "state",
            "signal_dbm",
            "bars",
            "operator",
            "registration",
            "iccid",
            "own_number",
            "last_success_at",
            "last_error",
            "recovered_after",
            "sim_today",
            "sim_month",
            "pool_today",
            "pool_month",
            "capped",
        ],
    )


def _of(used: int, cap: int | None) -> str:
    """``12/400`` (parts of the cap), or ``12`` without a cap."""
    return str(used) if cap is None else f"{used}/{cap}"


@main.command()
@click.option(
    "--url",
    default=f"http://{config.DEFAULT_HOST}:{config.DEFAULT_PORT}",
    show_default=True,
    help="The daemon's API.",
)
@click.option("--key", envvar="MODEMD_KEY", required=True, help="API key (env MODEMD_KEY).")
@click.option("--pin", default=None, help="The key's pin (optional: the key knows it).")
@click.option("--to", required=True, help="The recipient: +393331234567, or national digits.")
@click.option("--msg", required=True, help="The text (long texts are sent in parts).")
def send(url: str, key: str, pin: str | None, to: str, msg: str) -> None:
    """Send an SMS through a running daemon (prints the API's answer)."""
    payload = {"apikey": key, "to": to, "msg": msg, **({"pin": pin} if pin else {})}
    call_api(url, "/api/v1/send", payload, key)


@main.command()
@click.option("--count", default=3, show_default=True, help="Number of emulated modems.")
@click.option("--record", default=None, help="Append a JSON line per accepted SMS here.")
def emulate(count: int, record: str | None) -> None:
    """Serve emulated modems on ptys (paths printed) until stopped."""
    from modemd.emulators import modem_bank  # only here and with --simulate (service.py)

    run_until_interrupted(modem_bank.serve(count, record))


@main.command("ipn-listen")
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option("--port", default=8099, show_default=True, help="Listen port (0: any free port).")
def ipn_listen(host: str, port: int) -> None:
    """Print every IPN POSTed here (a receiver for development)."""

    def show(body: dict[str, Any], headers: dict[str, str]) -> None:
        click.echo(f"IPN {headers.get('webhook-id', '-')}: {json.dumps(body)}")
        return None

    async def run() -> None:
        try:
            runner, bound = await start_listener(show, host, port)
        except OSError as exc:
            raise in_use(exc, host, port, "another with --port") from exc
        click.echo(f"listening for IPNs on http://{host}:{bound}/")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    run_until_interrupted(run())
