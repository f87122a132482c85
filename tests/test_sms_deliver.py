"""SMS-DELIVER decoding, byte by byte: published PDUs (each cited), then each field's rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from modemd.errors import PduError
from modemd.sms.dcs import Alphabet, WaitingKind, parse_dcs
from modemd.sms.deliver import MessageType, decode_deliver, message_type
from modemd.sms.tpdu import TON_ALPHANUMERIC, TON_INTERNATIONAL, TON_UNKNOWN
from modemd.sms.udh import Concat


def zone(quarters: int) -> timezone:
    return timezone(timedelta(minutes=15 * quarters))


@dataclass(frozen=True)
class Published:
    pdu: str
    smsc: str | None
    sender: str
    sender_ton: int
    scts: datetime
    text: str
    concat: Concat | None = None
    alphabet: Alphabet = Alphabet.GSM7


# Source 1: python-gsmmodem (babca/python-gsmmodem, test/test_pdu.py TestSmsPdu.test_decode and
# test/test_modem.py's recorded +CMGL/+CMGR answers of real modems).
GSMMODEM = [
    Published(
        "06917228195339040B917228214365F700003130805120618005D4F29C2E03",
        "+2782913593",
        "+27821234567",
        TON_INTERNATIONAL,
        datetime(2013, 3, 8, 15, 2, 16, tzinfo=zone(8)),
        "Test2",
    ),
    Published(
        "07915892000000F0040B915892214365F700007040213252242331493A283D0795C3F33C88FE06C9CB6132885E"
        "C6D341EDF27C1E3E97E7207B3A0C0A5241E377BB1D7693E72E",
        "+85290000000",
        "+85291234567",
        TON_INTERNATIONAL,
        datetime(2007, 4, 12, 23, 25, 42, tzinfo=zone(32)),
        "It is easy to read text messages via AT commands.",
    ),
    Published(  # extension-table braces and an accented letter of the default alphabet
        "06917228195339040B917228214365F70000313062315352800A800D8A5E98D337A910",
        "+2782913593",
        "+27821234567",
        TON_INTERNATIONAL,
        datetime(2013, 3, 26, 13, 35, 25, tzinfo=zone(8)),
        "@{tést}!",
    ),
    Published(  # a one-part concatenated message from a short code with TON unknown (0x81)
        "0591721891F1400781721881F800003160526104848059050003C30101916536FB1DCABEEB2074D85E0649"
        "41B19CAB060319A5C522289C96D3D3ED32286C0FA7D96131BBEC024941B19CAB0603DDD36C36A88C87A7E5"
        "65D0DB0D82C55EB0DB4B068BCD5C20",
        "+2781191",
        "2781188",
        TON_UNKNOWN,
        datetime(2013, 6, 25, 16, 40, 48, tzinfo=zone(8)),
        "Hello!You have R 19.50 FREE airtime available. R 19.50 will expire on 01/07/2013. ",
        Concat(0xC3, 1, 1, 8),
    ),
    Published(  # UCS-2 from an alphanumeric sender, part 1 of 2
        "07919762020033F1400DD0CDF2396C7EBB010008415072411084618C0500035602010053004D0053002000"
        "63006F00640065003A00200034003800350036002C00200063006F006E006600690072006D006100740069"
        "006F006E0020006F00660020006100730073006F00630069006100740069006F006E002000620065007400"
        "7700650065006E0020006100630063006F0075006E007400200061006E00640020004D00650067",
        "+79262000331",
        "Megafon",
        TON_ALPHANUMERIC,
        datetime(2014, 5, 27, 14, 1, 48, tzinfo=zone(16)),
        "SMS code: 4856, confirmation of association between account and Meg",
        Concat(0x56, 2, 1, 8),
        Alphabet.UCS2,
    ),
    Published(  # test_modem.py: +CMGL answer, TP-SRI set, a 16-digit sender
        "07917248010080F020109172480010359099990000312070101344809FCEF21D14769341E8B2BC0CA2BF41"
        "737A381F0211DFEE131DA4AECFE92079798C0ECBCF65D0B40A0D0E9141E9B1080ABBC9A073990ECABFEB72"
        "90BC3C4687E5E73219144ECBE9E976796594168BA06199CD1E82E86FD0B0CC660F41EDB47B0E3281A6CDE9"
        "7C659497CB2072981E06D1DFA0FABC0C0ABBF3F474BBEC02514D4350180E67E75DA06199CD060D01",
        "+27841000080",
        "+2784000153099999",
        TON_INTERNATIONAL,
        datetime(2013, 2, 7, 1, 31, 44, tzinfo=zone(8)),
        "New and here to stay! Don't just recharge SUPACHARGE and get your recharged airtime+FREE"
        " CellC to CellC mins & SMSs+Free data to use anytime. T&C apply. Cell C",
    ),
]

# Source 2: ModemManager (linux-mobile-broadband/ModemManager, src/tests/test-sms-part-3gpp.c),
# whose vectors are captures from operators (KPN NL welcome message, SFR, a US carrier).
MODEMMANAGER = [
    Published(  # test_pdu1: extension characters and Greek capitals of the default alphabet
        "07912104442961F4040B916171957291F800001120821105050A6AC8B2BC7C9A83C220F6DB7D2ECB41EDF2"
        "7C1E3E97411BDE06754FD3D1A0F9BB5D0695F1F4B29B5C2683C6E8B03C3CA697E5F34D6AE303D1D1F2F7DD"
        "0D4ABB59A0797D8C0685E7A00028EC26832A960B28EC2683BE6050780EBA97D96C17",
        "+12404492164",
        "+16175927198",
        TON_INTERNATIONAL,
        datetime(2011, 2, 28, 11, 50, 50, tzinfo=zone(-20)),
        "Here's a longer message [{with some extended characters}] thrown in, such as £ and ΩΠΨ"
        " and §¿ as well.",
    ),
    Published(  # test_pdu2: UCS-2 Cyrillic from the alphanumeric sender "InternetSMS"
        "07919730071111F10414D04937BD2C7797E9D3E614000811309291024061080442043504410442",
        "+79037011111",
        "InternetSMS",
        TON_ALPHANUMERIC,
        datetime(2011, 3, 29, 19, 20, 4, tzinfo=zone(16)),
        "тест",
        None,
        Alphabet.UCS2,
    ),
    Published(  # test_pdu_udhi: KPN welcome, 16-bit concatenation reference, TP-PID 0x39
        "07911356131313F64004850120390011609232239180A006080400100201D7327BFD6EB340E2321BF46E83"
        "EA7790F59D1E97DBE1341B442F83C465763D3DA797E56537C81D0ECB41AB59CC1693C16031D96C064241E5"
        "656838AF03A96230982A269BCD462917C8FA4E8FCBED709A0D7ABBE9F6B0FB5C7683D27350984D4FABC9A0"
        "B33C4C4FCF5D20EBFB2D079DCB62793DBD06D9C36E50FB2D4E97D9A0B49B5E96BBCB",
        "+31653131316",
        "1002",
        TON_UNKNOWN,
        datetime(2011, 6, 29, 23, 32, 19, tzinfo=zone(8)),
        "Welkom, bel om uw Voicemail te beluisteren naar +31612001233 (PrePay: *100*1233#)."
        " Voicemail ontvangen is altijd gratis. Voor gebruik van mobiel interne",
        Concat(0x0010, 2, 1, 16),
    ),
    Published(  # test_pdu_dcsf1: SFR, TP-DCS 0xF1 (GSM-7, class 1), CR LF in the text
        "07913306091093F0040485810000F111604231805180A049B7F90D9A1AA5A01668F8769BD3E4B29B9E2EB3"
        "59A03FC85D06A9C3ED707A0EA2CBC3EE79BB4CA7CBCBA05643617DA7C76990FD4D979741EE77DD5E0ED741"
        "ED371D442E83E0E1F9BC0CD281E677D9B84C06C1DF7539E85C9097E520FB9B2E2F83C6EF369C5E064D8D52"
        "D0BC2E07DDEF77D7DC2C7799E5A0771D040FCB41F402BB0047BFDD6550B80ECAD966",
        "+33609001390",
        "1800",
        TON_UNKNOWN,
        datetime(2011, 6, 24, 13, 8, 15, tzinfo=zone(8)),
        "Info SFR - Confidentiel, à ne jamais transmettre -\r\nVoici votre nouveau mot de passe :"
        " sw2ced pour gérer votre compte SFR sur www.sfr.fr ou par téléphone au 963",
    ),
]

# Source 3: captures posted to public issue trackers.
ISSUE_TRACKERS = [
    Published(  # wdoekes/asterisk-chan-dongle#8: a Huawei E180's +CMGR, UCS-2 emoji pairs
        "07913306092041F0040B913306991364F60008619091516061800AD83DDE03D83DDE0E0020",
        "+33609002140",
        "+33609931466",
        TON_INTERNATIONAL,
        datetime(2016, 9, 19, 15, 6, 16, tzinfo=zone(8)),
        "\U0001f603\U0001f60e ",
        None,
        Alphabet.UCS2,
    ),
    Published(  # JulianWowra/node-pdu#33: GSM-7 "è" from a Vietnamese network, UTC+7
        "07914889200009F4040B914843807079F300006220813205908205CF35C84D00",
        "+84980200904",
        "+84340807973",
        TON_INTERNATIONAL,
        datetime(2026, 2, 18, 23, 50, 9, tzinfo=zone(28)),
        "Ok nè",
    ),
    Published(  # JulianWowra/node-pdu#2: Brazilian voicemail notice, TP-DCS 0xC8 (MWI group)
        "07915510100102910407D1D6A4F50900C8715091415320291FD6F7B80CA297DBA018C8FDB68751F314A85D"
        "76CFC3E7721BE59EA700",
        "+550101102019",
        "VIVO",
        TON_ALPHANUMERIC,
        datetime(2017, 5, 19, 14, 35, 2, tzinfo=zone(-12)),
        "Voce tem 1 nova(s) mensagem(ns)",
    ),
]


@pytest.mark.parametrize("vector", GSMMODEM + MODEMMANAGER + ISSUE_TRACKERS)
def test_published_pdus(vector: Published) -> None:
    deliver = decode_deliver(vector.pdu)
    assert deliver.smsc is not None and deliver.smsc.value == vector.smsc
    assert (deliver.sender.value, deliver.sender.ton) == (vector.sender, vector.sender_ton)
    assert deliver.scts == vector.scts
    assert deliver.scts is not None and deliver.scts.utcoffset() == vector.scts.utcoffset()
    assert deliver.text == vector.text
    assert deliver.concat == vector.concat
    assert deliver.dcs.alphabet is vector.alphabet
    assert deliver.raw == vector.pdu
    assert deliver.notes == ()


def test_mwi_notice_carries_its_indication() -> None:
    """node-pdu#2's DCS 0xC8: group 1100 (discard), sense active, voicemail (23.038 4)."""
    waiting = decode_deliver(ISSUE_TRACKERS[2].pdu).dcs.waiting
    assert waiting is not None
    assert (waiting.kind, waiting.active, waiting.store) == (WaitingKind.VOICEMAIL, True, False)


