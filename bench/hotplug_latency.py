"""Hot-plug latency under a umockdev testbed: udev "add" -> device READY, and udev "remove"
-> device out of its pool, through the real pyudev monitor, driver and bank.

    umockdev-wrapper .venv/bin/python bench/hotplug_latency.py [--cycles 10]

Two kinds of modem: a rule that marks the AT port (MODEMD_PORT=at) and an unmarked 3-port
modem whose silent and noisy ports are probed first. Production timeouts and debounce."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from hardware.testbed import Bench, FakeUsbModem, Testbed, TtySpec, entered

from modemd.emulators.profile import emulated_identity
from modemd.hardware.hotplug import HotPlug
from modemd.hardware.udev import Udev
from modemd.model import DeviceState
from modemd.runtime.bank import Bank
from modemd.store.db import Store


def modem(cycle: int, hinted: bool) -> FakeUsbModem:
    label = {"MODEMD_PIN": "4711"}
    at = {**label, "MODEMD_PORT": "at"} if hinted else label
    base = 10 + cycle * 4  # a new tty number each plug, as after a re-enumeration
    ttys = [TtySpec(f"ttyUSB{base + 2}", 2, "at", at)]
    if not hinted:
        ttys = [
            TtySpec(f"ttyUSB{base}", 0, "silent", label),
            TtySpec(f"ttyUSB{base + 1}", 1, "noise", label),
            *ttys,
        ]
    # A new USB device name each plug too: umockdev 0.17 keeps the old one's /sys/bus link.
    return FakeUsbModem(usb_port=str(3 + cycle), serial=f"B{cycle}", ttys=ttys)


async def measure(
    cycles: int, hinted: bool, root: Path
) -> tuple[list[float], list[float], list[float]]:
    """add -> ready; udev remove -> out of pool; hang-up -> out of pool (seconds)."""
    store = Store(root / f"bench-{hinted}.db")
    await store.start()
    bank = Bank(store)
    await bank.start()
    bed = Testbed(root / f"testbed-{hinted}.sock")
    imei = emulated_identity(1).imei
    try:
        with entered(bed):
            bench = Bench(bed)
            hotplug = HotPlug(Udev(), attach=bank.attach_spec, detach=bank.detach)
            await hotplug.start()
            hangup = []
            for cycle in range(cycles):
                usb = modem(cycle, hinted)
                await bench.plug(usb, identity=1)
                await until(lambda: (w := bank.workers.get(imei)) and w.state is DeviceState.READY)
                # Even cycles: udev's "remove" alone; odd: the port hangs up first (the kernel's
                # order on a real unplug), timed here from the hang-up.
                started = time.monotonic()
                await bench.unplug(usb, hangup_first=bool(cycle % 2))
                await until(lambda: bank.workers[imei].state is DeviceState.GONE)
                if cycle % 2:
                    hangup.append(time.monotonic() - started)
                await asyncio.sleep(0.1)
            await hotplug.close()
            await bench.close()
    finally:
        await bank.close()
        await store.close()
        bed.close()
    ready = [s for what, _, s in hotplug.timings if what == "add->ready"]
    gone = [s for what, _, s in hotplug.timings if what == "remove->gone" and s > 0]
    return ready, gone, hangup


async def until(check: Callable[[], object]) -> None:
    """Poll (1 ms) until ``check``: the bench watches from outside, like a person would."""
    while not check():  # noqa: ASYNC110
        await asyncio.sleep(0.001)


def show(name: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    print(
        f"{name:34} n={len(ms):3}  median {statistics.median(ms):7.1f} ms"
        f"  min {ms[0]:7.1f}  max {ms[-1]:7.1f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args()
    if "libumockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
        sys.exit("run under umockdev-wrapper (see the docstring)")
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        for hinted in (True, False):
            ready, gone, hangup = await measure(args.cycles, hinted, Path(tmp))
            kind = "AT port marked" if hinted else "3 ports probed"
            show(f"udev add -> ready ({kind})", ready)
            show(f"udev remove -> out of pool ({kind})", gone)
            show(f"port hang-up -> out of pool ({kind})", hangup)


if __name__ == "__main__":
    asyncio.run(main())
