"""``modemd keys``: create, list, revoke and rotate API keys (the admin API does the same)."""

from __future__ import annotations

import click

from modemd.api.keyspec import KeySettingsError, check_settings
from modemd.cli.common import _table, audited, db_option, main, open_db
from modemd.model import DEFAULT_EVENTS
from modemd.store import endpoints
from modemd.store import keys as key_rows

MAX_GRACE_S = 30 * 24 * 3600  # as the admin API: a month at most
FLAGS = {  # setting named in a KeySettingsError -> the flag that set it
    "allow_ips": "--allow-ip",
    "ipn_url": "--ipn-url",
    "cors_origins": "--cors-origin",
    "default_country": "--country",
    "rate_limit": "--rate-limit",
    "pin": "--pin",
    "events": "--events",
}


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--pin", required=True, help="The pool this key sends to.")
@click.option(
    "--allow-ip",
    "allow_ips",
    multiple=True,
    metavar="ADDR_OR_CIDR",
    help="Caller addresses allowed (repeatable; v4 or v6).",
)
@click.option("--over-ip", is_flag=True, help="Accept calls from any IP (status_code 2).")
@click.option("--ipn-url", default=None, help="Where IPNs are POSTed.")
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Browser origin allowed (https://app.example.com, example.com, *.example.com).",
)
@click.option("--country", default=None, help="Default country (ISO: IT) for national numbers.")
@click.option("--rate-limit", type=int, default=None, help="Requests per minute (default: none).")
@click.option(
    "--transactional",
    is_flag=True,
    help="One-time passwords, alerts: may send to numbers that opted out (STOP).",
)
@click.option(
    "--allow-premium",
    is_flag=True,
    help="May send to premium-rate and shared-cost numbers and to short codes (refused by "
    "default: SMS pumping).",
)
@click.option(
    "--events",
    "events",
    multiple=True,
    metavar="TYPE[,TYPE]",
    help="IPN event types it receives (repeatable or comma-separated; 'default': every type "
    "but sms.received, also what no --events gives). sms.received: the pool's inbound SMS, "
    "never replies to other keys' jobs. E.g. --events default,sms.received",
)
@click.option("--label", default="", help="A name for humans.")
@db_option
def keys_create(
    pin: str,
    allow_ips: tuple[str, ...],
    over_ip: bool,
    ipn_url: str | None,
    cors_origins: tuple[str, ...],
    country: str | None,
    rate_limit: int | None,
    transactional: bool,
    allow_premium: bool,
    events: tuple[str, ...],
    label: str,
    db: str,
) -> None:
    """Create a key; the key itself is printed once, on the last line."""
    raw = {
        "pin": pin,
        "allow_ips": list(allow_ips),
        "over_ip": over_ip,
        "ipn_url": ipn_url,
        "cors_origins": list(cors_origins),
        "default_country": country,
        "rate_limit": rate_limit,
        "transactional": transactional,
        "allow_premium": allow_premium,
        "label": label,
        "events": list(events) or None,
    }
    try:
        wanted = check_settings(raw)
    except KeySettingsError as exc:
        name = str(exc).split(":", 1)[0]
        raise click.BadParameter(str(exc), param_hint=FLAGS.get(name, name)) from exc
    if not wanted.allow_ips and not wanted.over_ip:
        click.echo(
            "note: no --allow-ip and no --over-ip: every call will get unauthorized_ip", err=True
        )
    database = open_db(db, create=True)
    key, secret = audited(database, "key.create", "key", key_rows.create_key, **wanted.columns())
    if wanted.columns().get("ipn_url"):
        signing = endpoints.ensure_endpoint(database, key.key_id).secret
        click.echo(
            f"IPN signing secret (verify webhook-signature with it; also "
            f"`modemd ipn secret {key.key_id}`): {signing}"
        )
    click.echo(f"key {key.key_id} for pin {pin} created; store it now, it is not shown again:")
    click.echo(secret)


@keys.command("list")
@db_option
def keys_list(db: str) -> None:
    """List keys (never the secret)."""
    rows = key_rows.list_keys(open_db(db))
    for row in rows:
        row["allow_ips"] = ",".join(row["allow_ips"])
        row["cors_origins"] = ",".join(row["cors_origins"])
        default = tuple(row["events"]) == DEFAULT_EVENTS
        row["events"] = "default" if default else ",".join(row["events"])
    columns = ["key_id", "label", "prefix", "pin", "over_ip", "allow_ips", "cors_origins"]
    settings = ["default_country", "rate_limit", "transactional", "events", "ipn_url"]
    _table(rows, [*columns, *settings, "revoked_at"])


@keys.command("revoke")
@click.argument("key_id", type=int)
@db_option
def keys_revoke(key_id: int, db: str) -> None:
    """End a key now (its rotated-out secret too)."""
    if not audited(open_db(db), "key.revoke", f"key {key_id}", key_rows.revoke_key, key_id):
        raise click.ClickException(f"no live key {key_id}")
    click.echo(f"key {key_id} revoked")


@keys.command("rotate")
@click.argument("key_id", type=int)
@click.option(
    "--grace",
    type=click.IntRange(0, MAX_GRACE_S),
    default=0,
    show_default=True,
    help="Seconds the old secret keeps working.",
)
@db_option
def keys_rotate(key_id: int, grace: int, db: str) -> None:
    """A new secret for the same key (settings, wallet, jobs kept), printed once, last line."""
    rotated = audited(
        open_db(db), "key.rotate", f"key {key_id}", key_rows.rotate_key, key_id, float(grace)
    )
    if rotated is None:
        raise click.ClickException(f"no live key {key_id}")
    click.echo(f"key {key_id} rotated; the old secret works {grace} s more; store this one now:")
    click.echo(rotated[1])