def test_status_report_indication_and_more_messages() -> None:
    """First octet 0x20 (python-gsmmodem's +CMGL capture): TP-SRI set, TP-MMS clear."""
    deliver = decode_deliver(GSMMODEM[5].pdu)
    assert deliver.status_report_indication and deliver.more_messages
    assert not decode_deliver(GSMMODEM[0].pdu).more_messages  # 0x04: no more messages


def test_pid_and_natl_sender_npi_are_kept_raw() -> None:
    """KPN's welcome: TP-PID 0x39 and TOA 0x85 (TON unknown, NPI 5) are passed up unchanged."""
    deliver = decode_deliver(MODEMMANAGER[2].pdu)
    assert deliver.pid == 0x39
    assert (deliver.sender.ton, deliver.sender.npi) == (0, 5)


# 3GPP TS 23.040 / 23.038 rules, on PDUs built by hand field by field.
SMSC_NONE = "00"
OA_INTL = "0B911326880736F4"  # 11 digits, TOA 0x91: +31628870634
SCTS = "62211051000000"  # 26-12-01 15:00:00, zone 0


def pdu(first: str = "04", dcs: str = "00", ud: str = "05E8329BFD06", scts: str = SCTS) -> str:
    """SMSC none, first octet, TP-OA, TP-PID 0, TP-DCS, TP-SCTS, then TP-UDL + TP-UD."""
    return SMSC_NONE + first + OA_INTL + "00" + dcs + scts + ud


