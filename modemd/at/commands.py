"""Builders and parsers of the AT commands modemd uses. Lenient: never by fixed positions."""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from modemd.at.transaction import Command
from modemd.model import Registration

AT = Command("AT")
ECHO_OFF = Command("ATE0")
ERRORS_NUMERIC = Command("AT+CMEE=1")
PDU_MODE = Command("AT+CMGF=0")
MANUFACTURER = Command("AT+CGMI", prefix="+CGMI:")
MODEL = Command("AT+CGMM", prefix="+CGMM:")
IMEI = Command("AT+CGSN", prefix="+CGSN:")
IMSI = Command("AT+CIMI", prefix="+CIMI:")
ICCID = Command("AT+CCID", prefix="+CCID:")
SIM_STATE = Command("AT+CPIN?", prefix="+CPIN:", final_optional=True)
REGISTRATION = Command("AT+CREG?", prefix="+CREG:")
SIGNAL = Command("AT+CSQ", prefix="+CSQ:")
SMSC = Command("AT+CSCA?", prefix="+CSCA:")
# mode 2: buffer URCs while the line is busy; mt 1: +CMTI for incoming. ds 2: status reports
# stored on the modem and announced as +CDSI: they survive a daemon crash or power loss of the
# host (read, committed, only then deleted). ds 1 (+CDS routed directly) is the fallback for
# firmware without report storage: a report arriving while the daemon is down is lost.
NEW_MESSAGE_INDICATIONS_STORED = Command("AT+CNMI=2,1,0,2,0")
NEW_MESSAGE_INDICATIONS = Command("AT+CNMI=2,1,0,1,0")
# Firmware that cannot store new SMS (mt 1 refused) routes them as +CMT (mt 2). In phase 2+
# (AT+CSMS=1) the modem leaves each with the network until AT+CNMA, sent once it is stored.
DIRECT_INDICATIONS_STORED_REPORTS = Command("AT+CNMI=2,2,0,2,0")
DIRECT_INDICATIONS = Command("AT+CNMI=2,2,0,1,0")
PHASE_2_PLUS = Command("AT+CSMS=1", prefix="+CSMS:")
PHASE_2 = Command("AT+CSMS=0", prefix="+CSMS:")
ACKNOWLEDGE = Command("AT+CNMA")  # 27.005 3.4.4: the +CMT is taken (PDU mode, no <n>)
LIST_ALL_PDU = Command("AT+CMGL=4", prefix="+CMGL:")  # every stored message, PDU mode
LIST_UNREAD_PDU = Command("AT+CMGL=0", prefix="+CMGL:")  # those not yet read (and now read)
KEEP_LINK_OPEN = Command("AT+CMMS=1")  # 27.005: keep the relay link open between sends

ESC = b"\x1b"


@functools.cache  # one per TPDU length (at most 164): built once, not at every send
def cmgs_pdu(tpdu_length: int) -> Command:
    """``AT+CMGS=<length>`` for PDU mode."""
    return Command(f"AT+CMGS={tpdu_length}", prefix="+CMGS:")


def read_message(index: int) -> Command:
    """``AT+CMGR=<index>``: a stored message (PDU mode: ``+CMGR: <stat>,,<len>`` + PDU)."""
    return Command(f"AT+CMGR={index}", prefix="+CMGR:")


def delete_message(index: int) -> Command:
    return Command(f"AT+CMGD={index}")


DELETE_TEST = Command("AT+CMGD=?", prefix="+CMGD:")  # the indexes and the delflags it takes
DELFLAG_READ = 1  # 27.005 3.5.4: AT+CMGD=<i>,1 frees every read message, <i> ignored
_RANGES = re.compile(r"\(([^)]*)\)")


def delete_read(index: int) -> Command:
    """``AT+CMGD=<index>,1``: every read message at once (stored reports once read too)."""
    return Command(f"AT+CMGD={index},{DELFLAG_READ}")


