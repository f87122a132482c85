"""The only sqlite-utils user: one SQLite file, one writer thread, numbered migrations.

What the rest of modemd may use: ``Store`` (the async front: ``read``/``write`` run a function
on the store's thread, a write resolves after its commit), ``connect`` (the CLI's direct
connection), and the area modules below, whose functions take the database as first argument and
plain values after it. Nothing outside ``store/`` writes SQL."""

from modemd.store import (
    accept,
    audit,
    campaigns,
    console,
    contacts,
    conversations,
    devices,
    dispatch,
    endpoints,
    events,
    files,
    jobs,
    keys,
    optouts,
    pacing,
    pool_events,
    queue,
    refusals,
    replies,
    reports,
    rules,
    schedules,
    stats,
    survey_results,
    surveys,
    transitions,
    wallet,
)
from modemd.store.db import Store, connect

__all__ = [
    "Store",
    "accept",
    "audit",
    "campaigns",
    "connect",
    "console",
    "contacts",
    "conversations",
    "devices",
    "dispatch",
    "endpoints",
    "events",
    "files",
    "jobs",
    "keys",
    "optouts",
    "pacing",
    "pool_events",
    "queue",
    "refusals",
    "replies",
    "reports",
    "rules",
    "schedules",
    "stats",
    "survey_results",
    "surveys",
    "transitions",
    "wallet",
]
