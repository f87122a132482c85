"""Where a backlog's largest gaps come from: a timeline around each of them.

Runs one backlog like ``bench.backlog`` (jobs loaded first, then N emulated modems at L seconds
per send) and, for the largest gaps between one send's end (the network's ``+CMGS``) and the
modem's next ``AT+CMGS=``, prints what that modem's pty carried in between, how many other
modems were in a gap at the same moment (a stall of a whole loop shows on many at once; the
chain of one modem, such as a stored report read before the next send, on that one alone), how
many sends ended together with it (at a fixed send time the modems stay in step, and the
daemon answers a burst one modem after the other) and how late this process's own loop was
then (the emulated modems stamp on it).

    .venv/bin/python -m bench.gaps [--modems 64] [--latency 3] [--rounds 4] [--top 10] \
        [--spread 0.33]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field

from bench.backlog import loaded
from bench.harness import Daemon, LineTap, OwnLag, daemon_lateness, lag_summary, wait_until
from bench.waits import waits

PROBE_S = 0.001  # this process's loop is looked at this often during the run
LATE_S = 0.002  # a look later than this is kept as a stall of this process
AROUND_S = 0.005  # a gap's timeline starts this long before the send's end
BURST_S = 0.005  # sends that ended this close together reached the daemon as one burst


@dataclass
class Timeline:
    """One modem's pty traffic, stamped: (time, ">" from the daemon or "<" to it, bytes)."""

    events: list[tuple[float, str, bytes]] = field(default_factory=list)

    def tap(self, tap: LineTap) -> None:
        into, out = tap.modem.on_input, tap.modem.on_output

        def on_input(data: bytes) -> None:
            self.events.append((time.time(), ">", data))
            if into is not None:
                into(data)

        def on_output(data: bytes) -> None:
            self.events.append((time.time(), "<", data))
            if out is not None:
                out(data)

        tap.modem.on_input, tap.modem.on_output = on_input, on_output


async def _probe(stalls: list[tuple[float, float]]) -> None:
    """This process's late wake-ups: (when, how late)."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(PROBE_S)
        late = time.monotonic() - before - PROBE_S
        if late > LATE_S:
            stalls.append((time.time(), late))


async def run(modems: int, latency_s: float, rounds: int, top: int, spread: float = 0.0) -> None:
    jobs = modems * rounds
    async with loaded(modems, latency_s, jobs, spread) as (db, taps):
        lines = [Timeline() for _ in taps]
        for line, tap in zip(lines, taps, strict=True):
            line.tap(tap)
        stalls: list[tuple[float, float]] = []
        async with Daemon(db, [t.modem.port for t in taps]) as daemon:
            before = await daemon_lateness(daemon)
            probe = asyncio.create_task(_probe(stalls), name="bench stalls")
            try:
                await wait_until(
                    lambda: sum(len(t.accepted_at) for t in taps) >= jobs,
                    taps[0].changed,
                    rounds * latency_s * 3 + 60,
                )
            finally:
                probe.cancel()
                await asyncio.gather(probe, return_exceptions=True)
            lag = lag_summary(before, await daemon_lateness(daemon), OwnLag())
    gaps = sorted(waits(taps), reverse=True)
    print(f"{modems} modems x {latency_s} s, {jobs} jobs: {len(gaps)} gaps, ", end="")
    print(f"this process late > {LATE_S * 1000:.0f} ms {len(stalls)} times")
    print(
        f"the daemon: {lag['daemon_late_ms']} late (ms, by cause); its garbage collector ", end=""
    )
    print(f"{lag['daemon_gc_ms']} ms by generation, longest pass {lag['daemon_gc_max_ms']} ms")
    by_send = [max((g.s for g in gaps if g.k == k), default=0.0) for k in range(1, rounds)]
    print("largest gap after each modem's send 1, 2, ... (ms):", end=" ")
    print(", ".join(f"{g * 1000:.1f}" for g in by_send))
    for gap, end, nxt, n, k, _of in gaps[:top]:
        overlapping = sum(1 for g in gaps if g.modem != n and g.end < nxt and g.next > end)
        burst = sorted(g.s for g in gaps if abs(g.end - end) <= BURST_S)
        late = [
            f"{(t - end) * 1000:+.1f}:{s * 1000:.1f}" for t, s in stalls if end - 0.05 < t < nxt
        ]
        print(
            f"\nmodem {n}, after its send {k}: gap {gap * 1000:.1f} ms; "
            f"{overlapping} other modems in a gap meanwhile;"
        )
        print(f"  this process late (ms after the end: ms late): {', '.join(late) or 'no'}")
        print(
            f"  {len(burst)} sends ended within {BURST_S * 1000:.0f} ms of it; their gaps "
            f"(ms): min {burst[0] * 1000:.1f}, median {burst[len(burst) // 2] * 1000:.1f}"
        )
        for at, way, data in lines[n].events:
            if end - AROUND_S <= at <= nxt + 0.0005:
                print(f"  {(at - end) * 1000:+8.2f} ms {way} {data[:60]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modems", type=int, default=64)
    parser.add_argument("--latency", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--spread", type=float, default=0.0, help="send times L * (1 +- this)")
    options = parser.parse_args()
    asyncio.run(run(options.modems, options.latency, options.rounds, options.top, options.spread))


if __name__ == "__main__":
    main()
