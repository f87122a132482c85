"""Keyword rules and surveys over the API: checked when made (catastrophic regex, replies over
10 parts, bad questions), started for numbers or a list (opted-out numbers skipped), results
as JSON and CSV."""

from __future__ import annotations

import asyncio
from typing import Any

from api_harness import Api, MakeApi
from test_api_lists import call

from modemd.conversations.engine import PoolPolicy
from modemd.runtime import alarm
from modemd.runtime.bank import Bank
from modemd.runtime.conversations import Conversations
from modemd.store.db import Store

DEADLINE_S = 30.0  # the loop's first round, however loaded the host
SURVEY = {
    "name": "Taste",
    "questions": [
        {"type": "choice", "text": "Colour?", "choices": {"A": "Red", "B": "Blue"}},
        {"type": "yes_no", "text": "Happy?"},
        {"type": "number", "text": "Age?", "min": 1, "max": 120, "retry_text": "Age in years?"},
    ],
}


async def test_rules_are_checked_when_made(api: Api) -> None:
    bad: list[dict[str, Any]] = [
        {"kind": "regex", "pattern": "(a+)+$", "reply": "x"},  # catastrophic backtracking
        {"kind": "regex", "pattern": "(unclosed", "reply": "x"},
        {"kind": "exact", "pattern": "!!", "reply": "x"},  # no letters or digits
        {"kind": "exact", "pattern": "hours", "reply": "x" * 1531},  # 11 GSM-7 parts
        {"kind": "exact", "pattern": "hours", "reply": ""},
        {"kind": "nearby", "pattern": "hours", "reply": "x"},
        {"kind": "default", "reply": "x", "period_s": 10},  # could feed a loop
        {"kind": "default", "reply": "x", "priority": "high"},
    ]
    for body in bad:
        status, answer = await call(api, "POST", "/api/v1/rules", json=body)
        assert status == 400 and answer["message"], body
    status, made = await call(
        api, "POST", "/api/v1/rules", json={"kind": "prefix", "pattern": "Price", "reply": "{text}"}
    )
    assert status == 201 and made["rule"]["period_s"] == 86400
    rule_id = made["rule"]["rule_id"]
    body = {"kind": "exact", "pattern": "hours", "reply": "9-18", "enabled": False}
    status, changed = await call(api, "PUT", f"/api/v1/rules/{rule_id}", json=body)
    assert status == 200 and changed["rule"]["enabled"] is False
    status, listed = await call(api, "GET", "/api/v1/rules")
    assert [r["pattern"] for r in listed["rules"]] == ["hours"]
    status, _ = await call(api, "GET", f"/api/v1/rules/{rule_id}", key="other_pin")
    assert status == 404  # another pool's rule
    assert (await call(api, "DELETE", f"/api/v1/rules/{rule_id}"))[0] == 200
    assert (await call(api, "DELETE", f"/api/v1/rules/{rule_id}"))[0] == 404
    assert (await call(api, "GET", "/api/v1/rules/x1"))[0] == 404


async def test_surveys_are_checked_when_made(api: Api) -> None:
    bad: list[dict[str, Any]] = [
        {"name": "x", "questions": []},
        {"name": "x", "questions": [{"type": "choice", "text": "?", "choices": {"A": "only"}}]},
        {"name": "x", "questions": [{"type": "number", "text": "?", "min": 5, "max": 1}]},
        {"name": "x", "questions": [{"type": "essay", "text": "?"}]},
        {"name": "x", "questions": [{"type": "text", "text": "y" * 1600}]},
        {"name": "", "questions": [{"type": "text", "text": "?"}]},
        {"name": "x", "questions": [{"type": "text", "text": "?"}], "max_retries": -1},
    ]
    for body in bad:
        status, answer = await call(api, "POST", "/api/v1/surveys", json=body)
        assert status == 400 and answer["message"], body
    assert (await call(api, "POST", "/api/v1/surveys", json=SURVEY))[0] == 201
    status, answer = await call(api, "POST", "/api/v1/surveys", json={**SURVEY, "name": "TASTE"})
    assert status == 409


