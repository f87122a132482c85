"""Recovery ladder timings with production timeouts and ladder settings, on emulated modems
over real ptys driven by the real driver, worker and bank (the daemon's code in-process):

- hang -> recovered, per fault (and so per step that clears it), p50 over ``--cycles``;
- hang -> the first job handed to another modem: modem A hangs holding a job (its AT+CMGS
  gets no prompt), the job goes back to the queue and modem B's pty sees its AT+CMGS.

    .venv/bin/python bench/recovery.py [--cycles 3] [--json FILE]

Slow on purpose: the driver's real timeouts (AT 5 s, wake 3 x 2 s, prompt 10 s, CFUN 15 s)
decide the numbers, which the README quotes."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from modemd.drivers import registry
from modemd.emulators.faults import FAULT_SIM_PIN, FaultKind
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeviceState
from modemd.runtime.bank import Bank
from modemd.runtime.recovery import DEFAULT_RECOVERY, RecoverySettings
from modemd.service import UsbResetter
from modemd.store import jobs, keys
from modemd.store.db import Store

PIN = "4711"
OVERRIDES = {"send_latency_s": (0.5, 1.0), "report_delay_s": 1.0}
# fault -> the step that clears it (what "recovered after" should say), and usb_reset on/off
SCENARIOS: dict[str, tuple[FaultKind, str, bool]] = {
    "radio_reset": (FaultKind.HANG_UNTIL_CFUN, "radio_reset", False),
    "radio_reset + SIM PIN": (FaultKind.PIN_AFTER_RESET, "radio_reset", False),
    "usb_reset": (FaultKind.HANG_UNTIL_USB_RESET, "usb_reset", True),
    "failed (usb_reset off)": (FaultKind.HANG_UNTIL_USB_RESET, "failed", False),
}
POLL_S = 0.01


class Rig:
    """Emulated modems attached to a bank as ``modemd serve --simulate`` attaches them."""

    def __init__(self, store: Store, modems: list[EmulatedModem], recovery: RecoverySettings):
        self.store, self.modems = store, modems
        self.resetter = UsbResetter()
        self.bank = Bank(store, recovery=recovery, usb_reset=self.resetter)
        self.sim_pins: dict[str, str] = {}
        self.tasks: set[asyncio.Task[object]] = set()

    async def start(self) -> int:
        await self.bank.start()
        key, _ = await self.store.write(
            keys.create_key, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None
        )
        for modem in self.modems:
            self.resetter.add(modem)
            modem.on_replug = self.replugged
            await self.bank.attach(self.factory(modem))
        return int(key.key_id)

    def factory(self, modem: EmulatedModem) -> registry.DriverFactory:
        return registry.factory(registry.SerialModem(modem.port, PIN, self.sim_pins.get))

    def replugged(self, modem: EmulatedModem) -> None:
        self.resetter.add(modem)
        task = asyncio.create_task(self.bank.attach(self.factory(modem)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def state(self, modem: EmulatedModem) -> DeviceState | None:
        worker = self.bank.workers.get(modem.profile.imei)
        return worker.state if worker is not None else None

    async def close(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bank.close()


class Said(logging.Handler):
    """Remembers when each device said "recovered after <step>" or "failed"."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((time.monotonic(), record.getMessage()))

    def since(self, start: float, text: str) -> float | None:
        return next((t - start for t, line in self.lines if t >= start and text in line), None)


async def until(check: Callable[[], object], timeout_s: float = 600.0) -> None:
    """Poll ``check`` (the bench watches from outside, as tests do)."""
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(POLL_S)


async def one_recovery(name: str, said: Said, tmp: Path, cycle: int) -> float:
    kind, step, usb = SCENARIOS[name]
    store = Store(tmp / f"{name}-{cycle}.db".replace(" ", "_"))
    await store.start()
    emulators = EmulatedBank.create(1, seed=cycle, profile_overrides=OVERRIDES)
    await emulators.start()
    rig = Rig(store, emulators.modems, replace(DEFAULT_RECOVERY, usb_reset=usb))
    try:
        await rig.start()
        (modem,) = emulators.modems
        rig.sim_pins[modem.profile.iccid] = FAULT_SIM_PIN
        await until(lambda: rig.state(modem) is DeviceState.READY)
        start = time.monotonic()
        modem.inject(kind)
        text = f"{modem.profile.imei}: recovered after {step}"
        if step == "failed":
            text = f"{modem.profile.imei}: failed"
        await until(lambda: said.since(start, text) is not None)
        seconds = said.since(start, text)
        assert seconds is not None
        return seconds
    finally:
        await rig.close()
        await emulators.close()
        await store.close()


async def handed_over(tmp: Path, cycle: int) -> float:
    """Hang -> the job A held reaches B's pty as AT+CMGS."""
    store = Store(tmp / f"handover-{cycle}.db")
    await store.start()
    emulators = EmulatedBank.create(2, seed=100 + cycle, profile_overrides=OVERRIDES)
    await emulators.start()
    rig = Rig(store, emulators.modems, DEFAULT_RECOVERY)
    try:
        key_id = await rig.start()
        a, b = emulators.modems
        await until(lambda: len(rig.bank.pool(PIN).idle_devices()) == len(emulators.modems))
        first_idle = rig.bank.pool(PIN).idle_devices()[0]
        a, b = (a, b) if first_idle == a.profile.imei else (b, a)  # A takes the next job
        seen_at: list[float] = []
        b.on_input = lambda data: seen_at.append(time.monotonic()) if b"AT+CMGS=" in data else None
        start = time.monotonic()
        a.inject(FaultKind.HANG_UNTIL_CFUN)
        job = await store.write(
            jobs.insert_job, key_id=key_id, pin=PIN, to="+31612340001", message="hi",
            parts=1, encoding="gsm7",
        )  # fmt: skip
        rig.bank.submit(job)
        await until(lambda: seen_at)
        return seen_at[0] - start
    finally:
        await rig.close()
        await emulators.close()
        await store.close()


async def main(cycles: int) -> dict[str, object]:
    said = Said()
    logging.getLogger("modemd").addHandler(said)
    logging.getLogger("modemd").setLevel(logging.INFO)
    results: dict[str, object] = {"cycles": cycles, "load": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        for name in SCENARIOS:
            runs = [await one_recovery(name, said, Path(tmp), c) for c in range(cycles)]
            results[name] = {"p50_s": statistics.median(runs), "runs_s": runs}
            print(f"hang -> {name}: p50 {statistics.median(runs):.1f} s  {runs}", flush=True)
        runs = [await handed_over(Path(tmp), c) for c in range(cycles)]
        results["hang -> job on another modem"] = {"p50_s": statistics.median(runs), "runs_s": runs}
        print(f"hang -> first job on another modem: p50 {statistics.median(runs):.1f} s  {runs}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    found = asyncio.run(main(args.cycles))
    if args.json is not None:
        args.json.write_text(json.dumps(found, indent=2) + "\n")
