"""SMS-STATUS-REPORT PDUs and +CDS text lines, and the TP-Status table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import gsmmodem.pdu
import pytest

from modemd.model import DeliveryOutcome as ReportOutcome
from modemd.sms.pdu import (
    StatusReport,
    build_status_report_pdu,
    parse_status_report_pdu,
    parse_status_report_text,
)
from modemd.sms.status import classify_tp_status, is_reserved_tp_status


def zone(hours: int, minutes: int = 0) -> timezone:
    """A fixed UTC offset; ``minutes`` takes the sign of ``hours``."""
    sign = -1 if hours < 0 else 1
    return timezone(timedelta(hours=hours, minutes=sign * minutes))


CET = zone(1)
GSMMODEM_SCTS = datetime(2011, 1, 11, 17, 59, 15, tzinfo=CET)
GSMMODEM_DT = datetime(2011, 1, 11, 17, 59, 17, tzinfo=CET)
# From python-gsmmodem's test suite (test_pdu.py): a real status report, no SMSC part.
GSMMODEM_REPORT = (
    "00"  # SMSC part: empty
    "06"  # TP-MTI 10 (status report) | TP-MMS
    "D6"  # TP-MR 214
    "0B911326880736F4"  # TP-RA: 11 digits, international (0x91), +31628870634
    "11101171955140"  # TP-SCTS 11-01-11 17:59:15, zone 04 quarters = +01:00
    "11101171957140"  # TP-DT 11-01-11 17:59:17 +01:00
    "00"  # TP-ST: received by the recipient
)
GSMMODEM_EXPECTED = StatusReport(
    reference=214,
    recipient="+31628870634",
    status=0,
    scts=GSMMODEM_SCTS,
    discharge=GSMMODEM_DT,
)


def test_builds_the_gsmmodem_reference_report_byte_for_byte() -> None:
    built = build_status_report_pdu(214, "+31628870634", 0, GSMMODEM_SCTS, GSMMODEM_DT)
    assert built == GSMMODEM_REPORT


@pytest.mark.parametrize(
    ("hex_pdu", "expected"),
    [
        pytest.param(GSMMODEM_REPORT, GSMMODEM_EXPECTED, id="gsmmodem-test-suite"),
        pytest.param(
            "07913366003001F0" + GSMMODEM_REPORT[2:], GSMMODEM_EXPECTED, id="with-smsc-part"
        ),
        pytest.param(
            GSMMODEM_REPORT + "03" + "00" + "00", GSMMODEM_EXPECTED, id="tp-pi-and-fields-follow"
        ),
        pytest.param(  # ZTE capture (python-gsmmodem tests): odd SMSC, garbled 15-digit RA
            "0297F1061C0F910B487228297020F5317062419272803170624192138000",
            StatusReport(
                reference=28,
                recipient="+#08427829207025",  # nibble B is "#" (23.040 9.1.2.3)
                status=0,
                scts=datetime(2013, 7, 26, 14, 29, 27, tzinfo=zone(2)),
                discharge=datetime(2013, 7, 26, 14, 29, 31, tzinfo=zone(2)),
            ),
            id="zte-garbled-address",
        ),
        pytest.param(  # smslib tests (Safaricom SMSC): the SCTS zone octet E1 is not BCD
            "079152742205000006070A817020957711112112113391E11121121133912100",
            StatusReport(
                reference=7,
                recipient="0702597711",
                status=0,
                scts=None,
                discharge=datetime(2011, 12, 21, 11, 33, 19, tzinfo=zone(3)),
            ),
            id="invalid-scts-zone",
        ),
    ],
)
def test_parses_real_world_reports(hex_pdu: str, expected: StatusReport) -> None:
    assert parse_status_report_pdu(hex_pdu) == expected


def test_impossible_dates_become_none() -> None:
    month_13 = GSMMODEM_REPORT[:24] + "31" + GSMMODEM_REPORT[26:]  # SCTS month octet
    assert month_13[22:26] == "1131"  # yy=11, MM=13
    report = parse_status_report_pdu(month_13)
    assert report.scts is None
    assert report.discharge == GSMMODEM_EXPECTED.discharge


@pytest.mark.parametrize(
    ("offset", "zone_octet"),
    [
        (zone(0), "00"),
        (zone(1), "40"),  # 4 quarters
        (zone(-3), "29"),  # 12 quarters: tens 1 + sign bit 8 in the low nibble, units 2 high
        (zone(5, 45), "32"),  # Nepal, 23 quarters
        (zone(13), "25"),  # 52 quarters
        (zone(-19, 45), "9F"),  # 79 quarters, the most a zone octet holds
    ],
)
def test_time_zone_octet(offset: timezone, zone_octet: str) -> None:
    moment = datetime(2024, 5, 1, 12, 0, 5, tzinfo=offset)
    built = build_status_report_pdu(1, "+1", 0x20, moment, moment)
    assert built[:12] == "0006" + "01" + "0191F1"  # MR 1, RA "+1"
    assert built[12:26] == "425010210050" + zone_octet  # 24-05-01 12:00:05 in semi-octets
    assert parse_status_report_pdu(built).scts == moment


@pytest.mark.parametrize(
    ("reference", "recipient", "status", "scts", "discharge"),
    [
        (
            0,
            "+31612345678",
            0x00,
            datetime(2000, 1, 1, tzinfo=UTC),
            datetime(2068, 12, 31, 23, 59, 59, tzinfo=UTC),  # gsmmodem reads 69-99 as 19yy
        ),
        (
            255,
            "0612345678",
            0x46,
            datetime(2024, 2, 29, 8, 30, tzinfo=zone(-3)),
            datetime(2024, 3, 1, tzinfo=zone(9, 30)),
        ),
        (
            17,
            "112",
            0x80,
            datetime(2031, 7, 4, 1, 2, 3, tzinfo=zone(5, 45)),
            datetime(2031, 7, 4, 1, 2, 4, tzinfo=zone(-19, 45)),
        ),
        (128, "+" + "9" * 20, 0xFF, GSMMODEM_SCTS, GSMMODEM_DT),
    ],
)
def test_round_trip(
    reference: int, recipient: str, status: int, scts: datetime, discharge: datetime
) -> None:
    built = build_status_report_pdu(reference, recipient, status, scts, discharge)
    assert built.startswith("0006") and built == built.upper()
    expected = StatusReport(reference, recipient, status, scts, discharge)
    assert parse_status_report_pdu(built) == expected
    theirs = gsmmodem.pdu.decodeSmsPdu(built)
    assert (theirs["reference"], theirs["number"], theirs["status"]) == (
        reference,
        recipient,
        status,
    )
    assert (theirs["time"], theirs["discharge"]) == (scts, discharge)


def test_two_digit_years_are_this_century() -> None:
    moment = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
    built = build_status_report_pdu(1, "+1", 0, moment, moment)
    assert built[12:24] == "992113329595"  # 99-12-31 23:59:59 in semi-octets
    assert parse_status_report_pdu(built).discharge == moment


def test_microseconds_are_dropped() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 5, 999_999, tzinfo=UTC)
    report = parse_status_report_pdu(build_status_report_pdu(1, "+1", 0, moment, moment))
    assert report.scts == moment.replace(microsecond=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scts": datetime(2024, 5, 1)}, "scts must be timezone-aware"),
        ({"discharge": datetime(2024, 5, 1, tzinfo=zone(0, 10))}, "quarter hour"),
        ({"scts": datetime(2024, 5, 1, tzinfo=zone(20))}, "quarter hour"),
        ({"scts": datetime(1999, 12, 31, tzinfo=UTC)}, "year 1999"),
        ({"reference": 256}, "reference must be 0..255"),
        ({"status": -1}, "status must be 0..255"),
        ({"recipient": "+31 6"}, "not a phone number"),
    ],
)
def test_build_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "reference": 1,
        "recipient": "+31612345678",
        "status": 0,
        "scts": datetime(2024, 5, 1, tzinfo=UTC),
        "discharge": datetime(2024, 5, 1, tzinfo=UTC),
    }
    with pytest.raises(ValueError, match=message):
        build_status_report_pdu(**{**arguments, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hex_pdu", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("+CDS: 25", "hex", id="cds-header-line"),
        pytest.param("0006D", "hex", id="odd-length"),
        pytest.param("0031000B911316325476F80000A705E8329BFD06", "TP-MTI is 1", id="submit"),
        pytest.param(GSMMODEM_REPORT[:-2], "TP-ST", id="no-status"),
        pytest.param(GSMMODEM_REPORT[:30], "TP-SCTS", id="truncated-scts"),
        pytest.param("0006D60B91", "TP-RA", id="truncated-address"),
        pytest.param("0800", "SMSC address", id="smsc-past-end"),
    ],
)
def test_parse_rejects_garbage(hex_pdu: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_status_report_pdu(hex_pdu)


CDS_EXAMPLE = '+CDS: 6,202,"+31612345678",145,"24/05/01,12:00:00+08","24/05/01,12:00:05+08",0'
CDS_EXPECTED = StatusReport(
    reference=202,
    recipient="+31612345678",
    status=0,
    scts=datetime(2024, 5, 1, 12, 0, 0, tzinfo=zone(2)),
    discharge=datetime(2024, 5, 1, 12, 0, 5, tzinfo=zone(2)),
)


@pytest.mark.parametrize(
    "line",
    [
        CDS_EXAMPLE,
        CDS_EXAMPLE.removeprefix("+CDS: "),
        CDS_EXAMPLE + "\r\n",
        '+CDS: 6, 202, "+31612345678", 145, "24/05/01,12:00:00+08", "24/05/01,12:00:05+08", 0',
        '+cds:6,202,"+31612345678",145,"24/05/01,12:00:00+08","24/05/01,12:00:05+08",0',
        CDS_EXAMPLE.replace('"+31612345678"', '"31612345678"'),  # TON 145 adds the "+"
        CDS_EXAMPLE.replace('"+31612345678"', "+31612345678"),  # unquoted
    ],
)
def test_text_report_variants(line: str) -> None:
    assert parse_status_report_text(line) == CDS_EXPECTED


def test_text_report_with_empty_address() -> None:
    line = '+CDS: 6,7,,,"24/05/01,12:00:00-12","24/05/01,12:00:05-12",70'
    assert parse_status_report_text(line) == StatusReport(
        reference=7,
        recipient="",
        status=70,
        scts=datetime(2024, 5, 1, 12, tzinfo=zone(-3)),
        discharge=datetime(2024, 5, 1, 12, 0, 5, tzinfo=zone(-3)),
    )


def test_text_report_keeps_national_number_and_tolerates_bad_timestamps() -> None:
    line = '+CDS: 6,9,"0612345678",129,"24/05/01,12:00:00","24/13/01,12:00:00+00",32'
    report = parse_status_report_text(line)
    assert (report.recipient, report.status) == ("0612345678", 32)
    assert (report.scts, report.discharge) == (None, None)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "not a text-mode"),
        ("OK", "not a text-mode"),
        ("+CDS: 25", "not a text-mode"),
        ("+CDS: 6,202", "not a text-mode"),
        (CDS_EXAMPLE.replace("+CDS: 6,", "+CDS: 17,"), "TP-MTI 1"),
        (CDS_EXAMPLE.replace(",202,", ",256,"), "mr must be 0..255"),
        (CDS_EXAMPLE.removesuffix(",0") + ",300", "st must be 0..255"),
        (CDS_EXAMPLE.replace("+CDS: 6,", "+CDS: 999,"), "fo must be 0..255"),
    ],
)
def test_text_report_rejects_garbage(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_status_report_text(line)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (0x00, ReportOutcome.DELIVERED),  # received by the recipient
        (0x01, ReportOutcome.DELIVERED),  # forwarded, delivery not confirmed
        (0x02, ReportOutcome.DELIVERED),  # replaced by the SC
        (0x1F, ReportOutcome.DELIVERED),  # SC-specific, transaction completed
        (0x20, ReportOutcome.PENDING),  # congestion, still trying
        (0x25, ReportOutcome.PENDING),  # error in SME, still trying
        (0x3F, ReportOutcome.PENDING),
        (0x40, ReportOutcome.FAILED),  # remote procedure error
        (0x46, ReportOutcome.FAILED),  # validity period expired
        (0x49, ReportOutcome.FAILED),  # SM does not exist
        (0x5F, ReportOutcome.FAILED),
        (0x60, ReportOutcome.FAILED),  # congestion, SC stopped trying
        (0x65, ReportOutcome.FAILED),  # error in SME, SC stopped trying
        (0x7F, ReportOutcome.FAILED),
        (0x80, ReportOutcome.PENDING),  # bit 7: reserved
        (0xFF, ReportOutcome.PENDING),
    ],
)
def test_classify_known_values(status: int, outcome: ReportOutcome) -> None:
    assert classify_tp_status(status) is outcome


def test_classify_every_octet_by_its_top_three_bits() -> None:
    by_top_bits = {0: ReportOutcome.DELIVERED, 1: ReportOutcome.PENDING}
    for status in range(256):
        top = status >> 5
        expected = by_top_bits.get(top, ReportOutcome.FAILED if top < 4 else ReportOutcome.PENDING)
        assert classify_tp_status(status) is expected, hex(status)


@pytest.mark.parametrize("status", [-1, 256, 1_000])
def test_classify_rejects_non_octets(status: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.255"):
        classify_tp_status(status)


def test_reserved_values_are_flagged_for_logging() -> None:
    assert [s for s in range(256) if is_reserved_tp_status(s)] == list(range(0x80, 0x100))
    assert not is_reserved_tp_status(256)


def test_outcome_values_are_stable_strings() -> None:
    assert [outcome.value for outcome in ReportOutcome] == ["delivered", "pending", "failed"]
