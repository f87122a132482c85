"""udev through pyudev: the tty and net devices the system has, and a monitor of their comings
and goings on the asyncio loop (the monitor's fd with ``add_reader``; no thread)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pyudev

log = logging.getLogger(__name__)

# The udev properties modemd reads; the rest of a device's properties are not kept.
PROPERTIES = (
    "MODEMD_PIN",  # the pin label our rule gives (the pool of the device)
    "MODEMD_PORT",  # "at" on the port that answers AT commands, when the rule knows it
    "ID_SERIAL",
    "ID_SERIAL_SHORT",
    "ID_PATH",  # physical port path: stable per hub port
    "ID_USB_INTERFACE_NUM",
    "ID_VENDOR_ID",
    "ID_MODEL_ID",
    "ID_USB_DRIVER",
    "ID_MM_DEVICE_IGNORE",  # 1: ModemManager leaves the device alone
    "ID_MM_PORT_IGNORE",
    "ID_MM_CANDIDATE",  # set by ModemManager's rules on ports it will probe
    "INTERFACE",  # net: the interface name
)


@dataclass(frozen=True, slots=True)
class Port:
    """A tty (or net interface) as udev describes it."""

    subsystem: str  # "tty" or "net"
    devnode: str  # /dev/ttyUSB2 (net: the interface name)
    syspath: str
    parent: str  # syspath of the USB device it belongs to; its own syspath without one
    usb: bool  # it sits on a USB device (the several ttys of one modem share ``parent``)
    properties: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.devnode.rsplit("/", 1)[-1]

    def interface(self) -> int:
        """The USB interface number (ID_USB_INTERFACE_NUM), 99 when unknown."""
        try:
            return int(self.properties.get("ID_USB_INTERFACE_NUM", "99"), 16)
        except ValueError:
            return 99


@dataclass(frozen=True, slots=True)
class UdevEvent:
    action: str  # add, remove, change, bind, unbind
    syspath: str
    port: Port | None  # None for a device without a node (and for some removes)


def port_of(device: pyudev.Device) -> Port | None:
    """The ``Port`` of a pyudev device, None for one modemd has no use for."""
    subsystem = device.subsystem
    if subsystem == "net":
        node = device.properties.get("INTERFACE") or device.sys_name
    elif subsystem == "tty":
        node = device.device_node
    else:
        return None
    if node is None or "/devices/virtual/" in device.sys_path:
        return None  # consoles, ptys, loopback: nothing plugged in
    usb = device.find_parent("usb", "usb_device")
    properties = {k: device.properties[k] for k in PROPERTIES if k in device.properties}
    return Port(
        subsystem=subsystem,
        devnode=node,
        syspath=device.sys_path,
        parent=usb.sys_path if usb is not None else device.sys_path,
        usb=usb is not None,
        properties=properties,
    )


class Udev:
    """The system's udev (or a umockdev testbed's: pyudev cannot tell)."""

    def __init__(self) -> None:
        self._context = pyudev.Context()
        self._monitor: pyudev.Monitor | None = None

    def ports(self, subsystem: str = "tty") -> list[Port]:
        """Every non-virtual device of ``subsystem`` ("tty" or "net")."""
        found = []
        for device in self._context.list_devices(subsystem=subsystem):
            port = port_of(device)
            if port is not None:
                found.append(port)
        return sorted(found, key=lambda p: p.syspath)

    def watch(
        self, on_event: Callable[[UdevEvent], None], subsystems: tuple[str, ...] = ("tty",)
    ) -> None:
        """Call ``on_event`` on the loop for every event of ``subsystems``, until ``stop``."""
        if self._monitor is not None:
            raise RuntimeError("already watching")
        monitor = pyudev.Monitor.from_netlink(self._context)
        for subsystem in subsystems:
            monitor.filter_by(subsystem)
        monitor.start()
        self._monitor = monitor

        def readable() -> None:
            while (device := monitor.poll(timeout=0)) is not None:
                try:
                    on_event(_event_of(device))
                except Exception:
                    log.exception("udev event %s %s not handled", device.action, device.sys_path)

        asyncio.get_running_loop().add_reader(monitor.fileno(), readable)

    def stop(self) -> None:
        """Stop watching; idempotent."""
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            asyncio.get_running_loop().remove_reader(monitor.fileno())


def _event_of(device: pyudev.Device) -> UdevEvent:
    action = device.action or "change"
    port = None if action == "remove" else port_of(device)
    if action == "remove" and device.device_node is not None:
        # A removed device is gone from sysfs: keep what the event itself carries.
        port = Port("tty", device.device_node, device.sys_path, device.sys_path, False)
    return UdevEvent(action, device.sys_path, port)
