"""``modemd ipn``: dead letters, replays, and each key's endpoint (secret, format, enable)."""

from __future__ import annotations

import click

from modemd.cli.common import _table, audited, db_option, main, open_db
from modemd.store import endpoints, keys
from modemd.store import events as outbox
from modemd.timefmt import parse_time


def _time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"not a time: {value} (ISO-8601 or Unix seconds)", param_hint=name
        ) from exc


@main.group()
def ipn() -> None:
    """IPN outbox: dead letters, replay, signing secrets."""


@ipn.command("list")
@click.option(
    "--state",
    default="failed",
    show_default=True,
    type=click.Choice(["pending", "delivered", "failed", "no_endpoint"]),
    help="Which events: failed ones are dead letters.",
)
@click.option("--key-id", type=int, default=None, help="Only this key's events.")
@db_option
def list_events(state: str, key_id: int | None, db: str) -> None:
    """Events in a state (default: dead letters)."""
    _table(
        outbox.list_by_state(open_db(db), state, key_id),
        ["event_id", "job_id", "key_id", "type", "attempts", "last_error"],
    )


@ipn.command("replay")
@click.argument("event_id", required=False)
@click.option(
    "--since", default=None, help="Dead letters created from then (ISO-8601 or Unix seconds) ..."
)
@click.option("--until", default=None, help="... until then (exclusive).")
@click.option("--key-id", type=int, default=None, help="Only this key's dead letters.")
@db_option
def replay(
    event_id: str | None, since: str | None, until: str | None, key_id: int | None, db: str
) -> None:
    """Send dead letters again (same webhook-id); a running daemon picks them up within 30 s."""
    if event_id is None and since is None and until is None and key_id is None:
        raise click.UsageError("name an EVENT_ID, or a range with --since/--until/--key-id")
    database = open_db(db)
    if event_id is not None:
        state = outbox.event_state(database, event_id)
        if state is None:
            raise click.ClickException(f"no event {event_id} (see `modemd ipn list`)")
        if state != "failed":
            raise click.ClickException(f"event {event_id} is {state}, not a dead letter")
    ids = audited(
        database,
        "ipn.replay",
        event_id or (f"key {key_id}" if key_id is not None else "dead letters"),
        outbox.replay,
        key_id=key_id,
        event_id=event_id,
        since=_time(since, "--since"),
        until=_time(until, "--until"),
    )
    click.echo(f"{len(ids)} events replayed")
    for event in ids:
        click.echo(event)


@ipn.command("secret")
@click.argument("key_id", type=int)
@click.option(
    "--rotate", is_flag=True, help="New secret; the old one also signs for 24 h (two signatures)."
)
@db_option
def secret(key_id: int, rotate: bool, db: str) -> None:
    """Print the key's signing secret (whsec_...), for verifying IPNs."""
    database = open_db(db)
    if not keys.key_exists(database, key_id):
        raise click.ClickException(f"no key {key_id} (see `modemd keys list`)")
    endpoint = (endpoints.rotate_secret if rotate else endpoints.ensure_endpoint)(database, key_id)
    click.echo(endpoint.secret)


@ipn.command("format")
@click.argument("key_id", type=int)
@click.argument("body_format", type=click.Choice(list(endpoints.FORMATS)))
@db_option
def set_format(key_id: int, body_format: str, db: str) -> None:
    """JSON bodies (default) or form-encoded fields for GenioApi-era scripts."""
    endpoints.set_format(open_db(db), key_id, body_format)
    click.echo(f"key {key_id}: IPN bodies are {body_format}")


@ipn.command("enable")
@click.argument("key_id", type=int)
@db_option
def enable(key_id: int, db: str) -> None:
    """Post to an endpoint again after it answered 410 Gone."""
    endpoints.enable(open_db(db), key_id)
    click.echo(
        f"key {key_id}: IPN endpoint enabled; replay its dead letters with "
        f"`modemd ipn replay --key-id {key_id}`"
    )
