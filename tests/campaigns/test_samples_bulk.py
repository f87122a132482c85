"""The curl and Python samples, as the CODE button serves them, send a CSV file as a campaign."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from .conftest import Rig

RUN_TIMEOUT_S = 60.0


@pytest.mark.parametrize(("lang", "command"), [("curl", ["bash"]), ("python", [sys.executable])])
async def test_a_sample_sends_a_csv_file_as_a_campaign(
    rig: Rig, tmp_path: Path, lang: str, command: list[str]
) -> None:
    async with rig.session.get(f"{rig.url}/api/v1/samples/{lang}", headers=rig.auth) as r:
        assert r.status == 200
        source = tmp_path / f"sample-{lang}"
        source.write_text(await r.text(), "utf-8")
    numbers = ["+393330000101", "+393330000102", "+393330000103"]
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("to,name\n" + "".join(f"{n},N{i}\n" for i, n in enumerate(numbers)))
    env = {**os.environ, "MODEMD_URL": rig.url, "MODEMD_APIKEY": rig.apikey}
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, str(source), "bulk", str(csv_file), "Hello {name}"],
        capture_output=True,
        env=env,
        timeout=RUN_TIMEOUT_S,
    )
    printed = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, printed
    assert '"valid": 3' in printed and '"state": "running"' in printed
    async with asyncio.timeout(30):
        while len(rig.sent_numbers()) < len(numbers):
            await asyncio.sleep(0.05)
    assert Counter(rig.sent_numbers()) == Counter(numbers)
