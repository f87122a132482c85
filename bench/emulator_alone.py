"""The emulated modems alone, against a trivial client: do they keep up at the scale's rate?

The backlog scenarios run the emulated modems on this process's loop beside the daemon, on the
same cores; a ratio is only the daemon's if the modems answer at once. Here a client in a
subprocess, with no database and no logic (``AT+CMGS=<n>``, the PDU at the prompt, wait for the
final result, again), sends through the same bank for ``seconds``. Printed: the ratio to the
limit and the gaps as bench.backlog counts them (for the client's, they should be ~0), this
process's CPU per send (the emulators' cost, to set beside the daemon's) and its loop's
largest lag.

    .venv/bin/python -m bench.emulator_alone [--modems 256] [--latency 1.0] [--seconds 10] \
        [--spread 0.333]

The emulators run as in the backlog rows: this process at the emulators' host's priority, the
client at the one it had before, as the daemon (``bench.host``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

from bench import host, loops
from bench.backlog import REPORT_DELAY_S, summary
from bench.harness import OwnLag, emulated_bank
from bench.timeline import schedstat
from modemd.sms.pdu import build_submit_pdus

CLIENT_GRACE_S = 10.0  # the client stops this long after its window at the latest


async def run(modems: int, latency_s: float, seconds: float, spread: float = 0.0) -> dict[str, Any]:
    """Drive ``modems`` emulated modems at ``latency_s`` per send for ``seconds`` (each send's
    time drawn within ``latency_s * (1 +- spread)``, the ideal their sum: as bench.backlog)."""
    async with emulated_bank(
        modems,
        send_latency_s=(latency_s * (1 - spread), latency_s * (1 + spread)),
        report_delay_s=REPORT_DELAY_S,
    ) as taps:
        ports = [t.modem.port for t in taps]
        host_setup = host.setup()
        async with OwnLag() as lag:
            before, started = os.times(), time.perf_counter()
            waited = schedstat(os.getpid())[1]
            client = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.emulator_alone", "--client", str(seconds), *ports,
                stdout=subprocess.PIPE, preexec_fn=host.as_peer,  # as the daemon would be
            )  # fmt: skip
            try:
                async with asyncio.timeout(seconds + CLIENT_GRACE_S):
                    out, _ = await client.communicate()
            except TimeoutError:
                client.send_signal(signal.SIGKILL)
                await client.wait()
                raise
            after, wall = os.times(), time.perf_counter() - started
            waited = schedstat(os.getpid())[1] - waited
        sends = sum(len(t.accepted_at) for t in taps)
        cpu_s = (after.user + after.system) - (before.user + before.system)
        network = [t.network_s() for t in taps] if spread else None
        return (
            summary(taps, latency_s, sends, network)
            | {
                "client_sends": json.loads(out)["sends"],
                "emulators_cpu_ms_per_send": round(1000 * cpu_s / max(sends, 1), 3),
                "emulators_cpu_percent": round(100 * cpu_s / wall, 1),
                "emulators_lag_max_ms": round(lag.max_s * 1000, 1),
                # runnable but waiting for a CPU (/proc schedstat), per send: the host's lateness
                "emulators_cpu_wait_ms_per_send": round(1000 * waited / max(sends, 1), 3),
            }
            | host_setup
        )  # the same set-up as the daemon's rows (bench.host)


def client(seconds: float, ports: list[str]) -> int:
    """The trivial client: one send after another on every port until ``seconds`` pass."""
    pdu = build_submit_pdus("+393331234567", "bench emulator alone")[0]
    command = f"AT+CMGS={pdu.tpdu_length}\r".encode()
    body = pdu.hex.encode() + b"\x1a"
    selector = selectors.DefaultSelector()
    seen: dict[int, bytes] = {}
    prompted: dict[int, bool] = {}  # the body is out: waiting for the final result
    for port in ports:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        seen[fd], prompted[fd] = b"", False
        selector.register(fd, selectors.EVENT_READ)
        os.write(fd, command)
    sends, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.1):
            fd = int(key.fd)
            seen[fd] += os.read(fd, 4096)
            if not prompted[fd] and b"> " in seen[fd]:
                seen[fd], prompted[fd] = b"", True
                os.write(fd, body)
            elif b"\r\nOK\r\n" in seen[fd] or b"ERROR" in seen[fd]:
                sends += b"+CMGS:" in seen[fd]
                seen[fd], prompted[fd] = b"", False
                os.write(fd, command)
    return sends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modems", type=int, default=256)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--spread", type=float, default=0.0, help="send times L * (1 +- this)")
    parser.add_argument("--client", type=float, help=argparse.SUPPRESS)  # the subprocess
    parser.add_argument("ports", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.client is not None:
        print(json.dumps({"sends": client(options.client, options.ports)}))
        return
    result = loops.run(run(options.modems, options.latency, options.seconds, options.spread))
    print(json.dumps(result | {"loadavg": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
