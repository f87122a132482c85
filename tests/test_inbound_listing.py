"""The SIM's memory holds received SMS and status reports side by side: AT+CMGL=4 at open
(and AT+CMGR after +CMTI/+CDSI) hands each to its own path by TP-MTI, and frees each only once
its handler committed it. Byte by byte through the sans-IO layer, then over a real pty."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from inbound_side import Committer, opened, until

from modemd.at import commands as at
from modemd.at.parser import AtParser, Line, Urc
from modemd.at.transaction import Disposition, Transaction
from modemd.emulators.modem_at import frame_line
from modemd.emulators.modem_bank import EmulatedBank
from modemd.emulators.modem_storage import REC_UNREAD, REPORT
from modemd.sms.deliver import MessageType, message_type
from modemd.sms.deliver_build import build_deliver
from modemd.sms.pdu import build_status_report_pdu, build_submit_pdus

STO_UNSENT = 2  # 27.005 3.1 <stat>: stored, not sent (an SMS-SUBMIT written with AT+CMGW)
SCTS = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
DELIVER = build_deliver("+393331234567", "ciao", scts=SCTS)[0]
DELIVER_2 = build_deliver("+447700900123", "a second reply", scts=SCTS)[0]
REPORT_OK = build_status_report_pdu(42, "+393331234567", 0x00, SCTS, SCTS)
REPORT_FAILED = build_status_report_pdu(43, "+447700900123", 0x45, SCTS, SCTS)
TRUNCATED_REPORT = REPORT_OK[:-6]  # TP-ST and part of TP-DT lost
SUBMIT = build_submit_pdus("+15550001111", "draft")[0].hex


def octets(hex_pdu: str) -> int:
    return len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)


def cmgl_answer(entries: list[tuple[int, int, str]]) -> bytes:
    """What a modem writes for AT+CMGL=4, with a +CMTI arriving in the middle of it."""
    out = b"AT+CMGL=4\r\r\n"
    for n, (index, stat, pdu) in enumerate(entries):
        out += f"+CMGL: {index},{stat},,{octets(pdu)}\r\n{pdu}\r\n".encode()
        if n == 1:
            out += b'+CMTI: "SM",9\r\n'
    return out + b"\r\nOK\r\n"


MIXED = [
    (1, 1, REPORT_OK),
    (2, 1, DELIVER),
    (3, 1, REPORT_FAILED),
    (4, 1, TRUNCATED_REPORT),
    (5, STO_UNSENT, SUBMIT),
    (6, 0, DELIVER_2),
]


@pytest.mark.parametrize("chunk", [1, 2, 5, 64, 4096])
def test_a_mixed_listing_sorts_by_tp_mti_however_the_bytes_come(chunk: int) -> None:
    data, parser, tx = cmgl_answer(MIXED), AtParser(), Transaction(at.LIST_ALL_PDU)
    urcs: list[Urc] = []
    for i in range(0, len(data), chunk):
        for event in parser.feed(data[i : i + chunk]):
            if isinstance(event, Urc):
                urcs.append(event)
            elif isinstance(event, Line):
                assert tx.on_line(event.text) is not Disposition.UNSOLICITED
    assert tx.done and urcs == [Urc('+CMTI: "SM",9')]
    listed = at.parse_listing(tx.responses)
    assert [(s.index, s.length, s.pdu) for s in listed] == [
        (index, octets(pdu), pdu) for index, _, pdu in MIXED
    ]
    kinds = [message_type(s.with_smsc) for s in listed]
    assert kinds == [
        MessageType.STATUS_REPORT,
        MessageType.DELIVER,
        MessageType.STATUS_REPORT,
        MessageType.STATUS_REPORT,  # truncated, yet still a report: never an SMS
        MessageType.SUBMIT,
        MessageType.DELIVER,
    ]


async def test_a_mixed_memory_at_open_goes_each_its_way_freed_after_its_commit() -> None:
    async with EmulatedBank.create(1, seed=21) as bank:
        modem = bank.modems[0]
        storage = modem._session.storage
        for _, stat, pdu in MIXED:
            storage.store(pdu, REPORT if message_type(pdu) is MessageType.STATUS_REPORT else stat)
        committer = Committer(lambda: {pdu for _, pdu in storage._messages.values()})
        async with opened(modem, committer):
            await until(lambda: storage.used == 1)  # the SUBMIT stays: not ours to free
            assert [pdu for _, pdu in storage._messages.values()] == [SUBMIT]
            by_ref = {r.reference: (r, held) for r, held in committer.reports}
            assert sorted(by_ref) == [42, 43]  # the truncated report went to neither path
            assert by_ref[42][0].recipient == "+393331234567" and REPORT_OK in by_ref[42][1]
            assert REPORT_FAILED in by_ref[43][1]
            texts = {m.text: held for m, held in committer.messages}
            assert sorted(texts) == ["a second reply", "ciao"]  # never a report as a raw SMS
            assert DELIVER in texts["ciao"] and DELIVER_2 in texts["a second reply"]
            # A report where +CMTI says an SMS is (firmware mixing them up): still a report.
            index = storage.store(REPORT_FAILED, REC_UNREAD)
            modem._session._urc(frame_line(f'+CMTI: "SM",{index}'))
            modem._pump(None)  # written to the pty now
            await until(lambda: len(committer.reports) == 3 and storage.used == 1)
            assert committer.reports[-1][0].reference == 43 and len(committer.messages) == 2
