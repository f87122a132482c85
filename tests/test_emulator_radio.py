"""The emulated modem's radio over its real pty: AT+CFUN, AT+COPS, AT+CNUM, registration in
three domains with URCs, and command lines carrying several commands."""

from __future__ import annotations

import re

from test_emulator import FINAL, OK, PROMPT, OpenModem, open_modem

__all__ = ["open_modem"]  # the fixture, shared with test_emulator

CREG_URC = re.compile(rb"\r\n(\+C[EG]?REG: [^\r]*)\r\n")


async def test_a_line_with_several_commands_runs_them_all_and_answers_once(
    open_modem: OpenModem,
) -> None:
    _, client = await open_modem()
    assert await client.command("ATE0") == b"ATE0\r" + OK
    assert await client.command("AT+CMEE=1;+CREG=2") == OK  # smsd's init line
    assert await client.command("AT+CMEE?;+CREG?") == (
        b'\r\n+CMEE: 1\r\n\r\n+CREG: 2,1,"00A1","0000ABCD",0\r\n' + OK
    )
    assert await client.command("ATE1+CMEE=0") == OK  # basic, then extended: echo is on after
    # The first failing command stops the line: what came before it stays done.
    assert await client.command("AT+CMEE=2;+NOSUCH;+CMEE=1") == (
        b"AT+CMEE=2;+NOSUCH;+CMEE=1\r\r\nERROR\r\n"
    )
    assert await client.command("AT+CMEE?") == b"AT+CMEE?\r\r\n+CMEE: 2\r\n" + OK


async def test_unknown_commands_still_answer_error(open_modem: OpenModem) -> None:
    _, client = await open_modem()
    await client.command("ATE0")
    for line in (
        "AT+NOSUCH",
        "AT+CFUN=9",
        "AT+CFUN=1,2",
        "AT$TSSPCSW=?",
        "ATV1",
        "AT+COPS=5",
        'AT+CSCA="+1;E0',
    ):
        assert await client.command(line) == b"\r\nERROR\r\n", line


async def test_radio_off_deregisters_with_urcs_and_refuses_sends(open_modem: OpenModem) -> None:
    _, client = await open_modem()
    await client.command("ATE0")
    assert await client.command("AT+CFUN?") == b"\r\n+CFUN: 1\r\n" + OK
    assert await client.command("AT+CFUN=?") == b"\r\n+CFUN: (0,1,4),(0,1)\r\n" + OK
    assert await client.command("AT+CREG=1;+CGREG=1;+CEREG=2") == OK
    answer = await client.command("AT+CFUN=0")
    assert answer.startswith(OK)
    urcs = CREG_URC.findall(answer + await client.read_for(0.1))
    assert sorted(urcs) == [b"+CEREG: 0", b"+CGREG: 0", b"+CREG: 0"]
    assert await client.command("AT+CMGS=10") == b"\r\n+CMS ERROR: 331\r\n"
    assert await client.command("AT+COPS?") == b"\r\n+COPS: 0\r\n" + OK
    answer = await client.command("AT+CFUN=1") + await client.read_for(0.1)
    assert sorted(CREG_URC.findall(answer)) == [
        b'+CEREG: 1,"00A1","0000ABCD",0',
        b"+CGREG: 1",
        b"+CREG: 1",
    ]
    assert await client.command("AT+CMGS=10", until=PROMPT) == PROMPT


async def test_a_module_reset_restores_defaults_and_wants_the_pin_again(
    open_modem: OpenModem,
) -> None:
    _, client = await open_modem(sim_pin="1234")
    await client.command("ATE0")
    assert await client.command('AT+CPIN="1234"') == OK
    assert await client.command("AT+CPIN?") == b"\r\n+CPIN: READY\r\n" + OK
    assert await client.command("AT+CFUN=1,1") == OK
    assert await client.command("AT+CPIN?") == b"AT+CPIN?\r\r\n+CPIN: SIM PIN\r\n" + OK  # echo on
    assert await client.command("AT+CREG?") == b"AT+CREG?\r\r\n+CREG: 0,0\r\n" + OK


async def test_operator_name_in_each_format_and_deregistration(open_modem: OpenModem) -> None:
    _, client = await open_modem()
    await client.command("ATE0")
    assert await client.command("AT+COPS?") == b'\r\n+COPS: 0,0,"modemd Test Network",0\r\n' + OK
    assert await client.command("AT+COPS=3,1") == OK
    assert await client.command("AT+COPS?") == b'\r\n+COPS: 0,1,"modemd",0\r\n' + OK
    assert await client.command("AT+COPS=3,2") == OK
    assert await client.command("AT+COPS?") == b'\r\n+COPS: 0,2,"00101",0\r\n' + OK
    assert await client.command("AT+COPS=2") == OK
    assert await client.command("AT+CREG?") == b"\r\n+CREG: 0,0\r\n" + OK
    assert await client.command('AT+COPS=1,2,"99999"') == b"\r\nERROR\r\n"  # not our network
    assert await client.command("AT+COPS=0") == OK
    assert await client.command("AT+CREG?") == b"\r\n+CREG: 0,1\r\n" + OK


async def test_own_number_only_when_the_sim_knows_it(open_modem: OpenModem) -> None:
    _, unknown = await open_modem()
    await unknown.command("ATE0")
    assert await unknown.command("AT+CNUM") == OK
    _, known = await open_modem(own_number="+15557654321", sim_pin="1111")
    await known.command("ATE0")
    await known.command("AT+CMEE=1")
    assert await known.command("AT+CNUM") == b"\r\n+CME ERROR: 11\r\n"  # SIM locked
    await known.command('AT+CPIN="1111"')
    assert await known.command("AT+CNUM") == b'\r\n+CNUM: "","+15557654321",145\r\n' + OK


async def test_an_lte_only_modem_registers_only_in_cereg(open_modem: OpenModem) -> None:
    modem, client = await open_modem(lte_only=True)
    await client.command("ATE0")
    assert await client.command("AT+CREG?;+CGREG?;+CEREG?") == (
        b"\r\n+CREG: 0,0\r\n\r\n+CGREG: 0,0\r\n\r\n+CEREG: 0,1\r\n" + OK
    )
    assert await client.command("AT+CEREG=1") == OK
    modem.set_registration(3)  # denied: only the enabled LTE URC says so
    assert await client.read_until(CREG_URC) == b"\r\n+CEREG: 3\r\n"
    assert await client.command("AT+CMGS=10") == b"\r\n+CMS ERROR: 331\r\n"
    assert FINAL.search(await client.command("AT+COPS?"))
