"""The store's boundary: the accept transaction takes plain values and is all or nothing, reads
never write, and the CLI refuses unknown key and event ids instead of creating rows for them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import pytest
from builders import sent_job
from click.testing import CliRunner

from modemd.cli import common, main
from modemd.store import Store, accept, connect, dialect, endpoints, events, jobs, keys, wallet

T = TypeVar("T")


def accept_args(key_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "key_id": key_id,
        "pin": "1",
        "to": "+393331234567",
        "message": "hi",
        "parts": 2,
        "encoding": "gsm7",
        "id_device": None,
        "country": None,
        **extra,
    }


async def test_accept_reserves_the_cost_with_the_job(store: Store) -> None:
    key, _ = await store.write(keys.create_key, pin="1", allow_ips=[], over_ip=True, ipn_url=None)
    await store.write(wallet.topup, key.key_id, 10_000)
    await store.write(wallet.set_price, "+39", 2_000)
    accepted = await store.write(accept.accept_send, **accept_args(key.key_id))
    assert accepted.cost == 4_000 and accepted.job.parts == 2
    assert (await store.read(wallet.balance, key.key_id)).reserved == 4_000
    with pytest.raises(wallet.InsufficientCreditError):
        await store.write(accept.accept_send, **accept_args(key.key_id, parts=4))
    assert [j.job_id for j in await store.read(jobs.queued_jobs)] == [accepted.job.job_id]


XACT_CHANGES = (  # rows this backend changed and has not yet reported: its open transaction's too
    "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables"
)


def changes_made(db: Any, fn: Callable[[Any], T]) -> tuple[int, T]:
    """The rows ``fn(db)`` inserted, updated or deleted, and what it returned. SQLite: the
    connection's ``total_changes``. PostgreSQL (reads run in autocommit there) has no such
    counter: ``fn`` runs in a transaction that is rolled back, and the backend's row counts
    not yet reported (``pg_stat_xact_user_tables``: earlier transactions' too, until the
    backend reports them, which it never does inside a transaction) are read around it."""
    if not dialect.is_postgres(db):
        before = db.conn.total_changes
        value = fn(db)
        return db.conn.total_changes - before, value
    db.execute("BEGIN")
    try:
        (before,) = db.execute(XACT_CHANGES).fetchone()
        value = fn(db)
        (after,) = db.execute(XACT_CHANGES).fetchone()
    finally:
        db.execute("ROLLBACK")
    return int(after - before), value


@pytest.mark.both_engines
async def test_reads_never_write(store: Store) -> None:
    key, job = await sent_job(store, "http://127.0.0.1:9/ipn")
    other, _ = await store.write(
        keys.create_key, pin="2", allow_ips=[], over_ip=True, ipn_url="http://127.0.0.1:9/x"
    )
    # The endpoint row of the first key goes (a database from before signed endpoints).
    await store.write(lambda db: db.execute("DELETE FROM ipn_endpoints"))

    def reads(db: Any) -> list[Any]:
        return [
            events.due_events(db, 10**10),
            events.next_due_at(db),
            endpoints.get_endpoint(db, key.key_id),
            endpoints.get_endpoint(db, other.key_id),
            endpoints.get_endpoint(db, 77),
            events.list_by_state(db, "pending"),
            jobs.get_job_detail(db, job.job_id),
            wallet.balance(db, 77),
        ]

    changes, seen = await store.read(changes_made, reads)
    assert changes == 0
    # The count sees a write made where a read runs (both keys' rows, left as they were).
    touched, _ = await store.read(
        changes_made, lambda db: db.execute("UPDATE api_keys SET pin = pin")
    )
    assert touched == 2
    assert seen[0] == [] and seen[2] is None and seen[3] is None and seen[4] is None
    # The sender's start (a write) gives pending events their endpoint; then they are due.
    assert await store.write(endpoints.ensure_pending_endpoints) == 1
    due = await store.read(events.due_events, 10**10)
    assert [e.job_id for e in due] == [job.job_id]


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ipn", "secret", "77"], "Error: no key 77"),
        (["ipn", "secret", "77", "--rotate"], "Error: no key 77"),
        (["wallet", "show", "99"], "Error: no key 99"),
        (["ipn", "replay", "evt_nope"], "Error: no event evt_nope"),
    ],
    ids=" ".join,
)
def test_cli_unknown_ids_are_errors_that_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    db = tmp_path / "m.db"
    code, out = cli("keys", "create", "--pin", "7", "--over-ip", "--db", str(db))
    assert code == 0, out
    before = dump(db)
    code, out = cli(*args, "--db", str(db))
    assert code == 1 and message in out, out
    assert dump(db) == before  # every row of every table (a new connection's counter says 0)
    assert "ipn_endpoints" in before and 'INSERT INTO "ipn_endpoints"' not in before


def dump(db: Path) -> str:
    """The whole database as SQL text."""
    conn = connect(db).conn
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def test_cli_replay_of_a_delivered_event_says_it_is_no_dead_letter(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    cli(
        "keys",
        "create",
        "--pin",
        "7",
        "--over-ip",
        "--ipn-url",
        "http://127.0.0.1:9/",
        "--db",
        str(db),
    )
    database = connect(db)
    job = jobs.insert_job(
        database, key_id=1, pin="7", to="+15550001", message="m", parts=1, encoding="gsm7"
    )
    jobs.mark_failed(database, job, "no")
    event_id = events.list_events(database, job.job_id)[0]["event_id"]
    code, out = cli("ipn", "replay", event_id, "--db", str(db))
    assert code == 1 and f"event {event_id} is pending, not a dead letter" in out


def test_the_cli_opens_only_a_database_it_owns(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    assert cli("keys", "create", "--pin", "7", "--over-ip", "--db", str(db))[0] == 0
    if os.geteuid() != 0:  # cannot give a file away: a file of root's is someone else's
        with pytest.raises(click.ClickException, match="belongs to root"):
            common._owned("/")
        return
    owner = 65534  # nobody
    for path in tmp_path.glob("m.db*"):
        os.chown(path, owner, -1)
    code, out = cli("keys", "list", "--db", str(db))
    assert code == 1 and "belongs to" in out and "sudo -u" in out, out
    assert all(p.stat().st_uid == owner for p in tmp_path.glob("m.db*"))  # nothing of root's
