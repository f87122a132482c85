"""``modemd doctor`` and ``modemd udev-rule`` as a person runs them, against a umockdev testbed."""

from __future__ import annotations

import asyncio
import os
import sys

from .testbed import Bench, FakeUsbModem, TtySpec

MODEMD = [sys.executable, "-m", "modemd"]
GOOD = {"MODEMD_PIN": "4711", "ID_MM_DEVICE_IGNORE": "1"}


async def run(*args: str) -> tuple[int, str]:
    """Run modemd in a subprocess (it sees the testbed) while our loop serves the modems;
    its exit status and what it printed on stdout (the log goes to stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *MODEMD,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode() + err.decode().partition("Error: ")[2]


def usb(port: str, *ttys: TtySpec) -> FakeUsbModem:
    return FakeUsbModem(usb_port=port, serial=f"SER{port}", ttys=list(ttys))


async def test_doctor_explains_every_broken_case(bench: Bench) -> None:
    await bench.plug(usb("1", TtySpec("ttyUSB1", 2, "at", GOOD)), identity=1)
    await bench.plug(usb("2", TtySpec("ttyUSB2", 2, "at", {})), identity=2)
    await bench.plug(usb("3", TtySpec("ttyUSB3", 2, "at", GOOD)), identity=3, sim_pin="1234")
    await bench.plug(usb("4", TtySpec("ttyUSB4", 2, "at", GOOD)), identity=4, registration=3)
    await bench.plug(usb("5", TtySpec("ttyUSB5", 2, "at", GOOD)), identity=5, rssi=4)
    await bench.plug(
        usb("6", TtySpec("ttyUSB6", 0, "silent", GOOD), TtySpec("ttyUSB7", 1, "noise", GOOD))
    )
    await bench.plug(usb("8", TtySpec("ttyUSB8", 2, "at", {"MODEMD_PIN": "47 11"})), identity=8)
    await bench.plug(usb("9", TtySpec("ttyUSB9", 2, "at", {"MODEMD_PIN": "4711"})), identity=9)
    code, out = await run("doctor")
    said = dict(line.split(": ", 1) for line in out.splitlines())
    assert said["ok  /dev/ttyUSB1"].startswith("pin 4711: usable: SIM ready, registered")
    assert said["BAD /dev/ttyUSB2"].startswith("no pin label")
    assert said["BAD /dev/ttyUSB3"].startswith("pin 4711: SIM PIN needed")
    assert said["BAD /dev/ttyUSB4"].startswith("pin 4711: registration denied")
    assert said["BAD /dev/ttyUSB5"].startswith("pin 4711: weak signal (+CSQ 4)")
    assert said["BAD /dev/ttyUSB6"] == "no answer to AT on /dev/ttyUSB6, /dev/ttyUSB7"
    assert said["BAD /dev/ttyUSB8"].startswith("malformed pin label MODEMD_PIN='47 11'")
    assert "ModemManager may grab it" in said["BAD /dev/ttyUSB9"]
    assert code == 1


async def test_doctor_is_content_with_a_healthy_bank(bench: Bench) -> None:
    await bench.plug(usb("1", TtySpec("ttyUSB1", 2, "at", GOOD)), identity=1)
    code, out = await run("doctor")
    assert code == 0, out
    assert out.startswith("ok  /dev/ttyUSB1: pin 4711: usable")


async def test_udev_rule_for_an_attached_modem(bench: Bench) -> None:
    modem = usb("3", TtySpec("ttyUSB12", 0, "silent", {}), TtySpec("ttyUSB14", 2, "at", {}))
    await bench.plug(modem, identity=1)
    code, out = await run("udev-rule", "--pin", "4711", "/dev/ttyUSB14")
    assert code == 0, out
    comment, label, at_port = out.splitlines()
    assert comment.startswith("# Quectel_EC25_SER3: pool 4711")
    assert label == (
        'SUBSYSTEM=="tty", ENV{ID_PATH}=="pci-0000:00:14.0-usb-0:3:*", ENV{MODEMD_PIN}="4711", '
        'ENV{ID_MM_DEVICE_IGNORE}="1", GROUP="dialout", MODE="0660", SYMLINK+="modemd/4711/%k"'
    )
    assert at_port == (
        'SUBSYSTEM=="tty", ENV{ID_PATH}=="pci-0000:00:14.0-usb-0:3:1.2", ENV{MODEMD_PORT}="at"'
    )
    code, out = await run("udev-rule", "--pin", "4711", "--by", "serial", "/dev/ttyUSB14")
    assert 'ENV{ID_VENDOR_ID}=="2c7c", ENV{ID_SERIAL_SHORT}=="SER3"' in out
    assert 'ENV{ID_USB_INTERFACE_NUM}=="02", ENV{MODEMD_PORT}="at"' in out
    code, out = await run("udev-rule", "--pin", "bad pin", "/dev/ttyUSB14")
    assert code == 2 and "--pin" in out
