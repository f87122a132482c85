"""Accepts sharing a commit: a batch of them runs without a savepoint each; one refused after
its job was inserted (no credit) makes the store run the batch again with savepoints, so the
others are committed once and the refused one leaves nothing behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any

import pytest
import sqlite_utils

from modemd.store import accept, jobs, keys, wallet
from modemd.store.db import Store

pytestmark = pytest.mark.both_engines


async def _keys(store: Store) -> tuple[int, int]:
    """A key without a wallet, and one whose wallet is empty while its sends cost."""

    def create(db: sqlite_utils.Database) -> tuple[int, int]:
        free, _ = keys.create_key(db, pin="4711", allow_ips=[], over_ip=True, ipn_url=None)
        broke, _ = keys.create_key(db, pin="4711", allow_ips=[], over_ip=True, ipn_url=None)
        wallet.topup(db, broke.key_id, 1)
        wallet.set_price(db, "+39", 1000)
        return free.key_id, broke.key_id

    return await store.write(create)


def _accept(store: Store, key_id: int, to: str) -> Awaitable[accept.Accepted]:
    return store.write(
        accept.accept_send,
        key_id=key_id,
        pin="4711",
        to=to,
        message="ciao",
        parts=1,
        encoding="gsm7",
        id_device=None,
        country="IT",
    )


async def _one_batch(store: Store, *writes: Awaitable[Any]) -> list[Any]:
    """Run ``writes`` as one batch: the store's thread is held by a read until all are queued."""
    gate = threading.Event()
    held = asyncio.ensure_future(store.read(lambda db: gate.wait(10)))
    pending = [asyncio.ensure_future(write) for write in writes]
    await asyncio.sleep(0)
    gate.set()
    await held
    return await asyncio.gather(*pending, return_exceptions=True)


async def test_a_refused_accept_in_a_batch_leaves_the_others_committed_once(store: Store) -> None:
    free, broke = await _keys(store)
    results = await _one_batch(
        store,
        _accept(store, free, "+393331000001"),
        _accept(store, broke, "+393331000002"),
        _accept(store, free, "+393331000003"),
    )
    assert isinstance(results[1], wallet.InsufficientCreditError)
    first, third = results[0], results[2]
    assert isinstance(first, accept.Accepted) and isinstance(third, accept.Accepted)
    queued = await store.read(jobs.list_jobs)
    assert sorted((j["job_id"], j["to"]) for j in queued) == sorted(
        [(first.job.job_id, "+393331000001"), (third.job.job_id, "+393331000003")]
    )
    assert (await store.read(wallet.balance, broke)).reserved == 0


@pytest.mark.sqlite_only  # the statements are seen through SQLite's trace
async def test_a_batch_of_accepts_has_no_savepoints(store: Store) -> None:
    free, _ = await _keys(store)
    seen: list[str] = []
    await store.read(lambda db: db.conn.set_trace_callback(seen.append))
    results = await _one_batch(store, *(_accept(store, free, f"+39333100000{n}") for n in range(4)))
    await store.read(lambda db: db.conn.set_trace_callback(None))
    assert all(isinstance(r, accept.Accepted) for r in results)
    assert not [sql for sql in seen if sql.startswith("SAVEPOINT")]
    assert len([sql for sql in seen if sql.startswith("INSERT INTO jobs")]) == 4
