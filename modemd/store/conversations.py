"""One inbound SMS through the conversation engine, in one transaction: what the store knows
about the sender is read, the engine decides, and the decision is written (opt-out, list,
survey step, the reply and its job) together, so two messages cannot both get "the" reply."""

from __future__ import annotations

import contextlib
import json
import logging

import sqlite_utils

from modemd.conversations.engine import (
    Action,
    Context,
    Decision,
    Inbound,
    ListInfo,
    PoolPolicy,
    decide,
)
from modemd.model import Job, Member
from modemd.store import contacts, optouts, replies, rules, surveys

log = logging.getLogger(__name__)

LOOKBACK_S = 366 * 24 * 3600  # the longest rule period (a year) + a day


def reply_cause(sender: str, text: str) -> str:
    """What an automatic reply records as the message it answers (the console finds it so)."""
    return json.dumps({"from": sender, "text": text[:160]}, ensure_ascii=False)


def context(
    db: sqlite_utils.Database, msg: Inbound, policy: PoolPolicy, own: frozenset[str]
) -> Context:
    """Everything the engine needs about ``msg``'s sender and pool."""
    lists = tuple(
        ListInfo(r["list_id"], r["name"], r["keyword_join"], r["welcome_text"])
        for r in contacts.list_lists(db, msg.pin)
    )
    member = contacts.member_of_pool(db, msg.pin, msg.sender)
    fields = {**member["fields"], "name": member["name"]} if member else {}
    return Context(
        policy=policy,
        opted_out=optouts.is_opted_out(db, msg.pin, msg.sender),
        lists=lists,
        rules=rules.enabled_rules(db, msg.pin),
        session=surveys.active_session(db, msg.pin, msg.sender, msg.received_at),
        last_reply_at=replies.last_replies(db, msg.pin, msg.sender, msg.received_at - LOOKBACK_S),
        fields=fields,
        own_numbers=own,
    )


def _apply(db: sqlite_utils.Database, msg: Inbound, decision: Decision) -> None:
    change = {Action.OPT_OUT: True, Action.OPT_IN: False}.get(decision.action)
    if change is not None:
        optouts.set_opt_out(
            db,
            msg.pin,
            msg.sender,
            change,
            source="keyword",
            message=msg.text,
            device_id=msg.device_id,
        )
    if decision.action is Action.JOIN and decision.list_id is not None:
        member = contacts.member_of_pool(db, msg.pin, msg.sender)
        keep = Member(msg.sender, member["name"], member["fields"]) if member else None
        contacts.add_members(db, msg.pin, decision.list_id, [keep or Member(msg.sender)], "keyword")
    if decision.action is Action.LEAVE and decision.list_id is not None:
        with contextlib.suppress(contacts.NotFoundError):  # not a member: still confirmed
            contacts.remove_member(db, msg.pin, decision.list_id, msg.sender)
    if decision.survey is not None:
        surveys.record_step(db, msg.pin, msg.sender, decision.survey, msg.text, msg.received_at)


def handle(
    db: sqlite_utils.Database,
    msg: Inbound,
    policy: PoolPolicy,
    own: frozenset[str] = frozenset(),
    reply_device: str | None = None,
) -> tuple[Decision, Job | None]:
    """Decide and store; the reply's job when it is due now (the caller offers it to the
    pool), None when there is no reply or it waits for the end of quiet hours. The reply is
    sent by ``reply_device`` (the one that received, while it is in the pool) or any."""
    decision = decide(msg, context(db, msg, policy, own))
    _apply(db, msg, decision)
    job = None
    if decision.reply is not None:
        job = replies.record_reply(
            db,
            msg.pin,
            msg.sender,
            tag=decision.reply.tag,
            text=decision.reply.text,
            id_device=reply_device,
            due_at=decision.reply.due_at,
            cause=reply_cause(msg.sender, msg.text),
        )
    log.info(
        "inbound from %s in pool %s: %s (%s)%s",
        msg.sender,
        msg.pin,
        decision.action.value,
        decision.note,
        f"; reply {job.job_id}" if job else "; reply waits" if decision.reply else "",
    )
    return decision, job
