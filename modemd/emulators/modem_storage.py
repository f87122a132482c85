"""The emulated modem's message memory ("SM", the SIM): received SMS and stored status reports.

A received SMS (AT+CNMI mt=1) is stored and announced by ``+CMTI: "SM",<index>``; a status
report routed with ds=2 by ``+CDSI: "SM",<index>``; both share the memory's slots, as on most
SIMs (a modem that keeps reports apart has a second store, "SR": ``modem_memories``). The host
reads with AT+CMGR=<index> (PDU mode: ``+CMGR: <stat>,,<length>`` then the PDU; real modems
omit <stat> for reports), lists with AT+CMGL=<stat>, frees with AT+CMGD=<index>, and asks
AT+CPMS (``modem_memories``) for the usage. A full memory stores nothing more: the network
keeps the message and tries again once a slot is free. With a file, the memory outlives the
emulator like a SIM outlives the daemon's death (written whole, fsync'd, renamed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from .modem_at import Param, Reply
from .modem_commands import one_int

STORAGE_SLOTS = 20  # a SIM keeps about this many SMS; a full store refuses new messages
CMS_INVALID_INDEX = 321  # 27.005 3.2.5: invalid memory index
CMGL_ALL = 4  # AT+CMGL=4: every stored message (PDU mode)
REC_UNREAD, REC_READ = 0, 1  # <stat> of a received message (27.005 3.1)
REPORT = -1  # a stored status report, not yet read: no <stat> in +CMGR
REPORT_READ = -2  # the same once read (AT+CMGR, AT+CMGL): freed by AT+CMGD=<i>,1 like a read SMS
LIST_TEST = "+CMGL: (0-4)"  # AT+CMGL=? in PDU mode
DELFLAG_ALL = 4  # AT+CMGD=<i>,<delflag> (27.005 3.5.4): 1 read, 2 +sent, 3 +unsent, 4 all


def tpdu_octets(hex_pdu: str) -> int:
    """Octets after the SMSC part: the <length> field of +CMGR/+CMGL/+CDS."""
    return len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)


class MessageStorage:
    """Stored PDUs by index (1-based, lowest free slot first), with their <stat>."""

    def __init__(
        self,
        cms: object,
        *,
        slots: int = STORAGE_SLOTS,
        path: Path | None = None,
        delete_flags: bool = True,
    ) -> None:
        self._cms = cms  # ModemCommands.cms: the +CMS ERROR reply of the current CMEE
        self.slots = slots
        self.delete_flags = delete_flags  # False: AT+CMGD takes an index only (older firmware)
        self.lists_reports = True  # False: AT+CMGL leaves stored reports out (ModemProfile)
        self.path = path
        self._messages: dict[int, tuple[int, str]] = {}  # index -> (stat, PDU)
        self.on_freed: Callable[[], None] | None = None  # a slot became free
        if path is not None and path.exists():
            saved = json.loads(path.read_text())
            self._messages = {int(i): (int(stat), pdu) for i, (stat, pdu) in saved.items()}

    @property
    def used(self) -> int:
        return len(self._messages)

    def store(self, hex_pdu: str, stat: int = REC_UNREAD) -> int | None:
        """Keep a message; its index, or None when the memory is full."""
        free = [i for i in range(1, self.slots + 1) if i not in self._messages]
        if not free:
            return None
        self._messages[free[0]] = (stat, hex_pdu)
        self._save()
        return free[0]

    def _save(self) -> None:
        if self.path is None:
            return
        temporary = self.path.with_suffix(".tmp")
        data = json.dumps({str(i): list(m) for i, m in self._messages.items()})
        with open(temporary, "w") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)

    def _error(self) -> Reply:
        reply = self._cms(CMS_INVALID_INDEX)  # type: ignore[operator]
        assert isinstance(reply, Reply)
        return reply

    def read_message(self, params: tuple[Param, ...]) -> Reply:
        index = one_int(params, 0, 255)
        found = self._messages.get(index)
        if found is None:
            return self._error()
        stat, hex_pdu = found
        if stat in (REC_UNREAD, REPORT):
            self._messages[index] = (REC_READ if stat == REC_UNREAD else REPORT_READ, hex_pdu)
            self._save()
        shown = "" if stat in (REPORT, REPORT_READ) else str(stat)
        return Reply((f"+CMGR: {shown},,{tpdu_octets(hex_pdu)}", hex_pdu))

    def list_messages(self, params: tuple[Param, ...]) -> Reply:
        """AT+CMGL=<stat>: 0 the unread (SMS and reports), 1 the read, 2 and 3 stored
        unsent/sent (never held here), 4 all; each listed with its <stat> as it was, then read."""
        wanted = one_int(params, 0, CMGL_ALL)
        lines: list[str] = []
        for index in sorted(self._messages):
            stat, hex_pdu = self._messages[index]
            shown = REC_UNREAD if stat in (REC_UNREAD, REPORT) else REC_READ
            if wanted != CMGL_ALL and wanted != shown:
                continue
            if stat in (REPORT, REPORT_READ) and not self.lists_reports:
                continue
            lines += [f"+CMGL: {index},{shown},,{tpdu_octets(hex_pdu)}", hex_pdu]
            if shown == REC_UNREAD:  # listed: now read
                self._messages[index] = (REC_READ if stat == REC_UNREAD else REPORT_READ, hex_pdu)
        self._save()
        return Reply(tuple(lines))

    def delete_test(self) -> str:
        flags = f",(0-{DELFLAG_ALL})" if self.delete_flags else ""
        return f"+CMGD: (1-{self.slots}){flags}"

    def delete_messages(self, params: tuple[Param, ...]) -> Reply:
        """AT+CMGD=<index>[,<delflag>]: one message, or (delflag 1-4, index ignored) every read
        one (1; 2 and 3 add sent and unsent messages, which this memory never holds) or all
        (4). Without ``delete_flags`` a delflag is an error."""
        index = int(params[0].text) if params and params[0].text.isdigit() else -1
        flag = int(params[1].text) if len(params) > 1 and params[1].text.isdigit() else 0
        if len(params) > 1 and (not self.delete_flags or not 0 <= flag <= DELFLAG_ALL):
            return self._error()
        if flag:
            gone = [
                i
                for i, (stat, _) in self._messages.items()
                if flag == DELFLAG_ALL or stat in (REC_READ, REPORT_READ)
            ]
        else:
            gone = [index] if index in self._messages else []
        if not gone and not flag:
            return self._error()
        for i in gone:
            del self._messages[i]
        self._save()
        if gone and self.on_freed is not None:
            self.on_freed()
        return Reply()
