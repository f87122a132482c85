"""Which ttys make a modem, which pool it belongs to, and which of its ports speaks AT.

Pure logic over ``udev.Port`` values (no pyudev, no I/O) except ``find_at_port``, which asks
each candidate port with the serial driver."""

from __future__ import annotations

import asyncio
import errno
import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from modemd.drivers.registry import SerialModem, build_modem
from modemd.drivers.serial_at import Timeouts
from modemd.errors import PortClosedError
from modemd.hardware.udev import Port
from modemd.model import LabelRule

log = logging.getLogger(__name__)

PIN_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")  # what a pool's pin may look like
PROBE_TIMEOUT_S = 0.5  # one "AT" on a candidate port: a live AT port answers in milliseconds
OPEN_RETRY_DELAYS_S = (0.1, 0.2, 0.4, 0.8)  # EACCES/ENOENT right after "add": rules still running


@dataclass(frozen=True, slots=True)
class Modem:
    """One physical modem: the ttys of one USB device, and its pool."""

    parent: str  # syspath of its USB device
    pin: str
    label_source: str  # "udev" (MODEMD_PIN) or "config" (udev.labels)
    ports: tuple[Port, ...]  # AT port candidates, best first

    @property
    def name(self) -> str:
        first = self.ports[0]
        return first.properties.get("ID_SERIAL") or self.parent.rsplit("/", 1)[-1]

    @property
    def hinted(self) -> Port | None:
        """The port a udev rule marked ``MODEMD_PORT=at``."""
        return next((p for p in self.ports if p.properties.get("MODEMD_PORT") == "at"), None)


@dataclass(frozen=True, slots=True)
class Unusable:
    """A device that is not a usable modem, and why, in plain words."""

    port: Port
    why: str


def label_of(port: Port, rules: tuple[LabelRule, ...]) -> tuple[str | None, str]:
    """(pin, where it came from) or (None, what is wrong with the label)."""
    raw = port.properties.get("MODEMD_PIN")
    if raw is not None:
        if PIN_LABEL.fullmatch(raw):
            return raw, "udev"
        return None, (
            f"malformed pin label MODEMD_PIN={raw!r}: use 1-32 letters, digits, '.', '_' or '-'"
        )
    for rule in rules:
        if rule.matches(port.properties):
            return rule.pin, "config"
    return None, "no pin label: no udev rule sets MODEMD_PIN and no udev.labels entry matches"


def group(ports: list[Port], rules: tuple[LabelRule, ...]) -> tuple[list[Modem], list[Unusable]]:
    """Group ttys by USB device into modems; the ports that are not, with the reason."""
    by_parent: dict[str, list[Port]] = defaultdict(list)
    for port in ports:
        by_parent[port.parent].append(port)
    modems, unusable = [], []
    for parent, members in sorted(by_parent.items()):
        labels = {port: label_of(port, rules) for port in members}
        pins = {pin for pin, _ in labels.values() if pin is not None}
        if len(pins) > 1:
            why = f"ports of one modem carry different pins ({', '.join(sorted(pins))})"
            unusable += [Unusable(p, why) for p in members]
            continue
        if not pins:
            unusable += [Unusable(p, why) for p, (_, why) in labels.items()]
            continue
        pin = pins.pop()
        source = next(src for p, (found, src) in labels.items() if found == pin)
        skipped = [p for p in members if p.properties.get("MODEMD_PORT", "at") != "at"]
        unusable += [
            Unusable(p, f"MODEMD_PORT={p.properties['MODEMD_PORT']}: not an AT port")
            for p in skipped
        ]
        candidates = [p for p in members if p not in skipped]
        if not candidates:
            continue
        candidates.sort(key=lambda p: (p.properties.get("MODEMD_PORT") != "at", p.interface()))
        modems.append(Modem(parent, pin, source, tuple(candidates)))
    return modems, unusable


async def find_at_port(modem: Modem, timeout_s: float = PROBE_TIMEOUT_S) -> Port | None:
    """The port of ``modem`` that answers AT: the hinted one, else the first that answers."""
    if modem.hinted is not None:
        return modem.hinted
    for port in modem.ports:
        if await answers_at(port.devnode, timeout_s):
            log.info("%s: AT port is %s", modem.name, port.devnode)
            return port
    return None


async def answers_at(devnode: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Does ``devnode`` answer ESC + AT? Opening is retried briefly on EACCES/ENOENT."""
    driver = build_modem(SerialModem(devnode, "", timeouts=Timeouts(wake_s=timeout_s)))
    for delay in (*OPEN_RETRY_DELAYS_S, None):
        try:
            driver.open_port()
            break
        except PortClosedError as exc:
            cause = exc.__cause__
            transient = isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.ENOENT)
            if delay is None or not transient:
                log.info("%s: cannot open: %s", devnode, exc)
                return False
            await asyncio.sleep(delay)
    try:
        return await driver.probe(attempts=1)
    finally:
        await driver.close()