def after_free(index: int, command: Command) -> Command:
    """``AT+CMGD=<index>,1;<command>``: one line (V.250 5.2.1: extended commands chain with
    ``;``, one final result, the first failure ends the line), every read message freed and then
    ``command`` (a read: ``AT+CMGR`` / ``AT+CMGL``) run, its answer as its own."""
    return Command(f"{delete_read(index).text};{command.text[2:]}", prefix=command.prefix)


def parse_delete_flags(lines: list[str]) -> bool:
    """Whether ``+CMGD: (1-20),(0-4)`` offers delflag 1; firmware that takes an index only
    answers one range (``+CMGD: (1-20)``), or ERROR."""
    for line in lines:
        ranges = _RANGES.findall(line)
        if len(ranges) >= 2:
            return DELFLAG_READ in _numbers(ranges[1])
    return False


def _numbers(text: str) -> set[int]:
    """``0-4`` or ``0,1,2`` (or a mix) as the set of numbers it names."""
    found: set[int] = set()
    for item in text.split(","):
        low, _, high = item.strip().partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            found.update(range(int(low), int(high or low) + 1))
    return found


_CDSI = re.compile(r'^\+CDSI:\s*"?(\w+)"?\s*,\s*(\d+)')


_CMTI = re.compile(r'^\+CMTI:\s*"?([A-Z]{2})"?\s*,\s*(\d+)')
_CPMS = re.compile(r"^(\d+)\s*,\s*(\d+)")
MEMORY_FULL_URCS = ("^SMMEMFULL",)  # Huawei says so; most say nothing until +CMS ERROR: 322
STORAGE_SIM = Command('AT+CPMS="SM","SM","SM"', prefix="+CPMS:")  # read, write, receive: SIM


def parse_cmti(line: str) -> int | None:
    """``+CMTI: "SM",3`` -> 3 (a new message stored at index 3)."""
    match = _CMTI.match(line)
    return int(match.group(2)) if match else None


def parse_storage(responses: list[str]) -> tuple[int, int] | None:
    """``+CPMS: <used1>,<total1>,...`` -> (used, total) of the first memory."""
    for value in responses:
        match = _CPMS.match(value.strip())
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def parse_cdsi(line: str) -> int | None:
    """``+CDSI: "SR",3`` (or ``"SM"``) -> 3."""
    match = _CDSI.match(line)
    return int(match.group(2)) if match else None


def parse_cdsi_memory(line: str) -> tuple[str, int] | None:
    """``+CDSI: "SR",3`` -> ("SR", 3): the memory the report is kept in, and its index."""
    match = _CDSI.match(line)
    return (match.group(1).upper(), int(match.group(2))) if match else None


MAIN_MEMORY = "SM"  # where modemd keeps what is read and received (``STORAGE_SIM``)
REPORT_MEMORY = "SR"  # status reports kept apart (SIM7600, ZTE): +CDSI: "SR",<i>
MEMORIES_TEST = Command("AT+CPMS=?", prefix="+CPMS:")  # the memories each of mem1..3 takes


def select_read_memory(memory: str) -> Command:
    """``AT+CPMS="SR"``: <mem1>, the memory AT+CMGR / AT+CMGL / AT+CMGD act on, only (27.005
    3.2.2); mem2 and mem3 (writing, receiving) stay as they are."""
    return Command(f'AT+CPMS="{memory}"', prefix="+CPMS:")


def parse_read_memories(responses: list[str]) -> set[str]:
    """``+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM"),("ME","SM")`` -> the memories <mem1>
    takes; ``+CPMS: "SM","ME"`` (no parentheses) as well; empty when unparsable."""
    for value in responses:
        groups = _RANGES.findall(value)
        first = groups[0] if groups else value.split(":", 1)[-1]
        names = {n.strip().strip('"').upper() for n in first.split(",")}
        found = {n for n in names if n.isalpha()}
        if found:
            return found
    return set()


