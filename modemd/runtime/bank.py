"""The device bank: pools by pin, one worker task per device, status reports into the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from modemd.caps import NO_CAPS, Caps
from modemd.drivers import registry
from modemd.drivers.base import Hintable, IdentifiesLater, InboundHandler, SmsDevice
from modemd.drivers.modem_inbox import MULTIPART_TIMEOUT_S
from modemd.drivers.registry import DeviceSpec, DriverFactory, Wiring
from modemd.errors import DeviceError, PortClosedError, SimLockedError, StoreError
from modemd.model import (
    NO_PACING,
    DeliveryReport,
    DeviceLife,
    DeviceState,
    HintKind,
    HintVerdict,
    InboundSms,
    Job,
    Pacing,
)
from modemd.runtime import outcome
from modemd.runtime.inbound import InboundListener, receive
from modemd.runtime.observer import NO_OBSERVER, SendObserver
from modemd.runtime.opening import OPEN_CONCURRENCY, OpenSlot
from modemd.runtime.pool import PoolQueue
from modemd.runtime.recovery import DEFAULT_RECOVERY, RecoverySettings, UsbReset
from modemd.runtime.reports import apply_report
from modemd.runtime.returning import Returns
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices as device_rows
from modemd.store import inbound as inbound_rows
from modemd.store import jobs as job_rows
from modemd.store.db import Store
from modemd.store.reports import ReportResult
from modemd.store.submits import SubmitLog

log = logging.getLogger(__name__)

_F = TypeVar("_F", bound="asyncio.Future[Any]")
CLOSE_RETRY_S = 1.0  # a worker not ended this long after its cancel is cancelled again


@dataclass(frozen=True, slots=True)
class Offer:
    """A device a job was offered to (one record of the send API's answer)."""

    device_id: str
    pin: str
    kind: str


class Bank:
    """Every attached device, grouped into pools by pin."""

    def __init__(
        self,
        store: Store,
        *,
        pacing: Callable[[str, str], Pacing] | None = None,
        pool_caps: Callable[[str], Caps] = lambda _pin: NO_CAPS,
        observer: SendObserver = NO_OBSERVER,
        country: Callable[[str], str | None] = lambda _pin: None,
        recovery: RecoverySettings = DEFAULT_RECOVERY,
        usb_reset: UsbReset | None = None,
        multipart_timeout_s: float = MULTIPART_TIMEOUT_S,
        open_concurrency: int = OPEN_CONCURRENCY,
    ) -> None:
        self.store = store
        self.opening = asyncio.Semaphore(open_concurrency)  # OPEN_CONCURRENCY (hot-plug's too)
        self.multipart_timeout_s = multipart_timeout_s  # [inbound] multipart_timeout_s
        self.country = country  # a pool's country: national senders are read with it
        self.inbound_listeners: list[InboundListener] = []  # told after each stored SMS
        self.pacing = pacing or (lambda _device_id, _iccid: NO_PACING)  # by IMEI and ICCID
        self.pool_caps = pool_caps
        self.observer = observer  # told about each send (the metrics)
        self.recovery = recovery
        self.usb_reset = usb_reset
        self.pools: dict[str, PoolQueue] = {}
        # Opening now puts off what sending does not need (the service's start-up: ``opened``)
        self.identify_later = False
        # Devices of the other live hosts sharing the database, by pool (runtime.hosts).
        self.remote: dict[str, list[Offer]] = {}
        self.workers: dict[str, DeviceWorker] = {}
        # Each pool's devices here, as ``offers`` lists them, until one comes, goes or changes
        # pool (``_watch``): 64 frozen Offers made per accept cost more than the rest of it.
        self._offers: dict[str, list[Offer]] = {}
        self.submits = SubmitLog.beside(store.path)  # which claimed jobs may have gone out
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._writes: set[asyncio.Future[Any]] = set()  # reports' and inbound SMS's, pending
        self.returns = Returns(store, recovery, self.workers, self.spawn)  # reset away

    def pool(self, pin: str) -> PoolQueue:
        found = self.pools.get(pin)  # not setdefault alone: it builds a PoolQueue per call
        return found if found is not None else self.pools.setdefault(pin, PoolQueue(pin))

    async def start(self) -> None:
        """Recover from the last run, then refill the pools with queued jobs."""
        host = self.store.host_id  # several hosts: only this one's devices and jobs
        await self.store.write(device_rows.mark_all_gone, host)
        await outcome.recover_interrupted(self.store, self.submits)
        queued = await self.store.read(job_rows.queued_jobs)
        for job in queued:
            self.pool(job.pin).put(job)
        if queued:
            log.info("%d queued jobs waiting from the last run", len(queued))

    def submit(self, job: Job) -> list[Offer]:
        """Offer a committed job to its pool; return the devices it was offered to."""
        offers = self.offers(job.pin, job.id_device)
        self.pool(job.pin).put(job)
        return offers

    def withdraw(self, which: Callable[[Job], bool]) -> list[Job]:
        """Take back from every pool the waiting jobs ``which`` selects."""
        return [job for pool in self.pools.values() for job in pool.withdraw(which)]

    def offers(self, pin: str, id_device: str | None = None) -> list[Offer]:
        """The pool's devices here (not gone), or the one of them ``id_device`` names. The
        pool's list is kept until a device comes, goes or changes pool, and shared: callers
        read it and never change it."""
        kept = self._offers.get(pin)
        if kept is None:
            kept = self._offers[pin] = [
                Offer(w.device_id, pin, w.device.info.kind.value)
                for w in self.workers.values()
                if w.device.info.pin == pin and w.state is not DeviceState.GONE
            ]
        if id_device is None:
            return kept
        return [o for o in kept if o.device_id == id_device]

    def remote_offers(self, pin: str, id_device: str | None = None) -> list[Offer]:
        """The pool's devices on other live hosts (a job is fed to every host's pools); shared
        as ``offers``' (``runtime.hosts`` puts in new lists, never changes one)."""
        remote = self.remote.get(pin, [])
        if id_device is None:
            return remote
        return [o for o in remote if o.device_id == id_device]

    def device_ids(self) -> list[str]:
        """The devices attached here now (not gone)."""
        return [d for d, w in self.workers.items() if w.state is not DeviceState.GONE]

    def own_numbers(self) -> frozenset[str]:
        """The own numbers (AT+CNUM) of the SIMs in the bank: never answered automatically."""
        return frozenset(w.own_number for w in self.workers.values() if w.own_number)

    def has_device(self, pin: str, device_id: str) -> bool:
        worker = self.workers.get(device_id)
        return (
            worker is not None
            and worker.device.info.pin == pin
            and worker.state is not DeviceState.GONE
        )

    def _watch(self, worker: DeviceWorker) -> None:
        """A device came: the kept lists of offers are made again, and again whenever it goes
        or comes back (its state to or from ``GONE``). A device changes pool only through a
        new ``attach`` (its driver's pin is fixed), which is a coming."""
        self._offers.clear()
        if self._moved not in worker.life.listeners:  # (a replug may bring the same life)
            worker.life.listeners.append(self._moved)

    def _moved(self, life: DeviceLife, previous: DeviceState) -> None:
        if DeviceState.GONE in (life.state, previous):
            self._offers.clear()

    async def attach(
        self, factory: DriverFactory, life: DeviceLife | None = None, *, raise_errors: bool = False
    ) -> DeviceWorker | None:
        """Build a device wired to this bank, open it, record it, start its worker.

        ``life`` follows the device through opening (its phases; ``sim_locked`` when its SIM
        needs a person). None when it cannot be opened (the reason is logged), or the error with
        ``raise_errors``. A device whose IMEI comes back after it was gone (a replug) takes its
        old place."""
        if life is None:
            life = DeviceLife("?", DeviceState.OPENING)
        built: list[SmsDevice] = []  # the inbound callback needs the device's identity
        slot = OpenSlot(self.opening, life)
        device = factory(
            Wiring(
                self.on_report,
                self._on_gone,
                slot.on_phase,
                self._inbound_of(built),
                self.multipart_timeout_s,
                lambda device_id: self.store.read(inbound_rows.phone_cursor, device_id),
            )
        )
        built.append(device)
        if life.name == "?":
            life.name = device.info.port
        if isinstance(device, IdentifiesLater):
            device.identify_later = self.identify_later
        try:
            async with slot:
                info = await device.open()
        except DeviceError as exc:
            if isinstance(exc, SimLockedError):
                life.transition(DeviceState.SIM_LOCKED, exc.problem)
            if raise_errors:
                raise
            log.error("device on %s unusable: %s", device.info.port, exc)
            return None
        old = self.workers.get(info.device_id)
        if old is not None and (old.returning is not None or old.ladder.climbing):
            old_task = self._tasks.get(info.device_id)  # reset away and back already:
            if old_task is not None:  # let the old worker end first
                await asyncio.gather(old_task, return_exceptions=True)
        if old is not None and old.state is not DeviceState.GONE:
            log.error("device %s already attached; %s ignored", info.device_id, info.port)
            await device.close()
            return None
        old_task = self._tasks.pop(info.device_id, None)
        if old_task is not None:  # the same modem, replugged: its old worker is ending
            await asyncio.gather(old_task, return_exceptions=True)
        await self.store.write(
            device_rows.upsert_device, info, DeviceState.READY, self.store.host_id
        )
        worker = DeviceWorker(
            device,
            self.pool(info.pin),
            self.store,
            life=life,
            pacing=self.pacing(info.device_id, info.iccid),
            pool_caps=self.pool_caps(info.pin),
            observer=self.observer,
            recovery=self.recovery,
            usb_reset=self.usb_reset,
            submits=self.submits,
        )
        if old is not None:
            worker.ladder.counts = old.ladder.counts  # the device's history goes on
            if old.returning is not None:
                await self.returns.came_back(worker, old.returning)
        self.workers[info.device_id] = worker
        self._watch(worker)
        task = asyncio.create_task(self._run_worker(worker), name=f"worker {info.device_id}")
        self._tasks[info.device_id] = task
        return worker

    async def attach_spec(self, spec: DeviceSpec, life: DeviceLife) -> str | None:
        """``registry.Attach`` for hot-plug: attach the described device; its device_id."""
        worker = await self.attach(registry.factory(spec), life, raise_errors=True)
        return None if worker is None else worker.device_id

    def opened(self) -> None:
        """The start-up's opens are over: what they put off (``identify_later``) is read at each
        device's first idle moment, a task per device, and written to its row; later opens
        (hot-plug) put nothing off."""
        self.identify_later = False
        for worker in list(self.workers.values()):
            device = worker.device
            if isinstance(device, IdentifiesLater) and device.identify_later:
                self.spawn(self._identify(worker, device), f"identify {worker.device_id}")

    async def _identify(self, worker: DeviceWorker, device: IdentifiesLater) -> None:
        try:
            info = await device.identify_rest()
            await self.store.write(device_rows.set_identity, info)
        except PortClosedError:  # unplugged, or the daemon stops: nothing to tell
            pass
        except (DeviceError, StoreError) as exc:  # the health checks see to the device
            log.warning("%s: identification put off at open: %s", worker.device_id, exc)

    async def _run_worker(self, worker: DeviceWorker) -> None:
        try:
            await worker.run()
            if worker.returning is not None:
                self.returns.expect(worker, worker.returning)
        except asyncio.CancelledError:
            if worker.device.closed:
                await worker.set_state(DeviceState.GONE)
            raise
        except Exception:
            log.exception("worker of %s crashed", worker.device_id)
            worker.life.transition(DeviceState.GONE, "worker crashed")
        finally:
            await worker.device.close()

    async def detach(self, device_id: str, reason: str) -> None:
        """The device was removed (udev): close it now. An idle worker leaves its pool at once;
        a busy one records its job's outcome (``unknown`` once the PDU was out) and stops."""
        worker = self.workers.get(device_id)
        if worker is None or worker.state is DeviceState.GONE:
            return
        log.info("device %s removed: %s", device_id, reason)
        await worker.device.close()
        self._on_gone(device_id)

    def _on_gone(self, device_id: str) -> None:
        """Driver callback: the port died. A worker without a job stops now; a busy one learns
        it from its failed send (and records the job's outcome first)."""
        worker = self.workers.get(device_id)
        if worker is None:
            return
        log.warning("device %s gone: out of pool %s", device_id, worker.device.info.pin)
        task = self._tasks.get(device_id)
        if worker.ladder.climbing:
            return  # a recovery step closed or reset the port: the ladder sees it
        if worker.current is None and task is not None:  # not holding a job: stop it now
            task.cancel()

    def hint(
        self, device_id: str, body: bytes, headers: Mapping[str, str], now: float
    ) -> HintVerdict:
        """A device's app says something changed (a phone's webhook): the device judges it."""
        worker = self.workers.get(device_id)
        if worker is None or not isinstance(worker.device, Hintable):
            return HintVerdict(HintKind.NO_DEVICE, "no such phone with webhooks")
        return worker.device.hint(body, headers, now)

    def _inbound_of(self, built: list[SmsDevice]) -> InboundHandler:
        """Driver callback for received SMS (also during open, for those stored meanwhile):
        stored off the reader path; the task ends once committed (a modem frees its memory
        only then)."""

        def on_inbound(device_id: str, sms: InboundSms) -> asyncio.Task[None]:
            info = built[0].info
            coro = receive(self.store, info, sms, self.country(info.pin), self.inbound_listeners)
            return self.spawn(coro, f"inbound {device_id}")

        return on_inbound

    def on_report(self, device_id: str, report: DeliveryReport) -> asyncio.Future[ReportResult]:
        """Driver callback (on the loop): store the report off the reader path; the future
        resolves when it is committed (a modem frees a stored report only then)."""
        return self._pending(apply_report(self.store, device_id, report))

    def spawn(self, coro: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        """A task of the bank's (an inbound SMS's write...), awaited by ``close``."""
        return self._pending(asyncio.create_task(coro, name=name))

    def _pending(self, future: _F) -> _F:
        self._writes.add(future)
        future.add_done_callback(self._writes.discard)
        return future

    async def drain(self, timeout_s: float) -> None:
        """Shutdown, first step: no device takes a new job; sends in flight may finish (up to
        ``timeout_s``); idle workers stop now. ``close`` then ends whatever is left (a send
        still in flight is marked unknown)."""
        busy = []
        for device_id, worker in self.workers.items():
            worker.draining = True
            task = self._tasks.get(device_id)
            if task is None or task.done():
                continue
            if not worker.busy:
                task.cancel()
            else:
                busy.append(task)
        if not busy:
            return
        log.info("draining: %d sends in flight, waiting up to %.0f s", len(busy), timeout_s)
        _, pending = await asyncio.wait(busy, timeout=timeout_s)
        if pending:
            log.warning(
                "draining: %d sends still in flight after %.0f s; their jobs will be "
                "marked unknown",
                len(pending),
                timeout_s,
            )

    async def close(self) -> None:
        """Cancel every worker and wait for them (and pending report writes)."""
        pending = set(self._tasks.values())
        while pending:  # again if a cancellation got lost (3.11 can lose one in a race)
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=CLOSE_RETRY_S)
            if pending:
                log.warning("%d workers still running after cancel; cancelling again", len(pending))
        self._tasks.clear()
        # A task cancelled before it first ran never reached its own cleanup: close every
        # device here too (close is idempotent).
        await asyncio.gather(
            *(w.device.close() for w in self.workers.values()), return_exceptions=True
        )
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        self.submits.close()
