"""``POST /api/v1/send`` in fastsend's framing against aiohttp's: the same raw bytes (plain,
malformed, oversized, chunked, pipelined, slow, other routes) to a server with the fast framing
(the default) and to one without it, on the same store and keys: the same answers, in the same
order, with the same headers but the date."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httptools
import pytest
from aiohttp import web
from api_harness import KEYS, PIN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from observe import test_tls as tls
from raw_http import Answer, Cutter, exchange, post

from modemd.api import fastframe
from modemd.api.answers import EncodedList, json_answer
from modemd.api.app import create_app, start_site
from modemd.api.auth import ApiConfig, api_config
from modemd.api.contract import StatusCode
from modemd.api.fastframe import message_end, serialise
from modemd.api.fastsend import FastSends
from modemd.api.guard import GuardedSite, Limits
from modemd.api.send import ACCEPTED, _plain_accepted, _records
from modemd.model import Job, JobState
from modemd.runtime.bank import Bank, Offer
from modemd.store import jobs, keys
from modemd.store.db import Store


@dataclass
class Pair:
    fast: int  # the port of the server with the fast framing
    plain: int  # the port of aiohttp's
    framing: FastSends
    secrets: dict[str, str]
    store: Store

    def send(self, key: str = "any", extra: str = "", **fields: Any) -> bytes:
        body = {"apikey": self.secrets[key], "to": "+39 333 1234567", "msg": "ciao", **fields}
        return post(json.dumps(body), extra=extra)


async def _site_framing(runner: Any) -> FastSends:
    (site,) = runner.sites
    assert isinstance(site, GuardedSite) and isinstance(site.framing, FastSends)
    return site.framing


@pytest.fixture
async def pair(store: Store) -> AsyncIterator[Pair]:
    async with _pair(store, api_config) as made:
        yield made


@contextlib.asynccontextmanager
async def _pair(store: Store, config: Callable[[], ApiConfig]) -> AsyncIterator[Pair]:
    """The two servers on one store, each with its own app and ``config()`` (its limiters)."""
    bank = Bank(store)
    await bank.start()
    secrets = {}
    for name, options in KEYS.items():
        wanted = {"pin": PIN, "allow_ips": [], "over_ip": False, "ipn_url": None, **options}
        _, secrets[name] = await store.write(lambda db, w=wanted: keys.create_key(db, **w))
    limits = Limits(header_timeout_s=1.0, keepalive_timeout_s=1.0)
    fast, fast_port = await start_site(create_app(store, bank, config()), "127.0.0.1", 0, limits)
    plain, plain_port = await start_site(
        create_app(store, bank, config()), "127.0.0.1", 0, limits, fast_send=False
    )
    (plain_site,) = plain.sites
    assert isinstance(plain_site, GuardedSite) and plain_site.framing is None  # aiohttp alone
    try:
        yield Pair(fast_port, plain_port, await _site_framing(fast), secrets, store)
    finally:
        await fast.cleanup()
        await plain.cleanup()
        await bank.close()


async def both(
    pair: Pair, chunks: list[bytes], answers: int, pause_s: float = 0.0
) -> tuple[list[Answer], list[Answer]]:
    """The same bytes to each server (fast first); both closed or both kept the connection."""
    fast, fast_closed = await exchange(pair.fast, chunks, answers, pause_s)
    plain, plain_closed = await exchange(pair.plain, chunks, answers, pause_s)
    assert fast_closed == plain_closed
    assert [a.comparable() for a in fast] == [a.comparable() for a in plain]
    return fast, plain


async def test_a_plain_send_is_answered_in_the_fast_framing_byte_for_byte(pair: Pair) -> None:
    fast, plain = await both(pair, [pair.send()], 1)
    assert fast[0].status == 200 and fast[0].json()["status_code"] == "2"
    assert pair.framing.answered == 1
    assert len(fast[0].body) == len(plain[0].body)  # the same JSON, but for the job's id
    job = await pair.store.read(jobs.get_job, fast[0].json()["job_id"])
    assert job is not None and job.to == "+393331234567"


REFUSED = {
    "malformed JSON": post('{"apikey": '),
    "not an object": post("[1, 2]"),
    "invalid UTF-8": post(b'{"msg": "\xff"}'),
    "no key": post('{"to": "+393331234567", "msg": "x"}'),
    "wrong key": post('{"apikey": "nope", "to": "+393331234567", "msg": "x"}'),
    "empty body": post(""),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
async def test_refusals_are_the_same_answers(pair: Pair, name: str) -> None:
    fast, _ = await both(pair, [REFUSED[name]], 1)
    assert fast[0].status >= 400 and fast[0].json()["response"] == str(fast[0].status)


async def test_the_contract_codes_are_the_same_answers(pair: Pair) -> None:
    for body in (
        pair.send(to=""),
        pair.send(msg=""),
        pair.send(to="+39 abc"),
        pair.send(pin="9999"),
        pair.send(id_device="nope"),
        pair.send(to="+39 899 123456"),  # premium rate
        pair.send(key="remote"),  # not from this address
        pair.send(key="italy", to="333 1234567", msg="ciao " * 40),
        pair.send(idempotency_key="bad key with spaces"),
    ):
        await both(pair, [body], 1)
    ok = json.dumps({"to": "+393331234567", "msg": "x"})
    spaced = post(ok, extra=f"Authorization: Bearer {pair.secrets['any']} \t\r\n")
    fast, _ = await both(pair, [spaced], 1)  # the whitespace after a value is not the value's
    assert fast[0].status == 200 and pair.framing.answered == 10  # every one of them
    first, _ = await exchange(pair.fast, [pair.send(extra="Idempotency-Key: spaced  \r\n")], 1)
    again, _ = await exchange(pair.fast, [pair.send(extra="Idempotency-Key: spaced\r\n")], 1)
    assert again[0].json()["job_id"] == first[0].json()["job_id"]
    bearer = post(
        '{"to": "+393331234567", "msg": "x"}',
        extra=f"Authorization: Bearer {pair.secrets['any']}\r\n",
    )
    fast, _ = await both(pair, [bearer], 1)
    assert fast[0].status == 200


async def test_the_route_reads_headers_by_name_in_any_case(pair: Pair) -> None:
    """The key, the Idempotency-Key: whatever the case of their names, as aiohttp reads them."""
    body = '{"to": "+393331234567", "msg": "x"}'
    for name in ("authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"):
        fast, _ = await both(
            pair, [post(body, extra=f"{name}: Bearer {pair.secrets['any']}\r\n")], 1
        )
        assert fast[0].status == 200, name
    first, _ = await exchange(pair.fast, [pair.send(extra="idempotency-key: cased\r\n")], 1)
    again, _ = await exchange(pair.fast, [pair.send(extra="IDEMPOTENCY-KEY: cased\r\n")], 1)
    assert again[0].json()["job_id"] == first[0].json()["job_id"]
    assert pair.framing.answered == 5


async def test_forwarded_for_from_a_trusted_proxy_in_both_framings(store: Store) -> None:
    """Every X-Forwarded-For line is read (``getall``), in order, whatever its name's case."""
    async with _pair(store, lambda: api_config(["127.0.0.1"])) as pair:
        for lines, code in (
            ("X-Forwarded-For: 192.0.2.10\r\n", "1"),
            ("x-forwarded-for: 192.0.2.10\r\n", "1"),
            ("X-Forwarded-For: 198.51.100.3\r\nX-Forwarded-For: 192.0.2.10\r\n", "1"),
            ("X-Forwarded-For: 192.0.2.10\r\nX-FORWARDED-FOR: 198.51.100.3\r\n", "4"),
            ("", "4"),  # the proxy itself is not in the key's list
        ):
            fast, _ = await both(pair, [pair.send(key="remote", extra=lines)], 1)
            assert fast[0].json()["status_code"] == code, lines
        assert pair.framing.answered == 5


