"""Emulated modem faults over real ptys: each is cleared only by the step it names."""

from __future__ import annotations

import pytest
from test_emulator import ESC, OK, PROMPT, OpenModem, PtyClient, open_modem

from modemd.emulators.faults import FaultKind
from modemd.emulators.modem import EmulatedModem, PortState

__all__ = ["open_modem"]  # the fixture, shared with test_emulator

QUIET_S = 0.15  # how long a test watches for an answer that must not come


async def silent(client: PtyClient, line: bytes = b"AT\r") -> bool:
    """Nothing at all comes back to ``line``."""
    client.write(line)
    return await client.read_for(QUIET_S) == b""


async def test_hang_until_cfun_ignores_esc_at_and_a_reopened_port(open_modem: OpenModem) -> None:
    modem, client = await open_modem()
    await client.command("ATE0")
    modem.inject(FaultKind.HANG_UNTIL_CFUN)
    assert await silent(client, ESC + b"AT\r")
    client.close()
    reopened = PtyClient(modem.port)
    try:
        assert await silent(reopened)
        assert await silent(reopened, b"ATZ\r")
        assert await reopened.command("AT+CFUN=0") == OK
        assert await reopened.command("AT") == OK
        assert await reopened.command("AT+CREG?") == b"\r\n+CREG: 0,0\r\n" + OK  # radio off
        assert await reopened.command("AT+CFUN=1") == OK
        assert await reopened.command("AT+CREG?") == b"\r\n+CREG: 0,1\r\n" + OK
    finally:
        reopened.close()


async def test_hang_until_usb_reset_comes_back_on_a_new_port_with_the_same_imei(
    open_modem: OpenModem,
) -> None:
    modem, client = await open_modem()
    replugged: list[EmulatedModem] = []
    modem.on_replug = replugged.append
    old_port = modem.port
    modem.inject("hang_until_usb_reset")
    assert await silent(client, b"AT+CFUN=1,1\r")
    await modem.usb_reset()
    assert (await client.read_for(QUIET_S), client.eof or client.error is not None) == (b"", True)
    assert replugged == [modem] and modem.state is PortState.OPEN and modem.port != old_port
    fresh = PtyClient(modem.port)
    try:
        assert await fresh.command("AT+CGSN") == (
            f"AT+CGSN\r\r\n{modem.profile.imei}\r\n".encode() + OK  # echo on: it rebooted
        )
    finally:
        fresh.close()


async def test_lost_registration_sends_urcs_and_only_clear_brings_it_back(
    open_modem: OpenModem,
) -> None:
    modem, client = await open_modem()
    await client.command("ATE0")
    await client.command("AT+CREG=2")
    modem.inject(FaultKind.LOSE_REGISTRATION)
    assert await client.read_until(b"\r\n+CREG: 2\r\n") == b"\r\n+CREG: 2\r\n"
    assert await client.command("AT+CMGS=10") == b"\r\n+CMS ERROR: 331\r\n"
    assert await client.command("AT+CFUN=1,1") == OK  # a reset does not bring the network
    await client.command("ATE0")
    assert await client.command("AT+CREG?") == b"\r\n+CREG: 0,2\r\n" + OK
    await client.command("AT+CREG=1")
    modem.inject(FaultKind.CLEAR)
    assert await client.read_until(b"\r\n+CREG: 1\r\n") == b"\r\n+CREG: 1\r\n"
    assert await client.command("AT+CMGS=10", until=PROMPT) == PROMPT


async def test_pin_after_reset_wants_the_pin_once_cfun_revives_it(open_modem: OpenModem) -> None:
    modem, client = await open_modem(sim_pin="2468")
    await client.command("ATE0")
    await client.command('AT+CPIN="2468"')
    modem.inject(FaultKind.PIN_AFTER_RESET)
    assert await silent(client)
    assert await client.command("AT+CFUN=0") == OK
    assert await client.command("AT+CFUN=1") == OK
    assert await client.command("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n" + OK
    assert await client.command("AT+CREG?") == b"\r\n+CREG: 0,0\r\n" + OK
    assert await client.command('AT+CPIN="2468"') == OK
    assert await client.command("AT+CREG?") == b"\r\n+CREG: 0,1\r\n" + OK


async def test_never_recover_survives_cfun_and_usb_reset_until_clear(
    open_modem: OpenModem,
) -> None:
    modem, client = await open_modem()
    modem.inject(FaultKind.NEVER_RECOVER)
    assert await silent(client, b"AT+CFUN=1,1\r")
    await modem.usb_reset()
    fresh = PtyClient(modem.port)
    try:
        assert await silent(fresh)
        assert await silent(fresh, b"AT+CFUN=0\r")
        modem.inject(FaultKind.CLEAR)
        assert await fresh.command("AT") == b"AT\r" + OK
    finally:
        fresh.close()


def test_an_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError):
        FaultKind("melt")
