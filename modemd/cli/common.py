"""What every ``modemd`` command module shares: the click group, ``--db``/``--config``, tables,
errors as one line, calls to a running daemon. Command modules import from here; the package
imports them (so no module imports the package it is part of)."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import pwd
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlite_utils

from modemd import config
from modemd.cli.sockets import port_holder
from modemd.errors import ConfigError, ModemdError
from modemd.observe import logs
from modemd.store import audit
from modemd.store.db import connect
from modemd.store.files import check_database
from modemd.store.location import is_postgres
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
    return current_settings().db


def current_settings() -> config.Settings:
    """The config as this command sees it (its --config, $MODEMD_CONFIG, the installed one)."""
    ctx = click.get_current_context()
    try:
        return config.load(config.config_file(ctx.meta.get("modemd.config")))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def db_option(fn: F) -> F:
    """``--db`` (the database path, resolved as the daemon does) and ``--config``."""
    fn = click.option(
        "--db",
        default=None,
        metavar="PATH",
        callback=_resolve_db,
        help="SQLite database file or postgresql:// URL [$MODEMD_DB, else server.db of the "
        "config, else ./modemd.db].",
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


def cli_actor() -> str:
    """Who runs this command, for the audit log."""
    try:
        return f"cli {pwd.getpwuid(os.geteuid()).pw_name}"
    except KeyError:
        return f"cli uid {os.geteuid()}"


def audited(
    database: sqlite_utils.Database, action: str, target: str, fn: Any, *args: Any, **kwargs: Any
) -> Any:
    """Run a store change and its audit row (who: this command's user) in one transaction."""
    return audit.audited_transaction(database, cli_actor(), action, target, fn, *args, **kwargs)


def open_db(path: str, *, create: bool = False) -> sqlite_utils.Database:
    """The database at ``path``; only commands that add something may ``create`` it."""
    check_database(path, must_exist=not create)
    if is_postgres(path):
        return connect(path)
    become_owner_of(Path(path).absolute().parent)  # root acts as the daemon's user
    _owned(path)  # anyone else must be the database's owner
    return connect(path)


def become_owner_of(directory: Path) -> None:
    """Run by root on the daemon's database (/var/lib/modemd, owned by modemd), act as that
    owner, so that a database, WAL or journal it creates stays writable by the daemon."""
    if os.geteuid() != 0 or not directory.is_dir():
        return
    owner = directory.stat()
    if owner.st_uid == 0:
        return
    try:
        name = pwd.getpwuid(owner.st_uid).pw_name
        os.initgroups(name, owner.st_gid)
    except KeyError:  # no such user any more: only its ids
        os.setgroups([])
    os.setgid(owner.st_gid)
    os.setuid(owner.st_uid)


def _owned(path: str) -> None:
    """Only the database's owner opens it directly: anyone else (root too) would leave -wal and
    -shm files the daemon cannot write, or read secrets it should not."""
    try:
        owner = os.stat(path).st_uid
    except FileNotFoundError:
        return
    if owner != os.geteuid():
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = f"uid {owner}"
        raise click.ClickException(
            f"{path} belongs to {name}: run as that user (sudo -u {name} modemd ...), or use "
            "the daemon's admin socket"
        )


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


def call_api(url: str, path: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
    """POST JSON to a running daemon; print the answer; exit 1 unless it says 2xx (the
    simulator's 202 is a success too)."""
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
    if not str(answer.get("response", "")).startswith("2"):
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
