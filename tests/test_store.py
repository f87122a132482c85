"""The store on a real SQLite file and a real PostgreSQL database: migrations, the job state
machine, the outbox, reports."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from builders import tp_report

from modemd.errors import InvalidTransitionError, StoreError
from modemd.model import EventType, JobState, Lane, SentPart
from modemd.store import dispatch, endpoints, events, jobs, keys, reports
from modemd.store.db import Store, connect
from modemd.store.migrations import MIGRATIONS

pytestmark = pytest.mark.both_engines


async def new_job(store: Store, ipn_url: str | None = "http://127.0.0.1:9/ipn", parts: int = 1):
    key, _ = await store.write(
        lambda db: keys.create_key(db, pin="4711", allow_ips=[], over_ip=True, ipn_url=ipn_url)
    )
    return await store.write(
        lambda db: jobs.insert_job(
            db,
            key_id=key.key_id,
            pin="4711",
            to="+31612345678",
            message="hi",
            parts=parts,
            encoding="gsm7",
        )
    )


def test_migrations_are_numbered_and_applied_once(tmp_path: Path) -> None:
    versions = [v for v, _, _ in MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    db = connect(tmp_path / "a.db")
    assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(versions)
    db.conn.close()
    again = connect(tmp_path / "a.db")  # reopening applies nothing twice
    assert again.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(versions)
    assert again.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


async def test_an_inserted_job_is_the_row_read_back(store: Store) -> None:
    """``insert_job`` builds the Job it returns from its arguments, not from the row: the two
    agree, with each optional column set and left out, and the ids differ and grow in time."""
    key_id = (await new_job(store)).key_id
    made = [
        await store.write(
            lambda db, extra=extra: jobs.insert_job(
                db, key_id=key_id, pin="4711", to="+31612345678", message="hi", parts=2,
                encoding="ucs2", **extra,
            )
        )
        for extra in (
            {},
            {"id_device": "imei-1", "lane": Lane.BULK, "send_at": 1e9 + 0.5,
             "valid_until": 2e9 + 0.25, "now": 1.5e9 + 0.125},
        )
    ]  # fmt: skip
    for job in made:
        assert await store.read(jobs.get_job, job.job_id) == job
        assert job.state is JobState.QUEUED and job.job_id.startswith("job_")
    assert made[1].lane is Lane.BULK and made[1].created_at == made[1].updated_at == 1.5e9 + 0.125
    assert int(made[1].job_id[4:-8], 16) == int(1.5e12 + 125)  # ms of ``now``, then 8 random hex
    assert made[0].job_id != made[1].job_id


async def test_job_lifecycle_writes_events_in_order(store: Store) -> None:
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    assert claimed is not None and claimed.state is JobState.SENDING
    assert await store.write(jobs.claim_job, job.job_id, "imei-2") is None  # exactly one claim
    sent = await store.write(jobs.mark_sent, claimed, [SentPart(1, 7)])
    assert sent.state is JobState.SENT
    result = await store.write(reports.apply_report, "imei-1", tp_report(7, "+31612345678", 0))
    assert result.job is not None and result.job.state is JobState.DELIVERED
    rows = await store.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == [EventType.SMS_SENT, EventType.SMS_DELIVERED]
    assert all(r["state"] == "pending" for r in rows)


async def test_a_job_built_in_memory_is_the_row_and_stays_as_built(store: Store) -> None:
    job = await new_job(store)
    assert await store.read(jobs.get_job, job.job_id) == job  # the insert's own copy
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1", job)  # built from ``job``
    stored = await store.read(jobs.get_job, job.job_id)
    assert claimed == stored and hash(claimed) == hash(stored)
    assert claimed != job and claimed.device_id == "imei-1"
    with pytest.raises(AttributeError):
        claimed.state = JobState.QUEUED  # type: ignore[misc]
    assert claimed._replace(device_id="imei-2").device_id == "imei-2"
    assert claimed.device_id == "imei-1"


async def test_final_states_never_move_back(store: Store) -> None:
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    failed = await store.write(jobs.mark_failed, claimed, "+CMS ERROR: 1", 1)
    with pytest.raises(InvalidTransitionError):
        await store.write(jobs.mark_sent, failed, [SentPart(1, 1)])
    # The failed write rolled back alone: nothing half-written.
    assert await store.read(jobs.get_job, job.job_id) == failed
    detail = await store.read(jobs.get_job_detail, job.job_id)
    assert detail["part_details"] == []


async def test_multipart_delivered_only_when_every_part_is(store: Store) -> None:
    job = await new_job(store, parts=2)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    await store.write(jobs.mark_sent, claimed, [SentPart(1, 255), SentPart(2, 0)])
    first = await store.write(reports.apply_report, "imei-1", tp_report(255, "+31612345678", 0))
    assert first.job.state is JobState.SENT
    pending = await store.write(reports.apply_report, "imei-1", tp_report(0, "+31612345678", 0x21))
    assert pending.job.state is JobState.SENT
    last = await store.write(reports.apply_report, "imei-1", tp_report(0, "+31612345678", 0))
    assert last.job.state is JobState.DELIVERED


async def test_failed_report_fails_the_job(store: Store) -> None:
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    await store.write(jobs.mark_sent, claimed, [SentPart(1, 3)])
    result = await store.write(reports.apply_report, "imei-1", tp_report(3, "31612345678", 0x45))
    assert result.job.state is JobState.FAILED and "0x45" in result.job.error


async def test_unmatched_report_is_kept(store: Store) -> None:
    result = await store.write(reports.apply_report, "imei-9", tp_report(99, "+1555", 0))
    assert result.job is None
    rows = await store.read(lambda db: list(db["status_reports"].rows))
    assert rows[0]["mr"] == 99 and rows[0]["job_id"] is None


async def test_mr_wrap_matches_the_most_recent_send(store: Store) -> None:
    old = await new_job(store)
    new = await new_job(store)
    for job in (old, new):
        claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
        await store.write(jobs.mark_sent, claimed, [SentPart(1, 5)])
    result = await store.write(reports.apply_report, "imei-1", tp_report(5, "+31612345678", 0))
    assert result.job.job_id == new.job_id


def _sent_to(db, key_id: int, to: str, mr: int):
    job = jobs.insert_job(
        db, key_id=key_id, pin="4711", to=to, message="hi", parts=1, encoding="gsm7"
    )
    return jobs.mark_sent(db, jobs.claim_job(db, job.job_id, "imei-1"), [SentPart(1, mr)])


async def test_a_report_prefers_the_part_of_its_recipient_else_the_latest(store: Store) -> None:
    """The latest part with the report's TP-MR is tried first; when its recipient is not the
    report's, an older part to the report's recipient is the match, else the latest is."""
    key_id = (await new_job(store)).key_id
    older, latest, other = [
        await store.write(_sent_to, key_id, to, mr)
        for to, mr in (("+31611111111", 7), ("+31622222222", 7), ("+31633333333", 8))
    ]
    garbled = await store.write(reports.apply_report, "imei-1", tp_report(8, "+3169999", 0))
    assert garbled.job.job_id == other.job_id  # the only part with TP-MR 8
    result = await store.write(reports.apply_report, "imei-1", tp_report(7, "31611111111", 0))
    assert result.job.job_id == older.job_id and result.job.state is JobState.DELIVERED
    result = await store.write(reports.apply_report, "imei-1", tp_report(7, "+31600000000", 0))
    assert result.job.job_id == latest.job_id  # no part to that number: the latest awaiting


async def test_a_report_after_the_reference_wrapped_matches_the_part_awaiting_it(
    store: Store,
) -> None:
    key_id = (await new_job(store)).key_id

    def send_and_report(db):  # 260 sends (TP-MR n % 256), each reported but the last three
        sent = []
        for n in range(260):
            sent.append(_sent_to(db, key_id, "+31612345678", n % 256))
            if n < 257:
                report = tp_report(n % 256, "+31612345678", 0)
                assert reports.apply_report(db, "imei-1", report).job.job_id == sent[n].job_id
        return sent

    sent = await store.write(send_and_report)
    result = await store.write(reports.apply_report, "imei-1", tp_report(1, "+31612345678", 0))
    assert result.job.job_id == sent[257].job_id  # TP-MR 1: the second part sent with it


async def test_sending_at_crash_becomes_unknown(db_location: str) -> None:
    first = Store(db_location)
    await first.start()
    job = await new_job(first)
    await first.write(jobs.claim_job, job.job_id, "imei-1")
    await first.close()
    second = Store(db_location)
    await second.start()
    recovered = await second.write(jobs.recover_interrupted)
    assert [j.job_id for j in recovered] == [job.job_id]
    assert recovered[0].state is JobState.UNKNOWN
    rows = await second.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == [EventType.SMS_UNKNOWN]
    await second.close()


async def test_group_commit_keeps_each_write_isolated(store: Store) -> None:
    job = await new_job(store)

    def boom(db):
        db["jobs"].update(1, {"error": "half"})
        raise RuntimeError("boom")

    results = await asyncio.gather(
        store.write(jobs.claim_job, job.job_id, "imei-1"),
        store.write(boom),
        return_exceptions=True,
    )
    assert results[0].state is JobState.SENDING
    assert isinstance(results[1], RuntimeError)
    assert (await store.read(jobs.get_job, job.job_id)).error is None


async def test_event_without_endpoint_is_not_pending(store: Store) -> None:
    job = await new_job(store, ipn_url=None)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    await store.write(jobs.mark_sent, claimed, [SentPart(1, 1)])
    rows = await store.read(events.list_events, job.job_id)
    assert [r["state"] for r in rows] == ["no_endpoint"]
    assert await store.read(events.due_events, 1e12) == []


async def test_key_lookup_is_by_hash(store: Store) -> None:
    key, secret = await store.write(
        lambda db: keys.create_key(
            db, pin="1", allow_ips=["10.0.0.0/8"], over_ip=False, ipn_url=None
        )
    )
    assert (await store.read(keys.find_key, secret)).key_id == key.key_id
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert await store.read(keys.find_key, wrong) is None
    stored = await store.read(lambda db: list(db["api_keys"].rows))
    assert secret not in str(stored)


async def test_commit_failure_is_a_store_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "ro.db")
    await store.start()
    job = await new_job(store)

    def readonly_write(db):
        db.execute("PRAGMA query_only = ON")
        try:
            db["jobs"].update(1, {"error": "x"})
        finally:
            db.execute("PRAGMA query_only = OFF")

    with pytest.raises(StoreError, match="readonly"):
        await store.write(readonly_write)
    assert (await store.read(jobs.get_job, job.job_id)).error is None
    await store.close()


async def test_cancelled_caller_does_not_kill_the_store(store: Store) -> None:
    job = await new_job(store)
    waiting = asyncio.create_task(store.write(jobs.claim_job, job.job_id, "imei-1"), name="w")
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    # The store still answers, and the write was applied although nobody waited for it.
    claimed = await store.read(jobs.get_job, job.job_id)
    assert claimed is not None and claimed.state is JobState.SENDING


async def test_unreported_jobs_expire_and_a_late_report_still_settles(store: Store) -> None:
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    await store.write(jobs.mark_sent, claimed, [SentPart(1, 4)])
    assert await store.write(jobs.expire_unreported, time.time()) == []  # not yet
    later = time.time() + jobs.REPORT_WINDOW_S + 1
    expired = await store.write(jobs.expire_unreported, later)
    assert [(j.job_id, j.state) for j in expired] == [(job.job_id, JobState.EXPIRED)]
    rows = await store.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == ["sms.sent", "sms.expired"]


async def test_operator_retry_only_from_unknown_failed_expired(store: Store) -> None:
    job = await new_job(store)
    with pytest.raises(InvalidTransitionError, match="only"):
        await store.write(jobs.retry_by_operator, job.job_id)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    await store.write(jobs.mark_unknown, claimed, "timeout after Ctrl-Z")
    again = await store.write(jobs.retry_by_operator, job.job_id)
    assert again.state is JobState.QUEUED and again.device_id is None
    assert "retried by operator" in (again.error or "")
    assert await store.write(jobs.claim_job, job.job_id, "imei-2") is not None


async def test_a_report_settles_the_one_matching_unknown_job(store: Store) -> None:
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    await store.write(jobs.mark_unknown, claimed, "killed after Ctrl-Z")
    other = await store.write(reports.apply_report, "imei-2", tp_report(7, "+31612345678", 0))
    assert other.job is None  # another device's report proves nothing
    result = await store.write(reports.apply_report, "imei-1", tp_report(7, "+31612345678", 0))
    assert result.job is not None and result.job.state is JobState.DELIVERED
    rows = await store.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == ["sms.unknown", "sms.delivered"]


async def test_an_early_report_of_the_next_send_does_not_settle_an_unknown_job(
    store: Store,
) -> None:
    """After a kill -9, job 1 is unknown (its PDU may have gone out; here it never did) and
    job 2 to the same number is being sent on the same device when its report comes before
    its record: the report is job 2's, adopted when job 2 is recorded; job 1 stays unknown."""
    lost = await new_job(store)
    await store.write(
        jobs.mark_unknown, await store.write(jobs.claim_job, lost.job_id, "imei-1"), "killed"
    )
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    early = await store.write(reports.apply_report, "imei-1", tp_report(9, "+31612345678", 0))
    assert early.job is None and early.awaits == job.job_id
    sent = await store.write(jobs.mark_sent, claimed, [SentPart(1, 9)])
    assert sent.state is JobState.DELIVERED
    still = await store.read(jobs.get_job, lost.job_id)
    assert still is not None and still.state is JobState.UNKNOWN
    assert [r["type"] for r in await store.read(events.list_events, lost.job_id)] == ["sms.unknown"]


