"""Issue 18 item 1, the IPN half: the sender's egress policy, checked on the resolved address at
connect time. Its defaults: never the daemon's own API, link-local or metadata addresses; LAN and
loopback allowed unless denied."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiohttp import web
from builders import sent_job

from modemd.api import start_site
from modemd.store import events
from modemd.store.db import Store
from modemd.webhooks.egress import EgressPolicy, own_addresses
from modemd.webhooks.sender import IpnSender, redact


@pytest.mark.parametrize(
    ("host", "port", "refused"),
    [
        ("169.254.169.254", 80, "link-local"),  # cloud metadata
        ("fe80::1", 80, "link-local"),
        ("fd00:ec2::254", 80, "metadata"),
        ("100.100.100.200", 80, "metadata"),
        ("0.0.0.0", 8080, "unspecified"),
        ("224.0.0.1", 80, "multicast"),
        ("::ffff:169.254.169.254", 80, "link-local"),  # IPv6-mapped is the IPv4
        ("127.0.0.1", 8080, "own API"),
        ("127.0.0.2", 8080, "own API"),  # any loopback address reaches a 127.0.0.1 listener
        ("192.0.2.10", 8080, "own API"),
        ("127.0.0.1", 9000, None),  # loopback, another port: allowed by default
        ("192.168.1.20", 80, None),  # the installer's LAN: allowed by default
        ("10.0.0.5", 8080, None),
        ("93.184.216.34", 443, None),
    ],
)
def test_default_policy(host: str, port: int, refused: str | None) -> None:
    policy = EgressPolicy(own=frozenset({("loopback", 8080), ("192.0.2.10", 8080)}))
    why = policy.refusal(host, port)
    assert (why is None) if refused is None else (why is not None and refused in why), why


def test_loopback_and_private_can_be_denied() -> None:
    policy = EgressPolicy(deny_loopback=True, deny_private=True)
    assert "deny_loopback" in (policy.refusal("127.0.0.1", 9000) or "")
    assert "deny_private" in (policy.refusal("192.168.1.20", 80) or "")
    assert "deny_private" in (policy.refusal("fd12::1", 80) or "")
    assert policy.refusal("93.184.216.34", 443) is None


def test_own_addresses_of_a_wildcard_listener_include_loopback() -> None:
    assert ("loopback", 8080) in own_addresses("0.0.0.0", 8080)
    assert ("127.0.0.1", 8081) in own_addresses("127.0.0.1", 8081)


def test_log_lines_show_no_credentials_nor_query_tokens() -> None:
    url = "https://user:pa55@hooks.example.com:8443/ipn/x?token=s3cret&k=v"
    assert redact(url) == "https://***@hooks.example.com:8443/ipn/x?token=***&k=***"
    assert redact("http://[::1]:9/a") == "http://[::1]:9/a"


async def post_once(store: Store, url: str, policy: EgressPolicy) -> dict:
    """One sent job whose IPN goes to ``url``; the outcome of its first attempt."""
    _, job = await sent_job(store, url)
    sender = IpnSender(store, rng=random.Random(1), schedule=(30.0,), egress=policy)
    task = asyncio.create_task(sender.run(), name="ipn sender")
    try:
        async with asyncio.timeout(20):
            while True:
                rows = await store.read(events.list_events, job.job_id)
                if rows[0]["attempts"] or rows[0]["state"] != "pending":
                    return rows[0]
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_ipn_to_the_daemons_own_api_is_never_posted(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The forgery reproducer: a key's IPN URL points at our own admin API."""
    hits: list[str] = []

    async def admin(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"response": "200"})

    app = web.Application()
    app.router.add_post("/admin/v1/keys/{key_id}/rotate", admin)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        policy = EgressPolicy(own=own_addresses("127.0.0.1", port))
        url = f"http://127.0.0.1:{port}/admin/v1/keys/3/rotate?token=abc"
        row = await post_once(store, url, policy)
    finally:
        await runner.cleanup()
    assert hits == []
    assert row["state"] == "pending" and "egress policy" in row["last_error"]
    assert "own API" in row["last_error"] and "token=abc" not in caplog.text


async def test_a_name_is_checked_after_resolution(store: Store) -> None:
    """``localhost`` is allowed by name but resolves to loopback: denied when loopback is."""
    row = await post_once(store, "http://localhost:9/ipn", EgressPolicy(deny_loopback=True))
    assert "deny_loopback" in row["last_error"]


async def test_link_local_is_refused_without_a_packet(store: Store) -> None:
    row = await post_once(store, "http://169.254.169.254/latest/meta-data/", EgressPolicy())
    assert "link-local" in row["last_error"]


async def test_the_lan_is_reached_by_default(store: Store) -> None:
    got: list[bytes] = []

    async def ipn(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/ipn", ipn)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        row = await post_once(store, f"http://127.0.0.1:{port}/ipn", EgressPolicy())
    finally:
        await runner.cleanup()
    assert row["state"] == "delivered" and len(got) == 1
