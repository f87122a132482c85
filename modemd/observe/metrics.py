"""Prometheus metrics (own registry, text format). Counters count jobs, not parts, since the
daemon started; they are fed from committed rows (jobs, outbox events, IPN attempts, received
SMS) read after a watermark taken at start-up, so they always agree with the database. Levels
(queue depth, devices, each SIM's parts against its caps, dead letters) are read at each scrape.
Labels are bounded: pins, device ids, states, ``+CMS`` codes; never a phone number or a job id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from modemd import caps
from modemd.model import LANE_ORDER, NO_PACING, DeviceState, Job, Pacing
from modemd.observe import exposition, looplag
from modemd.observe.gcpause import GENERATIONS, GcPauses
from modemd.observe.loopmetrics import LoopCounter, LoopHistogram, LoopLevels
from modemd.store import stats
from modemd.store.db import Store

__all__ = ["CONTENT_TYPE", "UP_STATES", "Metrics", "rssi_to_dbm"]

# The classic text format (0.0.4) that every Prometheus 2.x parses; our names need no escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UP_STATES = frozenset({DeviceState.READY.value, DeviceState.BUSY.value})  # in its pool, usable
# accept -> AT+CMGS: ~1 ms on an idle pool (bench/run), minutes when a pool is backlogged
DISPATCH_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
# AT+CMGS: 2-6 s typical, tails of 15-25 s (reference/at-sms.md); a phone's Processed likewise
SEND_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120)
COMMIT_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)

prometheus_client.disable_created_metrics()  # no *_created series: they double the output


def rssi_to_dbm(rssi: int | None) -> int | None:
    """+CSQ <rssi> (0..31) as dBm (27.007: 0 = -113 dBm or less, 2 dB a step); 99: unknown."""
    if rssi is None or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


class Metrics:
    """The daemon's metrics; ``refresh`` before rendering (the route does both)."""

    def __init__(self, pacing: Callable[[str, str], Pacing] | None = None) -> None:
        self.pacing = pacing or (lambda _device_id, _iccid: NO_PACING)  # by IMEI and ICCID
        self.registry = r = CollectorRegistry()
        self.accepted = Counter(
            "modemd_jobs_accepted", "Jobs accepted (durable) since start", ["pin"], registry=r
        )
        self.finished = Counter(
            "modemd_jobs_finished",
            "Jobs that reached a final state since start",
            ["pin", "state"],
            registry=r,
        )
        # updated at each send, on the loop: lock-free (observe.loopmetrics)
        self.dispatch = LoopHistogram(
            "modemd_dispatch_seconds",
            "From accept to the start of the send (AT+CMGS)",
            DISPATCH_BUCKETS_S,
            r,
        )
        self.send = LoopHistogram(
            "modemd_send_seconds",
            "Duration of one send (AT+CMGS to its final result)",
            SEND_BUCKETS_S,
            r,
        )
        self.sends = LoopCounter(
            "modemd_sends",
            "Sends by device and result: ok, cms_<code>, unknown, error",
            ["device_id", "result"],
            r,
        )
        self.received = LoopCounter(
            "modemd_received",
            "SMS received and stored since start (a long one once) by pool and device",
            ["pin", "device_id"],
            r,
        )
        # set in full at each scrape, on the loop: lock-free (observe.loopmetrics)
        self.device_up = LoopLevels(
            "modemd_device_up",
            "1 when the device is in its pool (ready or busy)",
            ["device_id", "pin", "kind"],
            r,
        )
        self.failed = LoopLevels(
            "modemd_device_failed",
            "1 when every recovery step failed (state failed, device.failed posted), else 0",
            ["device_id", "pin"],
            r,
        )
        self.signal = LoopLevels(
            "modemd_device_signal_dbm", "Last signal reading", ["device_id"], r
        )
        self.parts = LoopLevels(
            "modemd_device_parts",
            "SMS parts sent in the current calendar day or month by the SIM (ICCID) in the device",
            ["device_id", "period"],
            r,
        )
        self.cap = LoopLevels(
            "modemd_device_cap_parts",
            "The cap of SMS parts per day or month of the SIM in the device (only capped ones)",
            ["device_id", "period"],
            r,
        )
        self.queue = LoopLevels(
            "modemd_queue_depth", "Jobs queued per pool and lane", ["pin", "lane"], r
        )
        self.pool_ready = LoopLevels(
            "modemd_pool_ready_devices", "Devices ready or busy per pool", ["pin"], r
        )
        self.ipn_attempts = Counter("modemd_ipn_attempts", "IPN POSTs since start", registry=r)
        self.ipn_failures = Counter(
            "modemd_ipn_failures", "IPN POSTs not answered 2xx since start", registry=r
        )
        self.dead_letters = Gauge(
            "modemd_ipn_dead_letters", "IPN events failed for good (replayable)", registry=r
        )
        self.endpoints_disabled = Gauge(
            "modemd_ipn_endpoints_disabled", "IPN endpoints disabled by 410 Gone", registry=r
        )
        self.commit = Histogram(
            "modemd_store_commit_seconds",
            "Duration of one group commit (fsync included)",
            buckets=COMMIT_BUCKETS_S,
            registry=r,
        )
        self.loop_lag = Histogram(
            "modemd_loop_lag_seconds",
            "How late the event loop ran a timer (probed once a second)",
            buckets=LAG_BUCKETS_S,
            registry=r,
        )
        self.loop_lag_max = Gauge(
            "modemd_loop_lag_max_seconds", "The largest loop lag since start", registry=r
        )
        self.loop_late = Counter(
            "modemd_loop_late_seconds",
            "Lateness of late loop wake-ups (over 10 ms) by cause: machine, computing, blocked",
            ["cause"],
            registry=r,
        )
        for cause in looplag.CAUSES:
            self.loop_late.labels(cause)  # each shows, at 0 while the loop keeps time
        self.gc_seconds = Counter(
            "modemd_gc_seconds",
            "Time the garbage collector held every thread, by generation (0-2)",
            ["generation"],
            registry=r,
        )
        self.gc_passes = Counter(
            "modemd_gc_passes",
            "Garbage-collector passes, by generation (0-2)",
            ["generation"],
            registry=r,
        )
        self.gc_longest = Gauge(
            "modemd_gc_pause_max_seconds", "The longest garbage-collector pass", registry=r
        )
        self.gc = GcPauses()  # the wiring installs it (``serve``); read at each refresh
        self._gc_seen = [0.0, 0.0, 0.0]
        self._gc_passes_seen = [0, 0, 0]
        for generation in GENERATIONS:
            self.gc_seconds.labels(generation)  # each shows, at 0 until it runs
            self.gc_passes.labels(generation)
        self.started = Gauge(
            "modemd_start_time_seconds", "When the daemon started (Unix seconds)", registry=r
        )
        self.started_at = time.time()
        self.started.set(self.started_at)
        self._lag_max = 0.0
        self._mark: stats.Watermark | None = None
        self._lock = asyncio.Lock()

    def observe_loop(self, lag_s: float, causes: dict[str, float]) -> None:
        """One loop-lag probe (observe.looplag): its lag, and a late one's causes."""
        self.loop_lag.observe(lag_s)
        if lag_s > self._lag_max:
            self._lag_max = lag_s
            self.loop_lag_max.set(lag_s)
        for cause, seconds in causes.items():
            self.loop_late.labels(cause).inc(seconds)

    async def start(self, store: Store) -> None:
        """Count from now on; the store's commits feed the commit histogram."""
        if self._mark is not None:
            return
        self._mark = await store.read(stats.watermark)
        store.on_commit_seconds.append(self.commit.observe)

    async def refresh(self, store: Store) -> stats.Snapshot:
        """Add what was committed since the last refresh; read the levels."""
        async with self._lock:  # two scrapes at once must not count the same rows twice
            if self._mark is None:
                await self.start(store)
            assert self._mark is not None
            activity = await store.read(stats.activity_since, self._mark)
            self._mark = activity.mark
            window = caps.window()  # the calendar day and month the caps count in
            day, month = window.day_start.timestamp(), window.month_start.timestamp()
            snap = await store.read(stats.snapshot, day, month)
        self._apply(activity, snap)
        return snap

    def _apply(self, activity: stats.Activity, snap: stats.Snapshot) -> None:
        pins = {d.pin for d in snap.devices} | set(snap.queued) | set(activity.accepted)
        for pin in pins:
            self.accepted.labels(pin)  # every known pool shows, at 0 when idle
        for pin, n in activity.accepted.items():
            self.accepted.labels(pin).inc(n)
        for (pin, state), n in activity.finished.items():
            self.finished.labels(pin, state).inc(n)
        for d in snap.devices:  # each device shows, at 0 when quiet
            self.received.show((d.pin, d.device_id))
        for (pin, device_id), n in activity.received.items():
            self.received.inc((pin, device_id), n)
        self.ipn_attempts.inc(activity.ipn_attempts)
        self.ipn_failures.inc(activity.ipn_failures)
        ready = dict.fromkeys(pins, 0)
        for d in snap.devices:
            device_id = d.device_id
            up = d.state in UP_STATES
            ready[d.pin] += up
            self.device_up.set((device_id, d.pin, d.kind), int(up))
            self.failed.set((device_id, d.pin), int(d.state == DeviceState.FAILED.value))
            if (dbm := rssi_to_dbm(d.signal)) is not None:
                self.signal.set((device_id,), dbm)
            pacing = self.pacing(device_id, d.iccid or "")  # the SIM's caps
            for period, used, cap in (
                ("day", snap.parts_today, pacing.daily_cap),
                ("month", snap.parts_month, pacing.monthly_cap),
            ):
                self.parts.set((device_id, period), used.get(device_id, 0))
                if cap is not None:
                    self.cap.set((device_id, period), cap)
        for pin in pins:
            for lane in LANE_ORDER:
                self.queue.set((pin, lane.value), snap.lanes.get((pin, lane.value), 0))
            self.pool_ready.set((pin,), ready[pin])
        for levels in (self.device_up, self.failed, self.signal, self.parts, self.cap):
            levels.done()
        self.queue.done()
        self.pool_ready.done()
        self.dead_letters.set(snap.dead_letters)
        self.endpoints_disabled.set(snap.disabled_endpoints)
        self._read_gc()

    def _read_gc(self) -> None:
        for n, generation in enumerate(GENERATIONS):
            total = self.gc.seconds[n]
            self.gc_seconds.labels(generation).inc(total - self._gc_seen[n])
            self._gc_seen[n] = total
            passes = self.gc.passes[n]
            self.gc_passes.labels(generation).inc(passes - self._gc_passes_seen[n])
            self._gc_passes_seen[n] = passes
        self.gc_longest.set(self.gc.longest_s)

    # -- fed by the runtime (a SendObserver) ----------------------------------------------

    def send_started(self, job: Job, device_id: str) -> None:
        """A device is about to submit ``job`` (accept -> here is the dispatch time)."""
        self.dispatch.observe(max(0.0, time.time() - job.created_at))

    def send_finished(self, job: Job, device_id: str, result: str, seconds: float) -> None:
        self.send.observe(seconds)
        self.sends.inc((device_id, result))

    def render(self) -> bytes:
        return exposition.render(self.registry)
