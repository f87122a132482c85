"""Several hosts on PostgreSQL (issue 20), against one host and against SQLite.

- accept: durable accepts per second, 64 concurrent clients, no modems (``bench.accept``'s
  load), on a SQLite file and on PostgreSQL; the ratio PostgreSQL / SQLite.
- throughput: the same jobs sent by 2 hosts x 32 emulated modems (``--simulate``, one shared
  PostgreSQL queue, half the clients on each API) and by 1 host x 64, on PostgreSQL, and by
  1 x 64 on SQLite: jobs per second from the first submission until every job is sent.

The PostgreSQL cluster is a throwaway one (``scripts/pg-cluster``) with fsync on, like SQLite's
``synchronous=FULL``. ``python -m bench.hosts [--quick]``; prints one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import httpload
from bench.harness import Daemon, create_key, workdir

CLUSTER = Path(__file__).resolve().parent.parent / "scripts" / "pg-cluster"
CLIENTS = 64
MODEMS = 64
SEND_TIMEOUT_S = 600.0
POLL_S = 0.2


def start_cluster() -> tuple[str, str]:
    """(the cluster's directory, its maintenance URL), fsync on."""
    directory = tempfile.mktemp(prefix="modemd-bench-pg.")
    url = subprocess.run(
        [str(CLUSTER), "start", directory],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PG_FSYNC": "on"},
    ).stdout.strip()
    return directory, url


def new_database(server: str, name: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.replace("/postgres?", f"/{name}?")


async def accept_rate(db: str | Path, seconds: float) -> dict[str, Any]:
    key = await create_key(db)
    async with Daemon(db, []) as daemon:
        return await httpload.in_subprocess(f"{daemon.url}/api/v1/send", key, seconds)


def sent_count(db: str | Path) -> int:
    """Jobs no longer queued or sending, read from outside the daemons."""
    sql = "SELECT count(*) FROM jobs WHERE state NOT IN ('queued', 'sending')"
    if isinstance(db, Path):
        lite = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(lite.execute(sql).fetchone()[0])
        finally:
            lite.close()
    with psycopg.connect(db) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


async def throughput(db: str | Path, hosts: int, jobs: int) -> dict[str, Any]:
    """``jobs`` through ``hosts`` daemons sharing ``db``, MODEMS emulated modems in all."""
    key = await create_key(db)
    daemons = [Daemon(db, [], simulate=MODEMS // hosts, host_id=f"bench-{n}") for n in range(hosts)]
    for daemon in daemons:
        await daemon.start()
    try:
        started = time.perf_counter()
        await httpload.submit([f"{d.url}/api/v1/send" for d in daemons], key, jobs, CLIENTS)
        submitted = time.perf_counter() - started
        async with asyncio.timeout(SEND_TIMEOUT_S):
            while True:  # the daemons are other processes: poll their database
                if await asyncio.to_thread(sent_count, db) >= jobs:
                    break
                await asyncio.sleep(POLL_S)
        elapsed = time.perf_counter() - started
    finally:
        for daemon in daemons:
            await daemon.stop()
    return {"jobs_per_s": round(jobs / elapsed, 1), "submit_s": round(submitted, 2)}


async def measure(server: str, quick: bool) -> dict[str, Any]:
    seconds, jobs = (3.0, 500) if quick else (10.0, 3000)
    tmp = workdir()
    lite = await accept_rate(tmp / "accept.db", seconds)
    pg = await accept_rate(new_database(server, "accept"), seconds)
    one_lite = await throughput(tmp / "send.db", 1, jobs)
    one_pg = await throughput(new_database(server, "one"), 1, jobs)
    two_pg = await throughput(new_database(server, "two"), 2, jobs)
    return {
        "load": os.getloadavg(),
        "accept_sqlite": lite,
        "accept_postgresql": pg,
        "accept_ratio_pg_vs_sqlite": round(pg["rps"] / lite["rps"], 3),
        "send_1x64_sqlite": one_lite,
        "send_1x64_postgresql": one_pg,
        "send_2x32_postgresql": two_pg,
        "send_ratio_2x32_vs_1x64_pg": round(two_pg["jobs_per_s"] / one_pg["jobs_per_s"], 3),
        "send_ratio_1x64_pg_vs_sqlite": round(one_pg["jobs_per_s"] / one_lite["jobs_per_s"], 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    os.environ["MODEMD_CONFIG"] = ""
    quick = parser.parse_args().quick
    directory, server = start_cluster()
    try:
        print(json.dumps(asyncio.run(measure(server, quick)), indent=2))
    finally:
        subprocess.run([str(CLUSTER), "stop", directory], check=False)
