"""``modemd doctor``: for every tty and net device, whether modemd can use it, in plain words."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modemd.at import commands as at
from modemd.at.results import sim_problem
from modemd.drivers.registry import SerialModem, build_modem
from modemd.drivers.serial_at import Timeouts
from modemd.errors import DeviceError, ModemCommandError, PortClosedError
from modemd.hardware.discovery import PROBE_TIMEOUT_S, Modem, find_at_port, group
from modemd.hardware.net import ROUTE_TABLE, check_app, diagnose, is_phone_link
from modemd.hardware.udev import Port, Udev
from modemd.model import LabelRule, PhoneConfig

WEAK_SIGNAL_RSSI = 10  # +CSQ below this (about -93 dBm): sends get unreliable


@dataclass(frozen=True, slots=True)
class Finding:
    """What doctor says about one device."""

    device: str  # /dev/ttyUSB2, or a net interface
    ok: bool
    words: str


def holders(devnode: str) -> list[str]:
    """Processes that have ``devnode`` open ("ModemManager (pid 812)"); needs root for others'."""
    target = os.path.realpath(devnode)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                found.append(f"{name} (pid {pid})")
        except OSError:
            continue
    return found


async def examine(
    udev: Udev,
    labels: tuple[LabelRule, ...] = (),
    timeout_s: float = PROBE_TIMEOUT_S,
    *,
    phones: tuple[PhoneConfig, ...] = (),
    route_table: str = ROUTE_TABLE,
    devices: tuple[tuple[str, str], ...] = (),
) -> list[Finding]:
    """Findings for every labelled or USB tty, every tethered phone's net interface, every
    (port, pin) the config lists (``[[devices]]``) and every phone it lists by URL."""
    listed = _real_paths(tty for tty, _ in devices)
    ports = [
        p
        for p in udev.ports("tty")
        if (p.usb or "MODEMD_PIN" in p.properties) and not _real_paths([p.devnode]) & listed
    ]
    modems, unusable = group(ports, labels)
    findings = [Finding(u.port.devnode, False, u.why) for u in unusable]
    for tty, pin in devices:
        findings.append(await _examine_listed(tty, pin, timeout_s))
    for modem in modems:
        findings += await _examine_modem(modem.ports, modem.pin, timeout_s)
    for port in filter(is_phone_link, udev.ports("net")):
        findings.append(Finding(port.devnode, *await diagnose(port, phones, labels, route_table)))
    for phone in (p for p in phones if p.url):  # at a fixed address: no udev involved
        findings.append(Finding(phone.url, *await check_app(phone, phone.url, phone.pin, "config")))
    return sorted(findings, key=lambda f: f.device)


async def _examine_modem(ports: tuple[Port, ...], pin: str, timeout_s: float) -> list[Finding]:
    first = ports[0]
    for port in ports:
        if (problem := _access_problem(port.devnode)) is not None:
            return [Finding(port.devnode, False, problem)]
    mm = _modem_manager_words(first)
    at_port = await find_at_port(Modem(first.parent, pin, "", ports), timeout_s)
    if at_port is None:
        names = ", ".join(p.devnode for p in ports)
        return [Finding(first.devnode, False, f"no answer to AT on {names}{mm}")]
    ok, words = await _examine_at(at_port.devnode, timeout_s)
    return [Finding(at_port.devnode, ok and not mm, f"pin {pin}: {words}{mm}")]


def _real_paths(paths: Iterable[str]) -> set[str]:
    return {os.path.realpath(path) for path in paths}


async def _examine_listed(port: str, pin: str, timeout_s: float) -> Finding:
    """A port named in the config: usable as it is, whatever udev says of it."""
    if (problem := _access_problem(port)) is not None:
        return Finding(port, False, f"pin {pin} (config): {problem}")
    ok, words = await _examine_at(port, timeout_s)
    return Finding(port, ok, f"pin {pin} (config): {words}")


def _access_problem(devnode: str) -> str | None:
    try:
        fd = os.open(devnode, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.EACCES:
            return "permission denied: run modemd in group dialout (the rule sets GROUP=dialout)"
        if exc.errno == errno.EBUSY:
            return "port busy: " + (", ".join(holders(devnode)) or "another process")
        return f"cannot open: {exc.strerror}"
    os.close(fd)
    held = [h for h in holders(devnode) if not h.startswith("modemd")]
    if held:
        return f"port held by {', '.join(held)}" + (
            ': set ENV{ID_MM_DEVICE_IGNORE}="1" in its udev rule'
            if any("ModemManager" in h for h in held)
            else ""
        )
    return None


def _modem_manager_words(port: Port) -> str:
    if port.properties.get("ID_MM_DEVICE_IGNORE") == "1":
        return ""
    return '; ModemManager may grab it: set ENV{ID_MM_DEVICE_IGNORE}="1" in its udev rule'


async def _examine_at(devnode: str, timeout_s: float) -> tuple[bool, str]:
    """ESC + AT, SIM, registration and signal, in plain words."""
    timeouts = Timeouts(command_s=2.0, wake_s=timeout_s)
    driver = build_modem(SerialModem(devnode, "", timeouts=timeouts))
    try:
        driver.open_port()
        if not await driver.probe(attempts=1):
            return False, "no answer to AT"
        await driver.command(at.ERRORS_NUMERIC)
        sim = at.parse_sim_state(await driver.command(at.SIM_STATE))
        if sim is at.SimState.SIM_PIN:
            return False, "SIM PIN needed: add the SIM's ICCID to [sim_pins] in the config"
        if sim is at.SimState.SIM_PUK:
            return False, "SIM blocked: PUK needed (unblock it in a phone)"
        if sim is not at.SimState.READY:
            return False, f"SIM not ready ({sim.value})"
        stat = at.parse_registration(await driver.command(at.REGISTRATION))
        if stat not in at.REGISTERED_STATES:
            return False, at.REGISTRATION_WORDS.get(stat or 4, f"not registered (+CREG {stat})")
        rssi = await driver.check_signal()
        if rssi is None or rssi == 99 or rssi < WEAK_SIGNAL_RSSI:
            return False, f"weak signal (+CSQ {rssi}): move the antenna or the modem"
        return True, f"usable: SIM ready, registered, signal +CSQ {rssi}"
    except ModemCommandError as exc:
        return False, sim_problem(exc.code, exc.result) or f"modem refused: {exc}"
    except PortClosedError as exc:
        return False, f"port closed: {exc}"
    except DeviceError as exc:
        return False, f"modem stopped answering: {exc}"
    finally:
        await driver.close()


GIVEN_UP = ("failed", "sim_locked")  # states where the daemon waits for a person


def recovery_findings(devices: list[dict[str, Any]], usb_reset: bool) -> list[Finding]:
    """What the running daemon gave up on (its database's device rows), in plain words."""
    findings = []
    for row in devices:
        if row["state"] not in GIVEN_UP:
            continue
        why = row.get("last_error") or "no reason recorded"
        if row["state"] == "sim_locked":
            advice = "the SIM wants a PIN the config lacks (add its ICCID to [sim_pins]) or a PUK"
        elif usb_reset:
            advice = "power-cycle or replug it (the daemon retries hourly)"
        else:
            advice = (
                "power-cycle or replug it, or set [recovery] usb_reset = true so the daemon "
                "resets it over USB (the daemon retries hourly)"
            )
        words = f"{row['state']}: recovery gave up (last error: {why}); {advice}"
        findings.append(Finding(f"{row['device_id']} ({row.get('port') or '?'})", False, words))
    return findings
