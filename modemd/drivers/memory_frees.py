"""Freeing what a modem's message memory holds once it is read and committed: one
``AT+CMGD=<i>,1`` for every read message where the modem takes the delflag (when nothing read
waits for its commit), on the line of the next read where one comes (``AT+CMGD=<i>,1;+CMGL=0``:
no round trip of its own between two sends), else one ``AT+CMGD`` per index.
``MessageMemory`` (``modem_memory``) has these as its own; they are apart only to keep each
file small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable

from modemd.at import commands as at
from modemd.at.transaction import Command, Transaction
from modemd.drivers.memory_select import MemoryPort
from modemd.drivers.port_sides import Lead
from modemd.drivers.read_turns import ReadTurns
from modemd.errors import DeviceError, ModemCommandError

log = logging.getLogger(__name__)

# Messages read and committed wait to be freed while the modem idles (``free_read``), or
# between two sends once this many wait: the SIM (~20 slots) must not fill under a backlog.
FREE_BATCH = 8
# ... and never more than this share of the memory (``free_batch``): a batch, with the reads of
# the two sends around it, stays under the crowded mark (half the memory), where every send
# would wait for a free. 20 slots: a batch of 5 (8 + two sends' reports met the mark of 10).
FREE_BATCH_SHARE = 4
# A delflag AT+CMGD waits this long at most for the reads that ran before it to be committed
# (a group commit: milliseconds), the port free meanwhile; one that takes longer puts the batch
# off (the next trail, or the commit's callback when idle, frees it), one AT+CMGD per index only
# when the memory is crowded.
SETTLE_WAIT_S = 0.5
# A batch free and a read both due at a send's end (its trail): the read goes first, so the
# report it reads waits for no free (issue 21: its IPN <= 20 ms from the end of the send in
# progress); a delflag free waits for that read's commit, so it goes in a later trail without a
# read, or when the modem idles. Only a memory this near its crowded mark (slots held or
# announced: two sends' reports) frees first: it cannot wait for a trail without a read.
FREE_FIRST_MARGIN = 2
# A crowded memory whose batch free is put off (a read's commit lags: a delflag would free it
# too) frees one index per AT+CMGD, a round trip each before the next send: only as many as
# leave room for this many reports under the mark, not every one committed (commits of 400 ms,
# one modem at 67-133 ms a send, a report 50 ms after each, 80 sends: 5-7 in each of 13 waits;
# with room for two, 2-3 in each of 24); the rest wait for the batch free, once the reads are
# committed.
CROWDED_ROOM = 2


class MemoryFrees:
    """The frees of ``MessageMemory``: the state they share is that class's."""

    _at: MemoryPort
    _holding: Callable[[], bool]
    delete_flags: bool
    slots: int
    _held: Counter[int]
    _announced: set[int]
    _freeable: list[int]
    _unsettled: int
    _settled: asyncio.Event
    _doubtful: bool
    _freeing: set[int]
    _free_lock: asyncio.Lock
    chain_frees: bool
    turns: ReadTurns

    settle_s = SETTLE_WAIT_S  # tests inject their own

    def _pressed(self) -> bool:
        raise NotImplementedError

    @property
    def free_batch(self) -> int:
        """How many read and committed wait before a send frees them (``FREE_BATCH`` at most,
        ``FREE_BATCH_SHARE`` of the memory at most, one at least)."""
        return max(1, min(FREE_BATCH, self.slots // FREE_BATCH_SHARE))

    def _release(self, index: int) -> None:
        raise NotImplementedError

    def _read_answer(self, picked: list[int], lines: list[str], since: float | None) -> None:
        raise NotImplementedError

    def _read_failed(
        self, picked: list[int], exc: DeviceError, rode: list[int] | None = None
    ) -> None:
        raise NotImplementedError

    def _note_announced(self) -> None:
        raise NotImplementedError

    async def free_read(self, settle_s: float | None = None) -> None:
        """Free what was read and committed, one free at a time: one ``AT+CMGD=<i>,1`` where
        the modem takes it and, when its turn comes, nothing read waits for its commit (it
        waits ``settle_s``, else ``self.settle_s``, at most for those commits before it asks
        for the port, then frees every index committed by its turn, ``_free_all_read``); a
        read settling puts the batch off until it is committed (``free_due``), unless the
        memory is crowded (then an AT+CMGD per index, as many as leave room under its mark,
        ``CROWDED_ROOM``). Else, and while parts of a long SMS are kept on the SIM, an
        AT+CMGD per index."""
        async with self._free_lock:  # a delflag would free what a per-index loop frees next
            if self.delete_flags and not self._doubtful and not self._holding():
                freed = await self._free_all_read(self.settle_s if settle_s is None else settle_s)
                # put off while a read settles: the next trail or idle moment frees them in one
                # command; one per index only when the memory is crowded (room is needed now)
                if freed or (freed is None and not self._pressed()):
                    return
                if freed is None:  # crowded while a read settles: the room needed, no more
                    await self._free_each(self._over_mark())
                    return
            await self._free_each()

    def free_trails(self) -> tuple[Lead, Lead]:
        """A batch free in a send's turn (``port_sides``), built at its final result, one of
        two places: before the trail's read (the first: only when the memory nears its
        crowded mark, ``_frees_first``) or after it (the second: when no read went, a read
        leaving something uncommitted). One ``AT+CMGD=<i>,1`` where the modem takes it, when
        ``free_batch`` wait (or the memory is crowded), nothing read is uncommitted and no
        other free runs; else none (the rules of ``free_read``; a free that has to wait for a
        commit is left to a later trail, ``before_send`` or the idle moment). Where a read's
        line carries frees (``chain_frees``), the first is none (the read's line frees first),
        and the second waits for a read to come (``ride``) unless the memory nears its mark."""
        taken: list[int] = []

        def build() -> Command | None:
            if not (len(self._freeable) >= self.free_batch or self._pressed()):
                return None
            if not self._trail_frees() or self._unsettled or self._free_lock.locked():
                return None
            taken.extend(self._freeable)
            self._freeable.clear()
            self._freeing.update(taken)
            return at.delete_read(taken[0])

        def on_final(tx: Transaction) -> None:
            if tx.final is not None and tx.final.ok:
                for index in taken:
                    self._release(index)
                return
            log.info("%s: AT+CMGD with a delflag refused: %s", self._at.port, tx.final)
            self.delete_flags = False
            self._put_back(taken)

        def on_lost() -> None:  # at the next free
            log.info("%s: stored messages not freed yet: no answer", self._at.port)
            self._put_back(taken)

        def alone() -> Command | None:
            # a read to come carries the batch on its line (``ride``), unless the memory nears
            # its crowded mark: it cannot wait for that read's trail
            if self.chain_frees and self._announced and not self._frees_first():
                return None
            return build()

        first = Lead(
            lambda: build() if not self.chain_frees and self._frees_first() else None,
            on_final,
            on_lost,
        )
        return first, Lead(alone, on_final, on_lost)

    def ride(self) -> list[int]:
        """The batch a read about to be written takes on its line (``at.after_free``): what
        ``free_trails`` would free now (``free_batch`` committed, or the memory crowded;
        nothing read uncommitted, no other free running), taken; [] when none."""
        if not self.chain_frees or self._free_lock.locked() or self._unsettled:
            return []
        if not (len(self._freeable) >= self.free_batch or self._pressed()):
            return []
        if not self._trail_frees():
            return []
        taken = list(self._freeable)
        self._freeable.clear()
        self._freeing.update(taken)
        return taken

    def rode(self, taken: list[int], freed: bool) -> None:
        """The answer to a read's line that carried ``taken``'s free: ``freed`` (OK, or the
        read's lines came: the free ran before it) ends their hold; else the modem may not take
        a line of two commands: the batch waits for a free of its own (a delflag frees only
        read messages: running it twice loses nothing), and frees go alone from now on."""
        if freed:
            for index in taken:
                self._release(index)
            return
        log.info("%s: a free and a read on one line refused: one command a line", self._at.port)
        self.chain_frees = False
        self._put_back(taken)

    def _frees_first(self) -> bool:
        """What is held or announced is within ``FREE_FIRST_MARGIN`` of the crowded mark (half
        the memory): a trail's batch free goes before its read, which would put it off."""
        near = len(self._held) + len(self._announced) + FREE_FIRST_MARGIN >= self.slots // 2
        return near and bool(self._freeable)

    def _batch_of_its_own(self) -> bool:
        """``free_batch`` read and committed wait and no send's trail will free them: they
        need a free of their own (before the next send, or between sends)."""
        return len(self._freeable) >= self.free_batch and not self._trail_frees()

    def _trail_frees(self) -> bool:
        """A send's trail frees a batch here (when nothing read is uncommitted at its end)."""
        return (
            self.delete_flags and not self._doubtful and not self._holding() and self._at.selected
        )

    def _read_refused(
        self,
        picked: list[int],
        rode: list[int],
        exc: ModemCommandError,
        lines: list[str] | None = None,
        since: float | None = None,
    ) -> None:
        """A read's line answered with an error. One that carried a free: when the read's
        lines came, the free ran before it (the error is the read's: as a read's own); when
        none came, either may have failed (the free alone from now on, ``rode``), nothing was
        read: what was picked waits for its read again."""
        if not rode:
            self._read_failed(picked, exc)
            return
        self.rode(rode, bool(lines))
        if lines:
            self._read_answer(picked, lines, since)
            return
        if len(picked) == 1:
            self._release(picked[0])  # held by ``_pick``, read again
        self._announced.update(picked)
        self._note_announced()
        self.turns.keep_since(since)

    def _put_back(self, taken: list[int]) -> None:
        self._freeing.difference_update(taken)
        self._freeable[:0] = taken

    def _over_mark(self) -> int:
        """How many to free, one AT+CMGD each, to leave room for ``CROWDED_ROOM`` reports
        under the crowded mark (one at least)."""
        return max(1, len(self._held) + len(self._announced) + CROWDED_ROOM - self.slots // 2)

    async def _free_each(self, count: int | None = None) -> None:
        """One AT+CMGD per index read and committed, in the order of their commits; ``count``
        of them at most (None: all)."""
        cut = len(self._freeable) if count is None else count
        indexes, self._freeable = self._freeable[:cut], self._freeable[cut:]
        self._freeing.update(indexes)
        try:
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
            self._freeing.difference_update(indexes)
            self._freeable[:0] = indexes

    async def _free_all_read(self, settle_s: float) -> bool | None:
        """``AT+CMGD=<i>,1`` when, at its turn, nothing read is uncommitted: it frees every
        index committed by then (taken at that moment: all are read on the modem). True done,
        None put off (a read settles, nothing to free, the port failed), False refused. The
        wait for the commits (``settle_s``) comes before its turn: a send that comes meanwhile
        (an idle modem's next job) has the port at once."""
        taken: list[int] = []
        if self._unsettled and settle_s:
            with contextlib.suppress(TimeoutError):  # their commits: ms
                async with asyncio.timeout(settle_s):
                    await self._settled.wait()

        async def build() -> Command | None:
            if self._unsettled or self._doubtful or self._holding() or not self._freeable:
                return None
            taken.extend(self._freeable)
            self._freeable.clear()
            self._freeing.update(taken)
            return at.delete_read(taken[0])

        try:
            built = await self._at.command_built(build)
        except DeviceError as exc:
            self._put_back(taken)
            if not isinstance(exc, ModemCommandError):  # the port: at the next idle moment
                log.info("%s: stored messages not freed yet: %s", self._at.port, exc)
                return None
            log.info("%s: AT+CMGD with a delflag refused: %s", self._at.port, exc)
            self.delete_flags = False
            return False
        if built is None:
            return None
        for index in taken:
            self._release(index)
        return True

    async def free_now(self, index: int) -> None:
        """Free one index at once (an unreadable report: its log line is its only record)."""
        self._freeing.add(index)
        try:
            await self._at.command(at.delete_message(index))
        except DeviceError as exc:
            log.info("%s: AT+CMGD=%d: %s", self._at.port, index, exc)
