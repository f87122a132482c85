"""Keys and callers: IP rules (v4, v6, IPv6-mapped), X-Forwarded-For only from trusted proxies,
rotation and revocation, the admin API's gate, and the CLI doing the same."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from api_harness import ADMIN, Api, MakeApi
from click.testing import CliRunner

from modemd.api.app import create_app, start_site
from modemd.api.auth import api_config, client_ip
from modemd.api.keyspec import KeySettingsError, check_network, check_settings
from modemd.api.validation import ip_allowed
from modemd.cli import main
from modemd.model import DEFAULT_EVENTS
from modemd.store import keys

PROXIES = tuple(ipaddress.ip_network(n) for n in ("127.0.0.1/32", "10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "caller"),
    [
        ("192.0.2.7", ["203.0.113.9"], "192.0.2.7"),  # not a proxy: its header is ignored
        ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        ("127.0.0.1", ["198.51.100.1, 203.0.113.9, 10.1.2.3"], "203.0.113.9"),  # spoofed first
        ("127.0.0.1", ["198.51.100.1", "203.0.113.9"], "203.0.113.9"),  # two header lines
        ("::ffff:127.0.0.1", ["::ffff:203.0.113.9"], "203.0.113.9"),  # mapped both ways
        ("127.0.0.1", ["not-an-ip"], "not-an-ip"),  # garbage is nobody's address
        ("127.0.0.1", [], "127.0.0.1"),
        ("fe80::1%eth0", [], "fe80::1"),
    ],
)
def test_client_ip(peer: str, forwarded: list[str], caller: str) -> None:
    assert client_ip(peer, forwarded, PROXIES) == caller


@pytest.mark.parametrize(
    ("peer", "caller"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # mapped: the IPv4, as behind a proxy
        ("fe80::1%eth0", "fe80::1"),
        ("2001:DB8::1", "2001:db8::1"),  # written out as ipaddress does
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_client_ip_without_trusted_proxies(peer: str, caller: str) -> None:
    """No trusted proxy: the peer, whatever a client wrote in X-Forwarded-For."""
    assert client_ip(peer, ["203.0.113.9"], ()) == caller
    assert client_ip(peer, [], ()) == caller


ALLOW = ("10.0.0.0/8", "2001:db8::/32", "not-a-network", "192.0.2.7")


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        ("10.9.8.7", True),
        ("::ffff:10.9.8.7", True),  # IPv6-mapped IPv4 counts as the IPv4
        ("2001:db8::5", True),
        ("192.0.2.7", True),  # a lone address
        ("192.0.2.8", False),
        ("11.0.0.1", False),
        ("2001:db9::1", False),
        ("not-an-ip", False),
    ],
)
def test_ip_allowed_by_a_list_parsed_once(peer: str, allowed: bool) -> None:
    """The allow list's networks are parsed once per list (cached), an unparsable entry left
    out; every call answers as if parsed afresh, the same list asked twice too."""
    assert ip_allowed(peer, ALLOW) is allowed
    assert ip_allowed(peer, ALLOW) is allowed


@pytest.mark.parametrize(
    ("entry", "network"),
    [
        ("192.0.2.1", "192.0.2.1/32"),
        ("192.0.2.9/24", "192.0.2.0/24"),
        ("::ffff:192.0.2.1", "192.0.2.1/32"),
        ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
        ("2001:DB8::1/32", "2001:db8::/32"),
    ],
)
def test_allow_list_entries_are_canonical(entry: str, network: str) -> None:
    assert check_network(entry) == network


@pytest.mark.parametrize(
    "bad",
    [
        {"pin": ""},
        {"pin": "1", "allow_ips": ["300.1.1.1"]},
        {"pin": "1", "cors_origins": ["*"]},
        {"pin": "1", "cors_origins": ["https://a.example/path"]},
        {"pin": "1", "default_country": "XX"},
        {"pin": "1", "rate_limit": 0},
        {"pin": "1", "rate_limit": True},
        {"pin": "1", "ipn_url": "ftp://x"},
        {"pin": "1", "over_ip": "yes"},
        {"pin": "1", "events": ["sms.recieved"]},
        {"pin": "1", "events": []},
        {"pin": "1", "events": [1]},
    ],
)
def test_bad_key_settings(bad: dict) -> None:
    with pytest.raises(KeySettingsError):
        check_settings(bad)


async def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(api: Api) -> None:
    before = await api.dump()
    status, body = await api.send(json=api.ok("remote"), headers={"X-Forwarded-For": "192.0.2.10"})
    assert (status, body["status_code"]) == (403, "4")
    assert await api.dump() == before


async def test_forwarded_for_from_a_trusted_proxy(make_api: MakeApi) -> None:
    api = await make_api(api_config(["127.0.0.1"]))
    for forwarded, code in (
        ("192.0.2.10", "1"),
        ("::ffff:192.0.2.10", "1"),  # IPv6-mapped IPv4 is the IPv4
        ("2001:db8::5", "1"),
        ("192.0.2.10, 198.51.100.3", "4"),  # the nearest untrusted hop is the caller
        ("198.51.100.3", "4"),
    ):
        _, body = await api.send(json=api.ok("remote"), headers={"X-Forwarded-For": forwarded})
        assert body["status_code"] == code, forwarded


async def test_ipv6_loopback_caller(api: Api) -> None:
    _, secret = await api.store.write(
        lambda db: keys.create_key(db, pin="4711", allow_ips=["::1"], over_ip=False, ipn_url=None)
    )
    runner, v6port = await start_site(create_app(api.store, api.bank), "::1", 0)
    try:
        async with api.session.post(
            f"http://[::1]:{v6port}/api/v1/send", json={**api.ok(), "apikey": secret}
        ) as r:
            assert (r.status, (await r.json())["status_code"]) == (200, "1")
    finally:
        await runner.cleanup()
    _, body = await api.send(json={**api.ok(), "apikey": secret})  # same key over IPv4
    assert body["status_code"] == "4"


async def test_rotate_and_revoke_over_the_admin_api(api: Api) -> None:
    key_id, old = api.key_ids["any"], api.keys["any"]
    async with api.session.post(
        f"{api.url}/admin/v1/keys/{key_id}/rotate", json={"grace_s": 3600}, headers=ADMIN
    ) as r:
        rotated = await r.json()
    assert r.status == 200 and rotated["apikey"] != old
    for secret in (old, rotated["apikey"]):  # both work during the grace
        status, _ = await api.send(json={**api.ok("any"), "apikey": secret})
        assert status == 200
    async with api.session.post(f"{api.url}/admin/v1/keys/{key_id}/revoke", headers=ADMIN) as r:
        assert r.status == 200
    for secret in (old, rotated["apikey"]):
        status, body = await api.send(json={**api.ok("any"), "apikey": secret})
        assert (status, body["status_code"]) == (401, "3")
    async with api.session.post(f"{api.url}/admin/v1/keys/{key_id}/revoke", headers=ADMIN) as r:
        assert r.status == 404


async def test_rotation_without_grace_ends_the_old_secret(api: Api) -> None:
    rotated = await api.store.write(keys.rotate_key, api.key_ids["local"], 0.0)
    status, _ = await api.send(json=api.ok())
    assert status == 401
    status, _ = await api.send(json={**api.ok(), "apikey": rotated[1]})
    assert status == 200


async def test_admin_creates_and_lists_keys(api: Api) -> None:
    wanted = {"pin": "5000", "allow_ips": ["::ffff:127.0.0.1"], "default_country": "it"}
    async with api.session.post(f"{api.url}/admin/v1/keys", json=wanted, headers=ADMIN) as r:
        made = await r.json()
    assert r.status == 201 and made["apikey"].startswith("mdk_")
    _, listed = await api.get("/admin/v1/keys", headers=ADMIN)
    row = next(k for k in listed["keys"] if k["key_id"] == made["key_id"])
    assert row["allow_ips"] == ["127.0.0.1/32"] and row["default_country"] == "IT"
    assert all("hash" not in k and made["apikey"] not in str(k) for k in listed["keys"])
    async with api.session.post(
        f"{api.url}/admin/v1/keys", json={"pin": "1", "rate_limit": -1}, headers=ADMIN
    ) as r:
        assert r.status == 400 and "rate_limit" in (await r.json())["message"]


async def test_keys_choose_their_ipn_events_default_as_before_inbound(api: Api) -> None:
    wanted = {"pin": "5000", "over_ip": True, "events": ["sms.received", "sms.delivered"]}
    async with api.session.post(f"{api.url}/admin/v1/keys", json=wanted, headers=ADMIN) as r:
        made = await r.json()
    assert r.status == 201
    _, listed = await api.get("/admin/v1/keys", headers=ADMIN)
    events = {k["key_id"]: k["events"] for k in listed["keys"]}
    assert events[made["key_id"]] == ["sms.received", "sms.delivered"]
    assert events[api.key_ids["any"]] == list(DEFAULT_EVENTS)  # made without events
    assert "sms.received" not in DEFAULT_EVENTS and "sms.unknown" in DEFAULT_EVENTS
    both = check_settings({"pin": "1", "events": ["default,sms.received"]}).events
    assert both == (*DEFAULT_EVENTS, "sms.received")
    before = await api.dump()
    bad = {"pin": "5000", "events": ["sms.delivered", "sms.recieved"]}
    async with api.session.post(f"{api.url}/admin/v1/keys", json=bad, headers=ADMIN) as r:
        body = await r.json()
    assert r.status == 400 and body["response"] == "400" and "'sms.recieved'" in body["message"]
    assert await api.dump() == before


EVENTS = ("--events", "sms.sent,sms.received", "--events", "device.failed")


def test_cli_keys_create_with_events(tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["keys", "create", "--pin", "7", "--over-ip", "--db", db, *EVENTS],
    )
    assert made.exit_code == 0, made.output
    listed = runner.invoke(main, ["keys", "list", "--db", db])
    assert "sms.received" in listed.output
    bad = runner.invoke(main, ["keys", "create", "--pin", "7", "--events", "nope", "--db", db])
    assert bad.exit_code == 2 and "--events" in bad.output and "'nope'" in bad.output


async def test_admin_refuses_relayed_callers_and_wrong_tokens(make_api: MakeApi) -> None:
    api = await make_api(api_config(admin_token="s3cret-token"))
    before = await api.dump()
    for headers in (
        {"X-Forwarded-For": "127.0.0.1"},  # a local reverse proxy relaying the world
        {"Forwarded": "for=127.0.0.1"},
        {"Authorization": "Bearer wrong-token!"},
    ):
        async with api.session.post(
            f"{api.url}/admin/v1/keys", json={"pin": "1"}, headers=headers
        ) as r:
            assert r.status == 403, headers
    assert await api.dump() == before
    good = {"Authorization": "Bearer s3cret-token", "X-Forwarded-For": "203.0.113.1"}
    status, body = await api.get("/admin/v1/keys", headers=good)
    assert status == 200 and len(body["keys"]) == len(api.keys)


def test_cli_keys_create_list_rotate_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    run = CliRunner()
    made = run.invoke(
        main,
        [
            "keys",
            "create",
            "--pin",
            "7",
            "--allow-ip",
            "2001:db8::/32",
            "--cors-origin",
            "https://a.example",
            "--country",
            "de",
            "--rate-limit",
            "60",
            "--db",
            db,
        ],
    )
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    listed = run.invoke(main, ["keys", "list", "--db", db])
    assert "2001:db8::/32" in listed.output and "https://a.example" in listed.output
    assert "DE" in listed.output and secret not in listed.output
    rotated = run.invoke(main, ["keys", "rotate", "1", "--grace", "60", "--db", db])
    assert rotated.exit_code == 0
    new = rotated.output.strip().splitlines()[-1]
    assert new.startswith("mdk_") and new != secret
    assert run.invoke(main, ["keys", "revoke", "1", "--db", db]).exit_code == 0
    again = run.invoke(main, ["keys", "revoke", "1", "--db", db])
    assert again.exit_code == 1 and "no live key 1" in again.output
    bad = run.invoke(main, ["keys", "create", "--pin", "7", "--allow-ip", "1.2.3", "--db", db])
    assert bad.exit_code == 2 and "--allow-ip" in bad.output
