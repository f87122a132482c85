"""The ``modemd`` command: a thin click shell over the service and the store.

The group lives here; commands of one area may live in a module of this package that is
imported at the bottom of this file (each registers itself on ``main``)."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
import sqlite_utils

from modemd import config, service
from modemd.api.listener import start_listener
from modemd.cli.sockets import port_holder
from modemd.emulators import modem as emulated_modem
from modemd.errors import ConfigError, ModemdError
from modemd.observe import logs
from modemd.store import devices as device_rows
from modemd.store.db import connect
from modemd.store.files import check_database
from modemd.timefmt import local_iso

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_HELP = "TOML config file [$MODEMD_CONFIG, else /etc/modemd/modemd.toml if present]."


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta["modemd.config"] = value


def _resolve_db(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """--db here, else --db given to the group (``jobs --db X show``), else the config's."""
    if value:
        ctx.meta["modemd.db"] = value
        return value
    if "modemd.db" in ctx.meta:
        return str(ctx.meta["modemd.db"])
    try:
        return config.load(config.config_file(ctx.meta.get("modemd.config"))).db
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def db_option(fn: F) -> F:
    """``--db`` (the database path, resolved as the daemon does) and ``--config``."""
    fn = click.option(
        "--db",
        default=None,
        metavar="PATH",
        callback=_resolve_db,
        help="SQLite database file [$MODEMD_DB, else server.db of the config, else ./modemd.db].",
    )(fn)
    return click.option(
        "--config",
        default=None,
        metavar="FILE",
        expose_value=False,
        is_eager=True,
        callback=_remember_config,
        help=CONFIG_HELP,
    )(fn)


def open_db(path: str, *, create: bool = False) -> sqlite_utils.Database:
    """The database at ``path``; only commands that add something may ``create`` it."""
    check_database(path, must_exist=not create)
    return connect(path)


def run_until_interrupted(work: Coroutine[Any, Any, None]) -> None:
    """Run a foreground service until Ctrl-C, which is how it is meant to stop (exit 0)."""
    try:
        asyncio.run(work)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


def in_use(exc: OSError, host: str, port: int, choose: str) -> click.ClickException:
    """A bind that failed because the port is taken, as one line naming the holder if known."""
    if exc.errno != errno.EADDRINUSE:
        raise exc
    holder = port_holder(port)
    by = f" by {holder}" if holder else ""
    return click.ClickException(f"port {port} on {host} is in use{by}: stop it, or choose {choose}")


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column.endswith("_at") and isinstance(value, int | float) and not isinstance(value, bool):
        return local_iso(value)
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    cells = [{c: _cell(c, r.get(c)) for c in columns} for r in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in cells:
        click.echo("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())


class ModemdGroup(click.Group):
    """modemd's own errors (bad config, unusable database) end as one ``Error:`` line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModemdError as exc:
            raise click.ClickException(str(exc)) from exc
        except PermissionError as exc:
            raise click.ClickException(
                f"{exc.filename or ''}: {exc.strerror} (run as the daemon's user, "
                "e.g. sudo -u modemd modemd ...)"
            ) from exc


@click.group(cls=ModemdGroup)
@click.version_option(package_name="modemd", prog_name="modemd", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def main(verbose: int) -> None:
    """modemd: an SMS gateway over banks of USB GSM modems."""
    level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
    logs.configure(level, "text")


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
    help="SQLite database file [$MODEMD_DB, else server.db, else ./modemd.db]; created if absent.",
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
    simulate: int | None,
    simulate_phones: int | None,
    pin: str | None,
    devices: tuple[str, ...],
    record: str | None,
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
            simulate=simulate,
            simulate_phones=simulate_phones,
            simulate_pin=pin,
            record=record,
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
    try:
        asyncio.run(service.serve(settings))
    except OSError as exc:
        raise in_use(exc, settings.host, settings.port, "--port or server.port") from exc


@main.command()
@db_option
def devices(db: str) -> None:
    """List devices as last seen by the daemon."""
    _table(
        device_rows.list_devices(open_db(db)),
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
@click.option("--pin", default=None, help="The key's pin (optional: the key knows it).")
@click.option("--to", required=True, help="The recipient: +393331234567, or national digits.")
@click.option("--msg", required=True, help="The text (long texts are sent in parts).")
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
    run_until_interrupted(emulated_modem.serve(count, record))


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


from modemd.cli import configfile, console, hardware, ipn, jobs, keys, lists, rules, wallet  # noqa: E402,F401  (register their commands)
