"""A whole gateway in the test's loop: real SQLite file, emulated modems on ptys, the API and
console on a real socket, the IPN sender posting to a local receiver whose answer a test sets.

Pool 4711 has two modems whose reports say delivered; pool 4712 has one modem whose reports
all say failed (TP-Status 0x45), so a test knows exactly what each send ends as. Each key also
takes ``sms.received``; each received SMS goes through the conversation engine (defaults), as
in ``modemd serve``."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from modemd.api.app import create_app, start_site
from modemd.api.auth import api_config
from modemd.api.listener import start_listener
from modemd.conversations.engine import Inbound
from modemd.drivers import registry
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DEFAULT_EVENTS, EventType, InboundSms, JobState, Pacing
from modemd.observe.metrics import Metrics
from modemd.runtime.bank import Bank
from modemd.runtime.conversations import Conversations
from modemd.store import keys
from modemd.store.db import Store
from modemd.webhooks.sender import IpnSender

ADMIN_TOKEN = "test-admin-token-0123456789"
METRICS_TOKEN = "test-metrics-token-abcdef"
DELIVERING, FAILING = "4711", "4712"
FAST_RETRIES_S = (0.01,) * 7  # a dead letter after 8 quick attempts
SETTLE_TIMEOUT_S = 60.0


@dataclass
class Receiver:
    """The IPN endpoint: records what it got, answers ``status``."""

    status: int = 200
    got: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        self.got.append(body)
        return self.status


@dataclass
class Gateway:
    url: str
    store: Store
    bank: Bank
    metrics: Metrics
    receiver: Receiver
    keys: dict[str, str]  # pin -> API key
    key_ids: dict[str, int]
    modems: list[Any]
    session: aiohttp.ClientSession

    async def send(self, pin: str, to: str, msg: str = "hello") -> str:
        payload = {"apikey": self.keys[pin], "pin": pin, "to": to, "msg": msg}
        async with self.session.post(self.url + "/api/v1/send", json=payload) as r:
            answer = await r.json()
            assert r.status == 200, answer
            return str(answer["job_id"])

    async def get(self, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.get(self.url + path, **kwargs) as r:
            return r.status, await r.json(content_type=None)

    async def text(self, path: str, **kwargs: Any) -> tuple[int, str, str]:
        """Status, Content-Type and body text of a GET."""
        async with self.session.get(self.url + path, **kwargs) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.text()

    async def settled(self, job_ids: list[str], states: set[JobState]) -> None:
        """Wait until every job is in one of ``states``."""
        wanted = {state.value for state in states}

        def settled_count(db: Any) -> int:
            marks = ",".join("?" * len(wanted))
            return int(
                db.execute(
                    f"SELECT count(*) FROM jobs WHERE state IN ({marks}) AND job_id IN "
                    "(SELECT value FROM json_each(?))",
                    [*wanted, json.dumps(job_ids)],
                ).fetchone()[0]
            )

        def rows(sql: str, *params: Any) -> Any:
            return self.store.read(lambda db: [tuple(r) for r in db.execute(sql, params)])

        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                while await self.store.read(settled_count) < len(job_ids):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            jobs = await rows(
                "SELECT job_id, state, device_id, error FROM jobs WHERE job_id IN "
                "(SELECT value FROM json_each(?))",
                json.dumps(job_ids),
            )
            left = [j for j in jobs if j[1] not in wanted]
            parts = await rows(
                "SELECT p.job_id, p.part, p.mr, p.state, p.sent_at FROM job_parts p "
                "JOIN jobs j USING (job_id) WHERE j.state = 'sent'"
            )
            orphans = await rows(
                "SELECT report_id, device_id, mr, recipient, outcome, received_at "
                "FROM status_reports WHERE job_id IS NULL"
            )
            raise AssertionError(
                f"{len(left)} jobs not settled: {left[:20]}\nparts: {parts[:20]}\n"
                f"unmatched reports: {orphans[:40]}"
            ) from None


@asynccontextmanager
async def running_gateway(
    tmp_path: Path,
    send_latency_s: tuple[float, float] | None = None,
    pacing: Callable[[str, str], Pacing] | None = None,
) -> AsyncIterator[Gateway]:
    """``send_latency_s``: the emulated radio's time per send (its profile's when None);
    ``pacing``: each SIM's pacing and caps by IMEI and ICCID (as ``Settings.pacing_of``)."""
    fast = {} if send_latency_s is None else {"send_latency_s": send_latency_s}
    async with AsyncExitStack() as stack:
        store = Store(tmp_path / "modemd.db")
        await store.start()
        stack.push_async_callback(store.close)
        receiver = Receiver()
        runner, ipn_port = await start_listener(receiver)
        stack.push_async_callback(runner.cleanup)
        made, ids = {}, {}
        for pin in (DELIVERING, FAILING):
            key, secret = await store.write(
                keys.create_key,
                pin=pin,
                allow_ips=[],
                over_ip=True,
                ipn_url=f"http://127.0.0.1:{ipn_port}/ipn",
                label=f"pool {pin}",
                events=(*DEFAULT_EVENTS, EventType.SMS_RECEIVED.value),
            )
            made[pin], ids[pin] = secret, key.key_id
        delivering = EmulatedBank.create(2, seed=17, profile_overrides=fast)
        failing = EmulatedBank.create(1, seed=18, profile_overrides={**fast, "tp_status": 0x45})
        for emulated in (delivering, failing):
            await emulated.start()
            stack.push_async_callback(emulated.close)
        metrics = Metrics(pacing)
        bank = Bank(store, observer=metrics, pacing=pacing)
        await bank.start()
        stack.push_async_callback(bank.close)
        talk = Conversations.from_pools(store, bank, {})

        def to_conversations(pin: str, sender: str, device_id: str, sms: InboundSms) -> Any:
            return talk.on_inbound(Inbound(pin, sender, sms.text or "", device_id, time.time()))

        bank.inbound_listeners.append(to_conversations)
        for emulated, pin in ((delivering, DELIVERING), (failing, FAILING)):
            for modem in emulated.modems:
                assert await bank.attach(registry.factory(registry.SerialModem(modem.port, pin)))
        sender = IpnSender(store, rng=random.Random(1), schedule=FAST_RETRIES_S)
        store.on_commit.append(sender.wake)
        task = asyncio.create_task(sender.run(), name="ipn sender")

        async def stop_sender() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        stack.push_async_callback(stop_sender)
        app = create_app(
            store,
            bank,
            api_config((), ADMIN_TOKEN),
            metrics=metrics,
            metrics_token=METRICS_TOKEN,
            pacing=pacing,
        )
        site, port = await start_site(app, "127.0.0.1", 0)
        stack.push_async_callback(site.cleanup)
        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)
        modems = delivering.modems + failing.modems
        url = f"http://127.0.0.1:{port}"
        yield Gateway(url, store, bank, metrics, receiver, made, ids, modems, session)