def test_hand_built_hello() -> None:
    deliver = decode_deliver(pdu())
    assert (deliver.smsc, deliver.sender.value, deliver.text) == (None, "+31628870634", "hello")
    assert deliver.user_data == bytes.fromhex("E8329BFD06")
    assert deliver.body == bytes((0x68, 0x65, 0x6C, 0x6C, 0x6F))  # septet values


@pytest.mark.parametrize(
    ("zone_octet", "offset"),
    [  # 23.040 9.2.3.11: quarter hours in swapped BCD, bit 3 of the octet is the sign
        pytest.param("00", timedelta(0), id="utc"),
        pytest.param("80", timedelta(hours=2), id="+08q"),
        pytest.param("0A", timedelta(hours=-5), id="-20q"),  # tens 2 with the sign bit, units 0
        pytest.param("22", timedelta(hours=5, minutes=30), id="+22q-india"),
        pytest.param("15", timedelta(hours=12, minutes=45), id="+51q-chatham"),
        pytest.param("9F", timedelta(hours=-19, minutes=-45), id="-79q-extreme"),
    ],
)
def test_scts_time_zone(zone_octet: str, offset: timedelta) -> None:
    scts = decode_deliver(pdu(scts="622110510000" + zone_octet)).scts
    assert scts is not None and scts.utcoffset() == offset
    assert (scts.year, scts.month, scts.day, scts.hour) == (2026, 12, 1, 15)


