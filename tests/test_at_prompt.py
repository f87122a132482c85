"""The ``> `` prompt belongs to the sans-IO transaction: bytes in, the body out, byte by byte."""

from __future__ import annotations

from modemd.at.parser import AtParser, Line, Prompt, Urc
from modemd.at.transaction import CTRL_Z, Command, Phase, Transaction

CMGS = Command("AT+CMGS=18", prefix="+CMGS:")
BODY = b"0011000B911326880736F40000A900"


def run(tx: Transaction, wire: bytes, chunk: int) -> tuple[bytes, list[str]]:
    """Feed ``wire`` in chunks of ``chunk`` bytes; what the host writes, and the URCs seen."""
    parser, written, urcs = AtParser(), b"", []
    for i in range(0, len(wire), chunk):
        for event in parser.feed(wire[i : i + chunk]):
            if isinstance(event, Prompt):
                written += tx.on_prompt() or b""
            elif isinstance(event, Urc):
                urcs.append(event.text)
            else:
                assert isinstance(event, Line)
                tx.on_line(event.text)
    return written, urcs


def test_prompt_then_body_then_the_message_reference_one_byte_at_a_time() -> None:
    wire = b"AT+CMGS=18\r\r\n> \r\n+CMGS: 42\r\n\r\nOK\r\n"
    for chunk in (1, 2, 3, len(wire)):
        tx = Transaction(CMGS, body=BODY)
        assert tx.phase is Phase.PROMPT
        written, _ = run(tx, wire, chunk)
        assert written == BODY + CTRL_Z, chunk
        assert tx.phase is Phase.DONE and tx.final is not None and tx.final.ok
        assert tx.responses == ["42"]


def test_an_error_instead_of_the_prompt_sends_nothing() -> None:
    tx = Transaction(CMGS, body=BODY)
    written, _ = run(tx, b"\r\n+CMS ERROR: 330\r\n", 1)
    assert written == b""
    assert tx.phase is Phase.DONE and tx.final is not None and tx.final.code == 330
    assert not tx.body_sent  # nothing of the PDU went out: safe to send again


def test_the_body_goes_out_once_even_if_the_prompt_repeats() -> None:
    tx = Transaction(CMGS, body=BODY)
    written, _ = run(tx, b"> > ", 1)
    assert written == BODY + CTRL_Z
    assert tx.phase is Phase.FINAL  # the outcome now depends on the final result


def test_a_prompt_for_a_command_without_a_body_writes_nothing() -> None:
    tx = Transaction(Command("AT+CSQ", prefix="+CSQ:"))
    assert tx.phase is Phase.FINAL
    written, _ = run(tx, b"> \r\n+CSQ: 20,99\r\nOK\r\n", 1)
    assert written == b"" and tx.responses == ["20,99"]


def test_urcs_around_the_prompt_are_not_the_commands() -> None:
    wire = b'\r\n^RSSI: 17\r\n> \r\n+CDSI: "SR",3\r\n+CMGS: 7\r\n\r\nOK\r\n'
    tx = Transaction(CMGS, body=BODY)
    written, urcs = run(tx, wire, 1)
    assert written == BODY + CTRL_Z
    assert urcs == ["^RSSI: 17", '+CDSI: "SR",3']
    assert tx.responses == ["7"] and tx.phase is Phase.DONE
