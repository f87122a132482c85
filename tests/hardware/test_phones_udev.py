"""Tethered phones found through udev (umockdev testbed): a labelled net interface, the phone's
address from a route table, the app's port and password from config; and ``doctor`` on them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from modemd import config
from modemd.config import PhoneConfig
from modemd.drivers.phone_protocol import PhoneTimings
from modemd.emulators.phone import EmulatedPhone, EmulatedPhoneBank
from modemd.errors import ConfigError
from modemd.hardware.doctor import examine
from modemd.hardware.net import PhoneHotPlug
from modemd.hardware.udev import Udev
from modemd.model import DeviceState, JobState
from modemd.runtime.bank import Bank
from modemd.store import jobs, keys
from modemd.store.db import Store

from .test_doctor import run
from .testbed import FakeUsbPhone, until

if TYPE_CHECKING:
    from .testbed import Testbed

FAST = PhoneTimings(http_s=1.0, processed_s=2.0, send_poll_s=0.01, poll_s=0.02, liveness_s=0.2)
LABEL = {"MODEMD_PIN": "4711"}
HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
log = logging.getLogger(__name__)


def routes(path: Path, *links: str, gateway: bool = True) -> str:
    """Write a /proc/net/route where each of ``links`` has a subnet route and (with
    ``gateway``) a default route via 127.0.0.1, where the emulated phones listen."""
    lines = [HEADER]
    for link in links:
        lines.append(f"{link}\t0000007F\t00000000\t0001\t0\t0\t100\t000000FF\t0\t0\t0\n")
        if gateway:
            lines.append(f"{link}\t00000000\t0100007F\t0003\t0\t0\t100\t00000000\t0\t0\t0\n")
    path.write_text("".join(lines))
    return str(path)


@pytest.fixture
async def phones() -> AsyncIterator[list[EmulatedPhone]]:
    """Four emulated SMSGate phones on 127.0.0.1 (the shipped bank), closed at the end."""
    async with EmulatedPhoneBank.create(4, seed=10) as bank:
        yield bank.phones


class Rig:
    """A bank following udev's phone links, as ``modemd serve --udev`` runs it."""

    def __init__(self, store: Store, route_table: str, phones: tuple[PhoneConfig, ...]) -> None:
        self.store = store
        self.bank = Bank(store)
        self.plug = PhoneHotPlug(
            Udev(),
            attach=self.bank.attach_spec,
            detach=self.bank.detach,
            phones=phones,
            route_table=route_table,
            debounce_s=0.05,
            retry_first_s=0.05,
            timings=FAST,
        )

    async def __aenter__(self) -> Rig:
        await self.bank.start()
        await self.plug.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.plug.close()
        await self.bank.close()
        for what, device, seconds in self.plug.measured:
            log.warning("timing %s %s %.1f ms", what, device, seconds * 1000)

    def ready(self, phone: EmulatedPhone) -> bool:
        worker = self.bank.workers.get(phone.profile.device_id)
        return worker is not None and worker.state is DeviceState.READY

    def link_reason(self) -> str:
        return next((link.life.reason for link in self.plug.links.values()), "")

    async def send(self, pin: str) -> JobState:
        """Submit one job to pool ``pin`` and wait for it to be delivered."""
        key, _ = await self.store.write(
            keys.create_key, pin=pin, allow_ips=[], over_ip=True, ipn_url=None
        )
        job = await self.store.write(
            jobs.insert_job,
            key_id=key.key_id,
            pin=pin,
            to="+31612340000",
            message="hi",
            parts=1,
            encoding="gsm7",
        )
        self.bank.submit(job)
        async with asyncio.timeout(10):
            while (found := await self.store.read(jobs.get_job, job.job_id)).state in (
                JobState.QUEUED,
                JobState.SENDING,
                JobState.SENT,
            ):
                await asyncio.sleep(0.02)
        assert found.device_id is not None
        return found.state


