"""Emulated modem identity and knobs, what its network accepted, and the send recorder."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from dataclasses import dataclass
from pathlib import Path

IMEI_DIGITS = 15
RSSI_MAX = 31  # +CSQ: 0..31 map to -113..-51 dBm
RSSI_UNKNOWN = 99
CREG_STATES = range(6)  # +CREG <stat>: 0 idle, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming
OCTET_MAX = 0xFF

EMULATOR_TAC = "35000099"  # 8-digit Type Allocation Code of emulated IMEIs (no real device's)
TEST_PLMN = "00101"  # MCC 001 / MNC 01: the ITU test network, never a real operator
ICCID_PREFIX = "89" + TEST_PLMN  # 89 = telecommunications industry
IMEI_SERIAL_DIGITS = 6  # IMEI = TAC (8) + serial (6) + Luhn check digit (1)
IMSI_MSIN_DIGITS = 10
ICCID_SERIAL_DIGITS = 11
SERIAL_SPACE = 10**IMEI_SERIAL_DIGITS  # how many distinct emulated identities exist

RECORD_FILE_MODE = 0o644


class MessageFormat(enum.StrEnum):
    """How a message was handed to the modem: AT+CMGF=0 (PDU) or AT+CMGF=1 (text)."""

    PDU = "pdu"
    TEXT = "text"


@dataclass(frozen=True)
class ModemProfile:
    """Identity and behaviour knobs of one emulated modem."""

    imei: str
    imsi: str
    iccid: str
    manufacturer: str = "modemd"
    model: str = "Emulated GSM"
    sim_pin: str | None = None  # SIM locked until AT+CPIN="<sim_pin>"; wrong PIN: +CME ERROR: 16
    registration: int = 1  # +CREG <stat> once the SIM is ready
    rssi: int = 20  # +CSQ <rssi>
    send_latency_s: tuple[float, float] = (0.05, 0.2)  # uniform min, max from Ctrl-Z to +CMGS
    report_delay_s: float = 0.2  # from +CMGS to the +CDS URC
    tp_status: int = 0x00  # TP-Status of status reports
    delivery_failure_rate: float = 0.0  # share of reports carrying 0x45 instead of tp_status
    cms_error: int | None = None  # answer submissions with +CMS ERROR: <cms_error> ...
    cms_error_rate: float = 0.0  # ... with this probability (1.0 = always)
    supports_cnmi: bool = True  # False: AT+CNMI answers ERROR, so no +CDS ever comes
    cds_direct: bool = True  # False: CNMI ds=1 refused; reports only stored (+CDSI, ds=2)
    cds_stored: bool = True  # False: CNMI ds=2 refused; reports only routed directly (+CDS)
    storage_routing: bool = True  # False: CNMI mt=1 refused; new SMS only routed as +CMT (mt=2)
    phase2plus: bool = True  # AT+CSMS=1 accepted: each +CMT then waits for AT+CNMA
    cnma_timeout_s: float = 15.0  # 24.011 TR2M (12-20 s): no AT+CNMA by then, the network retries
    wipes_smsc_on_csmp: bool = False  # Qualcomm/ZTE: AT+CSMP empties the SMSC (-> CMS 330)
    cpin_without_ok: bool = False  # Wavecom: "+CPIN: ..." with no final OK
    urc_noise: bool = False  # vendor URCs before the "> " prompt and before "+CMGS:"
    firmware: str = "modemd-emulator 1.0"  # AT+CGMR
    smsc: str = "+15550000000"  # SMS centre address stored on the SIM (AT+CSCA?)
    operator: str = "modemd Test Network"  # AT+COPS? long alphanumeric name (format 0)
    operator_short: str = "modemd"  # AT+COPS? short name (format 1); format 2 is TEST_PLMN
    own_number: str | None = None  # AT+CNUM: the SIM's own number (None: the SIM lacks it)
    storage_slots: int = 20  # messages the SIM memory holds (AT+CPMS total)
    cmgd_flags: bool = True  # AT+CMGD=<i>,<delflag> accepted (27.005); False: an index only
    # False: a line of several commands (V.250 5.2.1, "AT+CMGD=1,1;+CMGL=0") answered ERROR,
    # none of them run, as firmware that takes one command a line
    chains_commands: bool = True
    # False: AT+CMGL leaves stored status reports out, as firmware filing them apart does (gammu
    # issues 156, 408: +CDSI announced one, AT+CMGL=4 answered a bare OK); AT+CMGR reads them.
    cmgl_lists_reports: bool = True
    lte_only: bool = False  # registers only in the LTE domain: +CREG/+CGREG say 0, +CEREG 1
    # "SR": status reports kept in a memory of their own (SIM7600, ZTE): +CDSI: "SR",<i>, read
    # and freed only with AT+CPMS="SR" selected (``modem_memories``); "SM": with received SMS.
    report_memory: str = "SM"

    def __post_init__(self) -> None:
        """Reject knobs no modem could have."""
        low, high = self.send_latency_s
        checks = {
            "imei must be 15 digits": self.imei.isdigit() and len(self.imei) == IMEI_DIGITS,
            "registration must be 0..5": self.registration in CREG_STATES,
            "rssi must be 0..31 or 99": 0 <= self.rssi <= RSSI_MAX or self.rssi == RSSI_UNKNOWN,
            "send_latency_s must be 0 <= min <= max": 0 <= low <= high,
            "report_delay_s must be >= 0": self.report_delay_s >= 0,
            "cnma_timeout_s must be > 0": self.cnma_timeout_s > 0,
            "tp_status must be one octet": 0 <= self.tp_status <= OCTET_MAX,
            "delivery_failure_rate must be 0..1": 0.0 <= self.delivery_failure_rate <= 1.0,
            "cms_error_rate must be 0..1": 0.0 <= self.cms_error_rate <= 1.0,
            "cms_error must be positive": self.cms_error is None or self.cms_error > 0,
            'report_memory must be "SM" or "SR"': self.report_memory in ("SM", "SR"),
        }
        failed = [rule for rule, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid ModemProfile: {'; '.join(failed)}")


@dataclass(frozen=True)
class AcceptedMessage:
    """One SMS part the emulated network accepted (answered with +CMGS)."""

    modem: str  # the emulated modem's name
    imei: str
    mr: int  # TP-MR given in +CMGS
    to: str
    text: str  # this part's text
    part: int  # 1-based
    total: int
    mode: MessageFormat
    at: float  # time.time() of acceptance


class SendRecorder:
    """Appends one JSON line per accepted message to a file, synced to disk line by line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def record(self, message: AcceptedMessage) -> None:
        """Append ``message`` as one JSON line (O_APPEND: lines of several writers never mix)."""
        line = json.dumps(dataclasses.asdict(message), ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, RECORD_FILE_MODE)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def read(path: str | Path) -> list[AcceptedMessage]:
        """Load every message a recorder wrote to ``path`` (empty when the file doesn't exist)."""
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [_message_from_json(line) for line in lines if line.strip()]