async def test_start_for_numbers_and_a_list_then_results(api: Api) -> None:
    await call(api, "POST", "/api/v1/surveys", json=SURVEY)
    await call(api, "POST", "/api/v1/lists", json={"name": "club"})
    members = [{"number": "+393331111111"}, {"number": "+393332222222"}]
    await call(api, "POST", "/api/v1/lists/club/members", json={"members": members})
    await call(api, "POST", "/api/v1/optouts", json={"number": "+393332222222"})
    status, started = await call(api, "POST", "/api/v1/surveys/taste/start", json={"list": "club"})
    assert status == 200 and [s["number"] for s in started["started"]] == ["+393331111111"]
    assert started["skipped_opted_out"] == ["+393332222222"]
    status, started = await call(
        api, "POST", "/api/v1/surveys/taste/start", json={"numbers": ["333 3333333"]}
    )
    assert status == 200 and started["started"][0]["number"] == "+393333333333"
    job_id = started["started"][0]["job_id"]
    status, job = await api.get(f"/api/v1/jobs/{job_id}", params={"apikey": api.keys["italy"]})
    assert status == 200 and job["job"]["state"] == "queued"  # offered to the pool
    for body in ({}, {"numbers": [], "list": "club"}, {"numbers": "x"}, {"list": True}):
        status, _ = await call(api, "POST", "/api/v1/surveys/taste/start", json=body)
        assert status == 400, body
    assert (await call(api, "POST", "/api/v1/surveys/nope/start", json={"list": "club"}))[0] == 404
    status, found = await call(api, "GET", "/api/v1/surveys/taste/results")
    assert status == 200 and found["questions"][0]["counts"] == {"A": 0, "B": 0}
    assert [r["number"] for r in found["respondents"]] == ["+393331111111", "+393333333333"]
    status, text = await call(api, "GET", "/api/v1/surveys/taste/results", params={"format": "csv"})
    assert text.splitlines()[0] == "number,state,started_at,ended_at,q1,q2,q3"
    status, one = await call(api, "GET", "/api/v1/surveys/taste")
    assert one["survey"]["sessions"] == {"active": 2}
    status, _ = await call(api, "DELETE", "/api/v1/surveys/taste")
    assert status == 200  # nobody answered: it may go


async def test_a_survey_started_wakes_the_conversations_loop(
    make_api: MakeApi, store: Store
) -> None:
    """The loop that times sessions out sleeps until the first time-out it knows of; a start
    through the API rings it, so it sleeps until the new session's: without the ring it slept
    on (no session open) until SAFETY_WAKE_S, and ended the session up to that much late."""
    talk = Conversations(store, Bank(store), lambda _pin: PoolPolicy())  # replies: none here
    api = await make_api(conversations_alarm=talk.alarm)
    assert (await call(api, "POST", "/api/v1/surveys", json=SURVEY))[0] == 201
    loop = asyncio.create_task(talk.run(), name="conversations")
    try:
        async with asyncio.timeout(DEADLINE_S):
            while talk.alarm.sleeps == 0:  # its first round done: asleep, nothing due
                await asyncio.sleep(0.01)
        assert talk.alarm.sleeping_until is None
        body = {"numbers": ["+393331111111"]}
        status, _ = await call(api, "POST", "/api/v1/surveys/taste/start", json=body)
        assert status == 200
        (expires_at,) = await store.read(
            lambda db: db.execute("SELECT expires_at FROM survey_sessions").fetchone()
        )
        async with asyncio.timeout(alarm.SAFETY_WAKE_S / 2):  # before any wake-up of its own
            while talk.alarm.sleeping_until != expires_at:
                await asyncio.sleep(0.01)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


def test_conversation_events_are_in_the_spec() -> None:
    from pathlib import Path

    import yaml

    from modemd.store.pool_events import POOL_EVENT_TYPES

    spec = yaml.safe_load((Path(__file__).parents[2] / "api" / "openapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    assert schemas["ConversationEventType"]["enum"] == list(POOL_EVENT_TYPES)
    assert "conversation-ipn" in spec["webhooks"]
