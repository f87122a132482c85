"""A modem's message memory as the driver keeps it: what +CMTI / +CDSI announce is read
(AT+CMGR for one index, AT+CMGL=0 for several announced meanwhile: one command), everything
is listed at open and when the memory is full (AT+CMGL=4), and what was committed is freed in
batches (AT+CMGD=<i>,1 where the modem offers the delflag, else one AT+CMGD per index).

A stored message is freed only after the runtime has committed what it said, so a crash in
between reads it again at the next open instead of losing it. An index is *held* from its read
until it is freed (or given back): a listing skips held indexes, so nothing is handed on twice
and no index is freed twice (a second AT+CMGD of an index would free the next message the
modem stores there, unread).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from modemd.at import commands as at
from modemd.drivers.at_port import AtPort
from modemd.errors import DeviceError, ModemCommandError

log = logging.getLogger(__name__)

# Messages read and committed wait to be freed while the modem idles (``free_read``), or
# between two sends once this many wait: the SIM (~20 slots) must not fill under a backlog.
FREE_BATCH = 8

# Hand on one stored PDU; True when its index stays held until ``free_later`` gives it back.
Take = Callable[[at.StoredPdu], Awaitable[bool]]
Spawn = Callable[[Coroutine[Any, Any, None], str], None]  # an owned task (cancelled at close)


class MessageMemory:
    """Reads, holds and frees the indexes of one modem's message memory."""

    def __init__(self, port: AtPort, take: Take, spawn: Spawn, holding: Callable[[], bool]) -> None:
        self._at = port
        self._take = take
        self._spawn = spawn
        self._holding = holding  # parts of a long SMS kept on the SIM until it is whole
        self.delete_flags = False  # AT+CMGD=<i>,1 (every read message) taken: probed at open
        # AT+CMGL=0 lists what was announced; False once a modem was seen to leave one out
        # (its reports kept in another memory, say): then AT+CMGR per index.
        self.list_unread = True
        # Nothing to send here (set by ``tidy``, cleared by a send): free what is read at once.
        self.idle = True
        self._held: Counter[int] = Counter()  # indexes read and not yet freed (or given back)
        self._freeable: list[int] = []  # committed, waiting for ``free_read``
        self._unsettled = 0  # reads queued or in flight, messages read and not yet committed
        self._announced: set[int] = set()  # +CMTI / +CDSI indexes not yet read
        # Indexes whose AT+CMGD is queued or in flight: a +CMTI / +CDSI for one of them is a
        # new message stored in the freed slot (``_renewed``), to read although still held.
        self._freeing: set[int] = set()
        self._renewed: set[int] = set()
        self._reading = False  # the task that reads them runs

    def announce(self, index: int) -> None:
        """+CMTI / +CDSI: read ``index`` as soon as the command in flight is over."""
        self._announced.add(index)
        if index in self._freeing:
            self._renewed.add(index)
        if not self._reading:
            self._reading = True
            # Counted now: a delflag AT+CMGD queued after this must not free what it reads.
            self._unsettled += 1
            self._spawn(self._read_announced(), "read stored")

    async def _read_announced(self) -> None:
        """Read what was announced, until nothing more is: one index by AT+CMGR, several (those
        announced while a send was in flight) by one AT+CMGL=0."""
        try:
            while self._announced:
                fresh = sorted(i for i in self._announced if self._takes(i))
                self._announced.clear()
                if len(fresh) > 1 and self.list_unread:
                    await self._read_unread(fresh)
                else:
                    for index in fresh:
                        await self._read_index(index)
        finally:
            self._reading = False
            self._unsettled -= 1
        await self.free_due()

    async def _read_unread(self, announced: list[int]) -> None:
        try:
            listed = at.parse_listing(await self._at.command(at.LIST_UNREAD_PDU))
        except ModemCommandError as exc:
            log.info("%s: %s refused (%s)", self._at.port, at.LIST_UNREAD_PDU.text, exc.result)
            self.list_unread = False
            listed = []
        except DeviceError as exc:
            log.warning("%s: cannot list unread messages: %s", self._at.port, exc)
            return
        self._take_all(listed)
        self._announced -= {s.index for s in listed}  # their +CMTI / +CDSI came meanwhile
        taken = {s.index for s in listed}
        for index in announced:
            if index not in taken and self._takes(index) and await self._read_index(index):
                if self.list_unread:
                    log.info(
                        "%s: AT+CMGL=0 left out announced index %d: reading by AT+CMGR",
                        self._at.port,
                        index,
                    )
                self.list_unread = False

    def _takes(self, index: int) -> bool:
        """Whether what is at ``index`` is to be taken: not held, or stored anew (renewed)."""
        return not self._held[index] or index in self._renewed

    def _hold(self, index: int) -> None:
        self._held[index] += 1
        self._renewed.discard(index)

    async def _read_index(self, index: int) -> bool:
        """AT+CMGR=<index>, the message taken; False when there was none."""
        self._hold(index)
        try:
            stored = at.parse_read(index, await self._at.command(at.read_message(index)))
        except DeviceError as exc:
            log.warning("%s: stored message %d unreadable: %s", self._at.port, index, exc)
            self._release(index)
            return False
        if stored is None:
            log.warning("%s: memory index %d is empty", self._at.port, index)
            self._release(index)
            return False
        self._unsettled += 1
        self._spawn(self._take_held(index, stored), f"take stored {index}")
        return True

    def _take_all(self, listed: Iterable[at.StoredPdu]) -> list[Awaitable[None]]:
        """Take every listed message whose index is not held (being read, or waiting to be
        freed), each in its own task: a commit awaited never holds up the next read."""
        takes: list[Awaitable[None]] = []
        for stored in listed:
            assert stored.index is not None
            if self._takes(stored.index):
                self._hold(stored.index)
                self._unsettled += 1
                done = asyncio.get_running_loop().create_future()
                self._spawn(self._take_held(stored.index, stored, done), f"take {stored.index}")
                takes.append(done)
        return takes

    async def _take_held(
        self, index: int, stored: at.StoredPdu, done: asyncio.Future[None] | None = None
    ) -> None:
        """Take ``stored`` (its index held; the caller counted it unsettled); the hold ends
        here unless the taker keeps it (then ``free_later`` ends it). Freed at once when the
        modem idles, else once ``FREE_BATCH`` wait."""
        kept = False
        try:
            kept = await self._take(stored)
        finally:
            if not kept:
                self._release(index)
            self._unsettled -= 1
            if done is not None and not done.done():
                done.set_result(None)
        await self.free_due()

    async def list_all(self) -> None:
        """Every stored message (AT+CMGL=4): those not held taken, each freed once committed."""
        self._unsettled += 1  # AT+CMGL marks every one read
        try:
            listed = at.parse_listing(await self._at.command(at.LIST_ALL_PDU))
            takes = self._take_all(listed)
        except DeviceError as exc:
            log.warning("%s: cannot list stored messages: %s", self._at.port, exc)
            return
        finally:
            self._unsettled -= 1
        await asyncio.gather(*takes)
        await self.free_read()
        if listed:
            log.info("%s: %d stored messages read", self._at.port, len(listed))

    def free_later(self, indexes: Iterable[int]) -> None:
        """What was at ``indexes`` is committed: freed with the next batch (``free_due``);
        their hold ends then."""
        self._freeable.extend(sorted(indexes))

    async def free_due(self) -> None:
        """Free what waits when the modem idles, or once ``FREE_BATCH`` wait. Where the modem
        takes a delflag, reads still settling go first: the last one frees them all at once."""
        settling = self.delete_flags and self._unsettled > 0
        if len(self._freeable) >= FREE_BATCH or (self.idle and not settling):
            await self.free_read()

    async def free_read(self) -> None:
        """Free what was read and committed: one ``AT+CMGD=<i>,1`` where the modem takes it and
        nothing else read waits for its commit (a received SMS being stored, the parts of a
        long one kept on the SIM until it is whole), else an AT+CMGD per index."""
        indexes, self._freeable = self._freeable, []
        if not indexes:
            return
        self._freeing.update(indexes)
        try:
            if self.delete_flags and self._unsettled == 0 and not self._holding():
                try:  # no await between the checks above and the command taking its turn
                    await self._at.command(at.delete_read(indexes[0]))
                    for index in indexes:
                        self._release(index)
                    return
                except ModemCommandError as exc:
                    log.info("%s: AT+CMGD with a delflag refused: %s", self._at.port, exc)
                    self.delete_flags = False
            for n, index in enumerate(indexes):
                try:
                    await self._at.command(at.delete_message(index))
                except ModemCommandError as exc:  # gone already: nothing to free
                    log.info("%s: AT+CMGD=%d: %s", self._at.port, index, exc.result)
                except DeviceError:
                    indexes = indexes[n:]
                    raise
                self._release(index)
        except DeviceError as exc:  # the port: freed at the next idle moment, or read again
            log.info("%s: stored messages not freed yet: %s", self._at.port, exc)
            self._freeable[:0] = indexes

    async def free_now(self, index: int) -> None:
        """Free one index at once (an unreadable report: its log line is its only record)."""
        self._freeing.add(index)
        try:
            await self._at.command(at.delete_message(index))
        except DeviceError as exc:
            log.info("%s: AT+CMGD=%d: %s", self._at.port, index, exc)

    def _release(self, index: int) -> None:
        self._freeing.discard(index)
        self._held[index] -= 1
        if self._held[index] <= 0:
            del self._held[index]
