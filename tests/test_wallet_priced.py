"""A job says whether its key had a wallet when it was accepted (``jobs.priced``, migration 026):
a priced job's moves settle its credit as before; an unpriced one's read no ledger, and a
wallet made after its accept does not charge it (it was accepted free: its client was told
no cost). Rows older than the column are priced: they keep being looked at."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlite_utils

from modemd.model import Job, JobState, SentPart
from modemd.store import accept, campaigns, jobs, keys, wallet
from modemd.store.db import Store, connect

DATABASES = Path(__file__).parent / "databases"
DEVICE = "350000000000026"


async def _key(store: Store, *, funded: bool) -> int:
    def create(db: sqlite_utils.Database) -> int:
        key, _ = keys.create_key(db, pin="4711", allow_ips=[], over_ip=True, ipn_url=None)
        wallet.set_price(db, "+39", 1000)
        if funded:
            wallet.topup(db, key.key_id, 5000)
        return key.key_id

    return await store.write(create)


async def _accept(store: Store, key_id: int) -> accept.Accepted:
    return await store.write(
        accept.accept_send,
        key_id=key_id,
        pin="4711",
        to="+393331000001",
        message="ciao",
        parts=1,
        encoding="gsm7",
        id_device=None,
        country="IT",
    )


async def _send(store: Store, job: Job) -> Job:
    claimed = await store.write(jobs.claim_job, job.job_id, DEVICE, job)
    assert claimed is not None
    return await store.write(jobs.mark_sent, claimed, [SentPart(1, 7)])


async def _ledger(store: Store, key_id: int) -> list[tuple[str, int]]:
    rows = await store.read(wallet.ledger_rows, key_id, 100)
    return [(r["kind"], r["amount"]) for r in reversed(rows)]


def _priced_column(db: sqlite_utils.Database, job_id: str) -> int:
    return int(db.execute("SELECT priced FROM jobs WHERE job_id = ?", [job_id]).fetchone()[0])


@pytest.mark.both_engines
async def test_a_job_accepted_with_a_wallet_is_priced_and_charged_when_sent(store: Store) -> None:
    key_id = await _key(store, funded=True)
    accepted = await _accept(store, key_id)
    assert accepted.cost == 1000 and accepted.job.priced is True
    assert await store.read(_priced_column, accepted.job.job_id) == 1
    sent = await _send(store, accepted.job)
    assert sent.state is JobState.SENT and sent.priced is True
    assert await _ledger(store, key_id) == [
        ("topup", 5000),
        ("reserve", -1000),
        ("release", 1000),
        ("charge", -1000),
    ]
    stored = await store.read(jobs.get_job, accepted.job.job_id)
    assert stored == sent  # the flag as read back equals the one carried in memory


@pytest.mark.both_engines
async def test_a_wallet_made_after_the_accept_does_not_charge_the_job(store: Store) -> None:
    key_id = await _key(store, funded=False)
    accepted = await _accept(store, key_id)
    assert accepted.cost is None and accepted.job.priced is False
    assert await store.read(_priced_column, accepted.job.job_id) == 0
    await store.write(wallet.topup, key_id, 5000)  # the wallet comes while the job waits
    queued = await store.read(jobs.get_job, accepted.job.job_id)
    assert queued is not None and queued.priced is False  # as read back by a restart
    await _send(store, queued)
    assert await _ledger(store, key_id) == [("topup", 5000)]
    balance = await store.read(wallet.balance, key_id)
    assert (balance.available, balance.reserved, balance.spent) == (5000, 0, 0)


@pytest.mark.sqlite_only  # the statements are seen through SQLite's trace
async def test_an_unpriced_jobs_record_reads_no_ledger(store: Store) -> None:
    free = await _key(store, funded=False)
    funded = await _key(store, funded=True)
    for key_id, reads in ((free, 0), (funded, 1)):
        accepted = await _accept(store, key_id)
        claimed = await store.write(jobs.claim_job, accepted.job.job_id, DEVICE, accepted.job)
        assert claimed is not None
        seen: list[str] = []
        await store.read(lambda db, seen=seen: db.conn.set_trace_callback(seen.append))
        await store.write(jobs.mark_sent, claimed, [SentPart(1, 7)])
        await store.read(lambda db: db.conn.set_trace_callback(None))
        assert len([sql for sql in seen if "FROM ledger" in sql]) == reads, seen


@pytest.mark.both_engines
async def test_an_insert_that_does_not_say_is_priced(store: Store) -> None:
    """A job inserted without the flag (an automatic reply, an older caller) is looked at: a
    reserve made for it is charged when it is sent."""
    key_id = await _key(store, funded=True)

    def insert(db: sqlite_utils.Database) -> Job:
        job = jobs.insert_job(
            db, key_id=key_id, pin="4711", to="+393331000001", message="m", parts=1,
            encoding="gsm7",
        )  # fmt: skip
        wallet.reserve(db, job, "IT")
        return job

    job = await store.write(insert)
    assert job.priced is True and await store.read(_priced_column, job.job_id) == 1
    await _send(store, job)
    assert ("charge", -1000) in await _ledger(store, key_id)


def test_the_upgrade_prices_every_older_job(tmp_path: Path) -> None:
    """Rows older than the column are priced: the old queued job with a reserve is charged
    when it is sent after the upgrade, as before it."""
    copy = tmp_path / "modemd.db"
    shutil.copy(DATABASES / "schema_v25.db", copy)
    db = connect(copy)  # migrates
    try:
        assert {r[0] for r in db.execute("SELECT priced FROM jobs").fetchall()} == {1}
        queued = db.execute("SELECT job_id FROM jobs WHERE state = 'queued'").fetchone()[0]
        job = jobs.get_job(db, queued)
        assert job is not None and job.priced is True
        claimed = jobs.claim_job(db, job.job_id, DEVICE, job)
        assert claimed is not None
        jobs.mark_sent(db, claimed, [SentPart(1, 3)])
        kinds = db.execute(
            "SELECT kind FROM ledger WHERE job_id = ? ORDER BY entry_id", [queued]
        ).fetchall()
        assert [k[0] for k in kinds] == ["reserve", "release", "charge"]
    finally:
        db.conn.close()


@pytest.mark.both_engines
async def test_a_campaigns_jobs_are_priced_by_its_keys_wallet(store: Store) -> None:
    queued: dict[bool, set[int]] = {}
    for funded in (False, True):
        key_id = await _key(store, funded=funded)
        campaign_id = await store.write(campaigns.create, key_id=key_id, pin="4711", template="m")
        rows = [campaigns.Recipient(2, "+393331000009", "IT", "m", 1, "gsm7")]
        await store.write(campaigns.add_recipients, campaign_id, rows)
        await store.write(campaigns.finish_validation, campaign_id, {"valid": 1})
        await store.write(campaigns.start, campaign_id, "4711")
        assert await store.write(campaigns.queue_batch, campaign_id, 10) == 1
        found = await store.read(
            lambda db, c=campaign_id: db.execute(
                "SELECT priced FROM jobs WHERE campaign_id = ?", [c]
            ).fetchall()
        )
        queued[funded] = {int(r[0]) for r in found}
    assert queued == {False: {0}, True: {1}}
