"""Which message memory a modem's reads and frees act on: ``AT+CPMS`` <mem1>.

Most modems keep stored status reports with received SMS (``+CDSI: "SM",<i>``); some keep them
in a memory of their own (SIM7600, ZTE sticks: ``+CDSI: "SR",<i>``), readable only once
``AT+CPMS="SR"`` has made it <mem1>. Each memory the driver reads is a ``MemoryPort``: every
command it runs (AT+CMGR, AT+CMGL, AT+CMGD) goes with its memory selected first when another
one is, under the same hold of the port, so nothing runs between the two. The selection is left
as it is afterwards and made again only when another memory needs the port (sends do not
depend on <mem1>; new SMS are stored in <mem3>, which stays "SM"). Others handle it the same way:
ModemManager locks the storages (``AT+CPMS``) around each read or store, and published clients
of SIM7600 and ZTE modems run ``AT+CPMS="SR"``, ``AT+CMGR``, ``AT+CMGD``, then select "SM" back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from modemd.at import commands as at
from modemd.at.transaction import Command
from modemd.drivers.at_port import AtPort
from modemd.errors import ModemCommandError

log = logging.getLogger(__name__)


class Selection:
    """The memory one modem's reads and frees act on now; None when not known (an AT+CPMS
    went unanswered: the next read selects again)."""

    def __init__(self) -> None:
        self.current: str | None = at.MAIN_MEMORY

    def reset(self) -> None:
        """The modem was (re)initialised with ``AT+CPMS="SM","SM","SM"``."""
        self.current = at.MAIN_MEMORY


class MemoryPort:
    """An ``AtPort`` as one message memory sees it (``MessageMemory`` runs its commands here)."""

    def __init__(
        self,
        port: AtPort,
        selection: Selection,
        memory: str = at.MAIN_MEMORY,
        on_size: Callable[[int], None] | None = None,
    ) -> None:
        self._at = port
        self._selection = selection
        self.memory = memory
        self.on_size = on_size  # the memory's slots, as its AT+CPMS answer says
        self.selectable = True  # False once the modem refused to select it: its one memory

    @property
    def port(self) -> str:
        return self._at.port

    @property
    def closed(self) -> bool:
        return self._at.closed

    @property
    def selected(self) -> bool:
        """Its commands need no ``AT+CPMS`` first (it is <mem1>, or the modem's one memory)."""
        return not self.selectable or self._selection.current == self.memory

    async def command(self, command: Command, timeout: float | None = None) -> list[str]:
        """Run one command on this memory; its response lines, or ``ModemCommandError``."""

        async def build() -> Command:
            return command

        built = await self.command_built(build, timeout)
        assert built is not None
        return built[1]

    async def command_built(
        self, build: Callable[[], Awaitable[Command | None]], timeout: float | None = None
    ) -> tuple[Command, list[str]] | None:
        """``AtPort.command_built`` with this memory selected first when it is not."""
        async with self._at.held() as run:
            command = await build()
            if command is None:
                return None
            if self.selectable and self._selection.current != self.memory:
                await self._select(run)
            return command, await run(command, timeout)

    async def _select(self, run: Callable[[Command, float | None], Awaitable[list[str]]]) -> None:
        before, self._selection.current = self._selection.current, None
        try:
            answer = await run(at.select_read_memory(self.memory), None)
        except ModemCommandError as exc:  # nothing changed: its reads go where they always go
            self._selection.current = before
            self.selectable = False
            log.warning(
                "%s: AT+CPMS=%r refused (%s): reading it as the modem's one memory",
                self.port,
                self.memory,
                exc.result,
            )
            return
        self._selection.current = self.memory
        usage = at.parse_storage(answer)
        if usage is not None and usage[1] and self.on_size is not None:
            self.on_size(usage[1])