async def test_other_requests_are_aiohttps_from_their_first_byte(pair: Pair) -> None:
    ok = json.dumps({"apikey": pair.secrets["any"], "to": "+393331234567", "msg": "x"})
    others = [
        post(ok, content_type="application/json; charset=utf-8"),
        post(ok, content_type="application/x-www-form-urlencoded"),
        post(ok, extra="Expect: 100-continue\r\n"),
        post(ok, extra="Connection: close\r\n"),
        post(ok, extra="Origin: https://app.example.com\r\n"),
        post(ok, version="1.0"),
        post(ok, path="/api/v1/send?apikey=x"),
        post("x" * 70_000),  # over the body limit: 413
        post(ok, extra="Content-Length: 3\r\n"),  # twice
        b"GET /api/v1/send HTTP/1.1\r\nHost: x\r\n\r\n",
        b"OPTIONS /api/v1/send HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\n"
        b"Access-Control-Request-Method: POST\r\n\r\n",
        b"POST /api/v1/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(ok):x}\r\n{ok}\r\n0\r\n\r\n".encode(),
        post(ok, extra="Content-Encoding: gzip\r\n"),
        post(ok, extra="Host: twice\r\n"),
        post(ok, extra="X-Nul: a\x00b\r\n"),
        post(ok, extra="X-Big: " + "b" * 8500 + "\r\n"),  # in one write: a head over 8190
        post(ok, extra="".join(f"X-{n}: n\r\n" for n in range(130))),  # aiohttp allows 128
        post(ok).replace(b"Host: modemd\r\n", b""),  # HTTP/1.1 needs one
        b"BLAH\r\n\r\n",
        b"POST /api/v1/send HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST /api/v1/send HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    ]
    for raw in others:
        fast, _ = await both(pair, [raw], 1)
        assert len(fast) == 1, raw[:40]
    assert pair.framing.answered == 0  # none of them was the fast framing's


async def test_pipelined_requests_are_answered_in_order(pair: Pair) -> None:
    balance = f"GET /api/v1/balance?apikey={pair.secrets['any']} HTTP/1.1\r\nHost: x\r\n\r\n"
    stream = [
        pair.send(msg="one") + pair.send(to="") + pair.send(msg="three"),
        pair.send(msg="four") + balance.encode() + pair.send(msg="six"),
    ]
    fast, _ = await both(pair, [b"".join(stream)], 6)
    assert [a.status for a in fast] == [200, 400, 200, 200, 200, 200]
    assert pair.framing.answered == 4  # the rest, from the GET on, was aiohttp's


async def test_a_request_in_small_pieces_is_one_request(pair: Pair) -> None:
    raw = pair.send(msg="in pieces") + pair.send(msg="and another")
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    fast, _ = await both(pair, pieces, 2, pause_s=0.001)
    assert [a.status for a in fast] == [200, 200]
    assert pair.framing.answered == 2


async def test_idempotency_keys_replay_in_the_fast_framing(pair: Pair) -> None:
    first, _ = await exchange(pair.fast, [pair.send(idempotency_key="k-1")], 1)
    again, _ = await exchange(pair.fast, [pair.send(idempotency_key="k-1")], 1)
    other, _ = await exchange(pair.fast, [pair.send(idempotency_key="k-1", msg="other")], 1)
    assert again[0].json()["job_id"] == first[0].json()["job_id"]
    assert again[0].json()["idempotent_replay"] is True
    assert other[0].status == 422 and other[0].json()["status_code"] == "12"


async def test_the_rate_limit_answers_429_with_retry_after(pair: Pair) -> None:
    three = [pair.send(key="slow") for _ in range(3)]
    fast, _ = await both(pair, [b"".join(three)], 3)
    assert [a.status for a in fast] == [200, 200, 429]
    assert int(dict(fast[2].headers)["Retry-After"]) >= 1


async def test_slow_headers_and_bodies_are_closed_and_idle_connections_expire(pair: Pair) -> None:
    raw = pair.send()
    for port in (pair.fast, pair.plain):
        half_head, closed = await exchange(port, [raw[:30]], 1)
        assert half_head == [] and closed  # the guard's header timeout
        half_body, closed = await exchange(port, [raw[:-3]], 1)
        assert half_body == [] and closed  # the guard's body deadline
        answered, closed = await exchange(port, [raw], 2)  # waits for a second answer
        assert len(answered) == 1 and closed  # the idle kept-alive connection is closed
    # a connection used more often than the keep-alive timeout stays open past it
    busy, closed = await exchange(pair.fast, [raw] * 4, 4, pause_s=0.4)
    assert [a.status for a in busy] == [200] * 4 and not closed
    assert pair.framing.answered == 5


async def test_stopping_the_server_finishes_the_sends_in_progress(store: Store) -> None:
    bank = Bank(store)
    await bank.start()
    _, secret = await store.write(
        lambda db: keys.create_key(db, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None)
    )
    runner, port = await start_site(create_app(store, bank, api_config()), "127.0.0.1", 0)
    framing = await _site_framing(runner)
    body = json.dumps({"apikey": secret, "to": "+393331234567", "msg": "x"})
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post(body))
    await writer.drain()
    try:
        async with asyncio.timeout(10):
            while not framing.connections:
                await asyncio.sleep(0.01)
        await runner.cleanup()  # the send already written is answered or refused, never lost
        assert not framing.connections and not framing.in_progress
        count = len(await store.read(jobs.list_jobs))
        assert count == framing.answered
    finally:
        writer.close()
        await bank.close()


