"""What ``modemd serve`` imports on its way to ready: a real daemon on an emulated modem's pty,
under ``python -X importtime`` (every module it imports, named on stderr as it loads). The
modules only a feature's first use or another command needs stay out of a start's CPU
(README, Round 9: ready at 256 and the loop); names are asserted, never times."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

from modemd.emulators.modem_bank import EmulatedBank

from .daemon import EXIT_TIMEOUT_S, drain, wait_for_api

IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$")
# Loaded on first use or by another command, never by a start: the console's templates
# (jinja2), /openapi.json (yaml), keyword rules (regex), schedules (croniter), XLSX uploads
# (openpyxl), PostgreSQL (psycopg), --simulate's modems and phones, udev and doctor (pyudev,
# the hardware package), a config's misspelt key (difflib), sqlite-utils' plugins (the
# installed packages' entry points: importlib.metadata)
NOT_ON_THE_WAY = {
    "jinja2",
    "yaml",
    "regex",
    "croniter",
    "openpyxl",
    "psycopg",
    "modemd.emulators.modem",
    "modemd.emulators.modem_bank",
    "modemd.emulators.phone",
    "modemd.hardware",
    "pyudev",
    "difflib",
    "importlib.metadata",
}


async def imports_until_ready(tmp_path: Path) -> set[str]:
    """The modules a daemon with one modem imported from its start to its API listening."""
    async with EmulatedBank.create(1, seed=3) as bank:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "modemd",
            "serve",
            "--db",
            str(tmp_path / "modemd.db"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--device",
            f"{bank.modems[0].port}:4711",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        log: list[str] = []
        try:
            await wait_for_api(proc, log)
            ready = len(log)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            assert proc.stderr is not None
            await drain(proc.stderr, log)
            code = await asyncio.wait_for(proc.wait(), EXIT_TIMEOUT_S)
        assert code == 0, "".join(log[-40:])
    return {m.group(1) for line in log[:ready] if (m := IMPORTED.match(line.rstrip("\n")))}


async def test_serve_reaches_ready_without_the_modules_only_other_work_needs(
    tmp_path: Path,
) -> None:
    imported = await imports_until_ready(tmp_path)
    # the list is the daemon's: what a start needs is in it (so the check below can fail)
    assert {"aiohttp", "sqlite_utils", "modemd.service", "modemd.drivers.serial_at"} <= imported
    found = {m for m in imported if any(m == n or m.startswith(f"{n}.") for n in NOT_ON_THE_WAY)}
    assert found == set()