@pytest.mark.parametrize("scts", ["62312151000000", "6221105100A000", "622110510000A0"])
def test_impossible_scts_is_none_and_noted(scts: str) -> None:
    deliver = decode_deliver(pdu(scts=scts))
    assert deliver.scts is None and deliver.scts_raw == bytes.fromhex(scts)
    assert deliver.text == "hello" and "not a valid time" in deliver.notes[0]


@pytest.mark.parametrize(
    ("dcs", "alphabet", "message_class", "compressed", "reserved"),
    [  # 23.038 section 4
        pytest.param(0x00, Alphabet.GSM7, None, False, False, id="00-gsm7"),
        pytest.param(0x04, Alphabet.DATA, None, False, False, id="04-8bit"),
        pytest.param(0x08, Alphabet.UCS2, None, False, False, id="08-ucs2"),
        pytest.param(0x0C, Alphabet.GSM7, None, False, True, id="0C-reserved-alphabet"),
        pytest.param(0x10, Alphabet.GSM7, 0, False, False, id="10-flash"),
        pytest.param(0x18, Alphabet.UCS2, 0, False, False, id="18-ucs2-flash"),
        pytest.param(0x16, Alphabet.DATA, 2, False, False, id="16-8bit-sim"),
        pytest.param(0x28, Alphabet.UCS2, None, True, False, id="28-compressed"),
        pytest.param(0x48, Alphabet.UCS2, None, False, False, id="48-auto-delete"),
        pytest.param(0x84, Alphabet.GSM7, None, False, True, id="84-reserved-group"),
        pytest.param(0xD0, Alphabet.GSM7, None, False, False, id="D0-mwi-store"),
        pytest.param(0xE0, Alphabet.UCS2, None, False, False, id="E0-mwi-store-ucs2"),
        pytest.param(0xF0, Alphabet.GSM7, 0, False, False, id="F0-flash"),
        pytest.param(0xF6, Alphabet.DATA, 2, False, False, id="F6-sim-data"),
        pytest.param(0xF8, Alphabet.GSM7, 0, False, True, id="F8-reserved-bit"),
    ],
)
def test_dcs_interpretation(
    dcs: int, alphabet: Alphabet, message_class: int | None, compressed: bool, reserved: bool
) -> None:
    coding = parse_dcs(dcs)
    assert (coding.alphabet, coding.message_class) == (alphabet, message_class)
    assert (coding.compressed, coding.reserved) == (compressed, reserved)
    assert coding.flash == (message_class == 0)
    assert coding.auto_delete == (dcs & 0xC0 == 0x40)


def test_every_dcs_value_is_interpreted() -> None:
    """No TP-DCS is refused: reserved codings read as GSM-7 (23.038 4)."""
    for dcs in range(256):
        assert parse_dcs(dcs).raw == dcs


def test_flash_message() -> None:
    deliver = decode_deliver(pdu(dcs="10"))
    assert deliver.dcs.flash and deliver.text == "hello"


def test_reserved_dcs_reads_as_gsm7_and_says_so() -> None:
    deliver = decode_deliver(pdu(dcs="84"))
    assert deliver.text == "hello"
    assert deliver.notes == ("reserved TP-DCS 0x84 read as gsm7",)