async def test_https_sends_take_the_fast_framing(store: Store, tmp_path: Path) -> None:
    cert, key = await asyncio.to_thread(tls.self_signed, tmp_path)
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    bank = Bank(store)
    await bank.start()
    _, secret = await store.write(
        lambda db: keys.create_key(db, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None)
    )
    app = create_app(store, bank, api_config())
    runner, port = await start_site(app, "127.0.0.1", 0, ssl_context=serving)
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        async with aiohttp.ClientSession() as session:
            payload = {"apikey": secret, "to": "+393331234567", "msg": "over TLS"}
            url = f"https://127.0.0.1:{port}/api/v1/send"
            for _ in range(2):  # the second on the kept-alive connection
                async with session.post(url, json=payload, ssl=trusted) as r:
                    assert r.status == 200 and (await r.json())["status_code"] == "2"
        assert (await _site_framing(runner)).answered == 2
    finally:
        await runner.cleanup()
        await bank.close()


def _pool(pair: Pair) -> list[bytes]:
    """Requests a framing must cut right: sends of each outcome, and others of aiohttp's."""
    any_key = pair.secrets["any"]
    return [
        pair.send(msg="property"),
        pair.send(to=""),
        post('{"apikey": '),
        post(b'{"msg": "\xff"}'),
        f"GET /api/v1/balance?apikey={any_key} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        post(f"apikey={any_key}&to=%2B393331234567&msg=form", content_type=FORM),
    ]