@dataclass(frozen=True, slots=True)
class StoredPdu:
    """One message read from the modem's memory (AT+CMGL, AT+CMGR) or routed (+CMT)."""

    index: int | None  # its memory index; None when routed (+CMT) and not stored
    length: int | None  # <length>: TPDU octets, SMSC part excluded; None when left out
    pdu: str  # the hex PDU line, as the modem wrote it

    @property
    def with_smsc(self) -> str:
        """The PDU with its SMSC part: ``00`` put first when the modem left it out (the line
        holds exactly <length> octets), upper-case hex without spaces."""
        raw = "".join(self.pdu.split()).upper()
        return "00" + raw if self.length is not None and len(raw) == 2 * self.length else raw


def _length(fields: list[str]) -> int | None:
    """The last field of ``<index>,<stat>,[<alpha>],<length>`` (or ``<stat>,,<length>``)."""
    last = fields[-1].strip() if fields else ""
    return int(last) if last.isdigit() else None


def parse_listing(responses: list[str]) -> list[StoredPdu]:
    """``+CMGL: <index>,<stat>,[<alpha>],<length>`` + PDU lines -> one StoredPdu each."""
    listed: list[StoredPdu] = []
    head: list[str] | None = None
    for value in responses:
        fields = value.split(",")
        if head is None and fields[0].strip().isdigit() and len(fields) > 1:
            head = fields
        elif head is not None:
            listed.append(StoredPdu(int(head[0]), _length(head), value.strip()))
            head = None
    return listed


def parse_read(index: int, responses: list[str]) -> StoredPdu | None:
    """``+CMGR: [<stat>],[<alpha>],<length>`` + PDU line -> the StoredPdu; None when absent."""
    if len(responses) < 2 or not responses[-1].strip():
        return None
    return StoredPdu(index, _length(responses[-2].split(",")), responses[-1].strip())


def parse_cmt(line: str, pdu: str) -> StoredPdu:
    """``+CMT: [<alpha>],<length>`` + PDU line (a message routed directly, CNMI mt=2)."""
    return StoredPdu(None, _length(line.split(":", 1)[-1].split(",")), pdu.strip())


def set_smsc(number: str) -> Command:
    """``AT+CSCA="<number>",<type>`` restores an SMSC address a CSMP may have wiped."""
    toa = 145 if number.startswith("+") else 129
    return Command(f'AT+CSCA="{number}",{toa}')


class SimState(enum.StrEnum):
    READY = "READY"
    SIM_PIN = "SIM PIN"
    SIM_PUK = "SIM PUK"
    OTHER = "OTHER"


def parse_sim_state(responses: list[str]) -> SimState:
    """``+CPIN: READY`` -> READY; unknown answers -> OTHER."""
    for value in responses:
        value = value.strip().upper()
        for state in SimState:
            if value == state.value:
                return state
    return SimState.OTHER


REGISTERED_STATES = frozenset({1, 5})  # home, roaming
REGISTRATION_WORDS = {  # 27.007 7.2 <stat>
    0: "not registered and not searching (no network, or the SIM has no service)",
    1: "registered, home network",
    2: "not registered, still searching for a network",
    3: "registration denied by the network (SIM barred or not activated)",
    4: "registration state unknown",
    5: "registered, roaming",
}


def registration_of(stat: int | None) -> Registration:
    """A +CREG <stat> in model terms."""
    words = REGISTRATION_WORDS.get(stat if stat is not None else 4, "not registered")
    return Registration(stat in REGISTERED_STATES, f"+CREG stat {stat}: {words}")


def parse_registration(responses: list[str]) -> int | None:
    """``+CREG: <n>,<stat>[,...]`` (or unsolicited ``<stat>``) -> stat."""
    for value in responses:
        fields = [f.strip() for f in value.split(",")]
        candidate = fields[1] if len(fields) >= 2 else fields[0]
        if candidate.isdigit():
            return int(candidate)
    return None


