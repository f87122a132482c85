"""The AT driver against the emulator over a real pty, including the emulator's real-modem
inconveniences (missing OK, URC noise, no CNMI, SMSC wipe, hangs, unplugs, +CMS errors)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from modemd.at import commands as at
from modemd.at.transaction import Command
from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.errors import DeviceError, ModemCommandError, SendError
from modemd.model import DeliveryReport
from modemd.sms import build_deliver

FAST = Timeouts(command_s=1.0, prompt_s=1.0, cmgs_s=1.0, registration_s=1.0)


class Harness:
    def __init__(self, modem: EmulatedModem) -> None:
        self.modem = modem
        self.reports: list[tuple[str, DeliveryReport]] = []
        self.report_arrived = asyncio.Event()
        self.gone: list[str] = []
        self.driver: SerialAtDriver | None = None

    def build(self, **kwargs: Any) -> SerialAtDriver:
        def on_report(device_id: str, report: DeliveryReport) -> None:
            self.reports.append((device_id, report))
            self.report_arrived.set()

        self.driver = SerialAtDriver(
            self.modem.port,
            "4711",
            on_report=on_report,
            on_gone=self.gone.append,
            timeouts=FAST,
            **kwargs,
        )
        return self.driver


@pytest.fixture
async def emulate() -> AsyncIterator[Callable[..., Any]]:
    banks: list[EmulatedBank] = []
    harnesses: list[Harness] = []

    async def make(**overrides: Any) -> Harness:
        bank = EmulatedBank.create(
            1,
            seed=7,
            profile_overrides={"send_latency_s": (0.0, 0.01), "report_delay_s": 0.01, **overrides},
        )
        await bank.start()
        banks.append(bank)
        harness = Harness(bank.modems[0])
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        if harness.driver is not None:
            await harness.driver.close()
    for bank in banks:
        await bank.close()


async def test_open_identifies_the_modem(emulate: Callable[..., Any]) -> None:
    h = await emulate()
    info = await h.build().open()
    assert info.device_id == h.modem.profile.imei
    assert info.imsi == h.modem.profile.imsi and info.iccid == h.modem.profile.iccid
    assert info.manufacturer == "modemd" and info.reports is True
    assert h.driver is not None and h.driver.signal == h.modem.profile.rssi


async def test_send_single_part_and_correlatable_report(emulate: Callable[..., Any]) -> None:
    h = await emulate()
    driver = h.build()
    await driver.open()
    parts = await driver.send_sms("+31612345678", "hello")
    assert [(p.part, p.mr) for p in parts] == [(1, 0)]
    assert [(m.to, m.text, m.mr) for m in h.modem.accepted] == [("+31612345678", "hello", 0)]
    await asyncio.wait_for(h.report_arrived.wait(), 5)
    device_id, report = h.reports[0]
    assert device_id == h.modem.profile.imei
    assert (report.reference, report.recipient, report.network_status) == (0, "+31612345678", 0)


async def test_multipart_gets_one_mr_per_part(emulate: Callable[..., Any]) -> None:
    h = await emulate()
    driver = h.build()
    await driver.open()
    text = "".join(chr(ord("a") + i % 26) for i in range(400))  # 3 GSM-7 parts
    parts = await driver.send_sms("+31612345678", text)
    assert [(p.part, p.mr) for p in parts] == [(1, 0), (2, 1), (3, 2)]
    assert "".join(m.text for m in h.modem.accepted) == text
    assert {m.total for m in h.modem.accepted} == {3}


async def test_emoji_ucs2_round_trip(emulate: Callable[..., Any]) -> None:
    h = await emulate()
    driver = h.build()
    await driver.open()
    await driver.send_sms("+31612345678", "ciao 👋 " * 12)
    assert "".join(m.text for m in h.modem.accepted) == "ciao 👋 " * 12


async def test_direct_cds_when_the_modem_cannot_store_reports(
    emulate: Callable[..., Any],
) -> None:
    h = await emulate(cds_stored=False)  # CNMI ds=2 refused: reports come as +CDS
    driver = h.build()
    assert (await driver.open()).reports is True
    parts = await driver.send_sms("+31612345678", "direct")
    await asyncio.wait_for(h.report_arrived.wait(), 5)
    assert h.reports[0][1].reference == parts[0].mr


async def test_survives_missing_ok_and_urc_noise(emulate: Callable[..., Any]) -> None:
    h = await emulate(cpin_without_ok=True, urc_noise=True)
    driver = h.build()
    await driver.open()
    parts = await driver.send_sms("+31612345678", "noisy")
    assert parts[0].mr == 0 and h.modem.accepted[0].text == "noisy"
    await asyncio.wait_for(h.report_arrived.wait(), 5)


async def test_modem_without_cnmi_sends_without_reports(emulate: Callable[..., Any]) -> None:
    h = await emulate(supports_cnmi=False)
    driver = h.build()
    info = await driver.open()
    assert info.reports is False
    await driver.send_sms("+31612345678", "no report")
    assert len(h.modem.accepted) == 1
    await asyncio.sleep(0.1)
    assert h.reports == []


async def test_sim_pin_unlocks_once(emulate: Callable[..., Any]) -> None:
    h = await emulate(sim_pin="1234")
    info = await h.build(sim_pin="1234").open()
    assert info.device_id == h.modem.profile.imei


async def test_wrong_sim_pin_is_not_retried(emulate: Callable[..., Any]) -> None:
    h = await emulate(sim_pin="1234")
    with pytest.raises(ModemCommandError) as caught:
        await h.build(sim_pin="0000").open()
    assert "SIM PIN" in str(caught.value) or caught.value.code == 16


@pytest.mark.parametrize(("code", "transient"), [(42, True), (1, False)])
async def test_cms_error_is_a_known_outcome(
    emulate: Callable[..., Any], code: int, transient: bool
) -> None:
    h = await emulate(cms_error=code, cms_error_rate=1.0)
    driver = h.build()
    await driver.open()
    with pytest.raises(SendError) as caught:
        await driver.send_sms("+31612345678", "rejected")
    assert caught.value.outcome_known is True
    assert caught.value.transient is transient and caught.value.code == code
    assert h.modem.accepted == []


async def test_hang_before_submit_is_safe_to_retry(emulate: Callable[..., Any]) -> None:
    h = await emulate()
    driver = h.build()
    await driver.open()
    h.modem.hang()
    with pytest.raises(SendError) as caught:
        await driver.send_sms("+31612345678", "lost?")
    assert caught.value.outcome_known is True and caught.value.transient is True
    assert await driver.probe() is False
    h.modem.resume()
    assert await driver.probe() is True  # ESC + AT brings it back
    await driver.send_sms("+31612345678", "after")
    assert [m.text for m in h.modem.accepted] == ["after"]


async def test_hang_after_ctrl_z_is_unknown(emulate: Callable[..., Any]) -> None:
    h = await emulate(send_latency_s=(5.0, 5.0))
    driver = h.build()
    await driver.open()
    sending = asyncio.create_task(driver.send_sms("+31612345678", "slow"), name="send")
    await asyncio.sleep(0.3)
    h.modem.hang()
    with pytest.raises(SendError) as caught:
        await sending
    assert caught.value.outcome_known is False  # never resend automatically


async def test_on_submit_runs_once_per_part_before_its_pdu_reaches_the_modem(
    emulate: Callable[..., Any],
) -> None:
    h = await emulate()
    driver = h.build()
    await driver.open()
    seen: list[int] = []  # messages the modem had accepted when on_submit ran

    def on_submit() -> bool:
        seen.append(len(h.modem.accepted))
        return True

    driver.on_submit = on_submit
    await driver.send_sms("+31612345678", "x" * 200)  # two parts
    assert seen == [0, 1] and len(h.modem.accepted) == 2
    h.modem.hang()  # no prompt: nothing submitted, on_submit not called
    with pytest.raises(SendError):
        await driver.send_sms("+31612345678", "lost?")
    assert seen == [0, 1]


async def test_a_refused_submission_aborts_with_esc_and_sends_nothing(
    emulate: Callable[..., Any],
) -> None:
    h = await emulate()
    driver = h.build()
    await driver.open()
    driver.on_submit = lambda: False  # the submit log can record nothing: must not go out
    with pytest.raises(SendError) as caught:
        await driver.send_sms("+31612345678", "not now")
    assert caught.value.outcome_known is True and caught.value.transient is True
    driver.on_submit = lambda: True
    await driver.send_sms("+31612345678", "now")
    assert [m.text for m in h.modem.accepted] == ["now"]


async def test_unplug_mid_send_is_unknown_and_reported_gone(emulate: Callable[..., Any]) -> None:
    h = await emulate(send_latency_s=(5.0, 5.0))
    driver = h.build()
    await driver.open()
    sending = asyncio.create_task(driver.send_sms("+31612345678", "unplugged"), name="send")
    await asyncio.sleep(0.3)
    h.modem.unplug()
    with pytest.raises(SendError) as caught:
        await sending
    assert caught.value.outcome_known is False
    assert h.gone == [h.modem.profile.imei]
    assert driver.closed
    with pytest.raises(DeviceError):
        await driver.send_sms("+31612345678", "again")


async def test_smsc_wiped_is_restored(emulate: Callable[..., Any]) -> None:
    h = await emulate(wipes_smsc_on_csmp=True)
    driver = h.build()
    await driver.open()
    await driver.command(Command("AT+CSMP=17,167,0,0"))  # wipes it on this firmware
    await driver.send_sms("+31612345678", "smsc back")
    assert [m.text for m in h.modem.accepted] == ["smsc back"]


async def test_garbage_from_the_modem_does_not_break_the_driver(
    emulate: Callable[..., Any],
) -> None:
    h = await emulate()
    driver = h.build()
    await driver.open()
    for event in driver._at._parser.feed(b'\r\n\xff\xfe+CDS: 3\r\nZZ\r\n+CDS: 6,1,"x\r\n'):
        driver._at._dispatch(event)  # what a noisy line would deliver
    assert h.reports == []
    await driver.send_sms("+31612345678", "still fine")
    assert h.modem.accepted[-1].text == "still fine"


async def test_stored_reports_are_read_and_freed(emulate: Callable[..., Any]) -> None:
    h = await emulate(cds_direct=False)  # firmware that only stores reports (+CDSI)
    driver = h.build()
    info = await driver.open()
    assert info.reports is True
    parts = await driver.send_sms("+31612345678", "stored report")
    await asyncio.wait_for(h.report_arrived.wait(), 5)
    _, report = h.reports[0]
    assert (report.reference, report.recipient, report.network_status) == (
        parts[0].mr,
        "+31612345678",
        0,
    )
    await asyncio.sleep(0.1)
    assert await _used(driver) == 1  # read, committed, kept until the modem idles
    await driver.tidy()  # the worker has nothing to send
    assert at.parse_listing(await driver.command(at.LIST_ALL_PDU)) == []


async def _used(driver: SerialAtDriver) -> int:
    usage = at.parse_storage(await driver.command(at.STORAGE_SIM))
    assert usage is not None
    return usage[0]


def _commands(h: Harness) -> list[str]:
    """Every command line the emulated modem reads from now on."""
    seen: list[str] = []
    h.modem.on_input = lambda data: seen.extend(
        line.decode(errors="replace") for line in data.split(b"\r") if line.startswith(b"AT")
    )
    return seen


@pytest.mark.parametrize("flags", [True, False])
async def test_reports_read_under_a_backlog_are_freed_in_a_batch(
    emulate: Callable[..., Any], flags: bool
) -> None:
    """A batch is a quarter of the memory (20 slots: 5, not ``FREE_BATCH``'s 8: with the
    reads of two sends a batch of 8 met the crowded mark, half of 20)."""
    h = await emulate(cds_direct=False, cmgd_flags=flags, report_delay_s=0.0)
    driver = h.build()
    await driver.open()
    memory = driver._messages.memory
    assert memory.delete_flags is flags and memory.slots == 20
    batch = memory.free_batch
    assert batch == 5
    frees = 1 if flags else batch
    seen = _commands(h)
    for n in range(batch):  # a backlog: no idle moment between the sends
        await driver.send_sms("+31612345678", f"backlog {n}")
        await asyncio.sleep(0.05)  # its report: +CDSI, read at once (AT+CMGR)
    await asyncio.sleep(0.2)
    # the delflag's batch goes at the next send's end (its trail) or when the modem idles;
    # one per index goes as soon as the batch is full
    await driver.tidy()
    deletes = [c for c in seen if c.startswith("AT+CMGD")]
    assert len(deletes) == frees, seen
    assert len([c for c in seen if c.startswith("AT+CMGR")]) == batch
    assert await _used(driver) == 0 and len(h.reports) == batch


async def test_a_delflag_never_frees_a_part_still_waiting_for_its_sibling(
    emulate: Callable[..., Any],
) -> None:
    h = await emulate(cds_direct=False, report_delay_s=0.0)
    driver = h.build(on_inbound=lambda _device, _sms: None)
    await driver.open()
    first, _ = build_deliver("+31699999999", "y" * 200, scts=datetime.now(UTC), concat_ref=9)
    h.modem.network.waiting.append(first)  # the network has delivered part 1 only
    h.modem.network.retry()
    await asyncio.sleep(0.2)  # part 1 read, kept on the SIM until part 2 comes
    seen = _commands(h)
    await driver.send_sms("+31612345678", "a send")
    await asyncio.sleep(0.2)
    await driver.tidy()
    assert [c for c in seen if c.startswith("AT+CMGD")] == [seen[-1]]
    assert not seen[-1].endswith(",1")  # per index: the part stays
    assert await _used(driver) == 1


async def test_reports_stored_while_nobody_listened_are_read_at_open(
    emulate: Callable[..., Any],
) -> None:
    h = await emulate(cds_direct=False, report_delay_s=0.3)
    driver = h.build()
    await driver.open()
    parts = await driver.send_sms("+31612345678", "daemon dies now")
    await driver.close()  # the daemon is gone before the report comes
    await asyncio.sleep(0.5)
    assert h.reports == []
    second = h.build()  # a new daemon opens the same modem
    await second.open()
    assert [(r.reference, r.network_status) for _, r in h.reports] == [(parts[0].mr, 0)]


async def test_a_listing_skips_reports_read_and_waiting_to_be_freed(
    emulate: Callable[..., Any],
) -> None:
    """Memory full while reports read under a backlog wait for their batch free: the listing
    (AT+CMGL) must not hand them on again nor queue their indexes twice (a second AT+CMGD of an
    index frees the next message the modem stores there, a report lost)."""
    h = await emulate(cds_direct=False, cmgd_flags=False, report_delay_s=0.0)
    driver = h.build()
    await driver.open()
    waiting = driver._messages.memory.free_batch - 1
    for n in range(waiting):  # a backlog: read at once, freed later (``free_batch``)
        await driver.send_sms("+31612345678", f"backlog {n}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert len(h.reports) == waiting and await _used(driver) == waiting
    seen = _commands(h)
    await driver._messages.read_stored()  # what a memory-full indication starts
    deletes = [c for c in seen if c.startswith("AT+CMGD")]
    assert len(h.reports) == waiting, "reports handed on twice"
    assert len(deletes) == waiting == len(set(deletes)), seen
    assert await _used(driver) == 0
