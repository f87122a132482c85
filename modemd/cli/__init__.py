"""The ``modemd`` command: a thin click shell over the service and the store.

The group lives here; commands of one area may live in a module of this package that is
imported at the bottom of this file (each registers itself on ``main``)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request
from typing import Any

import click

from modemd import config, service
from modemd.api.listener import start_listener
from modemd.emulators import modem as emulated_modem
from modemd.errors import ConfigError
from modemd.store import devices as device_rows
from modemd.store.db import connect

db_option = click.option(
    "--db",
    envvar="MODEMD_DB",
    default=config.DEFAULT_DB,
    show_default=True,
    help="SQLite database file (env MODEMD_DB).",
)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        click.echo("  ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns))


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def main(verbose: int) -> None:
    """modemd: an SMS gateway over banks of USB GSM modems."""
    level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML config file.",
)
@click.option("--host", default=None, help=f"Listen address [{config.DEFAULT_HOST}].")
@click.option("--port", type=int, default=None, help=f"Listen port [{config.DEFAULT_PORT}].")
@click.option("--db", envvar="MODEMD_DB", default=None, help="SQLite file [modemd.db].")
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
    "--udev/--no-udev",
    default=None,
    help="Find modems labelled MODEMD_PIN by udev and follow hot-plug [config udev.enabled].",
)
def serve(
    config_file: str | None,
    host: str | None,
    port: int | None,
    db: str | None,
    simulate: int | None,
    simulate_phones: int | None,
    pin: str | None,
    devices: tuple[str, ...],
    record: str | None,
    udev: bool | None,
) -> None:
    """Run the daemon."""
    try:
        default_pin = pin or config.DEFAULT_PIN
        settings = config.load(
            config_file,
            host=host,
            port=port,
            db=db,
            simulate=simulate,
            simulate_phones=simulate_phones,
            simulate_pin=pin,
            record=record,
            udev=udev,
            extra_devices=[config.parse_device(d, default_pin) for d in devices],
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    asyncio.run(service.serve(settings))


@main.command()
@db_option
def devices(db: str) -> None:
    """List devices as last seen by the daemon."""
    _table(
        device_rows.list_devices(connect(db)),
        ["device_id", "pin", "kind", "state", "port", "signal", "model"],
    )


@main.command()
@click.option(
    "--url",
    default=f"http://{config.DEFAULT_HOST}:{config.DEFAULT_PORT}",
    show_default=True,
    help="The daemon's API.",
)
@click.option("--key", envvar="MODEMD_KEY", required=True, help="API key (env MODEMD_KEY).")
@click.option("--pin", default=None)
@click.option("--to", required=True)
@click.option("--msg", required=True)
def send(url: str, key: str, pin: str | None, to: str, msg: str) -> None:
    """Send an SMS through a running daemon (prints the API's answer)."""
    payload = {"apikey": key, "to": to, "msg": msg, **({"pin": pin} if pin else {})}
    call_api(url, "/api/v1/send", payload, key)


def call_api(url: str, path: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
    """POST JSON to a running daemon; print the answer; exit 1 unless it says 200."""
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc.reason}") from exc
    click.echo(body.decode())
    try:
        answer: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        raise click.ClickException(f"{url} answered something that is not JSON") from exc
    if answer.get("response") != "200":
        sys.exit(1)
    return answer


url_option = click.option(
    "--url",
    default=f"http://{config.DEFAULT_HOST}:{config.DEFAULT_PORT}",
    show_default=True,
    help="The daemon's API.",
)
key_option = click.option(
    "--key", envvar="MODEMD_KEY", required=True, help="API key (env MODEMD_KEY)."
)


@main.command()
@click.option("--count", default=3, show_default=True, help="Number of emulated modems.")
@click.option("--record", default=None, help="Append a JSON line per accepted SMS here.")
def emulate(count: int, record: str | None) -> None:
    """Serve emulated modems on ptys (paths printed) until stopped."""
    asyncio.run(emulated_modem.serve(count, record))


@main.command("ipn-listen")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8099, show_default=True)
def ipn_listen(host: str, port: int) -> None:
    """Print every IPN POSTed here (a receiver for development)."""

    def show(body: dict[str, Any], headers: dict[str, str]) -> None:
        click.echo(f"IPN {headers.get('webhook-id', '-')}: {json.dumps(body)}")
        return None

    async def run() -> None:
        runner, bound = await start_listener(show, host, port)
        click.echo(f"listening for IPNs on http://{host}:{bound}/")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.run(run())


from modemd.cli import (  # noqa: E402,F401  (register their commands)
    campaigns,
    configfile,
    hardware,
    ipn,
    jobs,
    keys,
    wallet,
)