async def test_labelled_phone_joins_its_pool_and_leaves_at_once(
    store: Store, testbed: Testbed, phones: list[EmulatedPhone], tmp_path: Path
) -> None:
    phone = phones[0]
    table = routes(tmp_path / "route", "usb0")
    cfg = PhoneConfig("", "", phone.profile.password, serial="PHONE7", app_port=phone.port)
    usb = FakeUsbPhone("7", "PHONE7", properties=LABEL)
    async with Rig(store, table, (cfg,)) as rig:
        await testbed.add(usb.text())
        await until(lambda: rig.ready(phone))
        worker = rig.bank.workers[phone.profile.device_id]
        assert worker.device.info.port == f"http://127.0.0.1:{phone.port}"  # the gateway's
        assert [o.kind for o in rig.bank.offers("4711")] == ["phone"]
        assert await rig.send("4711") is JobState.DELIVERED
        assert phone.settings["messages"]["processing_order"] == "FIFO"
        await testbed.remove(usb.syspath)
        await until(lambda: not rig.bank.offers("4711"))
        assert [m[0] for m in rig.plug.measured] == ["add->ready", "remove->gone"]


async def test_phone_joins_once_dhcp_gave_its_link_a_gateway(
    store: Store, testbed: Testbed, phones: list[EmulatedPhone], tmp_path: Path
) -> None:
    phone = phones[0]
    table = routes(tmp_path / "route")  # the interface has no address yet
    cfg = PhoneConfig("", "", phone.profile.password, interface="usb0", app_port=phone.port)
    async with Rig(store, table, (cfg,)) as rig:
        await testbed.add(FakeUsbPhone("7", "PHONE7", properties=LABEL).text())
        assert "no IPv4 address on usb0: enable DHCP" in await until(rig.link_reason)
        routes(Path(table), "usb0", gateway=False)
        await until(lambda: "has an address but no gateway" in rig.link_reason())
        routes(Path(table), "usb0")
        await until(lambda: rig.ready(phone))


@pytest.mark.parametrize(
    ("key", "value"),
    [("interface", "enx020000000007"), ("mac", "02:00:00:00:00:07"), ("serial", "PHONE7")],
)
async def test_phone_plugged_before_start_is_matched_by_config(
    store: Store,
    testbed: Testbed,
    phones: list[EmulatedPhone],
    tmp_path: Path,
    key: str,
    value: str,
) -> None:
    phone = phones[0]
    usb = FakeUsbPhone("7", "PHONE7", interface="enx020000000007", driver="cdc_ncm")
    await testbed.add(usb.text())  # no MODEMD_PIN: the pin comes from the config entry
    written = value.upper() if key == "mac" else value  # MACs match in any case
    cfg = PhoneConfig("", "4712", phone.profile.password, app_port=phone.port, **{key: written})
    async with Rig(store, routes(tmp_path / "route", usb.interface), (cfg,)) as rig:
        await until(lambda: rig.ready(phone))
        assert [o.device_id for o in rig.bank.offers("4712")] == [phone.profile.device_id]


async def test_phone_without_credentials_or_not_a_phone_is_left_alone(
    store: Store, testbed: Testbed, phones: list[EmulatedPhone], tmp_path: Path
) -> None:
    async with Rig(store, routes(tmp_path / "route", "usb0", "eth1"), ()) as rig:
        await testbed.add(FakeUsbPhone("7", "PHONE7", properties=LABEL).text())
        await testbed.add(FakeUsbPhone("8", "ADAPTER", interface="eth1", driver="r8152").text())
        reason = await until(rig.link_reason)
        assert reason.startswith("pin 4711: no [[phones]] entry with its password matches (in")
        assert 'serial = "PHONE7"' in reason
        assert list(rig.plug.links) == [FakeUsbPhone("7", "PHONE7").net_syspath]
        assert not rig.bank.workers