async def test_ambiguous_unknown_jobs_stay_unknown(store: Store) -> None:
    for _ in range(2):
        job = await new_job(store)
        claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
        await store.write(jobs.mark_unknown, claimed, "killed")
    result = await store.write(reports.apply_report, "imei-1", tp_report(7, "+31612345678", 0))
    assert result.job is None
    assert await store.read(lambda db: db.table("jobs").count_where("state = 'unknown'")) == 2


async def test_a_report_before_its_part_is_recorded_is_adopted(store: Store) -> None:
    job = await new_job(store, parts=2)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    # Part 1's report arrives while part 2 is still being sent: nothing to match yet.
    early = await store.write(reports.apply_report, "imei-1", tp_report(40, "+31612345678", 0))
    assert early.job is None
    sent = await store.write(jobs.mark_sent, claimed, [SentPart(1, 40), SentPart(2, 41)])
    assert sent.state is JobState.SENT  # part 2 still has no report
    parts = (await store.read(jobs.get_job_detail, job.job_id))["part_details"]
    assert [p["state"] for p in parts] == ["delivered", "sent"]
    last = await store.write(reports.apply_report, "imei-1", tp_report(41, "+31612345678", 0))
    assert last.job is not None and last.job.state is JobState.DELIVERED


async def test_an_early_failed_report_fails_the_job_at_once(store: Store) -> None:
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    await store.write(reports.apply_report, "imei-1", tp_report(5, "+31612345678", 0x41))
    settled = await store.write(jobs.mark_sent, claimed, [SentPart(1, 5)])
    assert settled.state is JobState.FAILED
    rows = await store.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == ["sms.sent", "sms.failed"]


