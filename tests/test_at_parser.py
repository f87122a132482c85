"""The sans-IO AT layer, byte by byte."""

from __future__ import annotations

import random

import pytest

from modemd.at import commands as at
from modemd.at.parser import MAX_LINE_BYTES, PROMPT, AtParser, Event, Line, Prompt, Urc
from modemd.at.results import ErrorClass, FinalKind, classify_cms, parse_final
from modemd.at.transaction import Command, Disposition, Transaction

CMGS_WITH_NOISE = (
    b"AT+CMGS=23\r\r\n^RSSI:18\r\n+ZDONR\r\n> "
    b"\r\n+CDS: 25\r\n0006D60B911326880736F4111011719551401110117195714000\r\n"
    b"\r\n+CMGS: 42\r\n\r\nOK\r\n"
)


def feed_all(data: bytes, chunk: int) -> list[object]:
    parser = AtParser()
    events: list[object] = []
    for i in range(0, len(data), chunk):
        events.extend(parser.feed(data[i : i + chunk]))
    return events


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_events_do_not_depend_on_how_bytes_are_split(chunk: int) -> None:
    assert feed_all(CMGS_WITH_NOISE, chunk) == [
        Line("AT+CMGS=23"),
        Urc("^RSSI:18"),
        Urc("+ZDONR"),
        Prompt(),
        Urc("+CDS: 25", pdu="0006D60B911326880736F4111011719551401110117195714000"),
        Line("+CMGS: 42"),
        Line("OK"),
    ]


def test_split_crlf_between_feeds() -> None:
    parser = AtParser()
    assert parser.feed(b"\r\nOK\r") == [Line("OK")]
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\r\nERROR\r\n") == [Line("ERROR")]


def test_prompt_needs_no_line_end_and_partial_prompt_waits() -> None:
    parser = AtParser()
    assert parser.feed(b"\r\n>") == []
    assert parser.feed(b" ") == [Prompt()]


def test_text_mode_cds_is_one_line() -> None:
    line = b'+CDS: 6,202,"+31612345678",145,"24/05/01,12:00:00+08","24/05/01,12:00:05+08",0\r\n'
    assert AtParser().feed(line) == [Urc(line.decode().strip())]


def test_line_ending_with_double_cr() -> None:
    assert AtParser().feed(b"+CLAC: A,B,\r\r\nOK\r\n") == [Line("+CLAC: A,B,"), Line("OK")]


def test_endless_garbage_is_cut_not_hoarded() -> None:
    parser = AtParser()
    events = parser.feed(b"\xff" * 5000)
    assert len(events) == 1 and isinstance(events[0], Line)
    assert parser.feed(b"\r\nOK\r\n")[-1] == Line("OK")


def test_reset_drops_partial_input() -> None:
    parser = AtParser()
    parser.feed(b"+CDS: 25\r\n00")
    parser.reset()
    assert parser.feed(b"OK\r\n") == [Line("OK")]


@pytest.mark.parametrize(
    ("line", "kind", "code"),
    [
        ("OK", FinalKind.OK, None),
        ("ERROR", FinalKind.ERROR, None),
        ("COMMAND NOT SUPPORT", FinalKind.ERROR, None),
        ("+CMS ERROR: 500", FinalKind.CMS_ERROR, 500),
        ("+CME ERROR: 10", FinalKind.CME_ERROR, 10),
        ("+CME ERROR: SIM not inserted", FinalKind.CME_ERROR, None),
    ],
)
def test_final_results(line: str, kind: FinalKind, code: int | None) -> None:
    final = parse_final(line)
    assert final is not None and final.kind is kind and final.code == code


@pytest.mark.parametrize("line", ["+CMGS: 3", "OKAY", "", "+CSQ: 20,99"])
def test_non_finals(line: str) -> None:
    assert parse_final(line) is None


def test_cms_table() -> None:
    assert classify_cms(42) is ErrorClass.TRANSIENT
    assert classify_cms(500) is ErrorClass.TRANSIENT
    assert classify_cms(1) is ErrorClass.PERMANENT
    assert classify_cms(None) is ErrorClass.PERMANENT


def test_transaction_drops_echo_keeps_prefixed_response_and_flags_urcs() -> None:
    tx = Transaction(Command("AT+CSQ", prefix="+CSQ:"))
    assert tx.on_line("AT+CSQ") is Disposition.ECHO
    assert tx.on_line("+CREG: 1") is Disposition.UNSOLICITED
    assert tx.on_line("+CSQ: 21,99") is Disposition.RESPONSE
    assert not tx.done
    assert tx.on_line("OK") is Disposition.FINAL
    assert tx.done and tx.responses == ["21,99"]


