"""Discovery against a umockdev testbed: what pyudev reads is real udev data."""

from __future__ import annotations

from modemd.config import LabelRule
from modemd.hardware.discovery import answers_at, find_at_port, group
from modemd.hardware.udev import Udev

from .testbed import Bench, FakeUsbModem, TtySpec


def three_port_modem(
    pin: str | None = "4711", *, hint: bool = False, port: str = "3"
) -> FakeUsbModem:
    label = {"MODEMD_PIN": pin} if pin is not None else {}
    at = {**label, **({"MODEMD_PORT": "at"} if hint else {})}
    return FakeUsbModem(
        usb_port=port,
        serial=f"SER{port}",
        ttys=[
            TtySpec(f"ttyUSB{int(port) * 4}", 0, "silent", dict(label)),
            TtySpec(f"ttyUSB{int(port) * 4 + 1}", 1, "noise", dict(label)),
            TtySpec(f"ttyUSB{int(port) * 4 + 2}", 2, "at", at),
        ],
    )


async def test_enumerates_labelled_ttys_grouped_by_usb_device(bench: Bench) -> None:
    usb = three_port_modem()
    await bench.plug(usb)
    ports = Udev().ports()
    assert [p.devnode for p in ports] == ["/dev/ttyUSB12", "/dev/ttyUSB13", "/dev/ttyUSB14"]
    assert {p.parent for p in ports} == {usb.syspath}
    assert all(p.usb and p.properties["MODEMD_PIN"] == "4711" for p in ports)
    modems, unusable = group(ports, ())
    assert unusable == []
    [modem] = modems
    assert modem.pin == "4711" and modem.label_source == "udev"
    assert [p.interface() for p in modem.ports] == [0, 1, 2]


async def test_at_port_found_by_probing_each_interface(bench: Bench) -> None:
    usb = three_port_modem()
    await bench.plug(usb)
    [modem], _ = group(Udev().ports(), ())
    port = await find_at_port(modem, timeout_s=0.3)
    assert port is not None and port.devnode == "/dev/ttyUSB14"
    assert not await answers_at("/dev/ttyUSB13", 0.3)  # binary noise is no answer


async def test_hinted_at_port_is_taken_first(bench: Bench) -> None:
    await bench.plug(three_port_modem(hint=True))
    [modem], _ = group(Udev().ports(), ())
    assert modem.hinted is not None and modem.ports[0] is modem.hinted


async def test_unlabelled_device_is_ignored_with_a_reason(bench: Bench) -> None:
    await bench.plug(three_port_modem(pin=None))
    modems, unusable = group(Udev().ports(), ())
    assert modems == []
    assert {u.why for u in unusable} == {
        "no pin label: no udev rule sets MODEMD_PIN and no udev.labels entry matches"
    }


async def test_malformed_label_is_refused(bench: Bench) -> None:
    await bench.plug(three_port_modem(pin="47 11; rm"))
    modems, unusable = group(Udev().ports(), ())
    assert modems == [] and "malformed pin label" in unusable[0].why


async def test_config_fallback_by_id_path_and_id_serial(bench: Bench) -> None:
    first, second = three_port_modem(pin=None, port="3"), three_port_modem(pin=None, port="4")
    await bench.plug(first)
    await bench.plug(second)
    rules = (
        LabelRule("ID_PATH", first.id_path, "100"),
        LabelRule("ID_SERIAL", "Quectel_EC25_SER4", "200"),
    )
    modems, _ = group(Udev().ports(), rules)
    assert {(m.parent, m.pin, m.label_source) for m in modems} == {
        (first.syspath, "100", "config"),
        (second.syspath, "200", "config"),
    }
