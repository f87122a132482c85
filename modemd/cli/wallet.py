"""``modemd wallet``: credit per key and the price list (every movement is a ledger row)."""

from __future__ import annotations

import click

from modemd.api.keyspec import KeySettingsError, check_destination
from modemd.cli.common import _table, audited, db_option, main, open_db
from modemd.store import keys as key_rows
from modemd.store import wallet as wallets


def _amount(text: str, hint: str) -> int:
    try:
        return wallets.parse_amount(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from exc


@main.group()
def wallet() -> None:
    """Credit of API keys, and prices."""


@wallet.command("topup")
@click.argument("key_id", type=int)
@click.argument("amount")
@click.option("--note", default="", help="Why (kept in the ledger).")
@db_option
def wallet_topup(key_id: int, amount: str, note: str, db: str) -> None:
    """Add AMOUNT (e.g. 10.50) to a key's wallet; the first top-up turns credit checks on."""
    value = _amount(amount, "AMOUNT")
    if value <= 0:
        raise click.BadParameter("must be positive", param_hint="AMOUNT")
    database = open_db(db)
    if key_rows.get_key(database, key_id) is None:
        raise click.ClickException(f"no live key {key_id}")
    with database.conn:
        found = audited(
            database, "wallet.topup", f"key {key_id}", wallets.topup, key_id, value, note
        )
    click.echo(f"key {key_id}: balance {wallets.format_amount(found.available)}")


@wallet.command("show")
@click.argument("key_id", type=int)
@click.option("--limit", default=20, show_default=True, help="Ledger rows shown.")
@db_option
def wallet_show(key_id: int, limit: int, db: str) -> None:
    """Balance, reserved and spent credit of a key, and its last ledger rows."""
    database = open_db(db)
    if not key_rows.key_exists(database, key_id):
        raise click.ClickException(f"no key {key_id} (see `modemd keys list`)")
    found = wallets.balance(database, key_id)
    if not found.enabled:
        click.echo(f"key {key_id}: no wallet (sends are not priced)")
        return
    click.echo(
        f"key {key_id}: balance {wallets.format_amount(found.available)}, "
        f"reserved {wallets.format_amount(found.reserved)}, "
        f"spent {wallets.format_amount(found.spent)}"
    )
    rows = wallets.ledger_rows(database, key_id, limit)
    for row in rows:
        row["amount"] = wallets.format_amount(row["amount"])
    _table(rows, ["entry_id", "created_at", "kind", "amount", "job_id", "note"])


@wallet.command("price")
@click.argument("destination")
@click.argument("per_part")
@db_option
def wallet_price(destination: str, per_part: str, db: str) -> None:
    """Price of one part to DESTINATION: '+39' (prefix), 'IT' (country) or '*' (the rest)."""
    try:
        where = check_destination(destination)
    except KeySettingsError as exc:
        raise click.BadParameter(str(exc), param_hint="DESTINATION") from exc
    price = _amount(per_part, "PER_PART")
    database = open_db(db, create=True)
    with database.conn:
        audited(database, "price.set", where, wallets.set_price, where, price)
    click.echo(f"{where}: {wallets.format_amount(price)} per part")


@wallet.command("prices")
@db_option
def wallet_prices(db: str) -> None:
    """The price list (longest prefix wins, then the country, then '*'; no match: free)."""
    rows = wallets.list_prices(open_db(db))
    for row in rows:
        row["per_part"] = wallets.format_amount(row["per_part"])
    _table(rows, ["destination", "per_part"])