def test_transaction_unprefixed_response() -> None:
    tx = Transaction(at.IMEI)
    assert tx.on_line("351234567890123") is Disposition.RESPONSE
    assert tx.on_line("OK") is Disposition.FINAL
    assert at.first_value(tx.responses) == "351234567890123"


def test_transaction_prefixed_identity_variant() -> None:
    tx = Transaction(at.MANUFACTURER)
    tx.on_line("+CGMI:  WAVECOM MODEM")
    assert at.first_value(tx.responses) == "WAVECOM MODEM"


@pytest.mark.parametrize(
    ("responses", "state"),
    [
        (["READY"], at.SimState.READY),
        (["SIM PIN"], at.SimState.SIM_PIN),
        (["sim puk"], at.SimState.SIM_PUK),
        (["PH-NET PIN"], at.SimState.OTHER),
    ],
)
def test_sim_state(responses: list[str], state: at.SimState) -> None:
    assert at.parse_sim_state(responses) is state


def test_response_parsers() -> None:
    assert at.parse_registration(["0,1"]) == 1
    assert at.parse_registration(['2,5,"00C3","1A2B"']) == 5
    assert at.parse_registration(["3"]) == 3
    assert at.parse_registration(["garbage"]) is None
    assert at.parse_signal(["99,99"]) is None
    assert at.parse_signal(["17,0"]) == 17
    assert at.rssi_to_dbm(0) == -113 and at.rssi_to_dbm(31) == -51
    assert at.parse_message_reference(["255"]) == 255
    assert at.parse_message_reference(['12,"24/05/01,12:00:00+08"']) == 12
    assert at.parse_message_reference([]) is None
    assert at.parse_smsc(['"+31653131313",145']) == "+31653131313"
    assert at.parse_smsc(['"",129']) is None


def test_report_memory_commands_and_answers() -> None:
    """+CDSI names the memory; AT+CPMS="SR" selects <mem1> only; AT+CPMS=? lists what <mem1>
    takes (SIM7600: "SR" for reading only), in the shapes firmware writes it."""
    assert at.parse_cdsi_memory('+CDSI: "SR",3') == ("SR", 3)
    assert at.parse_cdsi_memory("+CDSI: sm, 12") == ("SM", 12)
    assert at.parse_cdsi_memory('+CMTI: "SM",1') is None
    assert at.select_read_memory("SR").text == 'AT+CPMS="SR"'
    offered = '+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM"),("ME","SM")'
    assert at.parse_read_memories([offered]) == {"ME", "MT", "SM", "SR"}
    assert at.parse_read_memories(['+CPMS: ("SM"),("SM"),("SM")']) == {"SM"}
    assert at.parse_read_memories(['+CPMS: "SM","ME"']) == {"SM", "ME"}
    assert at.parse_read_memories(["+CPMS: 1,2"]) == set()
    assert at.parse_storage(["1,50,0,100,0,100"]) == (1, 50)  # the answer to AT+CPMS="SR"


def _fed(wire: bytes, chunk: int) -> list[Event]:
    """What a fresh parser makes of ``wire`` fed ``chunk`` bytes at a time."""
    parser = AtParser()
    return [e for i in range(0, len(wire), chunk) for e in parser.feed(wire[i : i + chunk])]


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_a_read_in_the_report_memory_byte_by_byte(chunk: int) -> None:
    """AT+CPMS="SR" then AT+CMGR=<i>, a +CDSI arriving between them, however the bytes come."""
    wire = (
        b"\r\n+CPMS: 1,50,0,20,0,20\r\n\r\nOK\r\n"
        + b'\r\n+CDSI: "SR",2\r\n'
        + b"\r\n+CMGR: ,,25\r\n0006D60B911326880736F4\r\n\r\nOK\r\n"
    )
    events = _fed(wire, chunk)
    assert [e.text for e in events if isinstance(e, Urc)] == ['+CDSI: "SR",2']
    lines = iter(e.text for e in events if isinstance(e, Line))
    answers = []
    for command in (at.select_read_memory("SR"), at.read_message(1)):
        tx = Transaction(command)
        while not tx.done:
            assert tx.on_line(next(lines)) is not Disposition.UNSOLICITED
        answers.append(tx.responses)
    assert at.parse_storage(answers[0]) == (1, 50)
    assert at.parse_read(1, answers[1]) == at.StoredPdu(1, 25, "0006D60B911326880736F4")


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_a_free_and_a_listing_on_one_line_answer_as_the_listing(chunk: int) -> None:
    """``AT+CMGD=1,1;+CMGL=0``: echoed as written, a +CDSI between the listing's lines, one
    final result; the listing's lines are the answer, however the bytes come."""
    command = at.after_free(1, at.LIST_UNREAD_PDU)
    assert command.text == "AT+CMGD=1,1;+CMGL=0"
    assert at.after_free(2, at.read_message(7)).text == "AT+CMGD=2,1;+CMGR=7"
    wire = (
        b"AT+CMGD=1,1;+CMGL=0\r\r\n+CMGL: 3,0,,25\r\n0006D60B911326880736F4\r\n"
        + b'\r\n+CDSI: "SM",5\r\n'
        + b"\r\n+CMGL: 4,0,,25\r\n0006D70B911326880736F4\r\n\r\nOK\r\n"
    )
    events = _fed(wire, chunk)
    tx = Transaction(command)
    urcs = [e.text for e in events if isinstance(e, Urc)]
    for line in (e.text for e in events if isinstance(e, Line)):
        if tx.on_line(line) is Disposition.UNSOLICITED:
            urcs.append(line)
    assert tx.done and tx.final is not None and tx.final.ok
    assert urcs == ['+CDSI: "SM",5']
    listed = at.parse_listing(tx.responses)
    assert [s.index for s in listed] == [3, 4]