def parse_signal(responses: list[str]) -> int | None:
    """``+CSQ: <rssi>,<ber>`` -> rssi 0..31, None when unknown (99) or unparsable."""
    for value in responses:
        head = value.split(",")[0].strip()
        if head.isdigit() and int(head) != 99:
            return int(head)
    return None


def rssi_to_dbm(rssi: int) -> int:
    """27.007 8.5: 0 -> -113 dBm ... 31 -> -51 dBm."""
    return -113 + 2 * rssi


def parse_message_reference(responses: list[str]) -> int | None:
    """``+CMGS: <mr>[,<scts>]`` -> TP-MR."""
    for value in responses:
        head = value.split(",")[0].strip()
        if head.isdigit():
            return int(head) & 0xFF
    return None


_QUOTED = re.compile(r'"([^"]*)"')


def parse_smsc(responses: list[str]) -> str | None:
    """``+CSCA: "+316540942",145`` -> the number, None when empty."""
    for value in responses:
        match = _QUOTED.search(value)
        if match and match.group(1).strip():
            return match.group(1).strip()
    return None


def first_value(responses: list[str]) -> str:
    """The first non-empty response line, unquoted (identity strings vary in shape)."""
    for value in responses:
        value = value.strip().strip('"').strip()
        if value:
            return value
    return ""


# -- recovery and registration events --------------------------------------------------------

RADIO_OFF = Command("AT+CFUN=0")  # 27.007 8.2: minimum functionality (radio off)
RADIO_ON = Command("AT+CFUN=1")  # full functionality
MODULE_RESET = Command("AT+CFUN=1,1")  # reset the module, then full functionality
# +CxREG=2: a URC at every change of registration, with the cell; one per domain, because an
# LTE-only modem registers only in +CEREG (and a packet-only one only in +CGREG).
REGISTRATION_DOMAINS = ("+CREG", "+CGREG", "+CEREG")


def registration_urcs_on(domain: str) -> Command:
    """``AT+CREG=2`` (or +CGREG, +CEREG): registration changes as URCs, with location."""
    return Command(f"AT{domain}=2")


def registration_query(domain: str) -> Command:
    """``AT+CREG?`` (or +CGREG?, +CEREG?)."""
    return Command(f"AT{domain}?", prefix=f"{domain}:")


def parse_registration_urc(line: str) -> tuple[str, int] | None:
    """``+CEREG: 1,"00A1","0000ABCD",7`` -> ("+CEREG", 1): the URC's first field is <stat>
    (a read answer has <n> first: see ``parse_registration``)."""
    head, colon, rest = line.partition(":")
    domain = head.strip().upper()
    if not colon or domain not in REGISTRATION_DOMAINS:
        return None
    first = rest.split(",")[0].strip()
    return (domain, int(first)) if first.isdigit() else None


OPERATOR_FORMAT_LONG = Command("AT+COPS=3,0")  # +COPS? answers the long alphanumeric name
OPERATOR = Command("AT+COPS?", prefix="+COPS:")
OWN_NUMBER = Command("AT+CNUM", prefix="+CNUM:")


def parse_operator(responses: list[str]) -> str | None:
    """``+COPS: 0,0,"Vodafone IT",7`` -> "Vodafone IT"; None when not registered (``+COPS: 0``)."""
    for value in responses:
        match = _QUOTED.search(value)
        if match and match.group(1).strip():
            return match.group(1).strip()
    return None


def parse_own_number(responses: list[str]) -> str | None:
    """``+CNUM: "","+393331234567",145`` -> the number; None when the SIM does not know it."""
    for value in responses:
        numbers = [q for q in _QUOTED.findall(value) if q.strip().lstrip("+").isdigit()]
        if numbers:
            return numbers[0].strip()
    return None
