"""End to end: ``modemd serve --simulate-phones 2`` receives texts from the simulated network
(``POST /simulator/v1/mo`` and ``modemd simulate mo``): each lands in an emulated phone's SMSGate
inbox, the phone driver reads it (``GET /inbox``) and a key that takes ``sms.received`` gets it
once, with the phone's device id and the pool's pin."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from .daemon import MODEMD, create_key, ipn_listener, running_daemon

WAIT_S = 60.0


async def test_texts_to_simulated_phones_arrive_as_sms_received(tmp_path: Path) -> None:
    db = tmp_path / "modemd.db"
    async with ipn_listener() as (ipns, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url, events="sms.received")
        args = ["--simulate-phones", "2", "--pin", "4711", "--db", str(db)]
        async with running_daemon(*args) as port, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {key}"}
            async with http.get(f"{base}/api/v1/devices", headers=auth) as r:
                phones = sorted(d["device_id"] for d in (await r.json())["devices"])
            assert len(phones) == 2
            body = {
                "from": "+393331112233",
                "text": "Ciao dal telefono, già",
                "device_id": phones[1],
            }
            status, answer = await _post(http, f"{base}/simulator/v1/mo", body, auth)
            assert (status, answer["device_id"]) == (202, phones[1]), answer
            assert "phone" in answer["message"]
            missing = {**body, "device_id": "emuphone-none"}
            status, answer = await _post(http, f"{base}/simulator/v1/mo", missing, auth)
            assert (status, answer["response"]) == (404, "404")
            cli = await asyncio.to_thread(
                subprocess.run,
                [*MODEMD, "simulate", "mo", "--from", "+393334445566", "--text", "from the shell",
                 "--url", base, "--key", key],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert cli.returncode == 0, cli.stdout + cli.stderr
            await ipns.wait(2, WAIT_S)
            await asyncio.sleep(0.5)  # a duplicate would come now
    received = {e["data"]["from"]: e["data"] for e in ipns.received}
    assert len(ipns.received) == 2 and all(e["type"] == "sms.received" for e in ipns.received)
    first, second = received["+393331112233"], received["+393334445566"]
    assert (first["text"], first["device_id"], first["pin"]) == (
        "Ciao dal telefono, già",
        phones[1],
        "4711",
    )
    assert (second["text"], second["pin"]) == ("from the shell", "4711")
    assert second["device_id"] in phones


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, str], headers: dict[str, str]
) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()
