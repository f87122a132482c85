"""The API's key cache (store.keys.KeyCache): a secret seen before is answered without the
store's thread, and never outlives a change: a revoke, rotation or edit through the daemon at
once, one committed by another process (the CLI) within the store's data_version poll, the end
of a rotated-out secret's grace at its time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from api_harness import Api
from click.testing import CliRunner

from modemd.cli import main
from modemd.model import ApiKey
from modemd.store import keys
from modemd.store.db import Store

DEADLINE_S = 20.0  # a change by another process shows within 1 s; generous under load
POLL_S = 0.05


async def _eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while not await check():
            await asyncio.sleep(POLL_S)


async def _new_key(store: Store) -> tuple[ApiKey, str]:
    return await store.write(
        lambda db: keys.create_key(db, pin="1", allow_ips=[], over_ip=True, ipn_url=None)
    )


async def _found(cache: keys.KeyCache, secret: str) -> ApiKey:
    key = await cache.find(secret)
    assert key is not None
    return key


@pytest.mark.both_engines
async def test_a_secret_seen_before_is_served_from_the_cache(store: Store) -> None:
    made, secret = await _new_key(store)
    cache = keys.KeyCache(store)
    first = await _found(cache, secret)
    assert first.key_id == made.key_id

    async def served_from_cache() -> bool:  # PostgreSQL: once its listener has connected
        seen = await _found(cache, secret)
        return await cache.find(secret) is seen  # the same object: no new row was read

    await _eventually(served_from_cache)
    assert await cache.find(secret + "x") is None  # a wrong secret is looked up, never cached
    await store.write(keys.revoke_key, made.key_id)
    assert await cache.find(secret) is None


@pytest.mark.both_engines
async def test_the_plain_look_up_knows_only_what_find_found_and_nothing_moved_since(
    store: Store,
) -> None:
    made, secret = await _new_key(store)
    cache = keys.KeyCache(store)
    assert cache.cached(secret) is None  # never found: the caller goes on to find()

    async def cached_now() -> bool:  # PostgreSQL: once its listener has connected
        found = await _found(cache, secret)
        return cache.cached(secret) is found

    await _eventually(cached_now)
    assert cache.cached(secret + "x") is None
    await store.write(keys.revoke_key, made.key_id)
    assert cache.cached(secret) is None  # the generation moved: forgotten
    assert await cache.find(secret) is None


@pytest.mark.both_engines
async def test_the_look_up_after_a_miss_asks_the_store_not_the_cache_and_remembers(
    store: Store,
) -> None:
    made, secret = await _new_key(store)
    cache = keys.KeyCache(store)

    # PostgreSQL: the keys' listener moves the generation once when it has connected (its
    # LISTEN may come after the first look-ups), and everything cached is forgotten then: the
    # whole check runs again until no such move falls inside it.
    async def asks_the_store_and_remembers() -> bool:
        seen = cache.cached(secret)
        if seen is None:
            await cache.look_up(secret)
            return False
        again = await cache.look_up(secret)  # the store's row read anew, not the cache's answer
        assert again is not None and again is not seen and again.key_id == made.key_id
        return cache.cached(secret) is again  # and kept in its place

    await _eventually(asks_the_store_and_remembers)
    assert await cache.look_up(secret + "x") is None and cache.cached(secret + "x") is None


@pytest.mark.both_engines
async def test_an_edit_through_the_daemon_shows_at_once(store: Store) -> None:
    made, secret = await _new_key(store)
    cache = keys.KeyCache(store)
    assert (await _found(cache, secret)).rate_limit is None
    await store.write(
        lambda db: db.execute("UPDATE api_keys SET rate_limit = 5 WHERE key_id = ?", [made.key_id])
    )
    assert (await _found(cache, secret)).rate_limit == 5


@pytest.mark.both_engines  # SQLite: data_version; PostgreSQL: the CLI's NOTIFY
async def test_a_key_revoked_by_the_cli_stops_working(api: Api) -> None:
    status, _ = await api.send(json=api.ok("any"))
    assert status == 200  # the key is now cached
    done = CliRunner().invoke(
        main, ["keys", "revoke", str(api.key_ids["any"]), "--db", str(api.store.path)]
    )
    assert done.exit_code == 0, done.output

    async def refused() -> bool:
        status, body = await api.send(json=api.ok("any"))
        return (status, body["status_code"]) == (401, "3")

    await _eventually(refused)
    assert await api.job_count() >= 1


async def test_a_rotated_out_secret_ends_with_its_grace(api: Api) -> None:
    old = api.keys["any"]
    status, _ = await api.send(json=api.ok("any"))
    assert status == 200
    rotated = await api.store.write(keys.rotate_key, api.key_ids["any"], 1.0)
    assert rotated is not None  # the old secret is looked up again, cached until its grace ends

    async def refused() -> bool:
        status, _ = await api.send(json={**api.ok("any"), "apikey": old})
        return status == 401

    await _eventually(refused)
    status, _ = await api.send(json={**api.ok("any"), "apikey": rotated[1]})
    assert status == 200