FORM = "application/x-www-form-urlencoded"


@settings(
    max_examples=25,  # each example is two real connections; more in a fuzzing session
    deadline=None,  # a loaded machine answers late; never a timed assertion
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the servers are shared
)
@given(
    picks=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=6),
)
async def test_any_stream_in_any_pieces_gets_aiohttps_answers(
    pair: Pair, picks: list[int], cuts: list[int]
) -> None:
    pool = _pool(pair)
    stream = b"".join(pool[i] for i in picks)
    bounds = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    fast, fast_closed = await exchange(pair.fast, pieces, len(picks), pause_s=0.001)
    plain, plain_closed = await exchange(pair.plain, [stream], len(picks))
    assert fast_closed == plain_closed
    assert [a.comparable() for a in fast] == [a.comparable() for a in plain]


@given(body=st.binary(max_size=3000), after=st.binary(max_size=600), pipelined=st.booleans())
def test_the_end_of_the_first_request_is_found_on_the_bytes_alone(
    body: bytes, after: bytes, pipelined: bool
) -> None:
    first = post(body)
    rest = post(b"{}") + after if pipelined else after
    assert message_end(first + rest) == len(first)


async def test_a_deep_pipeline_is_answered_in_order(pair: Pair) -> None:
    sends = [pair.send(msg=f"deep {n}") for n in range(150)]
    fast, closed = await exchange(pair.fast, [b"".join(sends)], len(sends))
    assert not closed and [a.status for a in fast] == [200] * len(sends)
    texts = [await pair.store.read(jobs.get_job, a.json()["job_id"]) for a in fast]
    assert [job.message for job in texts if job is not None] == [f"deep {n}" for n in range(150)]


