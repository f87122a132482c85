"""``modemd lists`` and ``modemd optouts``: contact lists and opt-outs of a pool, on the
database directly (the API does the same for a key's pool)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlite_utils

from modemd.api.validation import RequestError, normalise_number
from modemd.cli.common import _table, db_option, main, open_db
from modemd.conversations.members_csv import CsvImportError, export_members, parse_members
from modemd.model import Member
from modemd.store import contacts, optouts
from modemd.store.contacts import ConflictError, NotFoundError

T = TypeVar("T")

pin_option = click.option("--pin", required=True, help="The pool.")
country_option = click.option(
    "--country", default=None, help="Country (ISO: IT) of numbers given without +."
)


def write(db: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(database, ...)`` in one transaction; store errors become CLI errors."""
    database = open_db(db, create=True)
    conn = database.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(database, *args, **kwargs)
    except (NotFoundError, ConflictError, ValueError) as exc:
        conn.execute("ROLLBACK")
        raise click.ClickException(str(exc)) from exc
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def read(db: str, fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(open_db(db), *args)
    except (NotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def e164(raw: str, country: str | None) -> str:
    """``raw`` as E.164 (``ValueError`` for anything else, short codes included)."""
    try:
        number, _ = normalise_number(raw.strip(), country)
    except RequestError as exc:
        raise ValueError(exc.message) from exc
    if not number.startswith("+"):
        raise ValueError(f"{raw}: give the number with its country code (+...) or --country")
    return number


def checked_number(raw: str, country: str | None) -> str:
    try:
        return e164(raw, country)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NUMBER") from exc


@main.group("lists")
def lists_group() -> None:
    """Contact lists of a pool (members, CSV import and export)."""


@lists_group.command("list")
@pin_option
@db_option
def lists_list(pin: str, db: str) -> None:
    """The pool's lists with their member counts."""
    _table(read(db, contacts.list_lists, pin), ["list_id", "name", "members", "keyword_join"])


@lists_group.command("create")
@pin_option
@click.argument("name")
@click.option("--no-keyword-join", is_flag=True, help="JOIN <name> does not subscribe.")
@click.option("--welcome", default=None, help="Reply to JOIN (default: a welcome with STOP).")
@db_option
def lists_create(pin: str, name: str, no_keyword_join: bool, welcome: str | None, db: str) -> None:
    """A new list (names are unique per pool whatever their case)."""
    row = write(
        db, contacts.create_list, pin, name, keyword_join=not no_keyword_join, welcome_text=welcome
    )
    click.echo(f"list {row['list_id']} {row['name']!r} created in pool {pin}")


@lists_group.command("rename")
@pin_option
@click.argument("ref")
@click.argument("new_name")
@db_option
def lists_rename(pin: str, ref: str, new_name: str, db: str) -> None:
    """Rename list REF (its id or name)."""
    row = write(db, contacts.update_list, pin, ref, {"name": new_name})
    click.echo(f"list {row['list_id']} is now {row['name']!r}")


@lists_group.command("delete")
@pin_option
@click.argument("ref")
@db_option
def lists_delete(pin: str, ref: str, db: str) -> None:
    """Delete list REF and its memberships (opt-outs are kept)."""
    list_id = write(db, contacts.delete_list, pin, ref)
    click.echo(f"list {list_id} deleted")


@lists_group.command("add")
@pin_option
@click.argument("ref")
@click.argument("number")
@click.option("--name", default="", help="The member's name ({name} in replies).")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE", help="More placeholders.")
@country_option
@db_option
def lists_add(
    pin: str,
    ref: str,
    number: str,
    name: str,
    fields: tuple[str, ...],
    country: str | None,
    db: str,
) -> None:
    """Add NUMBER to list REF (or update its name and fields)."""
    pairs = dict(f.split("=", 1) for f in fields if "=" in f)
    if len(pairs) != len(fields):
        raise click.BadParameter("fields are KEY=VALUE", param_hint="--field")
    member = Member(checked_number(number, country), name, pairs)
    counts = write(db, contacts.add_members, pin, ref, [member], "cli")
    click.echo(f"{member.number}: {'added' if counts['added'] else 'updated'}")


@lists_group.command("remove")
@pin_option
@click.argument("ref")
@click.argument("number")
@country_option
@db_option
def lists_remove(pin: str, ref: str, number: str, country: str | None, db: str) -> None:
    """Remove NUMBER from list REF."""
    write(db, contacts.remove_member, pin, ref, checked_number(number, country))
    click.echo("removed")


def _parsed(file: Path, country: str | None) -> list[Member]:
    """The rows of a CSV file, or a CLI error naming every bad line."""
    try:
        return parse_members(file.read_bytes(), lambda cell: e164(cell, country))
    except CsvImportError as exc:
        for error in exc.errors:
            click.echo(f"{file}: {error}", err=True)
        raise click.ClickException(f"{file}: nothing imported") from exc


@lists_group.command("import")
@pin_option
@click.argument("ref")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@country_option
@db_option
def lists_import(pin: str, ref: str, file: Path, country: str | None, db: str) -> None:
    """Import a CSV FILE into list REF: all rows, or none at the first bad line."""
    members = _parsed(file, country)
    counts = write(db, contacts.add_members, pin, ref, members, "import")
    click.echo(f"{counts['added']} added, {counts['updated']} updated")


@lists_group.command("members")
@pin_option
@click.argument("ref")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (number, name, fields).")
@db_option
def lists_members(pin: str, ref: str, as_csv: bool, db: str) -> None:
    """Members of list REF."""
    rows = read(db, contacts.all_members, pin, ref)
    if as_csv:
        sys.stdout.write(export_members(rows))
        return
    _table(rows, ["number", "name", "source", "added_at"])


@main.group("optouts")
def optouts_group() -> None:
    """Numbers that opted out of a pool (STOP), by keyword, API or here."""


@optouts_group.command("list")
@pin_option
@db_option
def optouts_list(pin: str, db: str) -> None:
    """Numbers opted out now, with when, how and the message that did it."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    database = open_db(db)
    while True:
        page, cursor = optouts.list_opted_out(database, pin, cursor, 1000)
        rows += page
        if cursor is None:
            break
    _table(rows, ["number", "source", "changed_at", "device_id", "message"])


def _set(db: str, pin: str, number: str, out: bool, note: str | None) -> bool:
    def change(database: sqlite_utils.Database) -> bool:
        return optouts.set_opt_out(database, pin, number, out, source="cli", message=note)

    return write(db, change)


@optouts_group.command("add")
@pin_option
@click.argument("number")
@click.option("--note", default=None, help="Why (kept with the opt-out).")
@country_option
@db_option
def optouts_add(pin: str, number: str, note: str | None, country: str | None, db: str) -> None:
    """Opt NUMBER out of the pool: no send reaches it but transactional keys'."""
    e = checked_number(number, country)
    changed = _set(db, pin, e, True, note)
    click.echo(f"{e}: opted out" if changed else f"{e}: already opted out")


@optouts_group.command("remove")
@pin_option
@click.argument("number")
@country_option
@db_option
def optouts_remove(pin: str, number: str, country: str | None, db: str) -> None:
    """Opt NUMBER back in (as if it had texted START)."""
    e = checked_number(number, country)
    changed = _set(db, pin, e, False, None)
    click.echo(f"{e}: opted in" if changed else f"{e}: was not opted out")


@optouts_group.command("import")
@pin_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", default=None, help="Kept with each opt-out (where the list came from).")
@country_option
@db_option
def optouts_import(pin: str, file: Path, note: str | None, country: str | None, db: str) -> None:
    """Opt out every number of a CSV FILE (a number column): all, or none at a bad line."""
    members = _parsed(file, country)
    counts = write(db, optouts.import_opt_outs, pin, [m.number for m in members], note)
    click.echo(f"{counts['opted_out']} opted out, {counts['already']} already were")


@optouts_group.command("show")
@pin_option
@click.argument("number")
@country_option
@db_option
def optouts_show(pin: str, number: str, country: str | None, db: str) -> None:
    """Every opt-out and opt-in of NUMBER."""
    rows = read(db, optouts.history, pin, checked_number(number, country))
    _table(rows, ["changed_at", "opted_out", "source", "device_id", "message"])