def test_stored_message_parsers() -> None:
    assert at.parse_cdsi('+CDSI: "SR",3') == 3
    assert at.parse_cdsi("+CDSI: SM, 12") == 12
    assert at.parse_cdsi("+CDS: 25") is None
    listing = ["1,1,,25", "0006D60B91", "7,0,,30", "07911326"]
    assert at.parse_listing(listing) == [
        at.StoredPdu(1, 25, "0006D60B91"),
        at.StoredPdu(7, 30, "07911326"),
    ]
    assert at.parse_listing([]) == []
    assert at.parse_read(3, ["1,,4", "0006D60B"]) == at.StoredPdu(3, 4, "0006D60B")
    assert at.parse_read(3, [",,4", "0006D60B"]) == at.StoredPdu(3, 4, "0006D60B")  # a report
    assert at.parse_read(3, []) is None
    assert at.parse_cmt("+CMT: ,3", "06D60B") == at.StoredPdu(None, 3, "06D60B")
    assert at.parse_cmt('+CMT: "Alice",3', "0006D60B").length == 3
    # The SMSC part is put first when the modem left it out (exactly <length> octets).
    assert at.StoredPdu(1, 3, "06 d6 0b").with_smsc == "0006D60B"
    assert at.StoredPdu(1, 3, "0006D60B").with_smsc == "0006D60B"
    assert at.StoredPdu(1, None, "0006D60B").with_smsc == "0006D60B"


def test_delete_flags_are_read_from_the_test_command_however_written() -> None:
    offered = ["+CMGD: (1-20),(0-4)", "+CMGD: (0-39),(0,1,2,3,4)", "+CMGD: (1,2,3),(1)"]
    refused = ["+CMGD: (1-20)", "+CMGD: (1-20),(0)", "+CMGD: (1-20),(2-4)", "COMMAND NOT SUPPORT"]
    assert [at.parse_delete_flags([line]) for line in offered] == [True] * 3
    assert [at.parse_delete_flags([line]) for line in refused] == [False] * 4
    assert at.delete_read(3).text == "AT+CMGD=3,1"


class _ByteAtATime(AtParser):
    """The reference framer: one byte at a time (what ``AtParser.feed`` did before it took a
    run of bytes without a line end at once)."""

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for byte in data:
            if byte in b"\r\n":
                self._end_line(events)
                continue
            self._buf.append(byte)
            if self._buf == PROMPT:
                self._buf.clear()
                events.append(Prompt())
            elif len(self._buf) > MAX_LINE_BYTES:
                events.append(Line(self._buf.decode("latin-1").strip()))
                self._buf.clear()
        return events


def test_runs_of_bytes_frame_as_one_byte_at_a_time_would() -> None:
    """Prompts, URCs (two-line ones too), overlong garbage and split line ends, in random
    mixes and random chunks: the same events as the byte-at-a-time reference."""
    rng = random.Random(21)
    pieces = [b"\r\n", b"\r", b"\n", b"> ", b">", b" ", b"OK", b"+CDS: 25", b"0006D6",
              b"+CMT: ,3", b'+CDSI: "SR",3', b"x" * (MAX_LINE_BYTES + 900), b"+CMGS: 5",
              b"^RSSI: 3", b"\xff\x00"]  # fmt: skip
    for _ in range(300):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 30)))
        runs, reference = AtParser(), _ByteAtATime()
        got: list[Event] = []
        want: list[Event] = []
        at = 0
        while at < len(data):
            size = rng.choice([1, 2, 3, 7, 50, 4096, 10_000])
            got += runs.feed(data[at : at + size])
            want += reference.feed(data[at : at + size])
            at += size
        assert got == want, data[:120]
