"""``modemd inbox``: received SMS (issue 14)."""

from __future__ import annotations

import csv
import sys

import click

from modemd.cli.common import _table, db_option, main, open_db
from modemd.store import inbound as inbound_rows
from modemd.timefmt import parse_time

COLUMNS = ["id", "from", "text", "device_id", "received_at", "parts", "incomplete"]


@main.command("inbox")
@click.option("--from", "sender", default=None, help="Only from this number (E.164, +...).")
@click.option("--since", default=None, help="Received from then (ISO-8601 or Unix seconds).")
@click.option("--limit", default=100, show_default=True, help="At most N messages.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of a table.")
@db_option
def inbox(sender: str | None, since: str | None, limit: int, as_csv: bool, db: str) -> None:
    """Received SMS, oldest first."""
    try:
        after = parse_time(since) if since is not None else None
    except ValueError as exc:
        raise click.BadParameter(f"not a time: {since}", param_hint="--since") from exc
    rows = inbound_rows.list_inbound(open_db(db), sender=sender, since=after, limit=limit)
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        writer.writerows([["" if r[c] is None else r[c] for c in COLUMNS] for r in rows])
        return
    _table(rows, COLUMNS)
