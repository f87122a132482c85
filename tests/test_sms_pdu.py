"""SMS-SUBMIT: hand-checked bytes, agreement with python-gsmmodem, round trips, garbage."""

from __future__ import annotations

from datetime import timedelta

import gsmmodem.pdu
import pytest

from modemd.sms.encoding import split_message
from modemd.sms.pdu import DecodedSubmit, SubmitPdu, build_submit_pdus, decode_submit_pdu

EMOJI = "\U0001f600"
CYRILLIC = "й"
HELLO_PDU = (
    "00"  # SMSC part: none, use the SIM's
    "31"  # SMS-SUBMIT | TP-VPF relative | TP-SRR
    "00"  # TP-MR, assigned by the modem
    "0B911316325476F8"  # TP-DA: 11 digits, international (0x91), +31612345678
    "00"  # TP-PID
    "00"  # TP-DCS: GSM-7
    "A7"  # TP-VP: 167 = 24 hours
    "05"  # TP-UDL: 5 septets
    "E8329BFD06"  # "hello" packed: h=68 e=65 l=6C l=6C o=6F
)


def test_hello_is_byte_exact() -> None:
    assert build_submit_pdus("+31612345678", "hello") == [
        SubmitPdu(hex=HELLO_PDU, tpdu_length=19, part=1, total=1)
    ]


def test_without_status_report_only_the_first_octet_changes() -> None:
    [pdu] = build_submit_pdus("+31612345678", "hello", request_status_report=False)
    assert pdu.hex == "0011" + HELLO_PDU[4:]


def test_national_number_uses_toa_81_and_pads_odd_digits() -> None:
    [pdu] = build_submit_pdus("0612345678", "hi")
    assert pdu.hex[6:20] == "0A81" + "6021436587"
    [odd] = build_submit_pdus("12345", "hi")
    assert odd.hex[6:16] == "0581" + "2143F5"


def test_long_gsm7_message_layout() -> None:
    pdus = build_submit_pdus("+31612345678", "a" * 161, concat_ref=0x1234)
    assert [(pdu.part, pdu.total) for pdu in pdus] == [(1, 2), (2, 2)]
    first = pdus[0].hex
    assert first[2:4] == "71"  # SUBMIT | VPF relative | SRR | UDHI
    assert first[28:30] == "A0"  # TP-UDL: 7 header septets + 153 text septets = 160
    assert first[30:42] == "050003340201"  # UDH: concat, 8-bit ref 0x34 (0x1234 & 0xFF), 2, 1
    assert pdus[1].hex[30:42] == "050003340202"
    assert pdus[0].tpdu_length == 14 + 140  # a full part fills the 140-octet user data


