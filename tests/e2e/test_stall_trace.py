"""``[server] stall_trace``: a real daemon on an emulated modem writes its trace at exit, with
the store's thread's spans and the loop's, on the monotonic clock; without the key, none."""

from __future__ import annotations

import json
import time
from pathlib import Path

from modemd.emulators.modem_bank import EmulatedBank

from .daemon import running_daemon


async def test_a_daemon_asked_for_a_stall_trace_writes_it_when_it_stops(tmp_path: Path) -> None:
    out = tmp_path / "stalls.json"
    config = tmp_path / "modemd.toml"
    config.write_text(f'[server]\nstall_trace = "{out}"\n')
    began = time.monotonic()
    async with EmulatedBank.create(1, seed=5) as bank:
        args = ["--config", str(config), "--db", str(tmp_path / "modemd.db")]
        async with running_daemon(*args, "--device", f"{bank.modems[0].port}:4711"):
            assert not out.exists()  # written at exit, not as it goes
    written = json.loads(out.read_text())
    assert written["clock"] == "monotonic"
    assert all(began < start <= end < time.monotonic() for *_, start, end, _ in written["spans"])


async def test_no_trace_unless_asked(tmp_path: Path) -> None:
    async with EmulatedBank.create(1, seed=5) as bank:
        args = ["--db", str(tmp_path / "modemd.db"), "--device", f"{bank.modems[0].port}:4711"]
        async with running_daemon(*args):
            pass
    assert _json_files(tmp_path) == []


def _json_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if "json" in p.name)
