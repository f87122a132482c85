"""The store's queries on the send path, the outbox and the caps keep an index (SQLite's
``EXPLAIN QUERY PLAN`` of each statement the store functions really run): migration 021 made
indexes partial, which the planner uses only when a query names their condition."""

from __future__ import annotations

import re
import time
from pathlib import Path

import sqlite_utils
from builders import tp_report

from modemd.model import DeviceInfo, DeviceKind, DeviceState, EventState, SentPart
from modemd.store import (
    batches,
    devices,
    endpoints,
    events,
    jobs,
    keys,
    pacing,
    reports,
    retention,
    stats,
)
from modemd.store.db import connect

# A plan line that reads a whole table or a whole index of one of the big tables.
FULL_SCAN = re.compile(r"^SCAN (events|job_parts|jobs|status_reports)\b|^SCAN \w+ USING INDEX")


def _traced(db: sqlite_utils.Database, statements: list[str]) -> None:
    db.conn.set_trace_callback(statements.append)  # each statement with its values in place


def _plans(db: sqlite_utils.Database, statements: list[str]) -> dict[str, list[str]]:
    db.conn.set_trace_callback(None)
    found = {}
    for sql in statements:
        if sql.split(None, 1)[0].upper() not in ("SELECT", "UPDATE", "DELETE"):
            continue
        found[sql] = [row[3] for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    return found


def _seed(db: sqlite_utils.Database) -> tuple[int, str]:
    key, _ = keys.create_key(
        db, pin="4711", allow_ips=[], over_ip=True, ipn_url="http://127.0.0.1:9/ipn"
    )
    modem = DeviceInfo("imei-1", "4711", DeviceKind.MODEM, "/dev/ttyUSB0", iccid="8939010000001")
    devices.upsert_device(db, modem, DeviceState.READY)
    phone = DeviceInfo("phone-1", "4711", DeviceKind.PHONE, "http://10.0.0.2:8080")
    devices.upsert_device(db, phone, DeviceState.READY)
    for n in range(3):
        job = jobs.insert_job(
            db, key_id=key.key_id, pin="4711", to="+31612345678", message="hi", parts=1,
            encoding="gsm7",
        )  # fmt: skip
        claimed = jobs.claim_job(db, job.job_id, "imei-1" if n else "phone-1")
        assert claimed is not None
        jobs.mark_sent(db, claimed, [SentPart(1, n)])
    return key.key_id, job.job_id


def test_send_path_outbox_and_caps_queries_keep_an_index(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    key_id, job_id = _seed(db)
    statements: list[str] = []
    _traced(db, statements)
    now = time.time()
    report = tp_report(2, "+31612345678", 0)
    # In a batch of the store's, as the daemon runs it: its event is staged for the IPN sender
    # when first in line for its job (this one waits behind the job's sms.sent).
    applied: list = []
    batches.process(
        db, [(batches.WRITE, lambda d: reports.apply_report(d, "imei-1", report), None)],
        applied, [], [],
    )  # fmt: skip
    assert applied and applied[0][1], applied
    events.due_events(db, now)
    events.next_due_at(db)
    for state in ("pending", "failed"):  # another state's listing reads the table in order
        events.list_by_state(db, state, key_id)
        events.list_by_state(db, state)
    events.replay(db, key_id=key_id)
    events.list_events(db, job_id)
    stats.snapshot(db, now - 3600, now - 86400)
    pacing.sim_parts(db, "8939010000001", "imei-1", now - 3600, now - 86400)
    pacing.sim_parts(db, "", "phone-1", now - 3600, now - 86400)
    endpoints.disable(db, key_id, "410 Gone")
    db.conn.set_trace_callback(None)  # the events posted: the delivered job can be pruned
    db.conn.execute("UPDATE events SET state = 'delivered'")
    _traced(db, statements)
    assert retention.prune_jobs(db, now + 1) == 1  # its parts, reports, events by job
    plans = _plans(db, statements)
    named = "\n".join(plans)
    for needed in (
        "events_pending",
        "events_failed",
        "sqlite_autoindex_sim_days_1",
        "job_parts_mr",
        "status_reports_job",
        "events_job",
    ):
        assert needed in str(plans), f"no statement used {needed}:\n{named}"
    in_line = [plan for sql, plan in plans.items() if "INDEXED BY events_job" in sql]
    assert len(in_line) == 1  # staged: ran, with the key's read
    assert "SEARCH events USING INDEX events_job (job_id=?)" in in_line[0], in_line
    for wanted in ("state = 'failed'", "state = 'pending'", "iccid = ''"):
        assert wanted in named
    scans = {sql: plan for sql, plan in plans.items() if any(FULL_SCAN.match(p) for p in plan)}
    assert not scans, "\n".join(f"{plan}: {sql}" for sql, plan in scans.items())
    db.conn.close()


def test_a_listing_of_another_state_names_it_and_needs_no_index(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    _seed(db)
    listed = events.list_by_state(db, EventState.NO_ENDPOINT.value)
    assert listed == []  # the key has an IPN URL: every event is pending
    assert [e["state"] for e in events.list_by_state(db, "pending")] == ["pending"] * 3
    db.conn.close()