async def test_a_move_from_the_callers_copy_returns_the_row_as_stored(store: Store) -> None:
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1", job)  # the queued copy
    assert claimed == await store.read(jobs.get_job, job.job_id)
    sent = await store.write(jobs.mark_sent, claimed, [SentPart(1, 3)])
    assert sent == await store.read(jobs.get_job, job.job_id)
    assert (sent.state, sent.device_id) == (JobState.SENT, "imei-1")


async def test_a_job_given_back_untried_takes_its_claims_attempt_back(store: Store) -> None:
    job = await new_job(store)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1", job)
    back = await store.write(jobs.requeue, claimed, "given back", untried=True)
    assert back.state is JobState.QUEUED
    assert await store.read(jobs.attempts, job.job_id) == 0
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-2", back)
    await store.write(jobs.requeue, claimed, "no prompt")  # a try that sent nothing counts
    assert await store.read(jobs.attempts, job.job_id) == 1


async def test_a_claim_taken_over_moves_in_one_write_and_only_from_its_holder(
    store: Store,
) -> None:
    job = await new_job(store)
    held = await store.write(jobs.claim_job, job.job_id, "imei-1", job)
    assert held is not None
    taken = await store.write(dispatch.take_over, held, "imei-2", None)
    assert taken == await store.read(jobs.get_job, job.job_id)  # the row as stored
    assert (taken.state, taken.device_id) == (JobState.SENDING, "imei-2")
    assert await store.read(jobs.attempts, job.job_id) == 1  # the first claim's attempt
    # ``held`` is no longer imei-1's claim: a second take-over from it moves nothing
    assert await store.write(dispatch.take_over, held, "imei-3", None) is None
    back = await store.write(jobs.requeue, taken, "stopped before sending", untried=True)
    assert await store.write(dispatch.take_over, taken, "imei-3", None) is None  # queued now
    assert await store.read(jobs.get_job, job.job_id) == back


