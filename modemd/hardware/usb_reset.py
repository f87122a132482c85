"""USB reset of a modem: the USBDEVFS_RESET ioctl on the /dev/bus/usb node of the USB device
its tty belongs to (the kernel re-enumerates it: its ttys go away and come back, which
hot-plug follows). Needs write access to that node: the udev rule gives it to group modemd and
the unit allows ``DeviceAllow=char-usb_device rw`` (writing sysfs ``authorized`` would need
root)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os

import pyudev

from modemd.errors import DeviceError

log = logging.getLogger(__name__)

USBDEVFS_RESET = 0x5514  # _IO('U', 20), <linux/usbdevice_fs.h>


def usb_device_node(tty: str) -> str | None:
    """The /dev/bus/usb/BBB/DDD node of the USB device ``tty`` belongs to, None if not USB."""
    try:
        device = pyudev.Devices.from_device_file(pyudev.Context(), tty)
    except (pyudev.DeviceNotFoundError, OSError, ValueError):
        return None
    parent = device.find_parent("usb", "usb_device")
    return parent.device_node if parent is not None else None


def reset_node(node: str) -> None:
    """USBDEVFS_RESET on ``node``; DeviceError saying why it could not be done."""
    try:
        fd = os.open(node, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise DeviceError(f"cannot open {node} for a USB reset: {exc.strerror}") from exc
    try:
        fcntl.ioctl(fd, USBDEVFS_RESET, 0)
    except OSError as exc:
        raise DeviceError(f"USB reset of {node} failed: {exc.strerror}") from exc
    finally:
        os.close(fd)


async def usb_reset(tty: str) -> None:
    """Reset the USB device of ``tty`` (the ladder's last step before giving up)."""
    node = usb_device_node(tty)
    if node is None:
        raise DeviceError(f"{tty} is not on a USB device: no USB reset")
    log.warning("%s: USB reset of %s", tty, node)
    await asyncio.to_thread(reset_node, node)
