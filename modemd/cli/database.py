"""``modemd db``: online backup, restore, pruning what retention would prune, migrations and a
check of the database (and, on PostgreSQL, of the hosts sharing it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from modemd.cli.common import become_owner_of, current_settings, db_option, main, open_db
from modemd.store import files, retention, schema
from modemd.store import hosts as host_rows
from modemd.store.files import check_database
from modemd.store.location import is_postgres, redacted
from modemd.timefmt import local_iso


@main.group("db")
def db_group() -> None:
    """Back up, restore, prune, migrate and check the database."""


@db_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
def backup(file: str, db: str) -> None:
    """Copy the database to FILE (a new file), safe while the daemon runs."""
    size = files.backup(db, file)
    click.echo(f"{db} -> {file}: {size} bytes, schema version {files.schema_version(file)}")


@db_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database.")
@db_option
def restore(file: str, yes: bool, db: str) -> None:
    """Replace the database with the backup FILE (the daemon must be stopped); the replaced
    database is kept beside it."""
    from modemd.hardware.doctor import holders  # pyudev is not on serve's way

    running = [h for h in holders(db) if not h.endswith(f"(pid {os.getpid()})")]  # others
    if running:
        raise click.ClickException(
            f"{db} is open in {', '.join(running)}: stop the daemon first (systemctl stop modemd)"
        )
    if not yes:
        click.confirm(f"Replace {db} with {file}?", abort=True)
    become_owner_of(Path(db).absolute().parent)
    kept = files.restore(file, db)
    open_db(db)  # an older backup gets this version's migrations now
    click.echo(f"{db} restored from {file}" + (f"; the replaced one is {kept}" if kept else ""))


@db_group.command("prune")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Finished jobs older than this go [retention.jobs_days].",
)
@click.option("--dry-run", is_flag=True, help="Only say how many jobs would go.")
@db_option
def prune(days: int | None, dry_run: bool, db: str) -> None:
    """Delete finished jobs (not `unknown` ones) older than --days, in small batches, with
    their parts, reports and IPN events; the ledger stays."""
    settings_days = days or current_settings().option("retention.jobs_days")
    if settings_days is None:
        raise click.UsageError("no --days and no retention.jobs_days in the config")
    cutoff = time.time() - settings_days * 86400
    database = open_db(db)
    if dry_run:
        found = retention.count_prunable(database, cutoff)
        oldest = f", the oldest finished {local_iso(found['oldest'])}" if found["oldest"] else ""
        click.echo(f"{found['jobs']} jobs finished before {local_iso(cutoff)} would go{oldest}")
        return
    pruned = retention.prune_all(database, cutoff)
    click.echo(f"{pruned} jobs finished before {local_iso(cutoff)} pruned")


KNOWN = files.KNOWN_VERSION


@db_group.command("migrate")
@db_option
def migrate(db: str) -> None:
    """Bring the database's schema up to date now (`modemd serve` does it at start); safe
    while other hosts run."""
    check_database(db, must_exist=False)
    before = schema.stored_version(db)
    open_db(db, create=True).close()
    after = schema.stored_version(db)
    done = f"migrations {before + 1}-{after} applied" if after > before else "already up to date"
    click.echo(f"{redacted(db)}: schema version {after}, {done}")


@db_group.command("check")
@db_option
def check(db: str) -> None:
    """Can the database be reached, is its schema this modemd's, which hosts are alive; exit
    1 when something is wrong."""
    check_database(db, must_exist=True)
    found = schema.stored_version(db)
    click.echo(f"{redacted(db)}: reachable, schema version {found} (this modemd: {KNOWN})")
    if found < KNOWN:
        raise click.ClickException(f"schema {found} is older: run `modemd db migrate`")
    if found > KNOWN:
        raise click.ClickException(f"schema {found} is newer: upgrade modemd")
    if not is_postgres(db):
        click.echo("hosts: this one (SQLite: a single host)")
        return
    lease = current_settings().option("server.host_lease_s")
    database = open_db(db)
    try:
        alive = host_rows.live_hosts(database, lease)
    finally:
        database.close()
    click.echo(f"hosts alive (heard within {lease:g} s): {len(alive)}")
    for host in alive:
        beat = local_iso(host["heartbeat_at"])
        click.echo(f"  {host['host_id']}: {host['devices']} devices, last beat {beat}")
