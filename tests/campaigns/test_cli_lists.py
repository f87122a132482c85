"""``modemd campaigns list|cancel`` and ``modemd schedules add|list|remove`` against the rig's
API on a real socket."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner, Result

from modemd.cli import main

from .conftest import Rig


async def _cli(rig: Rig, *args: str) -> tuple[int, str]:
    """Exit code and what the command printed (the in-process daemon's log lines dropped)."""
    options = ["--key", rig.apikey, "--url", rig.url]
    done: Result = await asyncio.to_thread(CliRunner().invoke, main, [*args, *options])
    printed = [line for line in done.output.splitlines() if " modemd." not in line]
    return done.exit_code, "".join(f"{line}\n" for line in printed)


async def test_list_and_act_on_campaigns_and_schedules(rig: Rig) -> None:
    status, answer = await rig.post(
        "/api/v1/campaigns", json={"template": "Hi", "recipients": ["+393335550001"], "name": "May"}
    )
    assert status == 200
    campaign_id = answer["campaign"]["campaign_id"]
    code, listed = await _cli(rig, "campaigns", "list")
    assert (code, listed.split()) == (0, [campaign_id, "draft", "0/1", "May"]), listed
    assert await _cli(rig, "campaigns", "cancel", campaign_id) == (
        0,
        f"{campaign_id}: cancelled\n",
    )
    code, again = await _cli(rig, "campaigns", "cancel", campaign_id)
    assert code == 1 and "refused (409)" in again

    code, added = await _cli(
        rig, "schedules", "add", "--template", "Hi", "--cron", "0 9 * * 1", "--to", "+393335550002"
    )
    assert code == 0, added
    code, listed = await _cli(rig, "schedules", "list")
    assert code == 0 and "cron '0 9 * * 1' UTC  next " in listed, listed
    schedule_id = listed.split()[0]
    assert await _cli(rig, "schedules", "remove", schedule_id) == (0, f"{schedule_id}: removed\n")
    assert await _cli(rig, "schedules", "list") == (0, "")
