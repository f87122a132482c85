"""Where the wait between two sends of a modem goes: a timeline of every byte at its pty.

Each emulated modem's pty is tapped (every chunk in and out, stamped on this process's clock).
The wait between a send's end (the network's ``+CMGS``) and the modem's next ``AT+CMGS=`` is
cut at each command the host writes in it:

- ``reaction``: from the ``+CMGS`` to the host's first command after it (the daemon's own work
  to go on, its wait for a CPU, and this process's wait to read the pty);
- ``read`` (``AT+CMGR``/``AT+CMGL``), ``free`` (``AT+CMGD``), ``other``: from that command's
  arrival to the next command's: the modem's answer (the emulator answers in the same
  callback: its share is the wait for this process's loop), the daemon's reading of it and the
  write of the next command.

The wait for a CPU is read from ``/proc/PID/task/*/schedstat`` (run delay: runnable, not
running) over the measured window, per send, beside the CPU each process used. A stored report
or SMS is followed from its ``+CDSI``/``+CMTI`` to the command that reads it (``announce ->
read``): what deferring reads costs the report.

Each wait over ``SLOW_S`` is put in one class (``classify``): this process late for half of it
or more (its loop stamps and answers for the emulated modems: the emulators' host); else by its
longest piece: a read's or a free's round trip (the driver's choice to read between two sends),
or the reaction while many other modems waited past 10 ms too (the daemon's loop late, or a
commit they all wait for), or on this modem alone (its next job not claimed yet: the claim's
commit). A heuristic from outside the daemon: the classes say where to look.

    .venv/bin/python -m bench.timeline --modems 8 --latency 0.1 --rounds 40 [--spread 0.333]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness import LineTap, percentile

KINDS = {b"AT+CMGS=": "send", b"AT+CMGR=": "read", b"AT+CMGL=": "read", b"AT+CMGD=": "free"}
ANNOUNCED = re.compile(rb'\+(?:CDSI|CMTI): "?\w+"?,(\d+)')
COMMAND_END = re.compile(rb"[\r\x1a\x1b]")
LARGEST = 5  # the longest waits, each with its pieces
LISTED = re.compile(rb"\+CMGL: (\d+),")
FINAL = re.compile(rb"(?:OK|ERROR|\+CM[ES] ERROR: \d+)$")
SLOW_S = 0.010  # issue 21: the largest gap between two sends <= 10 ms; longer ones are classed
PROBE_S = 0.002  # this process's loop is looked at this often while a timeline runs
HOST_LATE_S = 0.003  # a look later than this is this process (the emulators' host) running late
MANY = 8  # modems per other modem past 10 ms at once (64: 8): a stall of the loop, not one chain


def last_command(command: bytes) -> bytes:
    """The last command of a line (``AT+CMGD=1,1;+CMGL=0``: a free on a read's line) as if
    written alone: what the line waits for at its end."""
    _head, separator, tail = command.rpartition(b";")
    return b"AT" + tail if separator else command


def _kind(command: bytes) -> str:
    command = last_command(command)
    for prefix, kind in KINDS.items():
        if command.startswith(prefix):
            return kind
    return "other"


class TimelineTap:
    """Every command line one modem received and every announcement it made, stamped."""

    def __init__(self, tap: LineTap) -> None:
        self.tap = tap
        self.commands: list[tuple[float, bytes]] = []  # (arrival, the line without CR)
        self.announced: list[tuple[float, int]] = []  # (+CDSI/+CMTI written, index)
        self.listed: list[tuple[float, list[int]]] = []  # (AT+CMGL answered, indexes)
        self.finals: list[float] = []  # each final result (OK, ERROR, +CMS/+CME ERROR) written
        self._line = b""
        self._out = b""
        modem = tap.modem
        self._on_input, self._on_output = modem.on_input, modem.on_output
        modem.on_input, modem.on_output = self._input, self._output

    def _input(self, data: bytes) -> None:
        if self._on_input is not None:
            self._on_input(data)
        now = time.time()
        self._line += data
        # A command line ends with CR; a PDU body with Ctrl-Z (or ESC): no command.
        *lines, self._line = COMMAND_END.split(self._line)
        self.commands += [(now, line.strip()) for line in lines if line.strip().startswith(b"AT")]

    def _output(self, data: bytes) -> None:
        if self._on_output is not None:
            self._on_output(data)
        now = time.time()
        self._out = self._out[-64:] + data
        *lines, self._out = self._out.split(b"\r\n")
        listed = []
        for line in lines:
            if match := ANNOUNCED.match(line):
                self.announced.append((now, int(match.group(1))))
            elif match := LISTED.match(line):
                listed.append(int(match.group(1)))
            elif FINAL.match(line):
                self.finals.append(now)
        if listed:
            self.listed.append((now, listed))

    def waits(self) -> list[tuple[float, float, list[tuple[str, float]]]]:
        """Each wait between a send's end and the next ``AT+CMGS=``: (the end, the next start,
        its pieces as (kind, seconds), ``reaction`` first)."""
        ends = [m.at for m in self.tap.modem.accepted]
        starts = [t for t, line in self.commands if line.startswith(b"AT+CMGS=")]
        found = []
        for end in ends:
            nxt = next((s for s in starts if s > end), None)
            if nxt is None:
                continue
            inside = [(t, _kind(line)) for t, line in self.commands if end < t < nxt]
            pieces: list[tuple[str, float]] = []
            previous, kind = end, "reaction"
            for t, command_kind in [*inside, (nxt, "send")]:
                pieces.append((kind, t - previous))
                previous, kind = t, command_kind
            found.append((end, nxt, pieces))
        return found

    def gaps(self) -> list[tuple[float, list[tuple[str, float]]]]:
        """Each wait as (its length, its pieces)."""
        return [(nxt - end, pieces) for end, nxt, pieces in self.waits()]

    def read_ages(self) -> list[float]:
        """For each announced index: seconds from its announcement to the command reading it."""
        reads = [(t, last_command(line)) for t, line in self.commands if _kind(line) == "read"]
        ages = []
        for announced_at, index in self.announced:
            for t, line in reads:
                if t < announced_at:
                    continue
                if line.startswith(b"AT+CMGL=") or line == b"AT+CMGR=%d" % index:
                    ages.append(t - announced_at)
                    break
        return ages


class Stalls:
    """This process's late wake-ups while in use: (when, how late), each later than
    ``HOST_LATE_S`` (its loop runs the emulated modems: their stamps and answers wait too)."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _probe(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(PROBE_S)
            late = time.monotonic() - before - PROBE_S
            if late > HOST_LATE_S:
                self.seen.append((time.time(), late))

    async def __aenter__(self) -> Stalls:
        self._task = asyncio.create_task(self._probe(), name="timeline stalls")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def late_within(self, start: float, end: float) -> float:
        """How late this process was, in all, in the wake-ups that ended within [start, end]."""
        return sum(min(late, end - start) for at, late in self.seen if start < at <= end + late)


