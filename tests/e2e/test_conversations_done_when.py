"""Issue 15's "Done when", end to end on ``modemd serve --simulate 2`` with the simulated
network's inbound messages (``POST /simulator/v1/mo``): JOIN, STOP, START; a survey with a retry;
two gateways answering each other stop after one automatic reply each. The emulated network's
record (what really went out) is the judge."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp

from .daemon import create_key, ipn_listener, running_daemon

TIMEOUT_S = 120.0
SETTLE_S = 2.0  # a reply that was going to go out has gone out by then (checked at the pty)
ANNA = "+393331000001"


class Gateway:
    """One daemon: its API, its key, what its emulated network accepted."""

    def __init__(self, session: aiohttp.ClientSession, port: int, key: str, record: Path) -> None:
        self.session, self.base, self.key, self.record = (
            session,
            f"http://127.0.0.1:{port}",
            key,
            record,
        )

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.key}", **kw.pop("headers", {})}
        async with self.session.request(method, self.base + path, headers=headers, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body

    async def text_in(self, sender: str, text: str) -> None:
        status, answer = await self.call(
            "POST", "/simulator/v1/mo", json={"from": sender, "text": text}
        )
        assert status in (200, 201, 202), answer

    def sent(self) -> list[dict[str, Any]]:
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        return [json.loads(line) for line in lines]

    async def sent_to(self, number: str, count: int) -> list[str]:
        """The texts sent to ``number`` once there are ``count`` of them."""
        texts: list[str] = []
        try:
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    sent = await asyncio.to_thread(self.sent)
                    texts = [m["text"] for m in sent if m["to"] == number]
                    if len(texts) >= count:
                        return texts
                    await asyncio.sleep(0.2)
        except TimeoutError:
            _, inbox = await self.call("GET", "/api/v1/inbox")
            raise AssertionError(
                f"{self.base}: {len(texts)} of {count} texts to {number} in {TIMEOUT_S} s: "
                f"{texts}; its inbox: {inbox}"
            ) from None


async def gateway_args(tmp: Path, name: str) -> tuple[list[str], Path, Path]:
    db, record = tmp / f"{name}.db", tmp / f"{name}.jsonl"
    return (
        ["--simulate", "2", "--pin", "4711", "--db", str(db), "--record", str(record)],
        db,
        record,
    )


async def test_join_stop_start_and_a_survey(tmp_path: Path) -> None:
    args, db, record = await gateway_args(tmp_path, "gw")
    async with ipn_listener() as (ipns, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url)
        async with running_daemon(*args) as port, aiohttp.ClientSession() as session:
            gw = Gateway(session, port, key, record)
            assert (await gw.call("POST", "/api/v1/lists", json={"name": "NEWS"}))[0] == 201
            await gw.text_in(ANNA, "JOIN NEWS")
            [welcome] = await gw.sent_to(ANNA, 1)
            assert welcome.startswith("Welcome to NEWS")
            _, members = await gw.call("GET", "/api/v1/lists/news/members")
            assert [m["number"] for m in members["members"]] == [ANNA]
            await gw.text_in(ANNA, "Stop")
            texts = await gw.sent_to(ANNA, 2)
            assert texts[1].startswith("You will receive no more messages")
            status, refused = await gw.call(
                "POST", "/api/v1/send", json={"to": ANNA, "msg": "Sale!", "pin": "4711"}
            )
            assert (status, refused["status_code"], refused["status"]) == (409, "10", "opted_out")
            await asyncio.sleep(SETTLE_S)
            assert len(await gw.sent_to(ANNA, 2)) == 2  # nothing more reached the network
            await gw.text_in(ANNA, "START")
            texts = await gw.sent_to(ANNA, 3)
            assert texts[2].startswith("You will receive messages from this number again")
            status, sent = await gw.call(
                "POST", "/api/v1/send", json={"to": ANNA, "msg": "Welcome back", "pin": "4711"}
            )
            assert status == 200 and sent["status_code"] in ("1", "2")
            assert (await gw.sent_to(ANNA, 4))[3] == "Welcome back"

            survey = {
                "name": "Taste",
                "questions": [
                    {"type": "choice", "text": "Colour?", "choices": {"A": "Red", "B": "Blue"}},
                    {"type": "number", "text": "Age?", "min": 1, "max": 120},
                    {"type": "yes_no", "text": "Happy?"},
                ],
            }
            assert (await gw.call("POST", "/api/v1/surveys", json=survey))[0] == 201
            bo = "+393331000002"
            status, _ = await gw.call("POST", "/api/v1/surveys/taste/start", json={"numbers": [bo]})
            assert status == 200
            assert (await gw.sent_to(bo, 1))[0] == "Colour?\nA) Red\nB) Blue"
            await gw.text_in(bo, "green")  # invalid: the retry prompt
            assert (await gw.sent_to(bo, 2))[1].startswith("Please answer with A, B.")
            await gw.text_in(bo, "b")
            assert (await gw.sent_to(bo, 3))[2] == "Age? (a number from 1 to 120)"
            await gw.text_in(bo, "42")
            assert (await gw.sent_to(bo, 4))[3] == "Happy? (YES/NO)"
            await gw.text_in(bo, "yes!")
            assert (await gw.sent_to(bo, 5))[4] == "Thank you for your answers!"
            _, results = await gw.call("GET", "/api/v1/surveys/taste/results")
            assert results["respondents"][0]["answers"] == ["B", "42", "yes"]
            assert results["questions"][0]["counts"] == {"A": 0, "B": 1}
            _, csv = await gw.call(
                "GET", "/api/v1/surveys/taste/results", headers={"Accept": "text/csv"}
            )
            assert csv.splitlines()[1].startswith(f"{bo},completed,") and csv.splitlines()[
                1
            ].endswith(",B,42,yes")
            types = [e["type"] for e in ipns.received]
    for wanted in ("contact.opted_out", "contact.opted_in", "survey.completed"):
        assert wanted in types


async def test_two_gateways_texting_each_other_do_not_loop(tmp_path: Path) -> None:
    """Gateway A's SIM is +393330000001, B's +393330000002; the test is the network between
    them: what one sends to the other's number arrives at the other as an inbound SMS."""
    sims = {"a": "+393330000001", "b": "+393330000002"}
    args_a, db_a, rec_a = await gateway_args(tmp_path, "a")
    args_b, db_b, rec_b = await gateway_args(tmp_path, "b")
    key_a = await asyncio.to_thread(create_key, db_a, "http://127.0.0.1:9/")
    key_b = await asyncio.to_thread(create_key, db_b, "http://127.0.0.1:9/")
    async with (
        running_daemon(*args_a) as port_a,
        running_daemon(*args_b) as port_b,
        aiohttp.ClientSession() as session,
    ):
        gws = {
            "a": Gateway(session, port_a, key_a, rec_a),
            "b": Gateway(session, port_b, key_b, rec_b),
        }
        for gw in gws.values():
            rule = {"kind": "default", "reply": "Thanks, we will get back to you."}
            assert (await gw.call("POST", "/api/v1/rules", json=rule))[0] == 201
        relayed = {"a": 0, "b": 0}

        async def relay() -> None:
            """Deliver what each gateway sent to the other's SIM, as the network would."""
            while True:
                for me, other in (("a", "b"), ("b", "a")):
                    out = [
                        m for m in await asyncio.to_thread(gws[me].sent) if m["to"] == sims[other]
                    ]
                    for message in out[relayed[me] :]:
                        await gws[other].text_in(sims[me], message["text"])
                    relayed[me] = len(out)
                await asyncio.sleep(0.2)

        relay_task = asyncio.create_task(relay(), name="network between gateways")

        async def beside_relay(step: Awaitable[Any]) -> None:
            """Await ``step``; a relay that dies meanwhile fails the test with its own error
            (not as a wait for a message it will never deliver)."""
            waiting = asyncio.ensure_future(step)
            await asyncio.wait({waiting, relay_task}, return_when=asyncio.FIRST_COMPLETED)
            if relay_task.done():
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
                relay_task.result()  # raises what stopped the relay
                raise AssertionError("the relay between the gateways stopped")
            await waiting

        try:
            await gws["a"].text_in(sims["b"], "hello")  # B's SIM texts A once
            await beside_relay(gws["a"].sent_to(sims["b"], 1))
            await beside_relay(gws["b"].sent_to(sims["a"], 1))
            await beside_relay(asyncio.sleep(3 * SETTLE_S))
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)
        assert len(await gws["a"].sent_to(sims["b"], 1)) == 1  # one automatic reply each ...
        assert len(await gws["b"].sent_to(sims["a"], 1)) == 1  # ... then silence