def _message_from_json(line: str) -> AcceptedMessage:
    """Rebuild an AcceptedMessage from one recorded JSON line."""
    fields = json.loads(line)
    fields["mode"] = MessageFormat(fields["mode"])
    return AcceptedMessage(**fields)


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit that completes ``digits`` (IMEI, ICCID)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # the digit left of the check digit is doubled
            value = value * 2 - 9 if value * 2 > 9 else value * 2
        total += value
    return str(-total % 10)


@dataclass(frozen=True)
class Identity:
    """IMEI, IMSI and ICCID of one emulated modem and its SIM."""

    imei: str
    imsi: str
    iccid: str


def emulated_identity(serial: int) -> Identity:
    """The deterministic identity number ``serial`` (0 <= serial < SERIAL_SPACE)."""
    if not 0 <= serial < SERIAL_SPACE:
        raise ValueError(f"serial must be in 0..{SERIAL_SPACE - 1}")
    imei_body = f"{EMULATOR_TAC}{serial:0{IMEI_SERIAL_DIGITS}d}"
    iccid_body = f"{ICCID_PREFIX}{serial:0{ICCID_SERIAL_DIGITS}d}"
    return Identity(
        imei=imei_body + luhn_check_digit(imei_body),
        imsi=f"{TEST_PLMN}{serial:0{IMSI_MSIN_DIGITS}d}",
        iccid=iccid_body + luhn_check_digit(iccid_body),
    )