def test_8bit_data_is_kept_as_bytes() -> None:
    """ModemManager's test_pdu3_8bit: TP-DCS 0x04, 10 octets that are not text."""
    deliver = decode_deliver(pdu(dcs="04", ud="0AE8329BFD4697D9EC37DE"))
    assert deliver.text is None
    assert deliver.body == bytes.fromhex("E8329BFD4697D9EC37DE")


def test_compressed_text_is_flagged_and_kept() -> None:
    deliver = decode_deliver(pdu(dcs="20", ud="03AABBCC"))  # UDL counts octets when compressed
    assert deliver.text is None and deliver.dcs.compressed
    assert deliver.body == bytes.fromhex("AABBCC")
    assert "compressed" in deliver.notes[0]


def test_ucs2_emoji_surrogate_pair() -> None:
    deliver = decode_deliver(pdu(dcs="08", ud="06D83DDE000021"))
    assert deliver.text == "\U0001f600!"


def test_ucs2_lone_surrogate_is_replaced_and_noted() -> None:
    deliver = decode_deliver(pdu(dcs="08", ud="04D83D0021"))
    assert deliver.text == "\ufffd!"
    assert "unpaired surrogate" in deliver.notes[0]


def test_octets_after_the_user_data_are_ignored_and_noted() -> None:
    deliver = decode_deliver(pdu() + "FFFF")
    assert deliver.text == "hello" and deliver.notes == ("2 octets after the user data ignored",)


def test_udh_fill_bits_gsm7() -> None:
    """23.040 9.2.3.24: a 6-octet UDH (48 bits) is padded with 1 fill bit to 7 septets."""
    # UDL 12 = 7 header septets + "hello"; "hello" shifted left by the fill bit.
    deliver = decode_deliver(pdu(first="44", ud="0C" + "050003AA0201" + "D06536FB0D"))
    assert deliver.fill_bits == 1
    assert deliver.concat == Concat(0xAA, 2, 1, 8)
    assert deliver.text == "hello"


def test_udh_16bit_reference_fill_bits() -> None:
    """A 7-octet UDH (56 bits) needs no fill bits: 8 septets exactly."""
    deliver = decode_deliver(pdu(first="44", ud="0D" + "0608041234030" + "2E8329BFD06"))
    assert deliver.fill_bits == 0
    assert deliver.concat == Concat(0x1234, 3, 2, 16)
    assert deliver.text == "hello"


def test_unknown_information_elements_are_kept() -> None:
    deliver = decode_deliver(pdu(first="44", dcs="08", ud="09" + "06" + "05040B8423F0" + "0041"))
    assert [(e.iei, e.data) for e in deliver.header.elements] == [(5, b"\x0b\x84\x23\xf0")]
    assert deliver.text == "A" and deliver.concat is None


GOOD = pdu(first="44", ud="0C" + "050003AA0201" + "D06536FB0D")
MALFORMED = [
    pytest.param("", "empty", id="empty"),
    pytest.param("0G", "hex", id="not-hex"),
    pytest.param("123", "hex", id="odd-length"),
    pytest.param("0C91" + "00" * 11, "SMSC length 12", id="smsc-too-long"),
    pytest.param("0001" + OA_INTL, "TP-MTI is 1", id="submit"),
    pytest.param("0006D6" + OA_INTL, "TP-MTI is 2", id="status-report"),
    pytest.param("00041591" + "00" * 20, "TP-OA length 21", id="address-too-long"),
    pytest.param(pdu(ud="06E8329BFD06"), "TP-UDL 6 means 6 octets", id="user-data-short"),
    pytest.param(pdu(first="44", ud="00"), "TP-UDHI is set", id="udhi-no-data"),
    pytest.param(pdu(first="44", dcs="08", ud="0309FFFF"), "header is longer", id="udh-lies"),
    pytest.param(pdu(first="44", dcs="08", ud="03020005"), "truncated information", id="ie-lies"),
    pytest.param(pdu(first="44", dcs="08", ud="05040002AABB"), "0x00 has 2 octets", id="ie-size"),
    pytest.param(pdu(first="44", dcs="08", ud="06050003010200"), "part 0 of 2", id="part-0"),
    pytest.param(pdu(first="44", dcs="08", ud="06050003010203"), "part 3 of 2", id="part>total"),
    pytest.param(pdu(first="44", dcs="08", ud="06050003010000"), "part 0 of 0", id="total-0"),
    pytest.param(pdu(first="44", ud="06" + "050003AA0201"), "shorter than", id="udl<udh"),
]


