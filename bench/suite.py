"""``bench/run``: every scenario against the physical limit; a table and bench/results/latest.json.

Ratios are measured within one run (modemd against the limit of its modems, against a bare
aiohttp endpoint on the same machine), because absolute numbers move with whatever else the
machine is doing; the load average before and after is recorded with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    accept,
    backlog,
    campaign,
    dispatch,
    emulator_alone,
    footprint,
    harness,
    inbound,
    ipn_busy,
    loops,
    peers,
    stall_table,
)
from bench.harness import workdir
from bench.rows import merged, spread_table, table

RESULTS = Path(__file__).parent / "results"
SUITE_TIMEOUT_S = 1500.0  # the whole suite stops by itself; a full run takes ~8 min on 2 cores
SCENARIO_TIMEOUT_S = 420.0  # a stuck scenario is recorded as failed (campaign-mix: ~5.5 min)
MODEMS = 64
SCALE_MODEMS = 256  # --scale: a large bank on one host
SCALE_LATENCY_S = 1.0
EMULATOR_ALONE_S = 5.0  # the emulated modems against a trivial client, this long
FSYNC_ROUNDS = 200
# Each send's time at the network is drawn within L * (1 +- SPREAD), seeded: real modems take
# 2-6 s, no two sends alike (../shared/reference/at-sms.md), so they never stay in step
SPREAD = 1 / 3


@dataclass(frozen=True)
class Size:
    """How much work each scenario does."""

    dispatch_jobs: int
    rounds_3s: int
    rounds_100ms: int
    accept_s: float
    idle_s: float
    campaign_file_rows: int = 100_000
    campaign_mix_rows: int = 10_000
    rounds_scale: int = 10


FULL = Size(dispatch_jobs=1000, rounds_3s=4, rounds_100ms=30, accept_s=5.0, idle_s=5.0)
QUICK = Size(
    dispatch_jobs=200,
    rounds_3s=2,
    rounds_100ms=10,
    accept_s=2.0,
    idle_s=2.0,
    campaign_file_rows=20_000,
    campaign_mix_rows=1_000,
    rounds_scale=3,
)


async def _footprint(size: Size, _profile: Path | None) -> dict[str, Any]:
    idle = await footprint.run(MODEMS, size.idle_s)
    return {
        "ready_s_64": idle["ready_s"],
        "rss_mb_64_idle": idle["rss_mb"],
        "cpu_percent_64_idle": idle["cpu_percent"],
    }


async def _dispatch(size: Size, profile: Path | None) -> dict[str, Any]:
    return await dispatch.run(size.dispatch_jobs, 4, _file(profile, "dispatch"))


async def _accept(size: Size, profile: Path | None) -> dict[str, Any]:
    return await accept.run(size.accept_s, _file(profile, "accept"))


def _gaps(result: dict[str, Any], suffix: str) -> dict[str, Any]:
    """A backlog's ratio and gaps under the table's keys for ``suffix``."""
    return {
        f"throughput_ratio_{suffix}": result["ratio"],
        f"gap_max_ms_{suffix}": result["gap_max_ms"],
        f"gap_p50_ms_{suffix}": result["gap_p50_ms"],
        f"gap_p99_ms_{suffix}": result["gap_p99_ms"],
        f"gap_p50_ms_{suffix}_turn": result["gap_p50_ms_turn"],
        f"gap_p99_ms_{suffix}_turn": result["gap_p99_ms_turn"],
        # the largest gap before any modem ran dry, and from then on (the backlog's end)
        f"gap_max_ms_{suffix}_before_dry": result["gap_max_ms_before_dry"],
        f"gap_max_ms_{suffix}_after_dry": result["gap_max_ms_after_dry"],
    }


async def _backlog_3s(size: Size, profile: Path | None) -> dict[str, Any]:
    result = await backlog.run(MODEMS, 3.0, size.rounds_3s, _file(profile, "backlog-3s"))
    return _gaps(result, "3s") | {
        "gc_longest_ms_3s": result["daemon_gc_max_ms"],
        "backlog_3s": result,
    }


async def _backlog_100ms(size: Size, profile: Path | None) -> dict[str, Any]:
    result = await backlog.run(MODEMS, 0.1, size.rounds_100ms, _file(profile, "backlog-100ms"))
    return _gaps(result, "100ms") | {
        "rss_mb_64_busy": result["rss_mb_peak"],
        "cpu_percent_64_busy": result["cpu_percent"],
        "cpu_ms_per_send_100ms": result["cpu_ms_per_send"],
        "loop_cpu_ms_per_send_100ms": result["loop_cpu_ms_per_send"],
        "gc_ms_100ms": sum(result["daemon_gc_ms"]),
        "backlog_100ms": result,
    }


async def _backlog_spread(
    latency_s: float, rounds: int, name: str, profile: Path | None
) -> dict[str, Any]:
    # the stall trace: its timer and watcher cost ~7 ms of CPU a second with 64 idle modems
    # (~11 us a send at the 0.1 s row's 640 sends a second) and its stamps ~8-10 us a send
    # (README, Round 12: the cost of the stall trace), so only these rows, whose largest gaps
    # it explains
    result = await backlog.run(
        MODEMS, latency_s, rounds, _file(profile, name), spread=SPREAD, stall_trace=True
    )
    suffix = name.removeprefix("backlog-").replace("-", "_")  # 3s_spread, 100ms_spread
    return _gaps(result, suffix) | {name.replace("-", "_"): result}


async def _backlog_3s_spread(size: Size, profile: Path | None) -> dict[str, Any]:
    return await _backlog_spread(3.0, size.rounds_3s, "backlog-3s-spread", profile)


async def _backlog_100ms_spread(size: Size, profile: Path | None) -> dict[str, Any]:
    result = await _backlog_spread(0.1, size.rounds_100ms, "backlog-100ms-spread", profile)
    # the same bank and host set-up against a trivial client: what the emulators reach alone
    alone = await emulator_alone.run(MODEMS, 0.1, EMULATOR_ALONE_S, spread=SPREAD)
    return result | {
        "emulator_ratio_100ms_spread": alone["ratio"],
        "emulator_gap_p99_ms_100ms_spread": alone["gap_p99_ms"],
        "emulator_alone_100ms_spread": alone,
    }


async def _campaign_file(size: Size, profile: Path | None) -> dict[str, Any]:
    result = await campaign.run_file(size.campaign_file_rows, _file(profile, "campaign-file"))
    return {
        "campaign_file_s": result["total_s"],
        "campaign_rss_growth_mb": result["rss_growth_mb"],
        "campaign_file": result,
    }


async def _campaign_mix(size: Size, profile: Path | None) -> dict[str, Any]:
    result = await campaign.run_mix(16, 0.5, size.campaign_mix_rows, _file(profile, "campaign-mix"))
    return {
        "campaign_ratio": result["ratio"],
        "campaign_api_p99_ms": result["api_p99_ms"],
        "campaign_mix": result,
    }


async def _scale(size: Size, profile: Path | None) -> dict[str, Any]:
    idle = await footprint.run(SCALE_MODEMS, size.idle_s)
    busy = await backlog.run(
        SCALE_MODEMS, SCALE_LATENCY_S, size.rounds_scale, _file(profile, "backlog-256")
    )
    alone = await emulator_alone.run(SCALE_MODEMS, SCALE_LATENCY_S, EMULATOR_ALONE_S)
    return {
        "ready_s_256": idle["ready_s"],
        "ready_cpu_s_256": idle["ready_cpu_s"],
        "import_cpu_s": idle["import_cpu_s"],
        "ready_emulators_cpu_s_256": idle["ready_emulators_cpu_s"],
        "rss_mb_256_idle": idle["rss_mb"],
        "throughput_ratio_256": busy["ratio"],
        "throughput_ratio_256_ready": busy["ratio_in_window"],
        "sent_before_ready_256": busy["sent_before_window"],
        "gap_max_ms_256": busy["gap_max_ms"],
        "rss_mb_256_busy": busy["rss_mb_peak"],
        "cpu_ms_per_send_256": busy["cpu_ms_per_send"],
        "bench_cpu_ms_per_send_256": busy["bench_cpu_ms_per_send"],
        "backlog_256": busy,
        # the ratio above is the daemon's only if the emulated modems keep up: alone, they do?
        "emulator_ratio_256": alone["ratio"],
        "emulator_gap_p50_ms_256": alone["gap_p50_ms"],
        "emulator_alone_256": alone,
    }


async def _peers(_size: Size, _profile: Path | None) -> dict[str, Any]:
    result = await peers.run()
    ours = result["peers"]["modemd"]
    leads = [v for k, v in result["peers_lead"].items() if k != "pss_mb_peak"]
    return result | {
        "peers_ratio_4x1s": ours["ratio"],
        "peers_gap_max_ms_4x1s": ours["gap_max_ms"],
        "peers_gap_max_ms_4x1s_before_dry": ours["gap_max_ms_before_dry"],
        "peers_gap_max_ms_4x1s_after_dry": ours["gap_max_ms_after_dry"],
        # columns (all but memory) where modemd is ahead of smsd tuned, out of how many
        "peers_columns_behind": sum(1 for v in leads if v is None or v < 1),
    }


async def _inbound(size: Size, _profile: Path | None) -> dict[str, Any]:
    return await inbound.run(size.dispatch_jobs // 4)


async def _ipn_busy(_size: Size, profile: Path | None) -> dict[str, Any]:
    return await ipn_busy.run(_file(profile, "ipn-busy"))


async def _ipn_busy_spread(_size: Size, profile: Path | None) -> dict[str, Any]:
    # each send's time drawn within 0.25 s x (1 +- SPREAD), as the backlog's spread rows: at
    # exactly 0.25 s the 16 modems stay in lockstep and a p99 is a burst of 16 reports at once
    result = await ipn_busy.run(_file(profile, "ipn-busy-spread"), spread=SPREAD)
    return {
        "ipn_busy_spread_p50_ms": result["ipn_busy_p50_ms"],
        "ipn_busy_spread_p99_ms": result["ipn_busy_p99_ms"],
        "ipn_busy_spread_reports_mid_send": result["ipn_busy_reports_mid_send"],
        "ipn_busy_spread": result,
    }


Scenario = Callable[[Size, Path | None], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, Scenario] = {
    "footprint": _footprint,
    "dispatch": _dispatch,
    "accept": _accept,
    "backlog-3s": _backlog_3s,
    "backlog-100ms": _backlog_100ms,
    "backlog-3s-spread": _backlog_3s_spread,
    "backlog-100ms-spread": _backlog_100ms_spread,
    "campaign-file": _campaign_file,
    "campaign-mix": _campaign_mix,
    "inbound": _inbound,
    "ipn-busy": _ipn_busy,
    "ipn-busy-spread": _ipn_busy_spread,
    "peers": _peers,
    "scale": _scale,
}
OPTIONAL = {"peers", "scale"}  # only when asked (--peers, --scale, --only): long or need apt


def _file(directory: Path | None, name: str) -> Path | None:
    return None if directory is None else directory / f"{name}.txt"


def bare_fsync_ms(directory: Path, rounds: int = FSYNC_ROUNDS) -> float:
    """Mean time of one 256-byte write + fsync on the disk holding the benchmark databases."""
    path = directory / "fsync.probe"
    with open(path, "wb") as f:
        start = time.perf_counter()
        for _ in range(rounds):
            f.write(b"x" * 256)
            f.flush()
            os.fsync(f.fileno())
        return (time.perf_counter() - start) / rounds * 1000


def machine() -> dict[str, Any]:
    """What ran the benchmark: CPUs, Python, commit, load now."""
    head = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": head or None,
        "fsync_ms": round(bare_fsync_ms(workdir()), 3),
    }


async def run_all(names: list[str], size: Size, profile: Path | None) -> dict[str, Any]:
    """Run ``names`` in order; a failing scenario is recorded and the others still run."""
    load = os.getloadavg()
    results: dict[str, Any] = {"machine": machine(), "loadavg_before": load, "load_1min": load[0]}
    errors: dict[str, str] = {}
    for name in names:
        started = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            async with asyncio.timeout(SCENARIO_TIMEOUT_S):
                results |= await SCENARIOS[name](size, profile)
        except Exception as exc:
            traceback.print_exc()
            errors[name] = f"{type(exc).__name__}: {exc}"
        results.setdefault("scenario_s", {})[name] = round(time.perf_counter() - started, 1)
    results["loadavg_after"] = os.getloadavg()
    results["errors"] = errors
    return results


def main() -> None:
    """Parse options, run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="run only these")
    parser.add_argument("--profile", type=Path, help="py-spy each measured window into DIR")
    parser.add_argument("--peers", action="store_true", help="also smsd side by side (bench.peers)")
    parser.add_argument("--scale", action="store_true", help=f"also {SCALE_MODEMS} modems")
    parser.add_argument("--waiting", action="store_true", help="profile waiting threads too")
    parser.add_argument("--native", action="store_true", help="profile C frames too (slower)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the scenarios N times; the table shows each figure's median, then its range",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    options = parser.parse_args()
    if options.repeat < 1:
        parser.error("--repeat: at least 1")
    if options.profile is not None:
        if harness.pyspy() is None:
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install -e '.[bench]'")
        options.profile.mkdir(parents=True, exist_ok=True)
        harness.PROFILE_WAITING = options.waiting
        harness.PROFILE_NATIVE = options.native
    size = QUICK if options.quick else FULL
    names = options.only or [name for name in SCENARIOS if name not in OPTIONAL]
    names += [name for name, asked in [("peers", options.peers), ("scale", options.scale)]
              if asked and name not in names]  # fmt: skip
    started = time.perf_counter()
    runs = [
        loops.run(_bounded(run_all(names, size, options.profile))) for _ in range(options.repeat)
    ]
    results = merged(runs) if len(runs) > 1 else runs[0]
    results["errors"] = {k: v for run in runs for k, v in run["errors"].items()}
    results["loadavg_after"] = runs[-1]["loadavg_after"]
    results["size"] = "quick" if options.quick else "full"
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    if len(runs) > 1:
        print(spread_table(results))
        print("load before each run: " + ", ".join(f"{r['load_1min']:.2f}" for r in runs))
    if "peers" in results:
        print(peers.table(results))
    print_stalls(runs)
    print(f"written to {options.out}", flush=True)
    if results["errors"]:
        raise SystemExit(f"failed scenarios: {', '.join(results['errors'])}")


def print_stalls(runs: list[dict[str, Any]]) -> None:
    """Under the table: each backlog row's largest gaps with what overlapped them in the
    daemon (``bench.stall_table``), run by run."""
    for n, run in enumerate(runs, 1):
        for name, result in run.items():
            if isinstance(result, dict) and "stall_table" in result:
                window = result["stall_window"]
                passes, stalls = window["gc_passes"], window["loop_stalls"]
                print(
                    f"\n{name}, run {n}: the largest gaps and what overlapped them; in the "
                    f"window the collector's passes by generation (count, ms, objects examined) "
                    f"{passes or 'none'}, the loop late past {stall_table.STALL_MS:g} ms "
                    f"{stalls[0]} times ({stalls[1]} ms)"
                )
                print(stall_table.render(result["stall_table"]))


async def _bounded(work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    async with asyncio.timeout(SUITE_TIMEOUT_S):
        return await work
