"""Fault suite, receiving: kill -9 the daemon at random moments while SMS arrive on 2 emulated
modems (run in this test's process, so the network and the SIMs outlive every daemon), restart,
repeat; then judge by the database and the IPN receiver.

Checked: every message stored exactly once; the SIMs end empty; each ``sms.received`` IPN id
always carries the same message, and no two ids (nor one id) stand for two different messages.
CI runs ``MESSAGES`` = 40; ``MODEMD_FAULT_MESSAGES=200`` runs the issue's full count.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from e2e.daemon import create_key

from modemd.api.listener import start_listener
from modemd.emulators.modem_bank import EmulatedBank
from modemd.store.db import connect

from .test_kill9 import Daemon

MESSAGES = int(os.environ.get("MODEMD_FAULT_MESSAGES", "40"))
KILLS = int(os.environ.get("MODEMD_FAULT_KILLS", "3"))
SEED = int(os.environ.get("MODEMD_FAULT_SEED", "20261201"))
ARRIVAL_GAP_S = 0.05  # the network delivers ~20 SMS/s, faster than a modem reads them
SETTLE_TIMEOUT_S = 60.0 + MESSAGES / 5


def stored_texts(db: Path) -> Counter[str]:
    database = connect(db)
    return Counter(str(row["text"]) for row in database.query("SELECT text FROM inbound"))


async def test_kill_minus_nine_while_sms_arrive_stores_each_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    bodies: dict[str, str] = {}  # webhook-id -> the body it first came with
    ids_of: dict[int, set[str]] = defaultdict(set)  # inbound id -> webhook ids

    def on_ipn(body: dict[str, Any], headers: dict[str, str]) -> None:
        if body["type"] != "sms.received":
            return
        event_id, text = headers["webhook-id"], json.dumps(body, sort_keys=True)
        assert bodies.setdefault(event_id, text) == text  # a redelivery: the same message
        ids_of[body["data"]["id"]].add(event_id)

    listener, ipn_port = await start_listener(on_ipn)
    db = tmp_path / "modemd.db"
    key_events = "sms.received"
    await asyncio.to_thread(create_key, db, f"http://127.0.0.1:{ipn_port}/ipn", "4711", key_events)
    texts = [f"mo {n:04d} from a handset" for n in range(MESSAGES)]
    kills = 0
    async with EmulatedBank.create(2, seed=SEED) as bank:
        daemon = Daemon(db, [m.port for m in bank.modems])
        try:
            await daemon.start()
            next_kill = time.monotonic() + rng.uniform(0.2, 1.0)
            for n, text in enumerate(texts):
                if kills < KILLS and time.monotonic() >= next_kill:
                    await daemon.kill9()
                    kills += 1
                    await daemon.start()
                    next_kill = time.monotonic() + rng.uniform(0.2, 1.0)
                bank.modems[n % 2].network.send(f"+3933377{n:05d}", text)
                await asyncio.sleep(ARRIVAL_GAP_S)
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                while len(await asyncio.to_thread(stored_texts, db)) < MESSAGES or any(
                    m._session.storage.used or m.network.waiting for m in bank.modems
                ):
                    await asyncio.sleep(0.2)
                while len(ids_of) < MESSAGES:
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # a late duplicate would show now
            assert await daemon.stop() == 0, "".join(daemon.log[-30:])
        finally:
            if daemon.proc is not None and daemon.proc.returncode is None:
                await daemon.kill9()
            await listener.cleanup()
    stored = await asyncio.to_thread(stored_texts, db)
    print(
        f"\ninbound fault suite: kills {kills}, messages {MESSAGES}, stored {sum(stored.values())}"
        f", distinct {len(stored)}, IPN ids {len(bodies)}"
    )
    assert kills == KILLS
    assert stored == Counter(texts)  # each exactly once
    assert all(len(ids) == 1 for ids in ids_of.values())  # one IPN id per message
    assert len(bodies) == MESSAGES  # ... and no id for two messages
    posted = Counter(json.loads(body)["data"]["text"] for body in bodies.values())
    assert posted == Counter(texts)
