"""The test side of ``testbed_server.py``: fake USB modems in a umockdev testbed, served by
emulated modems on the ptys behind their device nodes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modemd.emulators.modem import EmulatedModem, ModemProfile
from modemd.emulators.profile import emulated_identity

SERVER = Path(__file__).with_name("testbed_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: the one python3-gi is built for
USB_ROOT = "/devices/pci0000:00/0000:00:14.0/usb1"
PCI_PATH = "pci-0000:00:14.0"
PRELOAD = "libumockdev-preload"


def preloaded() -> bool:
    return PRELOAD in os.environ.get("LD_PRELOAD", "")


class Testbed:
    """A umockdev testbed in a helper process; this process sees it while it is entered."""

    def __init__(self, sock_path: Path) -> None:
        self._proc = subprocess.Popen(
            ["umockdev-wrapper", SYSTEM_PYTHON, str(SERVER), str(sock_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "UMOCKDEV_DIR"},
        )
        assert self._proc.stdout is not None
        self.root = self._proc.stdout.readline().strip()
        if not self.root:
            self._proc.wait()
            raise RuntimeError("testbed server did not start")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(str(sock_path))
        self._file = self._sock.makefile("rb")

    def close(self) -> None:
        self._file.close()
        self._sock.close()
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)

    def _call(self, **request: object) -> dict[str, object]:
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        answer: dict[str, object] = json.loads(self._file.readline())
        if not answer.get("ok"):
            raise RuntimeError(f"testbed {request['op']}: {answer}")
        return answer

    # Async: while the server sends uevents our loop must drain them (umockdev's event
    # sockets queue only net.unix.max_dgram_qlen datagrams, 10 by default).

    async def add(self, text: str) -> None:
        """Add devices; umockdev sends an "add" uevent for each."""
        await asyncio.to_thread(self._call, op="add", text=text)

    async def remove(self, syspath: str, *, hangup: bool = True) -> None:
        await asyncio.to_thread(self._call, op="remove", syspath=syspath, hangup=hangup)

    async def watch_reset(self, devnode: str) -> None:
        """USBDEVFS_RESET on ``devnode`` (a /dev/bus/usb node) succeeds and is counted."""
        await asyncio.to_thread(self._call, op="watch_reset", devnode=devnode)

    async def resets(self, devnode: str) -> int:
        """How many USBDEVFS_RESET ioctls ``devnode`` received."""
        answer = await asyncio.to_thread(self._call, op="resets", devnode=devnode)
        return int(answer["resets"])  # type: ignore[call-overload]

    async def uevent(self, syspath: str, action: str) -> None:
        await asyncio.to_thread(self._call, op="uevent", syspath=syspath, action=action)

    async def master_fd(self, devnode: str) -> int:
        return await asyncio.to_thread(self._master_fd, devnode)

    def _master_fd(self, devnode: str) -> int:
        self._sock.sendall(json.dumps({"op": "fd", "devnode": devnode}).encode() + b"\n")
        # The reply is one short line; the fd rides on it.
        data, fds, _flags, _addr = socket.recv_fds(self._sock, 1024, 1)
        if not fds:
            raise RuntimeError(f"testbed has no pty for {devnode}: {data!r}")
        return fds[0]


@dataclass
class TtySpec:
    """One tty interface of a fake USB modem."""

    name: str  # ttyUSB2
    interface: int  # USB interface number
    role: str = "at"  # "at": an emulated modem; "silent": never answers; "noise": binary junk
    properties: dict[str, str] = field(default_factory=dict)  # udev properties (MODEMD_PIN ...)


@dataclass
class FakeUsbModem:
    """A USB modem in the testbed: its usb_device, interfaces and ttys."""

    usb_port: str  # "3" -> USB device 1-3 on bus 1, port path ...-usb-0:3
    serial: str
    ttys: list[TtySpec]
    vendor: str = "2c7c"
    product: str = "0125"
    devnum: int | None = None  # with one, the usb_device has its /dev/bus/usb/001/<devnum> node

    @property
    def syspath(self) -> str:
        return f"/sys{USB_ROOT}/1-{self.usb_port}"

    @property
    def usb_node(self) -> str | None:
        return None if self.devnum is None else f"/dev/bus/usb/001/{self.devnum:03d}"

    @property
    def id_path(self) -> str:
        return f"{PCI_PATH}-usb-0:{self.usb_port}"

    def tty_syspath(self, tty: TtySpec) -> str:
        return f"{self.syspath}/1-{self.usb_port}:1.{tty.interface}/{tty.name}/tty/{tty.name}"

    def _dev_attr(self, tty: TtySpec) -> str:
        """``A: dev=188:<n>`` (ttyUSB's major) when the modem has a USB node: then a stat of
        the tty gives its device number, from which udev finds the device (and its parents)."""
        if self.devnum is None or not tty.name.startswith("ttyUSB"):
            return ""
        minor = int(tty.name[6:])
        return f"E: MAJOR=188\nE: MINOR={minor}\nA: dev=188:{minor}\n"

    def text(self) -> str:
        """The umockdev description of the device and all its ports."""
        id_serial = f"Quectel_EC25_{self.serial}"
        node = ""
        if self.usb_node is not None:  # as the kernel names it: bus 1, the device's number
            node = (
                f"N: {self.usb_node[5:]}\nE: DEVNAME={self.usb_node}\nE: BUSNUM=001\n"
                f"E: DEVNUM={self.devnum:03d}\nA: busnum=1\nA: devnum={self.devnum}\n"
                f"E: MAJOR=189\nE: MINOR={self.devnum - 1}\nA: dev=189:{self.devnum - 1}\n"
            )
        blocks = [
            f"P: {USB_ROOT}/1-{self.usb_port}\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
            f"E: ID_SERIAL={id_serial}\nA: serial={self.serial}\nA: idVendor={self.vendor}\n"
            f"A: idProduct={self.product}\n{node}"
        ]
        for tty in self.ttys:
            iface = f"1-{self.usb_port}:1.{tty.interface}"
            blocks.append(
                f"P: {USB_ROOT}/1-{self.usb_port}/{iface}\nE: SUBSYSTEM=usb\n"
                f"E: DEVTYPE=usb_interface\nA: bInterfaceNumber={tty.interface:02x}\n"
            )
            props = {
                "SUBSYSTEM": "tty",
                "DEVNAME": f"/dev/{tty.name}",
                "ID_SERIAL": id_serial,
                "ID_SERIAL_SHORT": self.serial,
                "ID_VENDOR_ID": self.vendor,
                "ID_MODEL_ID": self.product,
                "ID_PATH": f"{self.id_path}:1.{tty.interface}",
                "ID_USB_INTERFACE_NUM": f"{tty.interface:02x}",
                **tty.properties,
            }
            lines = "".join(f"E: {k}={v}\n" for k, v in props.items())
            blocks.append(
                f"P: {self.tty_syspath(tty)[4:]}\nN: {tty.name}\n{lines}{self._dev_attr(tty)}"
            )
        return "\n".join(blocks)


@dataclass
class FakeUsbPhone:
    """An Android phone in USB tethering: a usb_device, one interface and its net device."""

    usb_port: str  # "7" -> USB device 1-7
    serial: str
    interface: str = "usb0"
    driver: str = "rndis_host"  # rndis_host, cdc_ncm or cdc_ether
    mac: str = "02:00:00:00:00:07"
    properties: dict[str, str] = field(default_factory=dict)  # MODEMD_PIN ...

    @property
    def syspath(self) -> str:
        return f"/sys{USB_ROOT}/1-{self.usb_port}"

    @property
    def net_syspath(self) -> str:
        return f"{self.syspath}/1-{self.usb_port}:1.0/net/{self.interface}"

    def text(self) -> str:
        """The umockdev description of the phone's USB device and its net interface."""
        iface = f"1-{self.usb_port}:1.0"
        props = {
            "SUBSYSTEM": "net",
            "INTERFACE": self.interface,
            "ID_USB_DRIVER": self.driver,
            "ID_SERIAL": f"Google_Pixel_{self.serial}",
            "ID_SERIAL_SHORT": self.serial,
            "ID_VENDOR_ID": "18d1",
            "ID_MODEL_ID": "4ee4",
            "ID_PATH": f"{PCI_PATH}-usb-0:{self.usb_port}:1.0",
            **self.properties,
        }
        lines = "".join(f"E: {k}={v}\n" for k, v in props.items())
        return (
            f"P: {USB_ROOT}/1-{self.usb_port}\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
            f"A: serial={self.serial}\nA: idVendor=18d1\nA: idProduct=4ee4\n\n"
            f"P: {USB_ROOT}/1-{self.usb_port}/{iface}\nE: SUBSYSTEM=usb\n"
            f"E: DEVTYPE=usb_interface\nE: DRIVER={self.driver}\nA: bInterfaceNumber=00\n\n"
            f"P: {self.net_syspath[4:]}\n{lines}A: address={self.mac}\n"
        )


class Noise:
    """A port that answers anything with binary junk (a GPS or diagnostics port)."""

    def __init__(self, master: int) -> None:
        self.master = master
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            os.read(self.master, 4096)
            os.write(self.master, random.randbytes(64) + b"\r\n")
        except OSError:
            self.close()

    def close(self) -> None:
        if self.master >= 0:
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = -1


class Bench:
    """Plug and unplug fake modems; each AT port is answered by an emulated modem."""

    def __init__(self, testbed: Testbed) -> None:
        self.testbed = testbed
        self.modems: dict[str, EmulatedModem] = {}  # by devnode
        self.noise: dict[str, Noise] = {}
        self.held: dict[str, int] = {}  # silent ports: master fds kept, never read

    async def plug(
        self, usb: FakeUsbModem, identity: int = 0, **profile: object
    ) -> EmulatedModem | None:
        """Add ``usb`` to the testbed and serve its ports; the emulated modem of its AT port."""
        await self.testbed.add(usb.text())
        emulated = None
        for tty in usb.ttys:
            devnode = f"/dev/{tty.name}"
            fd = await self.testbed.master_fd(devnode)
            if tty.role == "at":
                ident = emulated_identity(identity)
                modem = EmulatedModem(
                    ModemProfile(imei=ident.imei, imsi=ident.imsi, iccid=ident.iccid, **profile),  # type: ignore[arg-type]
                    name=tty.name,
                )
                await modem.start_on(fd, devnode)
                self.modems[devnode] = emulated = modem
            elif tty.role == "noise":
                self.noise[devnode] = Noise(fd)
            else:
                self.held[devnode] = fd
        return emulated

    async def unplug(self, usb: FakeUsbModem, *, hangup_first: bool = True) -> None:
        """Hang up its ports and remove it ("remove" uevents), in the kernel's order; or
        the other way round, to see what udev alone does."""
        if hangup_first:
            for tty in usb.ttys:
                self._drop(f"/dev/{tty.name}")
        await self.testbed.remove(usb.syspath, hangup=hangup_first)
        if not hangup_first:
            for tty in usb.ttys:
                self._drop(f"/dev/{tty.name}")

    def _drop(self, devnode: str) -> None:
        if (modem := self.modems.pop(devnode, None)) is not None:
            modem.unplug()
        if (noise := self.noise.pop(devnode, None)) is not None:
            noise.close()
        if (fd := self.held.pop(devnode, None)) is not None:
            os.close(fd)

    async def close(self) -> None:
        for modem in self.modems.values():
            await modem.close()
        for noise in self.noise.values():
            noise.close()
        for fd in self.held.values():
            os.close(fd)


async def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something true, and return that (tests watch from
    outside, where polling is the only way)."""
    async with asyncio.timeout(timeout):
        while not (result := check()):
            await asyncio.sleep(0.01)
        return result


@contextmanager
def entered(testbed: Testbed) -> Iterator[None]:
    """This process (and the children it starts) see ``testbed`` instead of the real /sys."""
    os.environ["UMOCKDEV_DIR"] = testbed.root
    try:
        yield
    finally:
        del os.environ["UMOCKDEV_DIR"]
