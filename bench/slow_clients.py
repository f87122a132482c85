"""Issue 18's slowloris reproducer against a real ``modemd serve``: 1,500 connections that send
half a request line, while a client keeps making normal requests. Prints the latency of the
normal requests before and during the attack (their ratio), how many of the half-sent
connections the daemon closed, and how long that took (the header timeout is 10 s).

    .venv/bin/python -m bench.slow_clients [--connections 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from bench.harness import Daemon, percentile, workdir

PROBES = 50  # normal requests per phase
CLOSE_DEADLINE_S = 60.0  # the header timeout is 10 s; generous under load


async def probe(url: str, count: int) -> list[float]:
    """Latencies (ms) of ``count`` sequential GET /healthz, each on a new connection."""
    latencies = []
    for _ in range(count):
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            async with session.get(url + "/healthz") as response:
                await response.read()
                assert response.status in (200, 503)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def attack(port: int, connections: int) -> tuple[int, float]:
    """Open ``connections`` half-sent requests; (how many the daemon closed, seconds it took)."""
    opened = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/v1/send HTT")
        opened.append((reader, writer))
    started = time.perf_counter()

    async def closed(reader: asyncio.StreamReader) -> bool:
        try:
            async with asyncio.timeout(CLOSE_DEADLINE_S):
                await reader.read()
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True

    results = await asyncio.gather(*(closed(r) for r, _ in opened))
    took = time.perf_counter() - started
    for _, writer in opened:
        writer.close()
    return sum(results), took


async def main(connections: int) -> None:
    async with Daemon(workdir() / "modemd.db", []) as daemon:
        before = await probe(daemon.url, PROBES)
        attacking = asyncio.create_task(attack(daemon.port, connections))
        await asyncio.sleep(1.0)  # the connections are open
        during = await probe(daemon.url, PROBES)
        closed, took = await attacking
    p50_before, p50_during = percentile(before, 50), percentile(during, 50)
    print(f"half-sent connections closed by the daemon: {closed} of {connections} in {took:.1f} s")
    print(f"normal request p50 before / during: {p50_before:.1f} / {p50_during:.1f} ms")
    print(
        f"  p99 during: {percentile(during, 99):.1f} ms; ratio during/before: "
        f"{p50_during / p50_before:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1500)
    asyncio.run(main(parser.parse_args().connections))
