"""A modem's message memory as the driver keeps it: what +CMTI / +CDSI announce is read
(AT+CMGR for one index, AT+CMGL=0 for several announced meanwhile: one command) when the port
is free, or, while the modem sends, before the next send once it cannot wait (``read_turns``);
everything is listed at open and when the memory is full (AT+CMGL=4), and what was committed
is freed in batches (AT+CMGD=<i>,1 where the modem offers the delflag, else one AT+CMGD per
index), at a send's turn or when the modem idles.

A stored message is freed only after the runtime has committed what it said, so a crash in
between reads it again at the next open instead of losing it. An index is *held* from its read
until it is freed (or given back): a listing skips held indexes, so nothing is handed on twice
and no index is freed twice (a second AT+CMGD of an index would free the next message the
modem stores there, unread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, cast

from modemd.at import commands as at
from modemd.at.transaction import Command, Transaction
from modemd.drivers.at_port import Lead
from modemd.drivers.memory_frees import MemoryFrees
from modemd.drivers.memory_select import MemoryPort
from modemd.drivers.read_turns import ReadTurns
from modemd.errors import DeviceError, ModemCommandError

log = logging.getLogger(__name__)

STORAGE_SLOTS = 20  # a SIM's usual size, until AT+CPMS says

# Hand on one stored PDU; True when its index stays held until ``free_later`` gives it back.
Take = Callable[[at.StoredPdu], Awaitable[bool]]
# Hand on a stored status report at once, in the callback that read it: the awaitable its
# commit ends (True: none to wait for); None when it is not one (``Take`` then, in a task).
TakeNow = Callable[[at.StoredPdu], Awaitable[object] | bool | None]
Spawn = Callable[[Coroutine[Any, Any, None], str], None]  # an owned task (cancelled at close)


class MessageMemory(MemoryFrees):
    """Reads, holds and frees the indexes of one modem's message memory."""

    def __init__(
        self,
        port: MemoryPort,
        take: Take,
        spawn: Spawn,
        holding: Callable[[], bool],
        take_now: TakeNow = lambda _stored: None,
    ) -> None:
        self._at = port
        self._take = take
        self._take_now = take_now
        self._spawn = spawn
        self._holding = holding  # parts of a long SMS kept on the SIM until it is whole
        self.delete_flags = False  # AT+CMGD=<i>,1 (every read message) taken: probed at open
        self.slots = STORAGE_SLOTS  # the memory's size (AT+CPMS at open)
        # AT+CMGL=0 lists what was announced; False once a modem was seen to leave one out
        # (its reports kept in another memory, say): then AT+CMGR per index.
        self.list_unread = True
        # Nothing to send here (set by ``tidy``, cleared by a send): free what is read at once.
        self.idle = True
        self._held: Counter[int] = Counter()  # indexes read and not yet freed (or given back)
        self._freeable: list[int] = []  # committed, waiting for ``free_read``
        # Messages the modem has marked read (their AT+CMGR / AT+CMGL ran) and not yet
        # committed: a delflag AT+CMGD runs only when none is, checked when it has its turn.
        self._unsettled = 0
        self._settled = asyncio.Event()  # set while ``_unsettled`` is 0
        self._settled.set()
        self._doubtful = False  # a read failed midway: it may be marked read, unseen by us
        self._announced: set[int] = set()  # +CMTI / +CDSI indexes not yet read
        self.turns = ReadTurns()  # while the modem sends: reads between two sends or later
        # Indexes whose AT+CMGD is queued or in flight: a +CMTI / +CDSI for one of them is a
        # new message stored in the freed slot (``_renewed``), to read although still held.
        self._freeing: set[int] = set()
        self._renewed: set[int] = set()
        self._unlisted: set[int] = set()  # announced, left out by an AT+CMGL=0 listing
        self._free_lock = asyncio.Lock()
        self._reading = False  # the task that reads them runs
        # A batch free due when a read is written goes on its line (``ride``); False once the
        # modem refused such a line: then each goes alone (``free_trails``).
        self.chain_frees = True

    def announce(self, index: int) -> None:
        """+CMTI / +CDSI: read ``index`` as soon as the command in flight is over."""
        self._announced.add(index)
        self._note_announced()
        if index in self._freeing:
            self._renewed.add(index)
        if not self._reading:
            self._reading = True
            self._spawn(self._read_announced(), "read stored")

    async def _read_announced(self) -> None:
        """Read what was announced, until nothing more is; while a part is sent, what is due is
        read before the next one (``before_send``), the rest once no send follows at once."""
        try:
            while self._announced:
                await self.turns.not_sending()
                await self._read_next()
        finally:
            self._reading = False

    def _note_announced(self) -> None:
        self.turns.note(bool(self._announced))

    def _reads_due(self, at_end: bool = False) -> bool:
        """Something announced would wait too long if read after the next send
        (``read_turns``), or half the memory is taken (what comes next would find it full)."""
        return bool(self._announced) and (self.turns.due(at_end) or self._crowded())

    async def before_send(self, fold: bool = True) -> Lead | None:
        """A part is about to be sent: what is due is freed (``free_batch`` where a send's
        trail cannot free them, ``free_trails``; or the memory is crowded) and read (one
        ``AT+CMGL=0``) first, in the sender's task; the rest waits for a later turn. A read
        due in this memory, selected, with room in it, is returned instead (``fold``): the
        send's ``Lead``, run in its turn.
        When half the memory is still taken, the send waits for the reads' commits and their
        free: on a small SIM with fast sends the network would otherwise find it full and keep
        what comes next back (for minutes, on a real network). The port is the send's until
        ``after_send``."""
        self.idle = False
        self.turns.started()
        if self._batch_of_its_own() or self._pressed():
            await self.free_read(settle_s=0.0)  # a send waits: no commit is waited for
        for _ in range(len(self._announced) + 1):  # one listing, else one AT+CMGR each
            if not self._reads_due():
                break
            if fold and self._at.selected and not self._crowded():
                return self._lead(lambda: True)
            await self._read_next()
        if self._crowded() and self._unsettled:  # what comes during the send needs room
            with contextlib.suppress(TimeoutError):  # their commits: ms (a small, fast SIM)
                async with asyncio.timeout(self.settle_s):
                    await self._settled.wait()
            if self._freeable:
                await self.free_read(settle_s=0.0)
        return None

    def trail(self) -> list[Lead]:
        """What goes at a send's final result, in its turn (``port_sides``), each built then:
        a read that is due (the next send would make it wait too long), then a batch free that
        is due, unless the read leaves something uncommitted (a later trail frees it); before
        the read only when the memory nears its crowded mark (``free_trails``). All only in
        the memory the modem has selected."""
        first, free = self.free_trails()
        return [first, self._lead(lambda: self._reads_due(at_end=True)), free]

    def after_send(self, seconds: float) -> None:
        """The part's send is over (``seconds`` long): reads not taken before it may run."""
        self.turns.ended(seconds)

    async def _read_next(self) -> None:
        """What is announced when the port is ours (after the send in flight): one index by
        AT+CMGR, several by one AT+CMGL=0."""
        picked: list[int] = []
        rode: list[int] = []
        since = self.turns.since
        try:

            async def build() -> Command | None:
                return self._read_command(picked, rode)

            built = await self._at.command_built(build)
        except ModemCommandError as exc:
            self._read_refused(picked, rode, exc)
            return
        except DeviceError as exc:
            self._read_failed(picked, exc, rode)
            return
        if built is not None:
            self.rode(rode, True)
            self._read_answer(picked, built[1], since)

    def _lead(self, due: Callable[[], bool]) -> Lead:
        """The next read, made at the send's turn (``AtPort.exchange``) when ``due()`` then;
        its answer is taken in the callback that writes the send's line (or the next one)."""
        picked: list[int] = []
        rode: list[int] = []
        since = self.turns.since

        def on_final(tx: Transaction) -> None:
            final = tx.final
            assert final is not None
            if final.ok:
                self.rode(rode, True)
                self._read_answer(picked, tx.responses, since)
            else:
                refused = ModemCommandError(tx.command.text, final.text, final.code)
                self._read_refused(picked, rode, refused, tx.responses, since)

        return Lead(
            lambda: self._read_command(picked, rode) if self._at.selected and due() else None,
            on_final,
            lambda: self._read_failed(picked, DeviceError(f"{self._at.port}: no answer"), rode),
        )

    def _read_command(self, picked: list[int], rode: list[int]) -> Command | None:
        """At the read's turn: the read (``_pick``), with the batch free due then on its line,
        first (``ride``: ``AT+CMGD=<i>,1;+CMGL=0``); its indexes in ``rode``."""
        command = self._pick(picked)
        if command is None:
            return None
        rode.extend(self.ride())
        return at.after_free(rode[0], command) if rode else command

    def _read_answer(self, picked: list[int], lines: list[str], since: float | None) -> None:
        if len(picked) > 1:
            self._took_listing(picked, at.parse_listing(lines), since)
        else:
            self._took_read(picked[0], at.parse_read(picked[0], lines))

    def _read_failed(
        self, picked: list[int], exc: DeviceError, rode: list[int] | None = None
    ) -> None:
        if rode and not isinstance(exc, ModemCommandError):  # no answer: freed or not, later
            self._put_back(rode)
        if isinstance(exc, ModemCommandError):
            if len(picked) > 1:  # the listing refused: each by AT+CMGR from now on
                log.info("%s: %s refused (%s)", self._at.port, at.LIST_UNREAD_PDU.text, exc)
                self.list_unread = False
                self._announced.update(picked)
                self._note_announced()
            else:  # an answer: nothing was marked read
                log.warning("%s: stored message %s unreadable: %s", self._at.port, picked, exc)
                self._release(picked[0])
            return
        # no answer: what it read may be marked read, unseen
        log.warning("%s: stored messages %s not read: %s", self._at.port, picked, exc)
        self._doubtful = True
        if len(picked) == 1:
            self._release(picked[0])

    def _pick(self, picked: list[int]) -> Command | None:
        """At the read's turn: AT+CMGL=0 for several announced indexes, else AT+CMGR for one
        (the others next); an index a listing left out is read alone (``_unlisted``)."""
        fresh = sorted(i for i in self._announced if self._takes(i))
        self._announced.clear()
        if len(fresh) > 1 and self.list_unread and not self._unlisted & set(fresh):
            picked.extend(fresh)
            self._note_announced()
            return at.LIST_UNREAD_PDU
        if not fresh:
            self._note_announced()
            return None
        first = min(self._unlisted & set(fresh), default=fresh[0])
        self._announced.update(i for i in fresh if i != first)  # the oldest's time stays
        self._note_announced()
        picked.append(first)
        self._hold(first)
        return at.read_message(first)

    def _took_listing(
        self, announced: list[int], listed: list[at.StoredPdu], since: float | None
    ) -> None:
        self._take_all(listed)
        taken = {s.index for s in listed}
        self._announced -= taken  # their +CMTI / +CDSI came meanwhile
        missing = [i for i in announced if i not in taken and self._takes(i)]
        self._unlisted.update(missing)  # read by AT+CMGR: is the listing to be trusted?
        self._announced.update(missing)
        self._note_announced()
        if missing:  # as old as they were: read next
            self.turns.keep_since(since)

    def _took_read(self, index: int, stored: at.StoredPdu | None) -> None:
        unlisted = index in self._unlisted
        self._unlisted.discard(index)
        if stored is None:
            log.warning("%s: memory index %d is empty", self._at.port, index)
            self._release(index)
            return
        if unlisted and self.list_unread:
            log.info(
                "%s: AT+CMGL=0 left out announced index %d: AT+CMGR from now on",
                self._at.port,
                index,
            )
            self.list_unread = False
        self._settle(+1)
        if not self._taken_now(index, stored, None):
            self._spawn(self._take_held(index, stored), f"take stored {index}")

    def _takes(self, index: int) -> bool:
        """Whether what is at ``index`` is to be taken: not held, or stored anew (renewed)."""
        return not self._held[index] or index in self._renewed

    def _hold(self, index: int) -> None:
        self._held[index] += 1
        self._renewed.discard(index)

    def _take_all(self, listed: Iterable[at.StoredPdu]) -> list[Awaitable[None]]:
        """Take every listed message whose index is not held (being read, or waiting to be
        freed), each in its own task: a commit awaited never holds up the next read."""
        takes: list[Awaitable[None]] = []
        for stored in listed:
            assert stored.index is not None
            if self._takes(stored.index):
                self._hold(stored.index)
                self._settle(+1)
                done = asyncio.get_running_loop().create_future()
                if not self._taken_now(stored.index, stored, done):
                    self._spawn(self._take_held(stored.index, stored, done), f"take {stored.index}")
                takes.append(done)
        return takes

    def _taken_now(
        self, index: int, stored: at.StoredPdu, done: asyncio.Future[None] | None
    ) -> bool:
        """A status report handed on here (``TakeNow``), in the callback that read it: no task,
        its commit already queued; what follows its commit runs in a callback of it. False
        when it is not one (a task takes it: ``_take_held``)."""
        handed = self._take_now(stored)
        if handed is None:
            return False
        if handed is True:
            self.free_later((index,))
            self._took_now(index, True, done)
        else:
            committed = asyncio.ensure_future(cast("Awaitable[object]", handed))
            committed.add_done_callback(lambda f: self._committed(index, f, done))
        return True

    def _committed(
        self, index: int, committed: asyncio.Future[object], done: asyncio.Future[None] | None
    ) -> None:
        kept = not committed.cancelled() and committed.exception() is None
        if kept:  # else logged where it failed; read again by the next listing of all
            self.free_later((index,))
        self._took_now(index, kept, done)

    def _took_now(self, index: int, kept: bool, done: asyncio.Future[None] | None) -> None:
        self._took(index, kept, done)
        if self._free_is_due() and not self._at.closed:  # (``free_due``)
            self._spawn(self.free_read(), "free read")

    def _took(self, index: int, kept: bool, done: asyncio.Future[None] | None) -> None:
        if not kept:
            self._release(index)
        self._settle(-1)
        if done is not None and not done.done():
            done.set_result(None)

    async def _take_held(
        self, index: int, stored: at.StoredPdu, done: asyncio.Future[None] | None = None
    ) -> None:
        """Take ``stored`` (its index held; the caller counted it unsettled); the hold ends
        here unless the taker keeps it (then ``free_later`` ends it). Freed at once when the
        modem idles, else once ``free_batch`` wait."""
        kept = False
        try:
            kept = await self._take(stored)
        finally:
            self._took(index, kept, done)
        await self.free_due()

    async def list_all(self) -> None:
        """Every stored message (AT+CMGL=4): those not held taken, each freed once committed."""
        try:
            listed = at.parse_listing(await self._at.command(at.LIST_ALL_PDU))
        except DeviceError as exc:
            log.warning("%s: cannot list stored messages: %s", self._at.port, exc)
            return
        self._doubtful = False  # whatever a failed read left marked read is taken now
        takes = self._take_all(listed)
        await asyncio.gather(*takes)
        await self.free_read()
        if listed:
            log.info("%s: %d stored messages read", self._at.port, len(listed))

    def free_later(self, indexes: Iterable[int]) -> None:
        """What was at ``indexes`` is committed: freed with the next batch (``free_due``);
        their hold ends then."""
        self._freeable.extend(sorted(indexes))

    async def free_due(self) -> None:
        """Free what waits when the modem idles, or once ``free_batch`` wait; while a part is
        sent, at the next send's turn (``before_send``), not between the two. Where the modem
        takes a delflag, reads still settling go first: the last one frees them all at once."""
        if self._free_is_due():
            await self.free_read()

    def _free_is_due(self) -> bool:
        """A batch full where a send's trail cannot free it (or a crowded memory) while no part
        is sent; anything once the modem idles, no read settling. Where a trail frees, a batch
        committed between two sends waits for the next send's end: not a command of its own
        that the next send's line would wait behind."""
        settling = self.delete_flags and self._unsettled > 0
        full = self._batch_of_its_own() or self._pressed()
        return (full and not self.turns.sending) or (self.idle and not settling)

    def _pressed(self) -> bool:
        """Half the memory holds what is read or announced: free before the next send, or the
        network has to keep what comes next (a full memory)."""
        return bool(self._freeable) and self._crowded()

    def _crowded(self) -> bool:
        """Half the memory holds what is read or announced."""
        return len(self._held) + len(self._announced) >= self.slots // 2

    def _settle(self, change: int) -> None:
        self._unsettled += change
        if self._unsettled:
            self._settled.clear()
        else:
            self._settled.set()

    def _release(self, index: int) -> None:
        self._freeing.discard(index)
        self._held[index] -= 1
        if self._held[index] <= 0:
            del self._held[index]
