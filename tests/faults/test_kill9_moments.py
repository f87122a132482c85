"""Fault suite, the two moments of a send: kill -9 a real ``modemd serve`` after the commit that
claimed a job and before its PDU reached the modem (the modem hangs before its ``> ``): the
restarted daemon queues the job again and sends it once; kill -9 after the PDU and Ctrl-Z went
out (the network still busy with it): the job is ``unknown`` and never sent again. The modem
runs in this test's process, so it outlives every daemon.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from e2e.daemon import create_key

from modemd.api.listener import start_listener
from modemd.emulators.modem_at import LineState
from modemd.emulators.modem_bank import EmulatedBank
from modemd.store import events
from modemd.store.db import connect

from .test_kill9 import Daemon

SEND_LATENCY_S = 3.0  # Ctrl-Z -> +CMGS: long enough to kill the daemon in between
WAIT_S = 30.0  # generous: the machine may be loaded


def job_row(db: Path, job_id: str) -> dict[str, Any]:
    rows = list(connect(db).query("SELECT state, error FROM jobs WHERE job_id = ?", [job_id]))
    return rows[0] if rows else {}


def event_types(db: Path, job_id: str) -> list[str]:
    return [e["type"] for e in events.list_events(connect(db), job_id)]


async def until(what: str, check: Any) -> None:
    async with asyncio.timeout(WAIT_S):
        while not await asyncio.to_thread(check):
            await asyncio.sleep(0.01)
    assert await asyncio.to_thread(check), what


async def post(daemon: Daemon, key: str, text: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{daemon.port}/api/v1/send",
            json={"apikey": key, "to": "+393330000001", "msg": text},
        ) as r,
    ):
        answer = await r.json()
    assert answer["response"] == "200", answer
    return str(answer["job_id"])


async def test_kill_9_before_the_pdu_requeues_and_after_it_leaves_unknown(tmp_path: Path) -> None:
    emulators = EmulatedBank.create(
        1, seed=21, profile_overrides={"send_latency_s": (SEND_LATENCY_S, SEND_LATENCY_S)}
    )
    await emulators.start()
    modem = emulators.modems[0]
    listener, ipn_port = await start_listener(lambda _body, _headers: None)
    db = tmp_path / "modemd.db"
    key = await asyncio.to_thread(create_key, db, f"http://127.0.0.1:{ipn_port}/ipn")
    daemon = Daemon(db, [modem.port])

    def sent(text: str) -> int:
        return sum(1 for m in modem.accepted if m.text == text)

    def ready() -> bool:
        return bool(list(connect(db).query("SELECT 1 FROM devices WHERE state = 'ready'")))

    try:
        await daemon.start()
        await until("the modem is ready", ready)
        # 1. Claimed, AT+CMGS written, no "> ": nothing of the PDU went out.
        modem.hang()
        early = await post(daemon, key, "claimed only")
        await until("claimed", lambda: job_row(db, early).get("state") == "sending")
        await daemon.kill9()
        modem.resume()
        await daemon.start()
        await until("sent after the restart", lambda: sent("claimed only") == 1)
        await until("recorded", lambda: job_row(db, early)["state"] in ("sent", "delivered"))
        # 2. PDU and Ctrl-Z written, the network busy with it: the outcome is not known.
        late = await post(daemon, key, "submitted")
        await until("submitted", lambda: modem.line_state is LineState.SENDING)
        await daemon.kill9()
        await until("the network took it", lambda: sent("submitted") == 1)
        await daemon.start()
        await until("judged", lambda: job_row(db, late).get("state") not in ("queued", "sending"))
        await asyncio.sleep(SEND_LATENCY_S + 0.5)  # a resend would have reached the network
        assert await daemon.stop() == 0
    finally:
        if daemon.proc is not None and daemon.proc.returncode is None:
            await daemon.kill9()
        await emulators.close()
        await listener.cleanup()
    assert sent("claimed only") == 1 and sent("submitted") == 1
    # Unknown, then maybe delivered by its status report (read at the next open): never sent.
    assert job_row(db, late)["error"] == "daemon stopped while sending"
    assert event_types(db, late)[0] == "sms.unknown" and "sms.sent" not in event_types(db, late)
    assert event_types(db, early) == ["sms.sent", "sms.delivered"]
    assert not (tmp_path / "modemd.db-submits").exists()  # a clean stop removes the log
