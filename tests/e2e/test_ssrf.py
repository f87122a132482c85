"""Issue 18's reproducer: ``modemd serve --simulate 1`` and two keys; the first key's IPN URL
points at the daemon's own admin API (rotate the second key). The IPN is never posted there
(egress policy), and the admin API would refuse it anyway (no admin by address): the second key
keeps working and no rotation is in the audit log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from modemd.store.db import connect

from .daemon import create_key, running_daemon


async def test_an_ipn_cannot_reach_the_daemons_own_admin_api(tmp_path: Path) -> None:
    db = tmp_path / "modemd.db"
    attacker = create_key(db, "http://127.0.0.1:9/placeholder")
    victim = create_key(db, "http://127.0.0.1:9/unused")
    async with running_daemon("--simulate", "1", "--pin", "4711", "--db", str(db)) as port:
        target = f"http://127.0.0.1:{port}/admin/v1/keys/2/rotate"
        conn = connect(db)
        conn.execute("UPDATE api_keys SET ipn_url = ? WHERE key_id = 1", [target])
        url = f"http://127.0.0.1:{port}/api/v1/send"
        async with aiohttp.ClientSession() as session:
            payload = {"apikey": attacker, "to": "+393331234567", "msg": "hi"}
            async with session.post(url, json=payload) as r:
                assert r.status == 200
            async with asyncio.timeout(60):
                while True:
                    row = conn.execute(
                        "SELECT a.error FROM event_attempts a JOIN events e USING (event_id) "
                        "WHERE e.key_id = 1"
                    ).fetchone()
                    if row is not None:
                        break
                    await asyncio.sleep(0.1)
            assert "egress policy" in row[0] and "own API" in row[0]
            payload = {"apikey": victim, "to": "+393331234567", "msg": "still mine"}
            async with session.post(url, json=payload) as r:
                assert r.status == 200  # not rotated away
        rotations = "SELECT count(*) FROM audit_log WHERE action = 'key.rotate'"
        assert conn.execute(rotations).fetchone()[0] == 0
        conn.conn.close()