def test_header_names_are_looked_at_once_and_kept_within_a_limit() -> None:
    class Reader:  # llhttp's callbacks, as the framing takes them
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.parsed = fastframe.Parsed()

        def on_url(self, url: bytes) -> None:
            self.parsed.url += url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.parsed.headers.append((name, value))

    def verdict(*headers: str) -> int | None:
        head = "".join(f"{h}\r\n" for h in ("Host: x", *headers, "Content-Length: 2"))
        reader = Reader()
        reader.parser.feed_data(f"POST /api/v1/send HTTP/1.1\r\n{head}\r\n".encode())
        try:
            return fastframe.plain_send(reader.parser, reader.parsed)
        except fastframe.NotOurs:
            return None

    json_type = "Content-Type: application/json"
    for _ in range(2):  # the names seen before answer as the first time
        assert verdict(json_type) == 2
        assert verdict("CONTENT-type: application/json") == 2
        assert verdict(json_type, "content-TYPE: application/json") is None  # twice
        assert verdict(json_type, "Content-ENCODING: gzip") is None
        assert verdict(json_type, "X-Trace: café") is None  # not ASCII
        assert verdict(json_type, "X-Trace: ok") == 2
    for n in range(3 * fastframe.MAX_NAMES_KEPT):
        assert verdict(json_type, f"X-Made-Up-{n}: 1") == 2
        assert len(fastframe._NAMES) <= fastframe.MAX_NAMES_KEPT


async def test_a_deep_pipeline_of_refusals_answered_at_once_is_answered_in_order(
    pair: Pair,
) -> None:
    # Each refusal ends in its send's first step (no store write to wait for): the next request
    # is parsed after it, never from within it (nested, 1,500 would pass the recursion limit).
    sends = [pair.send(to="", msg=f"refused {n}") for n in range(1500)]
    fast, closed = await exchange(pair.fast, [b"".join(sends)], len(sends))
    assert not closed and [a.status for a in fast] == [400] * len(sends)
    assert pair.framing.answered == len(sends) and not pair.framing.in_progress


async def test_an_answer_with_headers_is_written_as_aiohttp_writes_it() -> None:
    made = json_answer(
        StatusCode.BALANCE_ERROR, "over the cap", headers={"Retry-After": "5"}, reason="x"
    )

    async def handler(_: web.Request) -> web.Response:
        return made.response()

    app = web.Application()
    app.router.add_post("/a", handler)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        (theirs,), _ = await exchange(port, [post("{}", path="/a")], 1)
    finally:
        await runner.cleanup()
    cutter = Cutter()
    cutter.parser = httptools.HttpResponseParser(cutter)
    cutter.parser.feed_data(serialise(made))
    (ours,) = cutter.answers
    assert ours.comparable() == theirs.comparable()
    assert dict(ours.headers)["Retry-After"] == "5" and ours.status == 402


