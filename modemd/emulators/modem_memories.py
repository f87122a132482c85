"""The memories the emulated modem's AT+CPMS chooses between (27.005 3.2.2).

"SM" is the SIM ("ME" and "MT" name the same store here). A modem that keeps status reports
apart (``ModemProfile.report_memory = "SR"``, as SIM7600 and ZTE firmware do) stores each in
"SR", announces it as ``+CDSI: "SR",<i>``, and offers "SR" as <mem1> only: AT+CMGR, AT+CMGL
and AT+CMGD act on <mem1>, so a host that reads index <i> without ``AT+CPMS="SR"`` first reads
the SIM's index <i> (another message, or +CMS ERROR: 321). Without that option AT+CPMS=?
offers no "SR", and reports share the SIM with received SMS.
"""

from __future__ import annotations

from collections.abc import Callable

from .modem_at import Param, Reply
from .modem_commands import Handler
from .modem_storage import LIST_TEST, MessageStorage

SIM_NAMES = ("SM", "ME", "MT")  # one store here
REPORTS = "SR"


class Memories:
    """The SIM's message store and, on a modem that keeps them apart, the reports' store."""

    def __init__(
        self,
        sim: MessageStorage,
        reports: MessageStorage | None,
        sim_error: Callable[[], Reply | None],
    ) -> None:
        self.sim = sim
        self.reports = reports if reports is not None else sim  # where a report is stored
        self.report_memory = REPORTS if reports is not None else SIM_NAMES[0]  # as +CDSI says
        self._sim_error = sim_error  # a locked or missing SIM refuses SMS commands
        self.mem1 = SIM_NAMES[0]  # read, list, delete act here

    @property
    def all(self) -> list[MessageStorage]:
        return [self.sim] if self.reports is self.sim else [self.sim, self.reports]

    def selected(self) -> MessageStorage:
        return self.reports if self.mem1 == REPORTS else self.sim

    def handlers(self) -> dict[str, Handler]:
        """AT+CMGR, AT+CMGL and AT+CMGD on <mem1>; AT+CPMS choosing it."""
        mem1 = [*SIM_NAMES, REPORTS] if self.reports is not self.sim else list(SIM_NAMES)
        names = lambda offered: "(" + ",".join(f'"{n}"' for n in offered) + ")"  # noqa: E731
        return {
            "+CMGR": Handler(set=lambda ps: self.selected().read_message(ps)),
            "+CMGL": Handler(set=lambda ps: self.selected().list_messages(ps), test=LIST_TEST),
            "+CMGD": Handler(
                set=lambda ps: self.selected().delete_messages(ps), test=self.sim.delete_test()
            ),
            "+CPMS": Handler(
                read=self._usage,
                set=lambda ps: self._select(ps, mem1),
                test=f"+CPMS: {names(mem1)},{names(SIM_NAMES)},{names(SIM_NAMES)}",
            ),
        }

    def _counts(self, storage: MessageStorage) -> str:
        return f"{storage.used},{storage.slots}"

    def _usage(self) -> Reply:
        first = f'"{self.mem1}",{self._counts(self.selected())}'
        sim = f'"SM",{self._counts(self.sim)}'
        return self._sim_error() or Reply((f"+CPMS: {first},{sim},{sim}",))

    def _select(self, params: tuple[Param, ...], mem1: list[str]) -> Reply:
        names = [p.text.upper() for p in params]
        if not 1 <= len(names) <= 3 or names[0] not in mem1:
            raise ValueError("AT+CPMS takes 1..3 memories the modem has")
        if any(n not in SIM_NAMES for n in names[1:]):
            raise ValueError("mem2 and mem3 are the SIM")
        blocked = self._sim_error()
        if blocked is not None:
            return blocked
        self.mem1 = names[0]
        counts = ",".join([self._counts(self.selected()), *[self._counts(self.sim)] * 2])
        return Reply((f"+CPMS: {counts}",))
