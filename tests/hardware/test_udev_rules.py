"""The udev rules as udev evaluates them (``udevadm test`` on umockdev devices), not as text:
the template's examples and ``modemd udev-rule``'s output label the devices they name."""

from __future__ import annotations

import re
from pathlib import Path

from modemd.cli.hardware import rule_for
from modemd.hardware.udev import Port

from .testbed import FakeUsbModem, FakeUsbPhone, TtySpec
from .udev_rules import evaluate

TEMPLATE = (Path(__file__).parents[2] / "udev-rules" / "70-modemd.rules").read_text()
RULE_LINE = re.compile(r"^# ((?:SUBSYSTEM|ENV|ATTR)\S*(?:==|!=).*)$")


def every_example() -> str:
    """The template with each commented example rule switched on."""
    return "\n".join(
        m[1] if (m := RULE_LINE.match(line)) else line for line in TEMPLATE.splitlines()
    )


def modem(usb_port: str, serial: str = "SERX", interfaces: int = 4) -> FakeUsbModem:
    ttys = [TtySpec(f"ttyUSB{i}", i) for i in range(interfaces)]
    return FakeUsbModem(usb_port=usb_port, serial=serial, ttys=ttys)


def label(tmp_path: Path, usb: FakeUsbModem, rules: str) -> list[tuple[str, str, str]]:
    """(pin, port role, group) udev gives each tty of ``usb``."""
    found = []
    for tty in usb.ttys:
        props = evaluate(tmp_path, usb.text(), rules, usb.tty_syspath(tty))
        found.append(
            (props.get("MODEMD_PIN", ""), props.get("MODEMD_PORT", ""), props.get("(GROUP)", ""))
        )
    return found


def test_the_rules_file_as_installed_changes_nothing(tmp_path: Path) -> None:
    assert label(tmp_path, modem("3.1", interfaces=1), TEMPLATE) == [("", "", "")]


def test_template_examples_label_a_bank_by_usb_port(tmp_path: Path) -> None:
    dialout = label(tmp_path, modem("3.1"), every_example())[0][2]
    assert dialout  # the gid of group dialout, whatever it is here
    assert label(tmp_path, modem("3.1"), every_example()) == [
        ("4711", "", dialout),
        ("4711", "", dialout),
        ("4711", "at", dialout),
        ("4711", "", dialout),
    ]
    assert label(tmp_path, modem("3.3", interfaces=3), every_example())[2] == ("4712", "", dialout)
    assert label(tmp_path, modem("3.4", interfaces=1), every_example()) == [("", "", "")]


def test_template_examples_label_a_modem_by_serial_and_an_adapter(tmp_path: Path) -> None:
    by_serial = label(tmp_path, modem("9", serial="0123456789AB", interfaces=3), every_example())
    assert [(pin, role) for pin, role, _ in by_serial] == [
        ("4713", ""),
        ("4713", ""),
        ("4713", "at"),
    ]
    adapter = FakeUsbModem(usb_port="4", serial="A5069RR4", ttys=[TtySpec("ttyUSB0", 0)])
    assert [(pin, role) for pin, role, _ in label(tmp_path, adapter, every_example())] == [
        ("4714", "at")
    ]


def test_template_example_labels_a_tethered_phone(tmp_path: Path) -> None:
    phone = FakeUsbPhone(usb_port="7", serial="0A1B2C3D4E5F")
    props = evaluate(tmp_path, phone.text(), every_example(), phone.net_syspath)
    assert props.get("MODEMD_PIN") == "4711"
    other = FakeUsbPhone(usb_port="7", serial="FFFF")
    assert "MODEMD_PIN" not in evaluate(tmp_path, other.text(), every_example(), other.net_syspath)


def generated(usb: FakeUsbModem, tty: int, by: str) -> str:
    spec = usb.ttys[tty]
    props = dict(
        line[3:].split("=", 1)
        for line in usb.text().split(f"N: {spec.name}\n", 1)[1].splitlines()
        if line.startswith("E: ")
    )
    port = Port("tty", f"/dev/{spec.name}", usb.tty_syspath(spec), usb.syspath, True, props)
    return rule_for(port, "4711", by)


def test_generated_rules_match_by_port_and_by_serial(tmp_path: Path) -> None:
    usb = modem("2", serial="SER2", interfaces=3)
    for by in ("port", "serial"):
        rules = generated(usb, 2, by) + "\n"
        assert [(pin, role) for pin, role, _ in label(tmp_path, usb, rules)] == [
            ("4711", ""),
            ("4711", ""),
            ("4711", "at"),
        ], (by, rules)
    elsewhere = modem("5", serial="SER2", interfaces=3)  # the same modem, another USB port
    assert [p for p, _, _ in label(tmp_path, elsewhere, generated(usb, 2, "serial"))] == [
        "4711"
    ] * 3
    assert [p for p, _, _ in label(tmp_path, elsewhere, generated(usb, 2, "port"))] == [""] * 3
