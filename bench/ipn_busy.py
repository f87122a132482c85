"""Status report -> ``sms.delivered`` POST on busy modems.

Issue 21 asks for p99 <= 20 ms "from the end of the command in progress on a busy one": one
command is in flight per port, so a report that arrives while its modem is sending can only be
read once that send ends. Here ``MODEMS`` modems drain a backlog at ``LATENCY_S`` per send, and
the network reports each part ``REPORT_DELAY_S`` after accepting it (shorter than a send), so a
report arrives in the middle of its modem's next send. Per report: its URC on the pty (the
tap's stamp), the end of the send in progress then (the network's ``+CMGS`` on that modem; the
URC itself when the modem was between sends), and the IPN's arrival at a listener in this
process. Measured: arrival - that end. A daemon that put reports off until its modem idles
(or reads them every few sends) shows here, not in the idle-modem IPN of ``bench.dispatch``.

Reports are matched to URCs by order: one modem's reports come in the order of its accepted
parts (same delay for each), so the k-th accepted part's report is the k-th ``+CDS`` URC.

Each busy report's wait is also cut at the pty (``bench.timeline``'s taps): from the end of the
send in progress to the host's command that reads it (``AT+CMGR``/``AT+CMGL``: the driver's
reaction and its choice of when to read), that command's round trip (to the host's next command,
written once the answer is in), and from there to the POST (the report's commit, the IPN). The
round trip is cut again at the modem's final result (``read_answer``: the emulator's answer,
then the daemon's wait to write its next command, mostly the next send's line, which waits for
the worker too), and the wait to the read is given apart for reads behind another command.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.backlog import load_backlog
from bench.harness import (
    Daemon,
    LineTap,
    create_key,
    emulated_bank,
    percentile,
    profiled,
    wait_until,
    workdir,
)
from bench.inbound import event_time
from bench.timeline import TimelineTap, last_command
from modemd.api.listener import start_listener

MODEMS = 16
LATENCY_S = 0.25  # per send: long enough that every report lands inside a send
REPORT_DELAY_S = 0.1  # the network's report after the accept: inside the modem's next send
ROUNDS = 20  # jobs per modem
DRAIN_SLACK_S = 60.0  # on top of the ideal drain time before the run is given up
DELIVERED = "sms.delivered"
READS = (b"AT+CMGR=", b"AT+CMGL=")  # the host reads a stored report
# Per busy report: (device_id, to) -> its job (``run``), the end of the send it waited for, the
# POST's arrival.
Busy = list[tuple[Any, float, float]]


async def run(
    profile: Path | None = None, busy: Busy | None = None, spread: float = 0.0
) -> dict[str, Any]:
    """Drain ``MODEMS * ROUNDS`` jobs; the latency of each report's IPN past its modem's send.
    ``busy`` (``bench.ipn_trace``) gets each busy report's job, end of send and arrival.
    ``spread``: each send's time drawn (seeded) within ``LATENCY_S * (1 +- spread)``, as in
    ``bench.backlog`` (0: every send at ``LATENCY_S``, the modems in lockstep, their reports
    in bursts of ``MODEMS``; below 0.6 a report still lands inside the next send)."""
    jobs = MODEMS * ROUNDS
    arrived: dict[tuple[str, str], float] = {}  # (device_id, to) -> the IPN's arrival
    written: dict[tuple[str, str], float] = {}  # the same -> its event's timestamp
    job_ids: dict[tuple[str, str], str] = {}  # the same -> its job
    async with emulated_bank(
        MODEMS,
        send_latency_s=(LATENCY_S * (1 - spread), LATENCY_S * (1 + spread)),
        report_delay_s=REPORT_DELAY_S,
    ) as taps:
        lines = [TimelineTap(tap) for tap in taps]

        def on_ipn(body: dict[str, Any], _headers: dict[str, str]) -> None:
            data = body.get("data") or {}
            if body.get("type") == DELIVERED:
                at = (str(data.get("device_id")), str(data.get("to")))
                arrived[at] = time.time()
                written[at] = event_time(body)
                job_ids[at] = str(data.get("job_id"))
                taps[0].changed.set()

        listener, port = await start_listener(on_ipn)
        try:
            db = workdir() / "modemd.db"
            key = await create_key(db, f"http://127.0.0.1:{port}/ipn", events=DELIVERED)
            async with Daemon(db, []) as loader:
                await load_backlog(loader, key, jobs)
            daemon = Daemon(db, [t.modem.port for t in taps])
            async with daemon, profiled(daemon.pid, profile):
                await wait_until(
                    lambda: len(arrived) >= jobs,
                    taps[0].changed,
                    ROUNDS * LATENCY_S * 3 + DRAIN_SLACK_S,
                )
        finally:
            await listener.cleanup()
        result = measure(taps, arrived, jobs, lines, written, busy)
        if busy is not None:
            busy[:] = [(job_ids[at], end, arrival) for at, end, arrival in busy]
        return result


def measure(
    taps: list[LineTap],
    arrived: dict[tuple[str, str], float],
    jobs: int,
    lines: list[TimelineTap] | None = None,
    written: dict[tuple[str, str], float] | None = None,
    busy: Busy | None = None,
) -> dict[str, Any]:
    """Each report's IPN arrival minus the end of its modem's send in progress at the URC;
    with ``lines``, each busy one's wait cut at the command that read it (``pieces``); with
    ``written``, at its event's timestamp (ms: the modem's side, then commit + IPN sender);
    ``busy`` gets each busy report's (device_id, to), end of send and arrival."""
    busy_ms: list[float] = []
    idle_ms: list[float] = []
    pieces: dict[str, list[float]] = {"to_read": [], "read": [], "after": []}
    # the read's piece cut at the modem's final result: its answer, then the host's next command
    read_split: dict[str, list[float]] = {"read_answer": [], "read_then": []}
    # end of send -> the read, for reads behind another command (a free) and for the others
    to_read: dict[str, list[float]] = {"to_read_behind": [], "to_read_first": []}
    read_then: list[str] = []  # the host's command after each busy report's read
    sides: dict[str, list[float]] = {"to_event": [], "event_to_post": []}
    unmatched = 0
    behind: list[str] = []  # what the host wrote before a busy report's read, when anything
    for n, tap in enumerate(taps):
        accepted = tap.modem.accepted
        ends = [m.at for m in accepted]
        for k, message in enumerate(accepted):
            at = arrived.get((message.imei, message.to))
            if at is None or k >= len(tap.cds_at):
                unmatched += 1
                continue
            urc = tap.cds_at[k]
            i = bisect.bisect_left(ends, urc)  # the first send that ended after the URC
            sending = i < len(ends) and i < len(tap.cmgs_at) and tap.cmgs_at[i] <= urc
            (busy_ms if sending else idle_ms).append((at - (ends[i] if sending else urc)) * 1000)
            if sending and busy is not None:
                busy.append(((message.imei, message.to), ends[i], at))
            if sending and written is not None and (message.imei, message.to) in written:
                event = written[(message.imei, message.to)]
                sides["to_event"].append((event - ends[i]) * 1000)
                sides["event_to_post"].append((at - event) * 1000)
            if sending and lines is not None:
                cut = read_pieces(lines[n], ends[i], at)
                if cut is not None:
                    for name, seconds in zip(pieces, cut, strict=True):
                        pieces[name].append(seconds * 1000)
                    before = commands_before_read(lines[n], ends[i])
                    behind += before
                    to_read["to_read_behind" if before else "to_read_first"].append(cut[0] * 1000)
                    answer = read_answer(lines[n], ends[i], at)
                    if answer is not None:
                        read_split["read_answer"].append(answer[0] * 1000)
                        read_split["read_then"].append(answer[1] * 1000)
                        read_then.append(answer[2])
    split = {
        f"ipn_busy_{name}_p50_p99_ms": (
            round(percentile(values, 50), 2),
            round(percentile(values, 99), 2),
        )
        for name, values in {**pieces, **to_read, **read_split, **sides}.items()
    }
    return {
        "ipn_busy_modems": len(taps),
        "ipn_busy_jobs": jobs,
        "ipn_busy_reports_mid_send": len(busy_ms),
        "ipn_busy_reports_between_sends": len(idle_ms),
        "ipn_busy_unmatched": unmatched,
        "ipn_busy_p50_ms": round(percentile(busy_ms, 50), 2),
        "ipn_busy_p99_ms": round(percentile(busy_ms, 99), 2),
        "ipn_busy_max_ms": round(max(busy_ms, default=float("nan")), 2),
        "ipn_between_sends_p99_ms": round(percentile(idle_ms, 99), 2),
        # busy reports whose read waited for another command first (a free in the send's
        # trail): a count, which the machine's load does not move
        "ipn_busy_reads_behind_a_command": len(behind),
        "ipn_busy_commands_before_reads": dict(Counter(behind)),
        # what the host wrote after each busy report's read: the next send's line waits for the
        # worker too (its record and claim), so the read's piece is then the worker's as well
        "ipn_busy_commands_after_reads": dict(Counter(read_then)),
        **split,
    }


