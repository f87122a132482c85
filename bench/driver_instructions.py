"""What one send costs the modem driver in instructions, counted under valgrind's callgrind:
the driver's part of a send alone (its lines written, the reads and their parsing, the PDU
built, the report read in the send's trail and handed on, the frees, its futures and callbacks),
with no store, runtime or API around it.

An emulated modem is served from a pty by a subprocess (not counted); the driver of it runs in
a process under callgrind, opens it, sends ``--warm`` parts, then counts ``--sends`` parts one
after another, as a worker with a backlog would: each part's status report comes during the
next send (``--latency`` / 3 after its ``+CMGS``) and is read at that send's end (the trail),
its handler answering with a future resolved in the next loop turn, as the store's commit
would. The instrumentation is on only around the counted sends (callgrind's client requests,
through a few lines of C compiled here), so the count is the driver's, the loop's (uvloop)
and the interpreter's work for those sends, whatever the machine's load.

    .venv/bin/python -m bench.driver_instructions [--sends 100] [--latency 0.3] [--warm 10]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TOTALS = re.compile(r"^totals: (\d+)", re.MULTILINE)
CLIENT_REQUESTS = """
#include <valgrind/callgrind.h>
void counting_on(void) { CALLGRIND_START_INSTRUMENTATION; }
void counting_off(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""
EMULATOR = """
import asyncio, sys
from modemd.emulators.modem_bank import serve
latency = float(sys.argv[1])
asyncio.run(serve(1, None, seed=1, send_latency_s=(latency, latency),
                  report_delay_s=latency / 3))
"""


def client_requests(directory: str) -> ctypes.CDLL:
    """callgrind's start/stop client requests as two C functions (outside valgrind: no-ops),
    compiled into ``directory``."""
    source, library = Path(directory, "requests.c"), Path(directory, "requests.so")
    source.write_text(CLIENT_REQUESTS)
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", library, source], check=True)
    return ctypes.CDLL(str(library))


async def counted_sends(port: str, sends: int, warm: int, requests: ctypes.CDLL) -> int:
    """Open the driver of the modem at ``port``, send ``warm`` parts, then ``sends`` counted
    (the instrumentation on around them); the reports handed on meanwhile."""
    from modemd.drivers import registry

    loop = asyncio.get_running_loop()
    reports = 0

    def on_report(_device_id: str, _report: Any) -> asyncio.Future[None]:
        nonlocal reports
        reports += 1
        committed: asyncio.Future[None] = loop.create_future()
        loop.call_soon(committed.set_result, None)  # the store's commit, in the next turn
        return committed

    driver = registry.build_driver(
        registry.SerialModem(port, "7"), registry.Wiring(on_report=on_report)
    )
    await driver.open()
    try:
        for n in range(warm):
            await driver.send_sms(f"+39333{n:07d}", "bench backlog")
        requests.counting_on()
        for n in range(sends):
            await driver.send_sms(f"+39334{n:07d}", "bench backlog")
        requests.counting_off()
    finally:
        await driver.close()
    return reports


def counted_inner(module: str, args: list[str], out: str) -> tuple[str, int]:
    """``python -m module --inner *args --dir out`` under callgrind, its instrumentation off
    until the process's client requests turn it on (``client_requests``, compiled into
    ``out`` first): the last word it printed, and the instructions counted."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}/callgrind.out",
            sys.executable,
            "-m",
            module,
            "--inner",
            *args,
            "--dir",
            out,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    totals = TOTALS.search(Path(out, "callgrind.out").read_text(errors="replace"))
    assert totals is not None
    return done.stdout.split()[-1], int(totals.group(1))


def measure(sends: int, latency_s: float, warm: int) -> dict[str, Any]:
    """The emulator in a subprocess, the driver under callgrind in another: instructions."""
    with tempfile.TemporaryDirectory(prefix="driver-instructions-") as out:
        client_requests(out)  # compiled once, before the counted process loads it
        emulator = subprocess.Popen(
            [sys.executable, "-c", EMULATOR, str(latency_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert emulator.stdout is not None
            port = emulator.stdout.readline().split()[1]
            answer, instructions = counted_inner(
                "bench.driver_instructions",
                [port, "--sends", str(sends), "--warm", str(warm)],
                out,
            )
        finally:
            emulator.terminate()
            emulator.wait()
        reports = int(answer)
    return {
        "sends": sends,
        "latency_s": latency_s,
        "reports_handed_on": reports,
        "instructions_per_send": round(instructions / sends),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--warm", type=int, default=10)
    parser.add_argument("--inner", help=argparse.SUPPRESS)  # the counted process: the port
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.inner:
        import uvloop

        requests = ctypes.CDLL(str(Path(options.dir, "requests.so")))
        reports = uvloop.run(counted_sends(options.inner, options.sends, options.warm, requests))
        print(reports)
        return
    print(json.dumps(measure(options.sends, options.latency, options.warm), indent=1))


if __name__ == "__main__":
    main()
