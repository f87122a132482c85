"""The ladder's USB reset against a umockdev testbed whose fake modem has its /dev/bus/usb node:
the USBDEVFS_RESET ioctl really reaches the node (umockdev hands it to the testbed, which
answers as the kernel does), then the test plays the kernel re-enumerating the device: its ttys
go away and come back with the same IMEI, and hot-plug brings the modem back to its worker."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import pytest

from modemd.drivers.serial_at import Timeouts
from modemd.emulators.faults import FaultKind
from modemd.emulators.profile import emulated_identity
from modemd.errors import DeviceError
from modemd.hardware.hotplug import HotPlug
from modemd.hardware.udev import Udev
from modemd.hardware.usb_reset import usb_device_node, usb_reset
from modemd.model import DeviceState
from modemd.runtime.bank import Bank
from modemd.runtime.recovery import RecoverySettings
from modemd.store.db import Store

from .testbed import Bench, FakeUsbModem, TtySpec, until

FAST = Timeouts(command_s=0.5, prompt_s=0.5, cmgs_s=2.0, registration_s=1.0, wake_s=0.2)
QUICK = {"send_latency_s": (0.0, 0.01), "report_delay_s": 0.01}
LADDER = RecoverySettings(
    usb_reset=True,
    probe_interval_s=0.3,
    step_pause_s=0.02,
    cfun_timeout_s=0.5,
    module_boot_s=0.05,
    return_timeout_s=20.0,  # generous: re-enumeration here is the test's doing, under load
    retry_failed_s=60.0,
)
IDENTITY = 3


def usb_modem(devnum: int | None = 4, port: int = 3) -> FakeUsbModem:
    return FakeUsbModem(
        usb_port=str(port),
        serial="RESET3",
        ttys=[TtySpec(f"ttyUSB{port * 4}", 2, "at", {"MODEMD_PIN": "4711"})],
        devnum=devnum,
    )


async def test_the_reset_ioctl_reaches_the_modem_s_usb_node(bench: Bench) -> None:
    usb = usb_modem()
    assert usb.usb_node == "/dev/bus/usb/001/004"
    await bench.plug(usb, identity=IDENTITY, **QUICK)
    await bench.testbed.watch_reset(usb.usb_node)
    assert usb_device_node("/dev/ttyUSB12") == usb.usb_node  # the tty's usb_device parent
    await usb_reset("/dev/ttyUSB12")
    assert await bench.testbed.resets(usb.usb_node) == 1


async def test_a_modem_without_a_usb_node_cannot_be_reset(bench: Bench) -> None:
    await bench.plug(usb_modem(devnum=None), identity=IDENTITY, **QUICK)
    assert usb_device_node("/dev/ttyUSB12") is None
    with pytest.raises(DeviceError, match="not on a USB device"):
        await usb_reset("/dev/ttyUSB12")


@pytest.fixture
async def bank(store: Store) -> AsyncIterator[Bank]:
    bank = Bank(store, recovery=LADDER, usb_reset=usb_reset)  # the real ioctl, no emulator's
    await bank.start()
    hotplug = HotPlug(
        Udev(),
        attach=bank.attach_spec,
        detach=bank.detach,
        timeouts=FAST,
        debounce_s=0.05,
        retry_first_s=0.3,
        probe_timeout_s=0.3,
    )
    await hotplug.start()
    yield bank
    await hotplug.close()
    await bank.close()


def steps(caplog: pytest.LogCaptureFixture, imei: str) -> list[str]:
    found = []
    for record in caplog.records:
        message = record.getMessage()
        if imei in message and (
            m := re.search(r"recovery step (\w+)|recovered after \w+", message)
        ):
            found.append(m.group(1) or m.group(0))
    return found


async def test_a_modem_hung_until_a_usb_reset_comes_back_through_hot_plug(
    bench: Bench, bank: Bank, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    imei = emulated_identity(IDENTITY).imei
    usb = usb_modem()
    assert usb.usb_node is not None
    modem = await bench.plug(usb, identity=IDENTITY, **QUICK)
    assert modem is not None
    await bench.testbed.watch_reset(usb.usb_node)
    worker = await until(lambda: bank.workers.get(imei))
    await until(lambda: worker.state is DeviceState.READY)
    modem.inject(FaultKind.HANG_UNTIL_USB_RESET)
    # The ladder climbs to its last step; the ioctl reaches the testbed's node.
    async with asyncio.timeout(60):
        while await bench.testbed.resets(usb.usb_node) == 0:
            await asyncio.sleep(0.05)
    # The kernel's part: the device re-enumerates (ports gone, then back, same IMEI, healthy;
    # a new device number, and here a new port path: umockdev keeps a removed device's bus link).
    await bench.unplug(usb)
    again = usb_modem(devnum=5, port=4)
    await bench.plug(again, identity=IDENTITY, **QUICK)
    await until(lambda: "recovered after usb_reset" in steps(caplog, imei), timeout=60)
    # "recovered" is logged while the bank attaches the new worker: until it is in place the
    # bank still holds the hung one (gone, never ready again).
    back = await until(lambda: (w := bank.workers.get(imei)) is not worker and w, timeout=30)
    await until(lambda: back.state is DeviceState.READY, timeout=30)
    assert steps(caplog, imei) == [
        "esc_at",
        "reopen",
        "radio_reset",
        "module_reset",
        "usb_reset",
        "recovered after usb_reset",
    ]
    assert back.device.info.port == "/dev/ttyUSB16"
    assert await bench.testbed.resets(usb.usb_node) == 1  # one reset was enough