def _reads(text: bytes) -> bool:
    """A command line that reads a stored report (on its own, or after a free on one line)."""
    return last_command(text).startswith(READS)


def read_pieces(line: TimelineTap, end: float, arrived: float) -> tuple[float, float, float] | None:
    """A report's wait from ``end`` (its modem's send) to its POST's arrival, cut at the host's
    first read command after ``end`` and at the command after that one; None when no read
    came between the two (read before the send ended: a report read while the modem idled)."""
    commands = [t for t, text in line.commands if t > end]
    reads = [t for t, text in line.commands if t > end and _reads(text)]
    if not reads or reads[0] > arrived:
        return None
    after = next((t for t in commands if t > reads[0]), arrived)
    after = min(after, arrived)
    return reads[0] - end, after - reads[0], arrived - after


def read_answer(line: TimelineTap, end: float, arrived: float) -> tuple[float, float, str] | None:
    """The read piece of ``read_pieces`` cut at the modem's final result to the read: (the
    read command -> that final, the final -> the host's next command, that command's head);
    None when no read came between ``end`` and ``arrived``, or no final after it."""
    commands = [(t, text) for t, text in line.commands if t > end]
    read = next(((t, text) for t, text in commands if _reads(text)), None)
    if read is None or read[0] > arrived:
        return None
    final = next((t for t in line.finals if t >= read[0]), None)
    nxt = next(((t, text) for t, text in commands if t > read[0]), None)
    if final is None or nxt is None or final > nxt[0]:
        return None
    return final - read[0], nxt[0] - final, nxt[1][:8].decode(errors="replace")


def commands_before_read(line: TimelineTap, end: float) -> list[str]:
    """The heads of the host's commands after ``end`` (its modem's send) and before the first
    read command after it; [] when the read came first."""
    heads = []
    for t, text in line.commands:
        if t <= end:
            continue
        if _reads(text):
            return heads
        heads.append(text[:8].decode(errors="replace"))
    return []
