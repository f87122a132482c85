"""Inbound messages through the engine and a real database: opt-out, JOIN, rules, surveys,
quiet hours; each decision and its reply job written in one transaction."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import time as clock
from typing import Any

import pytest

from modemd.conversations.engine import Action, Inbound, PoolPolicy
from modemd.conversations.specs import check_rule, check_survey
from modemd.conversations.words import DEFAULT_HELP, DEFAULT_START, DEFAULT_STOP
from modemd.store import contacts, optouts, replies, rules, survey_results, surveys
from modemd.store.conversations import handle
from modemd.store.db import Store

pytestmark = pytest.mark.both_engines  # store promises hold on SQLite and PostgreSQL


PIN = "4711"
ANNA = "+393331234567"
POLICY = PoolPolicy(DEFAULT_HELP, DEFAULT_STOP, DEFAULT_START)
SURVEY = {
    "name": "Taste",
    "questions": [
        {"type": "choice", "text": "Favourite colour?", "choices": {"A": "Red", "B": "Blue"}},
        {"type": "number", "text": "How old are you?", "min": 1, "max": 120},
        {"type": "text", "text": "Anything else?"},
    ],
    "max_retries": 1,
}


async def text(store: Store, body: str, sender: str = ANNA, **kw: Any) -> tuple[Any, Any]:
    msg = Inbound(PIN, sender, body, "350000990000008", kw.pop("at", time.time()))
    return await store.write(handle, msg, kw.pop("policy", POLICY), frozenset(), msg.device_id)


async def test_join_then_stop_then_start(store: Store) -> None:
    await store.write(contacts.create_list, PIN, "NEWS")
    decision, job = await text(store, "join news")
    assert decision.action is Action.JOIN and job is not None
    assert job.to == ANNA and job.id_device == "350000990000008" and "Welcome" in job.message
    members = await store.read(contacts.all_members, PIN, "news")
    assert [(m["number"], m["source"]) for m in members] == [(ANNA, "keyword")]
    decision, job = await text(store, "Stop.")
    assert decision.action is Action.OPT_OUT and job is not None and job.message == DEFAULT_STOP
    assert await store.read(optouts.is_opted_out, PIN, ANNA)
    [change] = await store.read(optouts.history, PIN, ANNA)
    assert (change["source"], change["message"], change["device_id"]) == (
        "keyword",
        "Stop.",
        "350000990000008",
    )
    decision, job = await text(store, "START")
    assert decision.action is Action.OPT_IN and job is not None
    assert not await store.read(optouts.is_opted_out, PIN, ANNA)
    key = await store.read(
        lambda db: db.execute("SELECT label, revoked_at FROM api_keys").fetchall()
    )
    assert len(key) == 1 and key[0][1] is not None  # replies' system key: never authenticates


async def test_rule_replies_once_per_period(store: Store) -> None:
    await store.write(rules.create_rule, PIN, check_rule({"kind": "default", "reply": "Hi {from}"}))
    _, first = await text(store, "hello")
    _, second = await text(store, "hello again")
    assert first is not None and first.message == f"Hi {ANNA}" and second is None
    rows = await store.read(replies.list_replies, PIN)
    assert [r["state"] for r in rows] == ["queued"]


async def test_quiet_hours_hold_the_reply_until_they_end(store: Store) -> None:
    await store.write(rules.create_rule, PIN, check_rule({"kind": "default", "reply": "Later"}))
    now = time.time()
    everything = replace(POLICY, quiet_hours=(clock(0, 0), clock(23, 59)), timezone="UTC")
    decision, job = await text(store, "hello", policy=everything, at=now)
    assert decision.reply is not None and job is None
    assert await store.write(replies.release_due, now) == []
    released = await store.write(replies.release_due, decision.reply.due_at)
    assert [j.message for j in released] == ["Later"]
    assert await store.write(replies.release_due, decision.reply.due_at + 1) == []


async def test_a_reply_waiting_is_dropped_when_the_number_opts_out(store: Store) -> None:
    await store.write(rules.create_rule, PIN, check_rule({"kind": "default", "reply": "Later"}))
    everything = replace(POLICY, quiet_hours=(clock(0, 0), clock(23, 59)))
    decision, _ = await text(store, "hello", policy=everything)
    await text(store, "STOP")
    assert decision.reply is not None
    assert await store.write(replies.release_due, decision.reply.due_at) == []


async def test_a_survey_with_a_retry_to_completion_and_its_results(store: Store) -> None:
    await store.write(surveys.create_survey, PIN, check_survey(SURVEY))
    await store.write(optouts.set_opt_out, PIN, "+393330000000", True, source="api")
    jobs, skipped = await store.write(
        surveys.start, PIN, "taste", [ANNA, "+393330000000"], time.time()
    )
    assert skipped == ["+393330000000"] and [j.to for j in jobs] == [ANNA]
    assert jobs[0].message == "Favourite colour?\nA) Red\nB) Blue"
    _, job = await text(store, "c")
    assert job is not None and job.message.startswith("Please answer with A, B.")
    _, job = await text(store, "blue!")
    assert job is not None and job.message == "How old are you? (a number from 1 to 120)"
    _, job = await text(store, "42")
    assert job is not None and job.message == "Anything else?"
    _, job = await text(store, "No, thanks 🙂")
    assert job is not None and job.message == "Thank you for your answers!"
    decision, job = await text(store, "one more thing")  # the survey ended: rules (none)
    assert decision.action is Action.NONE and job is None
    found = await store.read(survey_results.results, PIN, "Taste")
    assert found["questions"][0]["counts"] == {"A": 0, "B": 1}
    assert found["questions"][1]["counts"] == {"42": 1} and found["questions"][1]["mean"] == 42
    assert found["respondents"][0]["answers"] == ["B", "42", "No, thanks 🙂"]
    assert found["respondents"][0]["state"] == "completed"
    csv = survey_results.results_csv(found).splitlines()
    assert csv[0] == "number,state,started_at,ended_at,q1,q2,q3"
    assert csv[1].startswith(ANNA + ",completed,") and csv[1].endswith(',B,42,"No, thanks 🙂"')


async def test_newest_session_wins_abandon_and_timeout(store: Store) -> None:
    await store.write(surveys.create_survey, PIN, check_survey(SURVEY))
    other = {**SURVEY, "name": "Other", "questions": [{"type": "yes_no", "text": "Happy?"}]}
    await store.write(surveys.create_survey, PIN, check_survey(other))
    now = time.time()
    await store.write(surveys.start, PIN, "taste", [ANNA], now)
    await store.write(surveys.start, PIN, "other", [ANNA], now)
    _, job = await text(store, "si")  # answers "Other", the one started last
    assert job is not None and job.message == "Thank you for your answers!"
    taste = await store.read(survey_results.results, PIN, "taste")
    assert taste["respondents"][0]["state"] == "replaced"
    await store.write(surveys.start, PIN, "taste", [ANNA], now)
    await text(store, "x")  # retry prompt
    decision, job = await text(store, "y")  # invalid again past max_retries=1
    assert decision.survey is not None and decision.survey.outcome == "abandoned" and job is None
    await store.write(surveys.start, PIN, "taste", [ANNA], now)
    assert await store.write(surveys.expire, now + 86400) == 1
    decision, _ = await text(store, "A", at=now + 86401)
    assert decision.survey is None  # timed out: the answer reaches the rules instead


async def test_survey_events_for_keys_with_an_ipn_url(store: Store) -> None:
    from modemd.store import keys

    await store.write(
        lambda db: keys.create_key(
            db, pin=PIN, allow_ips=[], over_ip=True, ipn_url="http://127.0.0.1:9/"
        )
    )
    await store.write(surveys.create_survey, PIN, check_survey(SURVEY))
    await store.write(surveys.start, PIN, "taste", [ANNA], time.time())
    for answer in ("A", "30", "ok"):
        await text(store, answer)
    rows = await store.read(
        lambda db: db.execute("SELECT type, payload FROM events ORDER BY seq").fetchall()
    )
    assert [r[0] for r in rows] == ["survey.answered"] * 3 + ["survey.completed"]
    completed = json.loads(rows[-1][1])["data"]
    assert completed["answers"] == ["A", "30", "ok"] and completed["number"] == ANNA