@pytest.mark.parametrize(
    ("what", "message", "extra"),
    [
        (StatusCode.OK_OVER_IP, "accepted", {"job_id": "j1", "records": [{"a": 1}], "x": None}),
        (StatusCode.OK_IP, "accepted", {}),
        (StatusCode.PARAM_ERROR, "'to' ist keine Nummer: «x» \u2603 \ud83d\ude00", {"n": 1.5}),
        (StatusCode.BALANCE_ERROR, "over", {"status": "moved?", "reason": "daily_cap"}),
        (StatusCode.OPTED_OUT, 'a "quoted" \\ text\n', {"message2": "\u00e8"}),
        (404, "no such job", {"job_id": "j"}),
        (StatusCode.OK_IP, "accepted", {"job_id": "j", "records": EncodedList([{"a": "\u00e8"}])}),
        (StatusCode.OK_IP, "accepted", {"records": EncodedList([])}),
        (StatusCode.OK_IP, "accepted", {"records": EncodedList([1]), "job_id": "j"}),
    ],
)
def test_an_answers_text_is_json_dumps_of_its_payload(
    what: StatusCode | int, message: str, extra: dict[str, Any]
) -> None:
    """The head of a contract answer is written once and reused: its text stays exactly
    ``json.dumps`` of the payload (what aiohttp's ``json_response`` writes), whatever the
    message and the keys after it, a head key given again among them included."""
    for _ in range(2):  # written, then taken from the cache
        made = json_answer(what, message, **extra)
        assert made.text() == json.dumps(made.payload)
        assert made.response().body == json.dumps(made.payload).encode()


def test_the_same_offers_answer_with_the_same_records_written_once() -> None:
    pool = [Offer("imei-1", "7", "modem"), Offer("imei-2", "7", "phone")]
    records = _records(pool)
    assert records == [
        {"device_id": "imei-1", "pin": "7", "kind": "modem", "state": "offered"},
        {"device_id": "imei-2", "pin": "7", "kind": "phone", "state": "offered"},
    ]
    assert _records(list(pool)) is records  # the same devices: the list and its JSON kept
    assert _records(pool[:1]) == records[:1] and _records(pool[:1]) is not records
    assert _records([]) == []
    kept = [Offer("imei-3", "7", "modem")]  # a pool's list as the bank keeps it
    once = _records(kept)
    assert once == [{"device_id": "imei-3", "pin": "7", "kind": "modem", "state": "offered"}]
    assert _records(kept) is once
    made = json_answer(StatusCode.OK_IP, "accepted", job_id="j", records=records)
    assert made.text() == json.dumps(made.payload)


@pytest.mark.parametrize(
    ("to", "offers", "available"),
    [
        ("+393331234567", [], 0),
        ("4916", [], 3),  # a short code: digits as dialled; its device's pool of 3
        ("+393331234567", [Offer("imei-\u00e8", "7", "modem"), Offer('p"1', "7", "phone")], 2),
    ],
)
@pytest.mark.parametrize("message", ["h\u00e9llo", 'a "quoted" \\ text\n'])
def test_an_accepts_answer_in_one_piece_is_the_general_answer(
    to: str, offers: list[Offer], available: int, message: str
) -> None:
    """An accept's answer written in one piece (no cost, a number of digits) is the general
    answer's payload and text, and its text is ``json.dumps`` of the payload."""
    job = Job("job_19a3c0ffee12345678", 1, "7", to, message, JobState.QUEUED, parts=2,
              encoding="ucs2")  # fmt: skip
    records = _records(offers)
    made = _plain_accepted(StatusCode.OK_IP, job, available, records)
    general = json_answer(
        StatusCode.OK_IP, ACCEPTED, job_id=job.job_id, to=to, length=len(message), parts=2,
        encoding="ucs2", devices_available=available, records=records,
    )  # fmt: skip
    assert made.payload == general.payload and made.status == general.status == 200
    assert made.text() == general.text() == json.dumps(made.payload)
