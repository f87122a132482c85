"""Issue 18 item 1: no request is admin because of where it comes from. The admin API answers
its Unix socket (file mode 0660, the peer's credentials read with SO_PEERCRED and recorded) and
the admin token; every change lands in the audit log with who made it."""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
from pathlib import Path

import aiohttp
from api_harness import ADMIN, Api, MakeApi
from click.testing import CliRunner

from modemd.api.adminsocket import start_admin_socket
from modemd.api.auth import api_config
from modemd.cli import main
from modemd.store import audit


async def test_loopback_is_not_admin(make_api: MakeApi) -> None:
    """The SSRF: an IPN URL pointing at 127.0.0.1/admin/... rotated keys. Loopback callers,
    whatever they claim, and wrong tokens get 403 and change nothing."""
    for config in (None, api_config()):  # with an admin token configured, and without one
        api = await make_api(config)
        key_id = api.key_ids["any"]
        before = await api.dump()
        for headers in (
            {},
            {"X-Real-IP": "127.0.0.1"},  # a local proxy that sets only X-Real-IP
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Bearer "},
        ):
            async with api.session.post(
                f"{api.url}/admin/v1/keys/{key_id}/rotate", json={}, headers=headers
            ) as r:
                body = await r.json()
                assert (r.status, body["response"]) == (403, "403"), headers
        assert await api.dump() == before


async def test_admin_over_the_unix_socket_with_peer_credentials(api: Api, tmp_path: Path) -> None:
    path = str(tmp_path / "admin.sock")
    assert api.runner is not None
    site = await start_admin_socket(api.runner, path)
    assert site is not None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as session:
        async with session.post("http://modemd/admin/v1/keys", json={"pin": "4711"}) as r:
            made = await r.json()
        assert r.status == 201, made
        async with session.get("http://modemd/admin/v1/audit") as r:
            rows = (await r.json())["audit"]
    assert rows[0]["action"] == "key.create" and rows[0]["target"] == f"key {made['key_id']}"
    assert (
        rows[0]["actor"].startswith(f"socket uid {os.geteuid()} (")
        and f"pid {os.getpid()}" in rows[0]["actor"]
    )


async def test_start_without_the_directory_serves_no_socket(api: Api, tmp_path: Path) -> None:
    assert api.runner is not None
    assert await start_admin_socket(api.runner, str(tmp_path / "no" / "admin.sock")) is None


async def test_every_admin_change_is_audited_with_who(api: Api) -> None:
    key_id = api.key_ids["any"]
    calls = [
        ("POST", f"/admin/v1/keys/{key_id}/rotate", {"grace_s": 0}),
        ("POST", f"/admin/v1/keys/{key_id}/topup", {"amount": "1.00"}),
        ("POST", "/admin/v1/prices", {"destination": "+39", "per_part": "0.05"}),
        ("POST", f"/admin/v1/keys/{key_id}/revoke", {}),
        ("POST", f"/admin/v1/keys/{key_id}/revoke", {}),  # 404: nothing happened, no row
    ]
    for method, path, body in calls:
        async with api.session.request(method, api.url + path, json=body, headers=ADMIN):
            pass
    status, listed = await api.get("/admin/v1/audit", headers=ADMIN)
    assert status == 200
    actions = [(r["action"], r["target"], r["actor"]) for r in reversed(listed["audit"])]
    assert actions == [
        ("key.rotate", f"key {key_id}", "admin token"),
        ("wallet.topup", f"key {key_id}", "admin token"),
        ("price.set", "+39", "admin token"),
        ("key.revoke", f"key {key_id}", "admin token"),
    ]
    assert len(await api.store.read(audit.list_audit)) == 4
    status, _ = await api.get("/admin/v1/audit")  # the audit log is admin-only too
    assert status == 403


async def test_admin_errors_are_json_with_documented_statuses(api: Api) -> None:
    huge = 2**63
    for method, path in (
        ("GET", f"/admin/v1/keys/{huge}/wallet"),
        ("POST", f"/admin/v1/keys/{huge}/revoke"),
        ("POST", f"/admin/v1/keys/{huge}/rotate"),
        ("POST", f"/admin/v1/keys/{huge}/topup"),
        ("GET", "/admin/v1/keys/424242/wallet"),  # no such key: 404 like top-up, not 200
    ):
        async with api.session.request(method, api.url + path, json={}, headers=ADMIN) as r:
            body = await r.json()
            assert (r.status, body["response"]) == (404, "404"), (path, body)
    async with api.session.delete(api.url + "/api/v1/send") as r:
        assert r.status == 405 and r.headers["Allow"] == "POST"
        assert (await r.json())["response"] == "405"


def test_cli_changes_are_audited_and_listed(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    run = CliRunner()
    assert (
        run.invoke(main, ["keys", "create", "--pin", "7", "--over-ip", "--db", db]).exit_code == 0
    )
    assert run.invoke(main, ["wallet", "topup", "1", "5", "--db", db]).exit_code == 0
    assert run.invoke(main, ["keys", "revoke", "1", "--db", db]).exit_code == 0
    shown = run.invoke(main, ["audit", "--socket", "", "--db", db])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    user = pwd.getpwuid(os.geteuid()).pw_name
    for action in ("key.revoke", "wallet.topup", "key.create"):
        assert any(action in ln and f"cli {user}" in ln for ln in lines), shown.output


async def test_cli_audit_asks_the_daemon_over_its_socket(api: Api, tmp_path: Path) -> None:
    path = str(tmp_path / "admin.sock")
    assert api.runner is not None and await start_admin_socket(api.runner, path) is not None
    async with api.session.post(
        f"{api.url}/admin/v1/prices", json={"destination": "*", "per_part": "0.01"}, headers=ADMIN
    ):
        pass
    missing = str(tmp_path / "not-the-daemons.db")  # the rows come from the daemon, not a file
    shown = await asyncio.to_thread(
        CliRunner().invoke, main, ["audit", "--socket", path, "--db", missing]
    )
    assert shown.exit_code == 0, shown.output
    assert "price.set" in shown.output and "admin token" in shown.output
