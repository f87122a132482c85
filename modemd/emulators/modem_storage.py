"""The emulated modem's message storage for status reports routed with AT+CNMI ds=2.

Such a report is stored (memory "SR") and announced by ``+CDSI: "SR",<index>``; the host reads
it with AT+CMGR=<index> (PDU mode: ``+CMGR: ,,<length>`` then the PDU, as real modems omit
<stat> for reports), lists everything with AT+CMGL=<stat>, and frees it with AT+CMGD=<index>.
Stored reports outlive the host: a daemon that restarts lists and reads them.
"""

from __future__ import annotations

from .modem_at import Param, Reply
from .modem_commands import Handler, one_int

STORAGE_SLOTS = 20  # a SIM keeps about this many SMS; a full store refuses new reports
CMS_INVALID_INDEX = 321  # 27.005 3.2.5: invalid memory index
CMGL_ALL = 4  # AT+CMGL=4: every stored message (PDU mode)


def tpdu_octets(hex_pdu: str) -> int:
    """Octets after the SMSC part: the <length> field of +CMGR/+CMGL/+CDS."""
    return len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)


class ReportStorage:
    """Stored status report PDUs by index (1-based, lowest free slot first)."""

    def __init__(self, cms: object) -> None:
        self._reports: dict[int, str] = {}
        self._cms = cms  # ModemCommands.cms: the +CMS ERROR reply of the current CMEE

    def store(self, hex_pdu: str) -> int | None:
        """Keep a report; its index, or None when the storage is full (the report is lost)."""
        free = [i for i in range(1, STORAGE_SLOTS + 1) if i not in self._reports]
        if not free:
            return None
        self._reports[free[0]] = hex_pdu
        return free[0]

    def handlers(self) -> dict[str, Handler]:
        """AT+CMGR, AT+CMGL and AT+CMGD over this storage."""
        return {
            "+CMGR": Handler(set=self._read),
            "+CMGL": Handler(set=self._list, test="+CMGL: (0-4)"),
            "+CMGD": Handler(set=self._delete),
        }

    def _error(self) -> Reply:
        reply = self._cms(CMS_INVALID_INDEX)  # type: ignore[operator]
        assert isinstance(reply, Reply)
        return reply

    def _read(self, params: tuple[Param, ...]) -> Reply:
        hex_pdu = self._reports.get(one_int(params, 0, 255))
        if hex_pdu is None:
            return self._error()
        return Reply((f"+CMGR: ,,{tpdu_octets(hex_pdu)}", hex_pdu))

    def _list(self, params: tuple[Param, ...]) -> Reply:
        one_int(params, 0, CMGL_ALL)
        lines: list[str] = []
        for index in sorted(self._reports):
            hex_pdu = self._reports[index]
            lines += [f"+CMGL: {index},1,,{tpdu_octets(hex_pdu)}", hex_pdu]
        return Reply(tuple(lines))

    def _delete(self, params: tuple[Param, ...]) -> Reply:
        index = int(params[0].text) if params and params[0].text.isdigit() else -1
        if self._reports.pop(index, None) is None:
            return self._error()
        return Reply()