def classify(taps: Sequence[TimelineTap], stalls: Stalls) -> dict[str, Any]:
    """Every wait over ``SLOW_S`` in one class (module docstring), counted, with each class's
    share of the time those waits took past ``SLOW_S``, and a few of each."""
    waits = [
        (end, nxt, pieces, n) for n, tap in enumerate(taps) for end, nxt, pieces in tap.waits()
    ]
    slow = [w for w in waits if w[1] - w[0] > SLOW_S]
    counts: Counter[str] = Counter()
    excess: dict[str, float] = defaultdict(float)
    examples: dict[str, list[Any]] = defaultdict(list)
    with_read = 0
    for end, nxt, pieces, n in slow:
        longest: dict[str, float] = defaultdict(float)
        for kind, seconds in pieces:
            longest[kind] += seconds
        others = sum(1 for e, x, _p, m in waits if m != n and e < nxt and x > end + SLOW_S)
        host = stalls.late_within(end, nxt)
        if host >= (nxt - end) / 2:
            why = "emulators' host late"
        elif (kind := max(longest, key=longest.__getitem__)) != "reaction":
            why = f"{kind} between (its round trip the longest part)"
        elif others >= max(2, len(taps) // MANY):
            why = "the daemon's reaction, many waiting (its loop late or a shared commit)"
        else:
            why = "the daemon's reaction, few waiting (this modem's chain: its next claim?)"
        with_read += "read" in longest
        counts[why] += 1
        excess[why] += nxt - end - SLOW_S
        if len(examples[why]) < 3:
            examples[why].append((ms(nxt - end), others, ms(host), [(k, ms(t)) for k, t in pieces]))
    total = sum(excess.values()) or 1.0
    return {
        "waits": len(waits),
        "over_10ms": len(slow),
        "over_10ms_with_a_read": with_read,
        "host_late_count": len(stalls.seen),
        "classes": {k: (v, round(excess[k] / total, 3)) for k, v in counts.most_common()},
        "examples": dict(examples),
    }


def schedstat(pid: int, *, main_only: bool = False) -> tuple[float, float]:
    """Seconds on a CPU and seconds runnable but waiting for one, of the threads of ``pid``
    (``main_only``: of its main thread, the daemon's event loop)."""
    ran = waited = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        if main_only and task.name != str(pid):
            continue
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        ran += int(fields[0]) / 1e9
        waited += int(fields[1]) / 1e9
    return ran, waited


class CpuWait:
    """CPU used and CPU waited for by some processes over a window (``schedstat``)."""

    def __init__(self, daemon: int, bench: int) -> None:
        self._of: dict[str, Callable[[], tuple[float, float]]] = {
            "daemon": lambda: schedstat(daemon),
            "daemon_loop": lambda: schedstat(daemon, main_only=True),
            "bench": lambda: schedstat(bench),
        }
        self._before = {name: read() for name, read in self._of.items()}

    def per_send_ms(self, sends: int) -> dict[str, float]:
        """Per send: each one's CPU and its wait for a CPU, in ms."""
        out = {}
        for name, read in self._of.items():
            ran, waited = (a - b for a, b in zip(read(), self._before[name], strict=True))
            out[f"{name}_cpu_ms_per_send"] = round(1000 * ran / sends, 3)
            out[f"{name}_cpu_wait_ms_per_send"] = round(1000 * waited / sends, 3)
        return out


def ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def summary(taps: Sequence[TimelineTap]) -> dict[str, Any]:
    """The waits between sends cut into their pieces: mean ms per send by kind, the share of
    waits with a read or a free in them, and the announce -> read ages."""
    gaps = [gap for tap in taps for gap in tap.gaps()]
    total: dict[str, float] = defaultdict(float)
    with_read = [length for length, pieces in gaps if any(k == "read" for k, _ in pieces)]
    without = [length for length, pieces in gaps if all(k == "reaction" for k, _ in pieces)]
    for _length, pieces in gaps:
        for kind, seconds in pieces:
            total[kind] += seconds
    by_kind: dict[str, list[float]] = defaultdict(list)
    for _length, pieces in gaps:
        for kind, seconds in pieces:
            by_kind[kind].append(seconds)
    ages = [age for tap in taps for age in tap.read_ages()]
    waits = [(nxt - end, k, end) for tap in taps for k, (end, nxt, _p) in enumerate(tap.waits())]
    first = min((end for _l, _k, end in waits), default=0.0)
    commands = Counter(_kind(line) for tap in taps for _t, line in tap.commands)
    sends = max(1, commands["send"])
    n = max(1, len(gaps))
    return {
        "gaps": len(gaps),
        "gap_mean_ms": ms(sum(length for length, _ in gaps) / n),
        "gap_ms_per_send_by_piece": {k: ms(v / n) for k, v in sorted(total.items())},
        "pieces_per_send_p50_p99_ms": {
            k: (round(len(v) / n, 3), ms(percentile(v, 50)), ms(percentile(v, 99)))
            for k, v in sorted(by_kind.items())
        },
        "commands_per_send_by_kind": {k: round(v / sends, 3) for k, v in commands.items()},
        # a free on a read's line (counted as a read above): no round trip of its own
        "frees_on_read_lines_per_send": round(
            sum(1 for tap in taps for _t, line in tap.commands if _chained_free(line)) / sends, 3
        ),
        "largest_gaps": [
            (ms(length), [(kind, ms(seconds)) for kind, seconds in pieces])
            for length, pieces in sorted(gaps, key=lambda g: g[0])[-LARGEST:]
        ],
        "largest_gaps_where": [  # (ms, the modem's n-th wait, s since the first send's end)
            (ms(length), k, round(end - first, 3)) for length, k, end in sorted(waits)[-LARGEST:]
        ],
        "share_with_read": round(len(with_read) / n, 3),
        # a free after a read in one wait: the read's commit waited for (a crowded memory)
        "share_read_then_free": round(
            sum(1 for _l, pieces in gaps if _read_then_free([k for k, _ in pieces])) / n, 4
        ),
        "share_two_reads_or_more": round(
            sum(1 for _l, pieces in gaps if [k for k, _ in pieces].count("read") > 1) / n, 4
        ),
        "gap_p50_ms_with_read": ms(percentile(with_read, 50)),
        "gap_p50_ms_nothing_between": ms(percentile(without, 50)),
        "gap_p99_ms_nothing_between": ms(percentile(without, 99)),
        "announce_to_read_p50_ms": ms(percentile(ages, 50)),
        "announce_to_read_p99_ms": ms(percentile(ages, 99)),
        "announce_to_read_max_ms": ms(max(ages, default=float("nan"))),
    }


def _chained_free(line: bytes) -> bool:
    return line.startswith(b"AT+CMGD=") and b";" in line


def _read_then_free(kinds: list[str]) -> bool:
    return "read" in kinds and "free" in kinds[kinds.index("read") :]


def main() -> None:
    from bench import backlog, loops

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modems", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--spread", type=float, default=0.0, help="send times L * (1 +- this)")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy raw output file")
    args = parser.parse_args()
    result = loops.run(
        backlog.run(
            args.modems, args.latency, args.rounds, args.profile, timeline=True, spread=args.spread
        )
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