async def test_doctor_explains_each_phone_problem(
    testbed: Testbed, phones: list[EmulatedPhone], tmp_path: Path
) -> None:
    good, offline, html, gone = phones
    offline.online = False
    html.html = True
    await gone.go_away()  # nothing listens on its port any more
    configs = [
        PhoneConfig("", "", good.profile.password, interface="usb1", app_port=good.port),
        PhoneConfig("", "", gone.profile.password, interface="usb2", app_port=gone.port),
        PhoneConfig("", "", "wrong", interface="usb3", app_port=good.port),
        PhoneConfig("", "", html.profile.password, interface="usb4", app_port=html.port),
        PhoneConfig("", "", offline.profile.password, interface="usb5", app_port=offline.port),
        PhoneConfig("", "", good.profile.password, interface="usb6", app_port=good.port),
    ]
    for n in range(8):
        label = {} if n == 0 else LABEL
        await testbed.add(FakeUsbPhone(str(n + 1), f"P{n}", f"usb{n}", properties=label).text())
    table = routes(tmp_path / "route", "usb0", "usb2", "usb3", "usb4", "usb5", "usb6", "usb7")
    findings = await examine(Udev(), phones=tuple(configs), route_table=table)
    said = {f.device: (f.ok, f.words) for f in findings}
    url = "pin 4711: http://127.0.0.1:"
    assert said["usb0"] == (False, said["usb0"][1])
    assert said["usb0"][1].startswith("no pin label")
    assert said["usb1"][1].startswith("pin 4711: no IPv4 address on usb1: enable DHCP")
    assert said["usb2"][1].startswith(f"{url}{gone.port} (usb2's gateway) does not answer")
    assert (
        said["usb3"][1]
        == f"{url}{good.port}: wrong username or password (401): copy them from the app"
    )
    assert "answers text/html, not SMSGate's JSON API" in said["usb4"][1]
    assert said["usb5"] == (
        True,
        f"{url}{offline.port}: usable: sending works (GET / ok); /health answers 500: "
        "the app reports no Internet (its webhooks may never come; modemd polls)",
    )
    assert said["usb6"] == (True, f"{url}{good.port}: usable: SMSGate answers (Emulated Pixel)")
    assert said["usb7"][1].startswith("pin 4711: no [[phones]] entry")
    assert [d for d, (ok, _) in said.items() if not ok] == [f"usb{n}" for n in (0, 1, 2, 3, 4, 7)]


async def test_doctor_exits_1_for_a_phone_link_without_address(
    testbed: Testbed, tmp_path: Path
) -> None:
    config = tmp_path / "modemd.toml"
    config.write_text('[[phones]]\ninterface = "enxmodemdtest0"\npassword = "x"\n')
    await testbed.add(FakeUsbPhone("7", "PHONE7", "enxmodemdtest0", properties=LABEL).text())
    code, out = await run("doctor", "--config", str(config))
    assert out.startswith("BAD enxmodemdtest0: pin 4711: no IPv4 address on enxmodemdtest0")
    assert code == 1


def test_tethered_phone_entries_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "modemd.toml"
    path.write_text(
        '[[phones]]\nserial = "0A1B"\npassword = "x"\nport = 8081\n'
        '[[phones]]\nmac = "02:00:00:00:00:07"\npin = 4711\npassword = "y"\n'
    )
    assert config.load(str(path)).phones == (
        PhoneConfig("", "", "x", serial="0A1B", app_port=8081),
        PhoneConfig("", "4711", "y", mac="02:00:00:00:00:07"),
    )
    path.write_text('[[phones]]\ninterface = "usb0"\npassword = "x"\nport = 0\n')
    with pytest.raises(ConfigError, match=r"phones\[0\].port must be a TCP port"):
        config.load(str(path))
    path.write_text('[[phones]]\nserial = 7\npassword = "x"\n')
    with pytest.raises(ConfigError, match=r"phones\[0\].serial must be a string"):
        config.load(str(path))
