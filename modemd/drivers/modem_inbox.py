"""A modem's received SMS: read from storage, joined, handed on, and only then freed.

Each stored SMS-DELIVER (announced by ``+CMTI``, or listed by ``AT+CMGL`` at open) is decoded
and given to the reassembler (``modemd.sms.Reassembler``); its memory index stays taken until
the whole message is committed by the runtime, then every index of its parts is freed with
the next batch (``modem_memory``). The SIM is so the durable store of parts still waiting for
their siblings: a crash reads them all again at the next open, and the store keeps a message
read twice only once (its natural key). A part that cannot be decoded is handed on raw, never
dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from modemd.drivers.at_port import AtPort
from modemd.drivers.base import InboundHandler
from modemd.drivers.modem_memory import MessageMemory
from modemd.errors import PduError
from modemd.model import InboundSms
from modemd.sms import Deliver, InboundMessage, Reassembler, decode_deliver

log = logging.getLogger(__name__)

DONE_KEYS = 4096  # natural keys of parts already committed: a late repeat is freed at once
MULTIPART_TIMEOUT_S = 24 * 3600.0  # issue 14: parts missing after this go out incomplete
Spawn = Callable[[Coroutine[Any, Any, None], str], None]  # an owned task (cancelled at close)


class ModemInbox:
    """Received SMS of one modem, from its memory to the runtime."""

    def __init__(
        self,
        port: AtPort,
        device_id: Callable[[], str],
        on_inbound: InboundHandler,
        *,
        spawn: Spawn,
        memory: MessageMemory,
        timeout_s: float = MULTIPART_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._at = port
        self._device_id = device_id
        self._on_inbound = on_inbound
        self._spawn = spawn
        self._memory = memory  # frees what is committed, in batches
        self.timeout_s = timeout_s  # parts missing this long after the first: out incomplete
        self._clock = clock
        self._expiring = False  # the timer task that gives out overdue messages runs
        self._reassembler = Reassembler()
        self._indexes: dict[str, set[int]] = {}  # part natural key -> memory indexes holding it
        self._done: OrderedDict[str, None] = OrderedDict()  # parts whose message is stored

    @property
    def holding(self) -> bool:
        """Parts of a long message kept on the SIM until it is whole (read, not committed)."""
        return bool(self._indexes)

    @property
    def waiting_parts(self) -> int:
        """Messages still waiting for parts."""
        return self._reassembler.pending

    async def take(self, index: int | None, hex_pdu: str) -> None:
        """An SMS-DELIVER stored at ``index`` (None: routed as +CMT, nothing to free): join,
        hand on what it completes, free it (with the next batch); returns once what it
        completed is stored."""
        where = "+CMT" if index is None else f"index {index}"
        indexes = set() if index is None else {index}
        try:
            part = decode_deliver(hex_pdu)
        except PduError as exc:
            log.warning("%s: undecodable SMS (%s) kept raw: %s", self._at.port, where, exc)
            await self._hand_on_then_free(raw_message(hex_pdu), indexes)
            return
        if part.notes:
            log.info("%s: SMS (%s) decoded with notes: %s", self._at.port, where, part.notes)
        key = part.natural_key
        if key in self._done:  # a repeat of a part already stored: nothing new
            self._memory.free_later(indexes)
            return
        self._indexes.setdefault(key, set()).update(indexes)
        for message in self._reassembler.add(self._device_id(), part, self._clock()):
            await self._finish(message)
        await self.flush()
        if self._reassembler.pending and not self._expiring:
            self._expiring = True
            self._spawn(self._expire(), "incomplete SMS timer")

    async def flush(self) -> None:
        """Messages whose missing parts are overdue go out incomplete, with what arrived."""
        for message in self._reassembler.flush(self._clock(), self.timeout_s):
            await self._finish(message)

    async def _expire(self) -> None:
        """Sleep until the oldest waiting message is due, give it out; until none waits."""
        try:
            while (due := self._reassembler.next_due(self.timeout_s)) is not None:
                await asyncio.sleep(max(0.0, due - self._clock()))
                await self.flush()
                await self._memory.free_due()
        finally:
            self._expiring = False

    async def _finish(self, message: InboundMessage) -> None:
        keys = {p.natural_key for p in message.parts}
        # Held (``holding``) until stored and freed: no delflag AT+CMGD may take them before.
        indexes = set().union(*(self._indexes.get(k, set()) for k in keys))
        await self._hand_on_then_free(model_message(message), indexes)
        for key in keys:
            self._indexes.pop(key, None)
            self._done[key] = None
            while len(self._done) > DONE_KEYS:
                self._done.popitem(last=False)

    async def _hand_on_then_free(self, sms: InboundSms, indexes: set[int]) -> None:
        """Freed on the modem only once the handler has stored it (its awaitable ended)."""
        stored = self._on_inbound(self._device_id(), sms)
        if stored is not None:
            await asyncio.shield(stored)
        self._memory.free_later(indexes)


def model_message(message: InboundMessage) -> InboundSms:
    """A reassembled message in model terms."""
    first: Deliver = message.parts[0]
    scts = message.scts
    return InboundSms(
        natural_key=message.natural_key,
        sender=message.sender.value,
        text=message.text,
        data=message.data,
        encoding=first.dcs.alphabet.value,
        parts=message.total,
        missing=message.missing,
        sent_at=scts.timestamp() if scts is not None else None,
        flash=first.dcs.flash,
        raw=tuple(p.raw for p in message.parts),
    )


def raw_message(hex_pdu: str) -> InboundSms:
    """An SMS that cannot be decoded: kept raw (sender unknown), so nothing is lost."""
    key = hashlib.sha256(hex_pdu.upper().encode()).hexdigest()[:32]
    return InboundSms(
        natural_key=f"raw-{key}",
        sender="",
        text=None,
        data=bytes.fromhex(hex_pdu) if _is_hex(hex_pdu) else hex_pdu.encode(),
        encoding="raw",
        parts=1,
        raw=(hex_pdu,),
    )


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True
