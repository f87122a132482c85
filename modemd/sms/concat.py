"""Reassembly of concatenated SMS-DELIVER parts (3GPP TS 23.040 9.2.3.24.1 / .8). Pure.

Parts are grouped by (device, sender, reference width, reference, total), arrive in any order,
and a repeated part (same part number, or a part of a message already completed) is ignored.
Time is passed in (seconds on any monotonic scale): this module never reads a clock. To rebuild
the state after a restart, feed the stored but unassembled parts back with their arrival times.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from modemd.sms.dcs import Alphabet
from modemd.sms.deliver import Deliver, decode_text
from modemd.sms.tpdu import Address

__all__ = [
    "DEFAULT_MAX_DONE",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_TIMEOUT_S",
    "GroupKey",
    "InboundMessage",
    "Reassembler",
]


DEFAULT_TIMEOUT_S = 24 * 3600.0  # issue 14: parts still missing after 24 h go out as incomplete
DEFAULT_MAX_PENDING = 10_000  # messages in assembly; past it the oldest goes out incomplete
DEFAULT_MAX_DONE = 100_000  # parts remembered after delivery (~10 MB) to drop late repeats


@dataclass(frozen=True, slots=True)
class GroupKey:
    device: str  # the receiving device: references are per sender and recipient
    sender: str  # Address.value of the sender
    reference_bits: int  # 8 or 16: an 8-bit and a 16-bit reference 5 are different messages
    reference: int
    total: int


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A whole message: one part, every part of a concatenated one, or what arrived in time."""

    device: str
    sender: Address
    parts: tuple[Deliver, ...]  # the parts that arrived, in part-number order
    total: int  # parts the message announced (1 when not concatenated)
    missing: tuple[int, ...]  # part numbers that never arrived; () when complete
    text: str | None  # None when the message is 8-bit data or compressed
    data: bytes | None  # the joined 8-bit data; None for text
    first_seen: float  # arrival time of its first part, on the caller's scale
    notes: tuple[str, ...]  # decoding oddities of its parts

    @property
    def incomplete(self) -> bool:
        return bool(self.missing)

    @property
    def scts(self) -> datetime | None:
        return self.parts[0].scts

    @property
    def natural_key(self) -> str:
        """The part's key for a single part; otherwise a digest of the parts' keys, in order."""
        if len(self.parts) == 1 and self.total == 1:
            return self.parts[0].natural_key
        keys = ",".join(part.natural_key for part in self.parts)
        return hashlib.sha256(keys.encode()).hexdigest()[: len(self.parts[0].natural_key)]


@dataclass
class _Group:
    first_seen: float
    parts: dict[int, Deliver] = field(default_factory=dict)


class Reassembler:
    """Collects parts; ``add`` returns the message once its last part is in."""

    def __init__(
        self, max_pending: int = DEFAULT_MAX_PENDING, max_done: int = DEFAULT_MAX_DONE
    ) -> None:
        self._max_pending = max_pending
        self._max_done = max_done
        self._groups: dict[GroupKey, _Group] = {}
        # Natural keys of parts already delivered -> when, oldest first; kept for one timeout
        # and at most max_done of them, so a flood cannot grow it without bound.
        self._done: OrderedDict[str, float] = OrderedDict()

    @property
    def pending(self) -> int:
        """Messages waiting for parts."""
        return len(self._groups)

    def next_due(self, timeout_s: float) -> float | None:
        """When the oldest waiting message times out (``flush`` then gives it out); None: none."""
        if not self._groups:
            return None
        return min(group.first_seen for group in self._groups.values()) + timeout_s

    def add(self, device: str, part: Deliver, now: float) -> list[InboundMessage]:
        """Take one part; return the messages it completes (at most one) or pushes out (cap)."""
        concat = part.concat
        if concat is None or concat.total == 1:
            return [_assemble(device, part.sender, [part], 1, now)]
        if part.natural_key in self._done:
            return []
        key = GroupKey(
            device, part.sender.value, concat.reference_bits, concat.reference, concat.total
        )
        group = self._groups.get(key)
        out: list[InboundMessage] = []
        if group is None:
            if len(self._groups) >= self._max_pending:
                oldest = min(self._groups, key=lambda k: self._groups[k].first_seen)
                out.append(self._finish(oldest, now))
            group = self._groups[key] = _Group(now)
        group.parts.setdefault(concat.part, part)
        if len(group.parts) == concat.total:
            out.append(self._finish(key, now))
        return out

    def flush(self, now: float, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[InboundMessage]:
        """Messages whose first part came ``timeout_s`` or more ago, as they are (incomplete)."""
        expired = [
            key for key, group in self._groups.items() if now - group.first_seen >= timeout_s
        ]
        expired.sort(key=lambda key: self._groups[key].first_seen)
        out = [self._finish(key, now) for key in expired]
        while self._done and now - next(iter(self._done.values())) >= timeout_s:
            self._done.popitem(last=False)
        return out

    def _finish(self, key: GroupKey, now: float) -> InboundMessage:
        group = self._groups.pop(key)
        parts = [group.parts[number] for number in sorted(group.parts)]
        for part in parts:
            self._done[part.natural_key] = now
            self._done.move_to_end(part.natural_key)
        while len(self._done) > self._max_done:
            self._done.popitem(last=False)
        return _assemble(key.device, parts[0].sender, parts, key.total, group.first_seen)


def _assemble(
    device: str, sender: Address, parts: list[Deliver], total: int, first_seen: float
) -> InboundMessage:
    numbers = [part.concat.part if part.concat else 1 for part in parts]
    missing = tuple(sorted(set(range(1, total + 1)) - set(numbers)))
    notes = tuple(note for part in parts for note in part.notes)
    alphabets = {part.dcs.alphabet for part in parts}
    if any(part.dcs.compressed for part in parts):
        return InboundMessage(
            device, sender, tuple(parts), total, missing, None, None, first_seen, notes
        )
    if alphabets == {Alphabet.DATA}:
        data = b"".join(part.body for part in parts)
        return InboundMessage(
            device, sender, tuple(parts), total, missing, None, data, first_seen, notes
        )
    text = "".join(_texts(parts, numbers))
    return InboundMessage(
        device, sender, tuple(parts), total, missing, text, None, first_seen, notes
    )


def _texts(parts: list[Deliver], numbers: list[int]) -> list[str]:
    """Text of each run of consecutive parts that share an alphabet and shift tables.

    Decoding a run's joined body, not each part alone, keeps an escape or a surrogate pair that a
    sender split across two parts in one piece.
    """
    texts: list[str] = []
    run: list[Deliver] = []
    for index, part in enumerate(parts):
        if run and not _continues(run[-1], part, numbers[index - 1], numbers[index]):
            texts.append(_run_text(run))
            run = []
        run.append(part)
    texts.append(_run_text(run))
    return texts


def _continues(previous: Deliver, part: Deliver, previous_number: int, number: int) -> bool:
    same_tables = (previous.header.locking_shift, previous.header.single_shift) == (
        part.header.locking_shift,
        part.header.single_shift,
    )
    return (
        number == previous_number + 1 and previous.dcs.alphabet is part.dcs.alphabet and same_tables
    )


def _run_text(run: list[Deliver]) -> str:
    alphabet = run[0].dcs.alphabet
    if alphabet is Alphabet.DATA:  # 8-bit data among text parts: shown as hex
        return "".join(part.body.hex().upper() for part in run)
    text, _ = decode_text(alphabet, b"".join(part.body for part in run), run[0].header)
    return text