@pytest.mark.parametrize(("hex_pdu", "message"), MALFORMED)
def test_malformed_pdus_raise_pdu_error_with_the_raw_pdu(hex_pdu: str, message: str) -> None:
    with pytest.raises(PduError, match=message) as caught:
        decode_deliver(hex_pdu)
    assert caught.value.raw == "".join(hex_pdu.split()).upper()


def test_every_truncation_is_a_pdu_error() -> None:
    for end in range(0, len(GOOD), 2):
        with pytest.raises(PduError):
            decode_deliver(GOOD[:end])


def test_whitespace_and_case_are_normalised_in_raw() -> None:
    deliver = decode_deliver(" " + pdu().lower() + "\r\n")
    assert deliver.raw == pdu()


def test_natural_key_ignores_transfer_details() -> None:
    """Same message through another SMSC, with other TP-MMS/TP-SRI flags: the same key."""
    base = decode_deliver(pdu())
    via_other_smsc = decode_deliver("0691" + "1326880736F4"[:10] + pdu()[2:].replace("04", "24", 1))
    assert via_other_smsc.smsc is not None
    assert via_other_smsc.natural_key == base.natural_key


def test_natural_key_tells_messages_apart() -> None:
    base = decode_deliver(pdu()).natural_key
    assert decode_deliver(pdu(scts="62211051001000")).natural_key != base  # one second later
    assert decode_deliver(pdu(ud="05E8329BFD07")).natural_key != base  # "hellp"
    part1 = decode_deliver(pdu(first="44", dcs="08", ud="08050003010201" + "0041"))
    part2 = decode_deliver(pdu(first="44", dcs="08", ud="08050003010202" + "0041"))
    assert part1.natural_key != part2.natural_key  # same text, same second, other part


def test_cmgr_length_with_the_smsc_part() -> None:
    """python-gsmmodem test_modem.py: a recorded "+CMGR: 0,,35" and its PDU (SMSC part first)."""
    pdu = "07917248014000F3240B917247587706F400003110824115248012C8329BFD06C9C373B8B82C97E741F034"
    deliver = decode_deliver(pdu, tpdu_length=35)
    assert (deliver.sender.value, deliver.text) == ("+27748577604", "Hello raspberry pi")
    assert deliver.smsc is not None and deliver.smsc.value == "+27841004003"
    assert deliver.scts == datetime(2013, 1, 28, 14, 51, 42, tzinfo=zone(8))
    assert deliver.notes == ()


def test_cmgr_length_without_the_smsc_part() -> None:
    tpdu = pdu()[2:]  # a modem that prints only the TPDU
    deliver = decode_deliver(tpdu, tpdu_length=len(tpdu) // 2)
    assert (deliver.smsc, deliver.text) == (None, "hello")


def test_cmgr_length_that_does_not_match_is_noted() -> None:
    deliver = decode_deliver(pdu(), tpdu_length=99)
    assert deliver.text == "hello"
    assert deliver.notes == (f"<length> 99 does not match the PDU's {len(pdu()) // 2} octets",)


@pytest.mark.parametrize(
    ("hex_pdu", "kind"),
    [
        pytest.param(GSMMODEM[0].pdu, MessageType.DELIVER, id="deliver"),
        pytest.param(  # ModemManager test_pdu_not_stored: a status report read from memory
            "07914356060013F1065A098136397339F7219011700463802190117004638030",
            MessageType.STATUS_REPORT,
            id="status-report",
        ),
        pytest.param(  # ModemManager test_pdu_stored_by_us: a SUBMIT the host wrote (+CMGW)
            "002100098136397339F70008224F60597D4F60597D4F60597D4F60597D4F60597D4F60597D4F60597D4F60"
            "597D4F60",
            MessageType.SUBMIT,
            id="submit",
        ),
        pytest.param("0003", MessageType.RESERVED, id="reserved"),
    ],
)
def test_message_type_of_a_stored_pdu(hex_pdu: str, kind: MessageType) -> None:
    assert message_type(hex_pdu) is kind


def test_message_type_of_garbage_is_a_pdu_error() -> None:
    with pytest.raises(PduError) as caught:
        message_type("05")
    assert caught.value.raw == "05"
