"""``modemd jobs``: list, show, and (a person's decision) retry jobs."""

from __future__ import annotations

import json

import click

from modemd.cli.common import _table, call_api, db_option, key_option, main, open_db, url_option
from modemd.model import JobState
from modemd.store import jobs as job_rows
from modemd.store import refusals


@main.group(invoke_without_command=True)
@click.option(
    "--state",
    default=None,
    type=click.Choice([state.value for state in JobState]),
    help="Only jobs in this state.",
)
@click.option("--limit", default=50, show_default=True, help="Newest N jobs.")
@click.option(
    "--refused",
    is_flag=True,
    help="Sends refused as blocked_destination instead (premium numbers, destination limits).",
)
@db_option
@click.pass_context
def jobs(ctx: click.Context, state: str | None, limit: int, refused: bool, db: str) -> None:
    """Recent jobs (newest first); subcommands show or retry one."""
    if ctx.invoked_subcommand is not None:
        return  # its own options, or these (`jobs --db X show ID`)
    if refused:
        database = open_db(db)
        counts = refusals.count_by_reason(database)
        click.echo(", ".join(f"{n} {reason}" for reason, n in counts.items()) or "none refused")
        rows = refusals.list_refusals(database, limit=limit)
        _table(rows, ["created_at", "key_id", "to", "reason", "detail"])
        return
    rows = job_rows.list_jobs(open_db(db), state=state, limit=limit)
    _table(rows, ["job_id", "pin", "to", "state", "device_id", "parts", "created_at", "error"])


@jobs.command("show")
@click.argument("job_id")
@db_option
def show(job_id: str, db: str) -> None:
    """One job with its parts (TP-MR, TP-Status) and timestamps, as JSON."""
    detail = job_rows.get_job_detail(open_db(db), job_id)
    if detail is None:
        raise click.ClickException(f"no job {job_id}")
    click.echo(json.dumps(detail, indent=2))


@jobs.command("retry")
@click.argument("job_id")
@url_option
@key_option
def retry(job_id: str, url: str, key: str) -> None:
    """Send an unknown/failed/expired job again, through the running daemon.

    modemd never does this by itself: for an unknown job the SMS may already have gone out."""
    call_api(url, f"/api/v1/jobs/{job_id}/retry", {}, key)