@pytest.mark.parametrize(
    ("text", "dcs", "udl"),
    [
        pytest.param("a" * 160, "00", 160, id="gsm7-full-single"),
        pytest.param(CYRILLIC * 70, "08", 140, id="ucs2-full-single"),
        pytest.param(EMOJI * 35, "08", 140, id="emoji-full-single"),
        pytest.param("", "00", 0, id="empty"),
    ],
)
def test_single_part_user_data_length(text: str, dcs: str, udl: int) -> None:
    [pdu] = build_submit_pdus("+31612345678", text)
    assert pdu.hex[24:26] == dcs
    assert int(pdu.hex[28:30], 16) == udl
    assert pdu.tpdu_length == 14 + (udl if dcs == "08" else (udl * 7 + 7) // 8)


def test_emoji_is_encoded_as_utf16_surrogate_pair() -> None:
    [pdu] = build_submit_pdus("+31612345678", "hi " + EMOJI)
    assert pdu.hex.endswith("0A" + "0068" + "0069" + "0020" + "D83DDE00")


# Texts python-gsmmodem encodes correctly (BMP only, no "§", "`" or form feed).
GSMMODEM_AGREES = [
    "hello",
    "",
    "a" * 160,
    "a" * 161,
    "a" * 152 + "€" + "b" * 10,
    "{x}" * 120,
    "^" * 81,
    CYRILLIC * 71,
    "Привет, мир! " * 25,
]


@pytest.mark.parametrize("text", GSMMODEM_AGREES)
def test_matches_gsmmodem_encoder_byte_for_byte(text: str) -> None:
    theirs = gsmmodem.pdu.encodeSmsSubmitPdu(
        "+31612345678", text, reference=0, validity=timedelta(hours=24)
    )
    ours = build_submit_pdus("+31612345678", text)
    assert [(pdu.hex, pdu.tpdu_length) for pdu in ours] == [
        (str(pdu), pdu.tpduLength) for pdu in theirs
    ]


@pytest.mark.parametrize("text", ["a" * 400, "x{y}" * 90, "Grüße " * 40])
def test_gsmmodem_decoder_reads_our_multipart_gsm7(text: str) -> None:
    decoded = [gsmmodem.pdu.decodeSmsPdu(pdu.hex) for pdu in build_submit_pdus("+49170", text)]
    assert "".join(part["text"] for part in decoded) == text
    assert [(part["udh"][0].number, part["udh"][0].parts) for part in decoded] == [
        (number, len(decoded)) for number in range(1, len(decoded) + 1)
    ]


ROUND_TRIP_TEXTS = [
    pytest.param("", id="empty"),
    pytest.param("hello", id="hello"),
    pytest.param("abcdefg@", id="at-sign-as-8th-septet"),
    pytest.param("@" * 16, id="only-at-signs"),
    pytest.param("§ and \f and €", id="chars-gsmmodem-gets-wrong"),
    pytest.param("a" * 160, id="gsm7-160"),
    pytest.param("a" * 161, id="gsm7-161"),
    pytest.param("b" * 306, id="gsm7-306"),
    pytest.param("b" * 307, id="gsm7-307"),
    pytest.param("a" * 152 + "]" + "a" * 200, id="extension-at-boundary"),
    pytest.param("{[|]}" * 70, id="extensions-only"),
    pytest.param("back`tick", id="backtick-is-ucs2"),
    pytest.param(CYRILLIC * 70, id="ucs2-70"),
    pytest.param(CYRILLIC * 71, id="ucs2-71"),
    pytest.param(CYRILLIC * 66 + EMOJI + CYRILLIC * 80, id="emoji-at-units-67-68"),
    pytest.param(CYRILLIC * 65 + EMOJI + CYRILLIC * 80, id="emoji-at-units-66-67"),
    pytest.param(EMOJI * 300, id="emoji-only"),
    pytest.param("Mixed 中文 text \U0001f44d🏽 " * 12, id="mixed"),
]


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
@pytest.mark.parametrize("to", ["+31612345678", "0612345678", "+1", "112"])
def test_round_trip(text: str, to: str) -> None:
    pdus = build_submit_pdus(to, text, concat_ref=300)
    decoded = [decode_submit_pdu(pdu.hex) for pdu in pdus]
    assert "".join(part.text for part in decoded) == text
    assert tuple(part.text for part in decoded) == split_message(text).parts
    total = len(pdus)
    single = total == 1
    assert decoded == [
        DecodedSubmit(to, part.text, True, None if single else 300 & 0xFF, number, total)
        for number, part in enumerate(decoded, start=1)
    ]
    assert [(pdu.part, pdu.total) for pdu in pdus] == [(n, total) for n in range(1, total + 1)]
    for pdu in pdus:
        assert pdu.tpdu_length == len(pdu.hex) // 2 - 1
        assert pdu.hex == pdu.hex.upper()
        assert pdu.tpdu_length <= 14 + 140 + 4  # 20-digit addresses add at most 4 octets


@pytest.mark.parametrize("request_status_report", [True, False])
def test_round_trip_status_report_flag(request_status_report: bool) -> None:
    pdus = build_submit_pdus("+31612345678", "x" * 200, request_status_report=request_status_report)
    flags = {decode_submit_pdu(pdu.hex).status_report_requested for pdu in pdus}
    assert flags == {request_status_report}


@pytest.mark.parametrize(
    ("hex_pdu", "expected"),
    [
        pytest.param(  # python-gsmmodem's tests: SMSC part present, no TP-VP, UCS-2
            "07914346466554F601000B914316565811F9000806304253F68449",
            DecodedSubmit("+34616585119", "あ叶葉", False, None, 1, 1),
            id="smsc-present-ucs2",
        ),
        pytest.param(  # python-gsmmodem's tests: absolute (7-octet) TP-VP
            "0019000B917228001011F100003170013193008017D474BB3CA787DB70903DCC4E93D3F43C885E9ED301",
            DecodedSubmit("+27820001111", "Timestamp validity test", False, None, 1, 1),
            id="absolute-validity",
        ),
        pytest.param(  # UDHL 6: IEI 0x08, length 4, ref 0x1234, 3 parts, part 2; UCS-2 "ok"
            "0071000B911316325476F80008A70B" + "06080412340302" + "006F006B",
            DecodedSubmit("+31612345678", "ok", True, 0x1234, 2, 3),
            id="concat-16-bit-ref",
        ),
    ],
)
def test_decode_third_party_pdus(hex_pdu: str, expected: DecodedSubmit) -> None:
    assert decode_submit_pdu(hex_pdu) == expected


GARBAGE = [
    pytest.param("", "empty", id="empty"),
    pytest.param("   \r\n", "empty", id="whitespace"),
    pytest.param("XYZ", "hex", id="not-hex"),
    pytest.param("001", "hex", id="odd-length"),
    pytest.param("00", "first octet", id="no-tpdu"),
    pytest.param("0F00", "SMSC address", id="smsc-past-end"),
    pytest.param("0031000B9113163254", "TP-DA", id="truncated-address"),
    pytest.param(HELLO_PDU[:-2], "TP-UDL 5", id="user-data-short"),
    pytest.param(HELLO_PDU + "00", "TP-UDL 5", id="user-data-long"),
    pytest.param("0006D60B911326880736F4111011719551401110117195714000", "TP-MTI", id="report"),
    pytest.param("0031000B911316325476F80004A70141", "TP-DCS 0x04", id="8-bit-data"),
    pytest.param("0031000B911316325476F80008A702D800", "UTF-16", id="lone-surrogate"),
    pytest.param("0031000B911316325476F80008A703006100", "UTF-16", id="odd-ucs2"),
    pytest.param("0031000B911316325476F80000A7011B", "lone escape", id="lone-escape"),
    pytest.param("0071000B911316325476F80008A703090000", "header is longer", id="udh-long"),
    pytest.param("0071000B911316325476F80008A7030200FF", "truncated information", id="ie"),
    pytest.param("0071000B911316325476F80008A706050003010200", "part 0 of 2", id="part-0"),
    pytest.param("0071000B911316325476F80008A706050003010203", "part 3 of 2", id="part>total"),
    pytest.param("0071000B911316325476F80000A706050003010201", "shorter than", id="udl<udh"),
]


@pytest.mark.parametrize(("hex_pdu", "message"), GARBAGE)
def test_decode_rejects_garbage(hex_pdu: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_submit_pdu(hex_pdu)


@pytest.mark.parametrize("to", ["", "+", "abc", "+31 612", "+31-612", "1" * 21, "٣٤٥"])
def test_build_rejects_bad_numbers(to: str) -> None:
    with pytest.raises(ValueError, match="not a phone number"):
        build_submit_pdus(to, "hi")


def test_build_accepts_twenty_digits() -> None:
    [pdu] = build_submit_pdus("+" + "9" * 20, "hi")
    assert decode_submit_pdu(pdu.hex).to == "+" + "9" * 20


def test_build_rejects_more_than_255_parts() -> None:
    assert len(build_submit_pdus("+1", "a" * 153 * 255)) == 255
    with pytest.raises(ValueError, match="256 parts"):
        build_submit_pdus("+1", "a" * (153 * 255 + 1))
