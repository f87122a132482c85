"""The modem emulator, spoken to through its real pty at the byte level, as a client would."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import serial

from modemd.emulators.modem import EmulatedModem, LineState, ModemProfile, PortState, SendRecorder
from modemd.emulators.modem_bank import EmulatedBank, serve
from modemd.emulators.profile import emulated_identity
from modemd.sms import pdu

SEED = 1234
READ_TIMEOUT_S = 2.0  # upper bound only: reads return as soon as the bytes are there
QUIET_S = 0.15  # how long a test watches for bytes that must not come
BYTE_GAP_S = 0.001  # pause between single-byte writes so each arrives on its own
SLOW_SEND_S = 0.3  # latency where a test must see the radio busy
SLOW_REPORT_S = 0.15  # report delay where a test must type a body first
FAST = {"send_latency_s": (0.0, 0.0), "report_delay_s": 0.02}
CTRL_Z, ESC = b"\x1a", b"\x1b"
PROMPT = b"\r\n> "
OK = b"\r\nOK\r\n"
FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*)\r\n")
CDS_TEXT = re.compile(rb"\r\n(\+CDS: [^\r]*)\r\n")
CDS_PDU = re.compile(rb"\r\n\+CDS: (\d+)\r\n([0-9A-F]+)\r\n")
NOISE = rb"\r\n(\^RSSI:20|\+ZDONR: [^\r]*|\+ZPASR: [^\r]*)\r\n"
# SMS-SUBMIT to +46708251358, "hellohello", TP-SRR set, no SMSC in the PDU ("00").
PDU_HELLO_TPDU = "21000B916407281553F800000AE8329BFD4697D9EC37"
PDU_HELLO = "00" + PDU_HELLO_TPDU
PDU_HELLO_WITH_SMSC = "07911326040000F0" + PDU_HELLO_TPDU  # SMSC +31624000000 inside
PDU_HELLO_OCTETS = len(PDU_HELLO_TPDU) // 2


class PtyClient:
    """A byte-level client on the slave side of a pty, read from the event loop."""

    def __init__(self, port: str) -> None:
        self._fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._arrived = asyncio.Event()
        self.error: OSError | None = None
        self.eof = False
        self._loop.add_reader(self._fd, self._on_readable)
        self._reading = True

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self.error, data = exc, b""
        if not data:
            self.eof = True
            self._stop_reading()
        self._buffer += data
        self._arrived.set()

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def write(self, data: bytes) -> None:
        os.write(self._fd, data)

    async def read_until(self, pattern: bytes | re.Pattern[bytes]) -> bytes:
        """Everything up to and including the first match of ``pattern``."""
        regex = re.compile(re.escape(pattern)) if isinstance(pattern, bytes) else pattern
        async with asyncio.timeout(READ_TIMEOUT_S):
            while (match := regex.search(self._buffer)) is None:
                assert not self.eof, f"port died; got {bytes(self._buffer)!r}"
                self._arrived.clear()
                await self._arrived.wait()
        data = bytes(self._buffer[: match.end()])
        del self._buffer[: match.end()]
        return data

    async def read_for(self, seconds: float) -> bytes:
        """Everything that arrives within ``seconds``."""
        await asyncio.sleep(seconds)
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def command(self, line: str, until: bytes | re.Pattern[bytes] = FINAL) -> bytes:
        self.write(line.encode() + b"\r")
        return await self.read_until(until)

    def close(self) -> None:
        if self._fd >= 0:
            self._stop_reading()
            os.close(self._fd)
            self._fd = -1


OpenModem = Callable[..., Awaitable[tuple[EmulatedModem, PtyClient]]]


@pytest.fixture
async def open_modem() -> AsyncIterator[OpenModem]:
    """Start emulated modems (fast profile + knobs) and connect a PtyClient to each."""
    modems: list[EmulatedModem] = []
    clients: list[PtyClient] = []

    async def factory(
        recorder: SendRecorder | None = None, seed: int = SEED, **knobs: Any
    ) -> tuple[EmulatedModem, PtyClient]:
        identity = emulated_identity(len(modems))
        profile = ModemProfile(
            imei=identity.imei, imsi=identity.imsi, iccid=identity.iccid, **{**FAST, **knobs}
        )
        modem = EmulatedModem(
            profile, name=f"t{len(modems)}", recorder=recorder, rng=random.Random(seed)
        )
        modems.append(modem)
        await modem.start()
        clients.append(PtyClient(modem.port))
        return modem, clients[-1]

    yield factory
    for client in clients:
        client.close()
    for modem in modems:
        await modem.close()


async def text_mode(client: PtyClient, *, fo: int = 49, ds: int = 1, dcs: int = 0) -> None:
    """Echo off, text mode, TP-SRR per ``fo``, status reports routed per ``ds``."""
    for line in ("ATE0", "AT+CMGF=1", f"AT+CSMP={fo},167,0,{dcs}", f"AT+CNMI=2,1,0,{ds},0"):
        assert (await client.command(line)).endswith(OK), line


async def send_text(client: PtyClient, text: bytes = b"hello", to: str = "+15551234") -> bytes:
    """One text-mode AT+CMGS; returns what follows the prompt up to the final result."""
    assert await client.command(f'AT+CMGS="{to}"', until=PROMPT) == PROMPT
    client.write(text + CTRL_Z)
    return await client.read_until(FINAL)


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number]
    doubled = sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return (sum(digits[-1::-2]) + doubled) % 10 == 0


async def test_echo_is_on_after_start_until_ate0(open_modem: OpenModem) -> None:
    _, client = await open_modem()
    assert await client.command("AT") == b"AT\r" + OK
    assert await client.command("ATE0") == b"ATE0\r" + OK
    assert await client.command("AT") == OK
    assert await client.command("ATZ") == OK
    assert await client.command("AT") == b"AT\r" + OK


async def test_unknown_or_malformed_commands_answer_error(open_modem: OpenModem) -> None:
    _, client = await open_modem()
    await client.command("ATE0")
    for line in (
        "AT+FOO",
        "hello",
        "AB+CSQ",
        "AT+CMGF=7",
        'AT+CSCS="KOI8"',
        "AT+CSQ=1",
        'AT+CPIN="1',
    ):
        assert await client.command(line) == b"\r\nERROR\r\n", line
    assert await client.command("at+csq") == b"\r\n+CSQ: 20,99\r\n" + OK


async def test_identity_and_network_commands(open_modem: OpenModem) -> None:
    modem, client = await open_modem(rssi=17, registration=5)
    await client.command("ATE0")
    profile = modem.profile
    expected = {
        "AT+CGSN": profile.imei,
        "AT+CIMI": profile.imsi,
        "AT+CCID": f"+CCID: {profile.iccid}",
        "AT+CGMI": "modemd",
        "AT+CGMM": "Emulated GSM",
        "AT+CSQ": "+CSQ: 17,99",
        "AT+CREG?": "+CREG: 0,5",
        "AT+CSCA?": '+CSCA: "+15550000000",145',
    }
    for line, answer in expected.items():
        assert await client.command(line) == f"\r\n{answer}\r\n".encode() + OK, line


def test_bank_identities_are_distinct_valid_and_deterministic() -> None:
    bank = EmulatedBank.create(5, seed=9, pin_label="4711")
    again = EmulatedBank.create(5, seed=9)
    imeis = [m.profile.imei for m in bank.modems]
    assert imeis == [m.profile.imei for m in again.modems]
    assert len(set(imeis)) == 5
    assert all(len(i) == 15 and i.isdigit() and luhn_valid(i) for i in imeis)
    assert all(luhn_valid(m.profile.iccid) for m in bank.modems)
    assert len({m.profile.imsi for m in bank.modems}) == 5
    assert {m.pin for m in bank.modems} == {"4711"}
    assert [m.name for m in bank.modems] == ["emu0", "emu1", "emu2", "emu3", "emu4"]


async def test_sim_pin_wrong_then_right(open_modem: OpenModem) -> None:
    modem, client = await open_modem(sim_pin="1234")
    await client.command("ATE0")
    await client.command("AT+CMEE=1")
    assert await client.command("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n" + OK
    assert await client.command("AT+CIMI") == b"\r\n+CME ERROR: 11\r\n"
    assert await client.command("AT+CREG?") == b"\r\n+CREG: 0,0\r\n" + OK
    assert await client.command('AT+CMGS="+1555"') == b"\r\n+CMS ERROR: 311\r\n"
    assert await client.command('AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert await client.command('AT+CPIN="1234"') == OK
    assert await client.command("AT+CPIN?") == b"\r\n+CPIN: READY\r\n" + OK
    assert await client.command("AT+CIMI") == f"\r\n{modem.profile.imsi}\r\n".encode() + OK
    assert await client.command('AT+CPIN="1234"') == b"\r\n+CME ERROR: 3\r\n"


async def test_cmee_selects_plain_numeric_or_verbose_errors(open_modem: OpenModem) -> None:
    _, client = await open_modem(sim_pin="1234")
    await client.command("ATE0")
    assert await client.command("AT+CIMI") == b"\r\nERROR\r\n"
    await client.command("AT+CMEE=2")
    assert await client.command("AT+CIMI") == b"\r\n+CME ERROR: SIM PIN required\r\n"


async def test_three_wrong_pins_block_the_sim(open_modem: OpenModem) -> None:
    _, client = await open_modem(sim_pin="1234")
    await client.command("ATE0")
    await client.command("AT+CMEE=1")
    for _ in range(3):
        assert await client.command('AT+CPIN="9999"') == b"\r\n+CME ERROR: 16\r\n"
    assert await client.command("AT+CPIN?") == b"\r\n+CPIN: SIM PUK\r\n" + OK
    assert await client.command('AT+CPIN="1234"') == b"\r\n+CME ERROR: 12\r\n"


async def test_text_mode_send_then_status_report(open_modem: OpenModem) -> None:
    modem, client = await open_modem(tp_status=0x21)
    await text_mode(client)
    before = time.time()
    assert await send_text(client) == b"\r\n+CMGS: 0\r\n" + OK
    line = (await client.read_until(CDS_TEXT)).strip().decode()
    assert re.fullmatch(r'\+CDS: 6,0,"\+15551234",145,"[\d/,:]{17}\+00","[\d/,:]{17}\+00",33', line)
    report = pdu.parse_status_report_text(line)
    assert (report.reference, report.recipient, report.status) == (0, "+15551234", 0x21)
    [message] = modem.accepted
    assert (message.to, message.text, message.mr, message.mode) == ("+15551234", "hello", 0, "text")
    assert (message.part, message.total, message.modem) == (1, 1, "t0")
    assert before <= message.at <= time.time()


async def test_no_report_without_tp_srr(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await text_mode(client, fo=17)
    assert await send_text(client) == b"\r\n+CMGS: 0\r\n" + OK
    assert await client.read_for(QUIET_S) == b""
    assert len(modem.accepted) == 1


async def test_esc_aborts_the_body(open_modem: OpenModem, tmp_path: Path) -> None:
    record = tmp_path / "sent.jsonl"
    modem, client = await open_modem(recorder=SendRecorder(record))
    await text_mode(client)
    assert await client.command('AT+CMGS="+1555"', until=PROMPT) == PROMPT
    client.write(b"never mind" + ESC)
    assert await client.read_until(FINAL) == OK
    assert modem.line_state is LineState.COMMAND
    assert await client.read_for(QUIET_S) == b""
    assert modem.accepted == []
    assert not record.exists()


async def test_tp_mr_wraps_after_256_sends(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await text_mode(client, fo=17)
    answers = [await send_text(client, b"x") for _ in range(257)]
    assert answers[0] == b"\r\n+CMGS: 0\r\n" + OK
    assert answers[255] == b"\r\n+CMGS: 255\r\n" + OK
    assert answers[256] == b"\r\n+CMGS: 0\r\n" + OK
    assert [m.mr for m in modem.accepted] == [*range(256), 0]


async def test_cms_error_injection(open_modem: OpenModem) -> None:
    modem, client = await open_modem(cms_error=500, cms_error_rate=1.0)
    await text_mode(client)
    assert await send_text(client) == b"\r\n+CMS ERROR: 500\r\n"
    assert await client.read_for(QUIET_S) == b""
    assert modem.accepted == []


async def test_injected_errors_follow_the_seed(open_modem: OpenModem) -> None:
    outcomes = []
    for _ in range(2):
        _, client = await open_modem(seed=7, cms_error=42, cms_error_rate=0.5)
        await text_mode(client, fo=17)
        outcomes.append([await send_text(client) for _ in range(12)])
    assert outcomes[0] == outcomes[1]
    assert b"\r\n+CMS ERROR: 42\r\n" in outcomes[0]
    assert b"\r\n+CMGS: 0\r\n" + OK in outcomes[0]


async def test_delivery_failures_report_0x45(open_modem: OpenModem) -> None:
    _, client = await open_modem(tp_status=0x00, delivery_failure_rate=1.0)
    await text_mode(client)
    await send_text(client)
    assert (await client.read_until(CDS_TEXT)).endswith(b",69\r\n")


async def test_modem_without_cnmi_never_reports(open_modem: OpenModem) -> None:
    modem, client = await open_modem(supports_cnmi=False)
    await client.command("ATE0")
    await client.command("AT+CMGF=1")
    await client.command("AT+CSMP=49,167,0,0")
    assert await client.command("AT+CNMI=2,1,0,1,0") == b"\r\nERROR\r\n"
    assert await client.command("AT+CNMI=?") == b"\r\nERROR\r\n"
    assert await send_text(client) == b"\r\n+CMGS: 0\r\n" + OK
    assert await client.read_for(QUIET_S) == b""
    assert len(modem.accepted) == 1


async def test_stored_reports_ds2_are_not_emulated(open_modem: OpenModem) -> None:
    _, client = await open_modem()
    await text_mode(client, ds=2)
    assert await client.command("AT+CNMI?") == b"\r\n+CNMI: 2,1,0,2,0\r\n" + OK
    assert await send_text(client) == b"\r\n+CMGS: 0\r\n" + OK
    assert await client.read_for(QUIET_S) == b""


async def test_sending_needs_registration(open_modem: OpenModem) -> None:
    _, client = await open_modem(registration=3)
    await text_mode(client)
    assert await client.command('AT+CMGS="+1555"') == b"\r\n+CMS ERROR: 331\r\n"


async def test_hang_drops_everything_until_resume(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await client.command("ATE0")
    modem.hang()
    client.write(b"ATE1\r")  # dropped unread: echo stays off
    assert await client.read_for(QUIET_S) == b""
    assert modem.state is PortState.HUNG
    modem.resume()
    assert await client.command("AT") == OK


async def test_unplug_kills_the_port(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await client.command("ATE0")
    modem.unplug()
    with pytest.raises(AssertionError, match="port died"):
        await client.read_until(OK)
    assert client.eof
    with pytest.raises(OSError):
        client.write(b"AT\r")
    assert modem.state is PortState.UNPLUGGED


async def test_pyserial_client_reopens_and_sees_unplug(open_modem: OpenModem) -> None:
    modem, raw_client = await open_modem()
    raw_client.close()  # two readers on one tty would steal each other's bytes

    def ask(line: bytes) -> bytes:
        with serial.Serial(modem.port, 115200, timeout=READ_TIMEOUT_S) as port:
            port.write(line)
            return port.read_until(OK)

    assert await asyncio.to_thread(ask, b"ATI\r") == b"ATI\r\r\nmodemd\r\n\r\nEmulated GSM\r\n" + (
        b"\r\nmodemd-emulator 1.0\r\n" + OK
    )
    assert await asyncio.to_thread(ask, b"ATE0\r") == b"ATE0\r" + OK  # reopened

    def read_until_dead(port: serial.Serial) -> serial.SerialException | None:
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                port.read(16)
            except serial.SerialException as exc:
                return exc
        return None

    with serial.Serial(modem.port, 115200, timeout=QUIET_S) as port:
        reader = asyncio.create_task(asyncio.to_thread(read_until_dead, port))
        await asyncio.sleep(QUIET_S / 2)
        modem.unplug()
        assert isinstance(await reader, OSError)


async def test_recorder_writes_one_json_line_per_accepted_part(
    open_modem: OpenModem, tmp_path: Path
) -> None:
    record = tmp_path / "sent.jsonl"
    modem, client = await open_modem(recorder=SendRecorder(record))
    await text_mode(client, fo=17)
    await send_text(client, b"one", to="+111")
    await send_text(client, b"two", to="+222")
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(r["to"], r["text"], r["mr"], r["mode"]) for r in lines] == [
        ("+111", "one", 0, "text"),
        ("+222", "two", 1, "text"),
    ]
    assert set(lines[0]) == {"modem", "imei", "mr", "to", "text", "part", "total", "mode", "at"}
    assert SendRecorder.read(record) == modem.accepted
    assert SendRecorder.read(tmp_path / "missing.jsonl") == []


async def test_bytes_fed_one_at_a_time(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await text_mode(client)

    async def trickle(data: bytes) -> None:
        for byte in data:
            client.write(bytes([byte]))
            await asyncio.sleep(BYTE_GAP_S)

    await trickle(b"AT+CSQ")
    assert await client.read_for(QUIET_S) == b""  # nothing answered before the CR
    await trickle(b"\r")
    assert await client.read_until(FINAL) == b"\r\n+CSQ: 20,99\r\n" + OK
    await trickle(b'AT+CMGS="+1555"\r')
    assert await client.read_until(PROMPT) == PROMPT
    await trickle(b"slow" + CTRL_Z)
    assert await client.read_until(FINAL) == b"\r\n+CMGS: 0\r\n" + OK
    assert modem.accepted[0].text == "slow"


async def test_commands_wait_while_the_modem_is_sending(open_modem: OpenModem) -> None:
    _, client = await open_modem(send_latency_s=(SLOW_SEND_S, SLOW_SEND_S))
    await text_mode(client, fo=17)
    assert await client.command('AT+CMGS="+1555"', until=PROMPT) == PROMPT
    client.write(b"hi" + CTRL_Z + b"AT+CSQ\r")
    assert (
        await client.read_for(SLOW_SEND_S / 3) == b""
    )  # the radio is busy: no answer, not even to CSQ
    answer = await client.read_until(b"+CSQ: 20,99\r\n" + OK)
    assert answer == b"\r\n+CMGS: 0\r\n" + OK + b"\r\n+CSQ: 20,99\r\n" + OK


async def test_urc_noise_before_prompt_and_before_cmgs(open_modem: OpenModem) -> None:
    _, client = await open_modem(urc_noise=True)
    await text_mode(client, fo=17)
    prompt = await client.command('AT+CMGS="+1555"', until=PROMPT)
    assert re.fullmatch(NOISE + re.escape(PROMPT), prompt), prompt
    client.write(b"hi" + CTRL_Z)
    assert re.fullmatch(NOISE + rb"\r\n\+CMGS: 0\r\n\r\nOK\r\n", await client.read_until(FINAL))


async def test_reports_wait_while_a_body_is_typed(open_modem: OpenModem) -> None:
    _, client = await open_modem(report_delay_s=SLOW_REPORT_S)
    await text_mode(client)
    await send_text(client, b"first")
    assert await client.command('AT+CMGS="+1555"', until=PROMPT) == PROMPT
    assert (
        await client.read_for(2 * SLOW_REPORT_S) == b""
    )  # the report is due, but the link is reserved
    client.write(b"second" + CTRL_Z)
    after = await client.read_until(b"+CMGS: 1\r\n" + OK)
    assert re.fullmatch(
        rb'\r\n\+CDS: 6,0,"\+15551234",[^\r]*\r\n\r\n\+CMGS: 1\r\n\r\nOK\r\n', after
    )


async def test_cpin_without_ok_quirk(open_modem: OpenModem) -> None:
    _, client = await open_modem(cpin_without_ok=True)
    await client.command("ATE0")
    assert await client.command("AT+CPIN?", until=b"READY\r\n") == b"\r\n+CPIN: READY\r\n"
    assert await client.read_for(QUIET_S) == b""
    assert await client.command("AT") == OK


async def test_csmp_wipes_the_smsc_quirk_text_mode(open_modem: OpenModem) -> None:
    modem, client = await open_modem(wipes_smsc_on_csmp=True)
    await text_mode(client)
    assert await client.command("AT+CSCA?") == b'\r\n+CSCA: "",129\r\n' + OK
    assert await send_text(client) == b"\r\n+CMS ERROR: 330\r\n"
    assert await client.command('AT+CSCA="+15550000000"') == OK
    assert await send_text(client) == b"\r\n+CMGS: 0\r\n" + OK
    assert len(modem.accepted) == 1


async def test_ucs2_text_mode(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await text_mode(client, dcs=8)
    assert await client.command('AT+CSCS="UCS2"') == OK
    number = "+15551234".encode("utf-16-be").hex().upper()
    text = "Привет 👋"
    body = text.encode("utf-16-be").hex().upper().encode()
    assert await send_text(client, body, to=number) == b"\r\n+CMGS: 0\r\n" + OK
    assert (modem.accepted[0].to, modem.accepted[0].text) == ("+15551234", text)
    assert f'+CDS: 6,0,"{number}",145,'.encode() in await client.read_until(CDS_TEXT)
    assert await send_text(client, b"+1555", to=number) == b"\r\n+CMS ERROR: 305\r\n"


async def test_pdu_mode_send_then_status_report(open_modem: OpenModem) -> None:
    modem, client = await open_modem(tp_status=0x00)
    await client.command("ATE0")
    await client.command("AT+CNMI=2,1,0,1,0")
    assert await client.command(f"AT+CMGS={PDU_HELLO_OCTETS}", until=PROMPT) == PROMPT
    client.write(PDU_HELLO.encode() + CTRL_Z)
    assert await client.read_until(FINAL) == b"\r\n+CMGS: 0\r\n" + OK
    cds = CDS_PDU.fullmatch(await client.read_until(CDS_PDU))
    assert cds is not None
    length, hex_pdu = cds.groups()
    assert int(length) == len(hex_pdu) // 2 - 1
    report = pdu.parse_status_report_pdu(hex_pdu.decode())
    assert (report.reference, report.recipient, report.status) == (0, "+46708251358", 0)
    assert modem.accepted[0].text == "hellohello"
    assert modem.accepted[0].mode == "pdu"


async def test_pdu_mode_rejects_bad_bodies_with_304(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await client.command("ATE0")
    for length, body in ((PDU_HELLO_OCTETS + 1, PDU_HELLO), (3, "00ZZ11"), (2, "0001")):
        assert await client.command(f"AT+CMGS={length}", until=PROMPT) == PROMPT
        client.write(body.encode() + CTRL_Z)
        assert await client.read_until(FINAL) == b"\r\n+CMS ERROR: 304\r\n", body
    assert await client.command('AT+CMGS="+1555"') == b"\r\n+CMS ERROR: 304\r\n"
    assert modem.accepted == []


async def test_pdu_multipart_parts_get_their_own_mr(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await client.command("ATE0")
    text = "".join(str(i % 10) for i in range(200))
    parts = pdu.build_submit_pdus("+15551234", text, concat_ref=7)
    assert len(parts) == 2
    for part in parts:
        assert await client.command(f"AT+CMGS={part.tpdu_length}", until=PROMPT) == PROMPT
        client.write(part.hex.encode() + CTRL_Z)
        await client.read_until(FINAL)
    assert [(m.mr, m.part, m.total) for m in modem.accepted] == [(0, 1, 2), (1, 2, 2)]
    assert "".join(m.text for m in modem.accepted) == text


async def test_csmp_wipes_the_smsc_quirk_pdu_mode(open_modem: OpenModem) -> None:
    modem, client = await open_modem(wipes_smsc_on_csmp=True)
    await client.command("ATE0")
    await client.command("AT+CSMP=17,167,0,0")
    for body, answer in ((PDU_HELLO, b"+CMS ERROR: 330"), (PDU_HELLO_WITH_SMSC, b"+CMGS: 0")):
        assert await client.command(f"AT+CMGS={PDU_HELLO_OCTETS}", until=PROMPT) == PROMPT
        client.write(body.encode() + CTRL_Z)
        assert (await client.read_until(FINAL)).startswith(b"\r\n" + answer + b"\r\n")
    assert len(modem.accepted) == 1


async def test_close_cancels_work_in_flight(open_modem: OpenModem) -> None:
    modem, client = await open_modem(send_latency_s=(5.0, 5.0))
    await text_mode(client)
    assert await client.command('AT+CMGS="+1555"', until=PROMPT) == PROMPT
    client.write(b"hi" + CTRL_Z)
    await client.read_for(QUIET_S)
    assert modem.line_state is LineState.SENDING
    await modem.close()
    assert modem.accepted == []


async def test_serve_prints_name_port_imei(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(serve(2, None, seed=3, report_delay_s=0.0))
    lines: list[str] = []
    async with asyncio.timeout(READ_TIMEOUT_S):
        while len(lines) < 2:
            await asyncio.sleep(0.01)
            lines += capsys.readouterr().out.splitlines()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    names, ports, imeis = zip(*(line.split() for line in lines), strict=True)
    assert names == ("emu0", "emu1")
    assert all(port.startswith("/dev/pts/") for port in ports)
    assert list(imeis) == [m.profile.imei for m in EmulatedBank.create(2, seed=3).modems]


def test_profile_rejects_impossible_knobs() -> None:
    identity = emulated_identity(0)
    with pytest.raises(ValueError, match="rssi"):
        ModemProfile(identity.imei, identity.imsi, identity.iccid, rssi=40)
    with pytest.raises(ValueError, match="send_latency_s"):
        ModemProfile(identity.imei, identity.imsi, identity.iccid, send_latency_s=(1.0, 0.5))
