"""The IPN sender stops when cancelled, even when a commit wakes it at the same moment (Python
3.11's ``asyncio.wait_for`` swallowed such a cancellation: the sender ran on and a test, or the
daemon's shutdown, waited for it forever)."""

from __future__ import annotations

import asyncio
import random

from modemd.store.db import Store
from modemd.webhooks.sender import IpnSender


async def test_cancel_during_a_wake_up_stops_the_sender(store: Store) -> None:
    sender = IpnSender(store, rng=random.Random(1))
    for _ in range(3):
        task = asyncio.create_task(sender.run(), name="ipn sender")
        await asyncio.sleep(0.1)  # idle: sleeping until woken
        sender.wake()  # a commit ...
        task.cancel()  # ... and the shutdown, in the same loop iteration
        done, _ = await asyncio.wait({task}, timeout=10)
        if not done:  # the bug: still running; stop it for good before failing
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert done and task.cancelled()