async def test_a_stale_copy_still_moves_and_returns_the_row_as_stored(store: Store) -> None:
    job = await new_job(store)
    first = await store.write(jobs.claim_job, job.job_id, "imei-1", job)
    await store.write(jobs.requeue, first, "unplugged")
    # ``job`` is queued but older than the row: the claim reads it back
    again = await store.write(jobs.claim_job, job.job_id, "imei-2", job)
    assert again == await store.read(jobs.get_job, job.job_id)
    assert (again.device_id, again.error) == ("imei-2", "unplugged")
    # ``first`` is sending, as the row is, but on another device since: the row's is returned
    sent = await store.write(jobs.mark_sent, first, [SentPart(1, 4)])
    assert sent == await store.read(jobs.get_job, job.job_id)
    assert sent.device_id == "imei-2"


async def test_an_event_is_born_pending_with_its_endpoint_or_failed_when_disabled(
    store: Store,
) -> None:
    job = await new_job(store)
    assert await store.read(endpoints.get_endpoint, job.key_id) is None
    await store.write(events.add_event, job, EventType.SMS_SENT, {})
    assert await store.read(endpoints.get_endpoint, job.key_id) is not None  # its secret first
    await store.write(endpoints.disable, job.key_id, "410 Gone")
    await store.write(events.add_event, job, EventType.SMS_DELIVERED, {})
    rows = await store.read(events.list_events, job.job_id)
    # the first was pending until the endpoint went (then dead-lettered); the second born so
    assert [(r["type"], r["state"]) for r in rows] == [
        ("sms.sent", "failed"),
        ("sms.delivered", "failed"),
    ]
    assert [r["last_error"] for r in rows] == ["endpoint disabled: 410 Gone", None]
