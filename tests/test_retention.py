"""Data over time: retention prunes finished jobs in batches; online backup and restore."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import DEVICE, TO, key_and_job, sent_job, tp_report
from click.testing import CliRunner

from modemd.cli import main
from modemd.errors import StoreError
from modemd.model import JobState
from modemd.runtime.retention import prune_now
from modemd.store import files, idempotency, jobs, reports, retention, wallet
from modemd.store.db import Store, connect

HOLD = (  # a process with the database open, as a running daemon has
    "import sqlite3, sys, time; sqlite3.connect(sys.argv[1]); print('open', flush=True); "
    "time.sleep(60)"
)
FUTURE = 4102444800.0  # 2100: every finished job counts as old


async def delivered(store: Store, ipn_url: str | None = None, mr: int = 9) -> str:
    _, job = await sent_job(store, ipn_url, mr)
    await store.write(reports.apply_report, DEVICE, tp_report(mr, TO, 0))
    return job.job_id


@pytest.mark.both_engines
async def test_prune_takes_finished_jobs_and_keeps_the_rest(store: Store) -> None:
    gone = await delivered(store)
    key, _, failed = await key_and_job(store, None)
    await store.write(wallet.topup, key.key_id, 100_000, "kept")
    claimed = await store.write(jobs.claim_job, failed.job_id, DEVICE)
    await store.write(jobs.mark_failed, claimed, "refused")
    _, _, unknown = await key_and_job(store, None)
    claimed = await store.write(jobs.claim_job, unknown.job_id, DEVICE)
    await store.write(jobs.mark_unknown, claimed, "timeout after Ctrl-Z")
    _, _, queued = await key_and_job(store, None)
    undelivered_ipn = await delivered(store, "http://127.0.0.1:9/ipn", mr=10)

    await store.write(  # a client's Idempotency-Key for it, long stale
        lambda db: db.execute(
            "INSERT INTO idempotency_keys VALUES (?, 'k1', 'h', ?, 0)", (key.key_id, gone)
        )
    )
    assert await store.write(retention.prune_jobs, FUTURE) == 2
    for job_id in (gone, failed.job_id):
        assert await store.read(jobs.get_job_detail, job_id) is None
    for job_id in (unknown.job_id, queued.job_id, undelivered_ipn):
        assert await store.read(jobs.get_job, job_id) is not None
    ledger = await store.read(wallet.ledger_rows, key.key_id)
    assert [row["note"] for row in ledger] == ["kept"]
    assert await store.write(retention.prune_jobs, FUTURE) == 0


async def test_prune_forgets_batch_idempotency_keys_after_their_window(store: Store) -> None:
    key, _, _ = await key_and_job(store, None)
    now = time.time()
    for name, at in (("stale", now - idempotency.IDEMPOTENCY_WINDOW_S - 1), ("fresh", now)):
        await store.write(  # several-recipient sends' keys: one a day old
            lambda db, row=(key.key_id, name, at): db.execute(
                "INSERT INTO idempotent_batches VALUES (?, ?, 'h', '[]', ?)", row
            )
        )
    await store.write(retention.prune_jobs, 0.0)  # no job is old enough: the keys still go
    left = await store.read(
        lambda db: [r[0] for r in db.execute("SELECT idempotency_key FROM idempotent_batches")]
    )
    assert left == ["fresh"]


@pytest.mark.both_engines
async def test_prune_goes_in_batches_with_commits_between(store: Store) -> None:
    for mr in range(5):
        await delivered(store, mr=mr)
    commits = []
    store.on_commit.append(lambda: commits.append(1))
    assert await store.write(retention.prune_jobs, 0.0) == 0  # nothing finished before 1970
    assert await prune_now(store, days=0, batch=2) == 5
    assert len(commits) >= 3 + 1  # 2 + 2 + 1, each its own transaction


@pytest.mark.sqlite_only  # PostgreSQL: pg_dump (test_store_postgres)
async def test_backup_while_the_daemon_writes(store: Store, tmp_path: Path) -> None:
    await delivered(store)
    stop = asyncio.Event()

    async def keep_writing() -> None:
        while not stop.is_set():
            await key_and_job(store, None)

    writer = asyncio.create_task(keep_writing())
    try:
        copy = tmp_path / "backup.db"
        size = await asyncio.to_thread(files.backup, store.path, copy)
    finally:
        stop.set()
        await writer
    assert size > 0 and files.schema_version(copy) == files.KNOWN_VERSION
    assert len(jobs.list_jobs(connect(copy), limit=10_000)) >= 1
    with pytest.raises(StoreError, match="a backup never overwrites"):
        files.backup(store.path, copy)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_backup_and_restore_commands(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    assert (
        cli("keys", "create", "--pin", "7", "--over-ip", "--label", "before", "--db", str(db))[0]
        == 0
    )
    code, out = cli("db", "backup", str(tmp_path / "b.db"), "--db", str(db))
    assert code == 0 and "schema version" in out
    assert (
        cli("keys", "create", "--pin", "8", "--over-ip", "--label", "after", "--db", str(db))[0]
        == 0
    )
    code, out = cli("db", "restore", str(tmp_path / "b.db"), "--yes", "--db", str(db))
    assert code == 0 and "the replaced one is" in out, out
    code, out = cli("keys", "list", "--db", str(db))
    assert " before " in out and " after " not in out
    (kept,) = tmp_path.glob("m.db.before-restore-*")
    assert " after " in cli("keys", "list", "--db", str(kept))[1]
    (tmp_path / "junk.db").write_text("not a database at all\n")
    code, out = cli("db", "restore", str(tmp_path / "junk.db"), "--yes", "--db", str(db))
    assert code == 1 and "is not a SQLite database" in out


def test_restore_refuses_while_another_process_has_the_database_open(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    assert cli("keys", "create", "--pin", "7", "--over-ip", "--db", str(db))[0] == 0
    assert cli("db", "backup", str(tmp_path / "b.db"), "--db", str(db))[0] == 0
    holder = subprocess.Popen(  # as the daemon holds it
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        code, out = cli("db", "restore", str(tmp_path / "b.db"), "--yes", "--db", str(db))
    finally:
        holder.kill()
        holder.wait()
    assert code == 1 and f"(pid {holder.pid}): stop the daemon first" in out


async def test_prune_command(store: Store, tmp_path: Path) -> None:
    await delivered(store)
    db = str(store.path)
    code, out = cli("db", "prune", "--db", db)
    assert code == 2 and "retention.jobs_days" in out
    config = tmp_path / "modemd.toml"
    config.write_text("[retention]\njobs_days = 1\n")
    code, out = cli("db", "prune", "--dry-run", "--config", str(config), "--db", db)
    assert code == 0 and out.startswith("0 jobs finished before")
    await store.write(  # the job finished two days ago
        lambda db: db.execute("UPDATE jobs SET final_at = final_at - 2 * 86400")
    )
    code, out = cli("db", "prune", "--dry-run", "--config", str(config), "--db", db)
    assert code == 0 and out.startswith("1 jobs finished before")
    code, out = cli("db", "prune", "--config", str(config), "--db", db)
    assert code == 0 and out.startswith("1 jobs finished before") and "pruned" in out
    assert (await store.read(jobs.list_jobs, state=JobState.DELIVERED.value)) == []


async def test_the_daemon_prunes_what_retention_says(tmp_path: Path) -> None:
    from e2e.daemon import running_daemon

    db = tmp_path / "m.db"
    store = Store(db)
    await store.start()
    try:
        old, recent = await delivered(store, mr=1), await delivered(store, mr=2)
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:  # one finished three days ago
        conn.execute("UPDATE jobs SET final_at = final_at - 3 * 86400 WHERE job_id = ?", (old,))
    config = tmp_path / "modemd.toml"
    config.write_text("[retention]\njobs_days = 2\nbatch = 1\n")
    async with running_daemon("--config", str(config), "--db", str(db)):
        async with asyncio.timeout(60):
            while jobs.get_job(connect(db), old) is not None:
                await asyncio.sleep(0.1)
    assert jobs.get_job(connect(db), recent) is not None
