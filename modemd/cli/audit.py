"""``modemd audit``: who changed keys, credit, prices and dead letters, and when.

Asks the running daemon over its admin socket when it can reach it (the same rows, read by the
daemon's own user), else reads the database directly."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import click

from modemd import config
from modemd.cli.common import _table, db_option, main, open_db
from modemd.store import audit as audit_rows
from modemd.timefmt import parse_time

SOCKET_TIMEOUT_S = 10.0  # a local daemon answers at once; longer means it hangs


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (the daemon's admin socket)."""

    def __init__(self, path: str) -> None:
        super().__init__("modemd", timeout=SOCKET_TIMEOUT_S)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(SOCKET_TIMEOUT_S)
        sock.connect(self.path)
        self.sock = sock


def admin_get(path: str, route: str) -> dict[str, Any] | None:
    """GET ``route`` over the admin socket at ``path``; None when no daemon answers there."""
    connection = UnixHTTPConnection(path)
    try:
        connection.request("GET", route)
        response = connection.getresponse()
        body = json.loads(response.read())
    except (OSError, ValueError):
        return None
    finally:
        connection.close()
    if response.status != 200:
        raise click.ClickException(f"the daemon answered {response.status}: {body.get('message')}")
    return dict(body)


@main.command("audit")
@click.option("--since", default=None, help="From then on (ISO-8601 or Unix seconds).")
@click.option("--limit", default=50, show_default=True, help="Newest N rows.")
@click.option(
    "--socket",
    "socket_path",
    default=None,
    metavar="PATH",
    help="The daemon's admin socket [server.admin_socket of the config].",
)
@db_option
def audit(since: str | None, limit: int, socket_path: str | None, db: str) -> None:
    """Admin actions (keys, credit, prices, replays) with who did them, newest first."""
    try:
        start = parse_time(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(f"not a time: {since}", param_hint="--since") from exc
    if socket_path is None:
        chosen = click.get_current_context().meta.get("modemd.config")
        socket_path = config.load(config.config_file(chosen)).option("server.admin_socket")
    rows: list[dict[str, Any]] | None = None
    if socket_path:
        query = f"/admin/v1/audit?limit={limit}" + (f"&since={start}" if start else "")
        answer = admin_get(socket_path, query)
        rows = None if answer is None else list(answer["audit"])
    if rows is None:
        rows = audit_rows.list_audit(open_db(db), since=start, limit=limit)
    _table(rows, ["at", "actor", "action", "target", "detail"])
