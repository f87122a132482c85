"""One worker per device: take the next job of the pool, claim it, send it, record the outcome;
between jobs, check the device's health and keep to its pacing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from modemd.caps import NO_CAPS, Caps, Reached
from modemd.drivers.base import RadioDetails, RadioHealth, Resumable, SmsDevice, SubmitAware, Tidy
from modemd.drivers.registration import RegistrationTracker
from modemd.errors import DeviceError, PortClosedError, SendError
from modemd.model import NO_PACING, DeviceLife, DeviceState, EventType, Job, Pacing
from modemd.runtime import followup
from modemd.runtime.capwait import cap_wait
from modemd.runtime.observer import NO_OBSERVER, SendObserver, send_result
from modemd.runtime.outcome import OutcomeRecorder, to_the_end
from modemd.runtime.pool import PoolQueue, Waiter
from modemd.runtime.recovery import (
    DEFAULT_RECOVERY,
    Climb,
    Ladder,
    Outcome,
    RecoverySettings,
    RecoveryStep,
    UsbReset,
)
from modemd.store import devices as device_rows
from modemd.store import events as event_rows
from modemd.store import transitions
from modemd.store.db import Store
from modemd.store.submits import SubmitLog

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 2.0  # after a transient failure the device rests, so others take the job
BACKOFF_MAX_S = 300.0  # cap of the doubling rest of a device that keeps failing
WEAK_SIGNAL_RSSI = 10  # +CSQ below this (about -93 dBm): sends get unreliable (logged)
CAP_IN_FLIGHT_RECHECK_S = 1.0  # a pool cap reached with sends in flight: they may fail
CAP_RECHECK_MAX_S = 3600.0  # a capped device looks again at least hourly (clock changes)


class DeviceWorker:
    """Sends the jobs of one device's pool while the device lives."""

    def __init__(
        self,
        device: SmsDevice,
        pool: PoolQueue,
        store: Store,
        *,
        life: DeviceLife | None = None,
        pacing: Pacing = NO_PACING,
        pool_caps: Caps = NO_CAPS,
        observer: SendObserver = NO_OBSERVER,
        health_interval_s: float | None = None,
        backoff_first_s: float = BACKOFF_FIRST_S,
        recovery: RecoverySettings = DEFAULT_RECOVERY,
        usb_reset: UsbReset | None = None,
        submits: SubmitLog | None = None,
    ) -> None:
        self.device = device
        self.pool = pool
        self.store = store
        # ``submits``: the bank's submit log (None: off, an interrupted send is unknown).
        self.outcomes = OutcomeRecorder(store, pool, submits or SubmitLog(None))
        # The driver says when the PDU is about to go (a Protocol's isinstance is slow: once).
        self._submit_aware = isinstance(device, SubmitAware)
        if isinstance(device, SubmitAware):
            device.on_submit = self._submitting
        # Its housekeeping while idle (``base.Tidy``), judged once: an isinstance against a
        # runtime-checkable protocol looks up each of its members, at every idle wait.
        self._tidy = device.tidy if isinstance(device, Tidy) else None
        self.life = life if life is not None else DeviceLife(device.info.device_id)
        self.life.name = device.info.device_id
        if self.life.state is not DeviceState.READY:
            self.life.transition(DeviceState.READY)
        self.pacing = pacing  # min gap, and the caps of the SIM it holds
        self.pool_caps = pool_caps
        self.observer = observer
        # An idle device is probed this often: a hang is noticed within it.
        self.health_interval_s = health_interval_s or recovery.probe_interval_s
        self.backoff_first_s = backoff_first_s
        self.recovery = recovery
        self.ladder = Ladder(device.info.device_id, recovery, usb_reset)
        self.returning: RecoveryStep | None = None  # reset away by this step; should come back
        self._nudge = asyncio.Event()  # registration changed: look at the device now
        self._waiting: Waiter | None = None  # waiting idle for a job (``_next_job``)
        tracker = getattr(device, "registration", None)
        if isinstance(tracker, RegistrationTracker):
            tracker.listener = self._registration_changed
        self.current: Job | None = None
        # Jobs claimed with a send's record, not sent yet (``runtime.followup``).
        self.claimed = followup.ClaimedLine(self.outcomes, pool, device.info.device_id)
        self.own_number: str | None = None  # its SIM's (AT+CNUM), from the last health check
        self._ready_stored = False  # the last send's record already set the device ready
        self.draining = False  # shutting down: finish the send in flight, take no new job
        self._failure: str | None = None  # why the device is suspect (None: it is not)
        self._last_send = float("-inf")  # monotonic end of the last send
        self._weak = False  # the last signal reading was weak (logged once per episode)

    @property
    def device_id(self) -> str:
        return self.device.info.device_id

    @property
    def state(self) -> DeviceState:
        return self.life.state

    async def set_state(
        self, state: DeviceState, reason: str = "", *, stored: bool = False
    ) -> None:
        """Change state (``DeviceLife.transition`` logs it) and store it (unless the write
        that caused it already did: ``stored``)."""
        if state is self.state:
            return
        self.life.transition(state, reason)
        if not stored:
            await self.store.write(
                device_rows.set_device_state, self.device_id, state, self.device.signal
            )

    def _stored_as(self, state: DeviceState) -> None:
        """``set_state(state, stored=True)`` without a coroutine: the write that caused it
        stored it (twice a send)."""
        if state is not self.life.state:
            self.life.transition(state, "")

    @property
    def busy(self) -> bool:
        """A send in flight, its record in flight, or a job claimed for a next send (a drain
        waits for them all)."""
        claimed = self.claimed
        return self.current is not None or claimed.record is not None or claimed.held > 0

    async def run(self) -> None:
        """Serve jobs until cancelled, drained, or the device dies."""
        self.claimed.join()  # it gives back a job claimed ahead to an idle device of the pool
        try:
            await self._serve()
        except BaseException:  # cancelled, or crashed: jobs claimed ahead were never sent
            try:  # to its end through a second cancel (a close after a drain's timeout)
                await to_the_end(self.claimed.release())
            except Exception:  # their submit log puts them back in the queue at the next start
                log.exception("device %s: claimed jobs not put back", self.device_id)
            raise
        finally:
            self.claimed.leave()

    async def _serve(self) -> None:
        if isinstance(self.device, Resumable):  # a phone: its messages of our jobs, no other's
            await self.device.resume(lambda ids: self.store.read(transitions.known_jobs, ids))
        line = self.claimed
        while not self.draining:
            # One claimed already (a backlog's usual case): taken without a coroutine
            claimed = line.take() if line.jobs else await line.next()
            if claimed is None:
                await self._keep_pace()
                job = await self._next_job()
                if job is None:  # nothing to send for a while: look at the device
                    if not await self._check_health():
                        await self.set_state(DeviceState.GONE)
                        return
                    continue
                got = await self.outcomes.claim(
                    job, self.device_id, self.device.signal, self.pool_caps
                )
                if isinstance(got, Reached):  # the pool's cap, counting sends in flight
                    await self._rest(CAP_IN_FLIGHT_RECHECK_S)
                    continue
                if got is None:
                    log.warning("job %s was no longer queued; skipped", job.job_id)
                    continue
                claimed = got
                if not self.draining:  # its next one, during this send (``runtime.followup``)
                    self.claimed.claim_ahead(self._next_jobs(held=1), self.device.signal)
            self.current = claimed
            self._stored_as(DeviceState.BUSY)  # with the claim
            try:
                gone = await self._send(claimed)
            finally:
                self.current = None
                self._last_send = time.monotonic()
            if gone or self._failure is not None:  # a suspect device holds no job meanwhile
                await self.claimed.release()
            if gone or (self._failure is not None and not await self._check_health()):
                await self.set_state(DeviceState.GONE)
                return
            if line.jobs:  # it goes straight on with a claimed job: still busy
                pass
            elif self._ready_stored:
                self._stored_as(DeviceState.READY)
            else:
                await self.set_state(DeviceState.READY)
            self._ready_stored = False
        await self.claimed.release()
        log.info("device %s: drained", self.device_id)

    async def _next_job(self) -> Job | None:
        """The next job of the pool, or None when none came within the health interval or the
        registration changed (a +CREG URC): the device is looked at before it takes a job.
        Before it waits, an idle device does its housekeeping (``base.Tidy``)."""
        if (job := self.pool.take_nowait(self.device_id)) is not None:
            return job
        if self._tidy is not None:
            await self._tidy()
        if self._nudge.is_set():
            self._nudge.clear()
            return None
        # A job put while it tidied (an AT+CMGD: a round trip to the modem) found no one
        # waiting and was queued: taken now, else it waited for the next put or the health
        # interval (tests/test_runtime.py)
        if (job := self.pool.take_nowait(self.device_id)) is not None:
            return job
        # One future, woken by a job (the pool), the health interval (a timer) or a
        # registration change (``_registration_changed``): no task per wait.
        waiter = self._waiting = self.pool.wait(self.device_id, takes_claimed=True)
        timer = asyncio.get_running_loop().call_later(
            self.health_interval_s, self.pool.wake, waiter
        )
        try:
            await waiter.future
        except asyncio.CancelledError:
            # A job handed over meanwhile goes back: a queued one to the pool, one still
            # claimed by another device to the queue (a commit)
            if (handed := self.pool.leave(waiter, give_back=True)) is not None:
                await self.outcomes.give_up(handed)
            raise
        finally:
            timer.cancel()
            self._waiting = None
        self._nudge.clear()
        return self.pool.leave(waiter)

    def _claims_put(self) -> bool:
        """A send begins with nothing claimed after it: the first high-lane job put during it
        that no idle device takes is claimed ahead (``_take_put``), so that the next send
        does not wait for this one's record to claim it (a commit)."""
        if self.draining or self.claimed.held > 0:
            return False
        if not followup.claims_ahead(self.device, self.pacing, self.pool_caps):
            return False
        self.pool.claimers.append(self._take_put)
        return True

    def _take_put(self, job: Job) -> bool:
        """Pool callback (``PoolQueue.put``): claim ``job`` ahead, once, when this device may
        send it and still sends holding nothing."""
        if job.id_device not in (None, self.device_id) or self.draining or self.claimed.held:
            return False
        self.pool.claimers.remove(self._take_put)
        self.claimed.claim_ahead([job], self.device.signal)
        return True

    def _submitting(self) -> bool:
        """Driver callback, just before it writes the bytes that submit the current job;
        False: they must not be (the submit log can neither say so nor be made untrusted)."""
        return self.current is None or self.outcomes.submits.submit(self.current.job_id)

    def _registration_changed(self, registered: bool) -> None:
        """Driver callback (a +CREG/+CGREG/+CEREG URC): out of the pool at once when lost."""
        log.info(
            "device %s: %s", self.device_id, "registered" if registered else "lost the network"
        )
        self._nudge.set()
        if self._waiting is not None:
            self.pool.wake(self._waiting)

    async def _rest(self, seconds: float) -> None:
        """Sleep, unless the registration changes first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._nudge.wait()
        self._nudge.clear()

    async def _recover(self) -> bool:
        """Climb the recovery ladder until the device answers; False when it is gone (or reset
        away: ``returning`` says by which step). When every step fails the device is failed
        (an IPN says so) and the ladder is climbed again after ``retry_failed_s``."""
        await self.set_state(DeviceState.BACKING_OFF, self._failure or "")
        await self.store.write(device_rows.note_error, self.device_id, self._failure or "")
        failed_reported = False
        while True:
            climb = await self.ladder.climb(self.device)
            if climb.outcome is Outcome.RECOVERED:
                log.warning("device %s: recovered after %s", self.device_id, climb.step)
                self._failure = None
                await self._device_event(EventType.DEVICE_RECOVERED, climb, "")
                await self.store.write(device_rows.note_recovered, self.device_id, climb.step)
                await self.set_state(DeviceState.READY, f"recovered after {climb.step}")
                return True
            if climb.outcome is Outcome.RETURNING:
                self.returning = climb.step
                return False
            if climb.outcome in (Outcome.GONE, Outcome.REPLACED):
                log.error("device %s: %s (%s)", self.device_id, climb.outcome, climb.why)
                return False
            state = DeviceState.SIM_LOCKED
            if climb.outcome is Outcome.FAILED:
                state = DeviceState.FAILED
                log.error(
                    "device %s: failed: every recovery step failed (last: %s: %s); "
                    "next try in %.0f s",
                    self.device_id,
                    climb.step,
                    climb.why,
                    self.recovery.retry_failed_s,
                )
            if not failed_reported:  # said once, not at each hourly retry
                await self._device_event(EventType.DEVICE_FAILED, climb, state.value)
                failed_reported = True
            await self.set_state(state, f"{climb.step}: {climb.why}")
            await asyncio.sleep(self.recovery.retry_failed_s)
            await self.set_state(DeviceState.BACKING_OFF, "trying again")

    async def _device_event(self, type_: EventType, climb: Climb, state: str) -> None:
        data = {"step": climb.step, "reason": climb.why or self._failure or "", "state": state}
        await self.store.write(
            event_rows.add_device_event, self.device.info.pin, self.device_id, type_, data
        )

    async def _check_health(self) -> bool:
        """Revive a suspect device, then wait until it is registered; False when it is gone."""
        searching_s = self.backoff_first_s
        while True:
            if self._failure is not None and not await self._recover():
                return False
            if not isinstance(self.device, RadioHealth):
                return not self.device.closed
            try:
                registration = await self.device.check_registration()
                rssi = await self.device.check_signal()
                status = (
                    await self.device.radio_status()
                    if isinstance(self.device, RadioDetails)
                    else None
                )
            except PortClosedError:
                return False
            except DeviceError as exc:
                self._failure = f"health check: {exc}"
                continue
            if registration.registered:
                break
            # Out of the idle pool meanwhile: the pool's jobs go to the other devices.
            await self.set_state(DeviceState.SEARCHING_NETWORK, registration.why)
            await self._rest(searching_s)
            searching_s = min(searching_s * 2, BACKOFF_MAX_S)
        self._note_signal(rssi)
        # One write stores the state and the fresh signal (also when the state is unchanged).
        if status is not None:
            self.own_number = status.own_number
            await self.store.write(
                device_rows.set_health, self.device_id, DeviceState.READY, rssi, status
            )
        else:
            await self.store.write(
                device_rows.set_device_state, self.device_id, DeviceState.READY, rssi
            )
        await self.set_state(DeviceState.READY, stored=True)
        return True

    def _note_signal(self, rssi: int | None) -> None:
        weak = rssi is not None and (rssi < WEAK_SIGNAL_RSSI or rssi == 99)
        if weak and not self._weak:
            log.warning("device %s: weak signal (+CSQ %s)", self.device_id, rssi)
        elif self._weak and not weak:
            log.info("device %s: signal back (+CSQ %s)", self.device_id, rssi)
        self._weak = weak

    async def _keep_pace(self) -> None:
        """Wait out the minimum gap, the device's own rate limit and any daily/monthly cap."""
        gap = self.pacing.min_gap_s - (time.monotonic() - self._last_send)
        if gap > 0:
            await asyncio.sleep(gap)
        # The device's own limit (a phone's 30 SMS/min): wait before taking a job, so the
        # job goes to an idle device of the pool meanwhile instead of waiting here.
        own = self.device.ready_in_s()  # after it, one part is allowed: the window has moved
        if own > 0:
            await asyncio.sleep(own)
        caps_of = (self.store, self.device, self.pacing, self.pool.pin, self.pool_caps)
        while (wait := await cap_wait(*caps_of)) is not None:
            seconds, why = wait
            await self.set_state(DeviceState.BACKING_OFF, why)
            await asyncio.sleep(min(seconds, CAP_RECHECK_MAX_S))
        await self.set_state(DeviceState.READY)

    async def _send(self, job: Job) -> bool:
        """Send ``job`` and record what happened; True when the device is gone."""
        self.observer.send_started(job, self.device_id)
        started = time.monotonic()
        if not self._submit_aware and not self.outcomes.submits.submit(
            job.job_id
        ):  # it may leave from the first byte, and that cannot be written down: not sent
            refused = SendError("submit log unwritable", outcome_known=True, transient=True)
            return await self._record_failure(job, refused)
        claiming = self._claims_put()
        try:
            try:
                parts = await self.device.send_sms(job.to, job.message, job_id=job.job_id)
            finally:  # before its outcome: a failed send's job put back is not for this device
                if claiming and self._take_put in self.pool.claimers:
                    self.pool.claimers.remove(self._take_put)
        except SendError as exc:
            self._observe(job, exc, started)
            return await self._record_failure(job, exc)
        except asyncio.CancelledError:
            self._observe(
                job, SendError("cancelled", outcome_known=False, transient=False), started
            )
            # Shutdown mid-send: unknown once the PDU may have gone out (never resent); the
            # jobs claimed after it go back in line first, so that it stays ahead of them.
            # Both to their end through a second cancel (a close after a drain's timeout):
            # else the job stays ``sending`` and a clean stop's restart calls it unknown.
            await to_the_end(self.claimed.release())
            await to_the_end(self.outcomes.stopped(job))
            raise
        self._observe(job, None, started)
        nxt = [] if self.draining else self._next_jobs(self.claimed.held)
        self.claimed.record_sent(job, parts, self.device.signal, nxt)
        self._ready_stored = True  # the device row says ready (or busy with the next job)
        return False

    def _next_jobs(self, held: int) -> list[Job]:
        return followup.next_jobs(self.pool, self.device, self.pacing, held, self.pool_caps)

    def _observe(self, job: Job, error: SendError | None, started: float) -> None:
        result = send_result(error)
        self.observer.send_finished(job, self.device_id, result, time.monotonic() - started)

    async def _record_failure(self, job: Job, exc: SendError) -> bool:
        gone = self.device.closed
        # A transient error, or silence after Ctrl-Z, may lie in the device: revive it first.
        self._failure = str(exc) if exc.transient or not exc.outcome_known else None
        await self.outcomes.failure(self.device_id, job, exc)
        return bool(gone)
