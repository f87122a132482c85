"""``modemd serve``: wires store, bank, devices, API and IPN sender, and runs until stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from modemd.api.adminsocket import start_admin_socket
from modemd.api.app import create_app, start_site
from modemd.api.auth import api_config
from modemd.api.simulator import EmulatedDevices
from modemd.api.tls import server_context
from modemd.config import PhoneConfig, PortConfig, Settings
from modemd.conversations.engine import Inbound
from modemd.drivers import registry
from modemd.model import InboundSms
from modemd.notify import feed_watchdog, notify, watchdog_interval_s
from modemd.observe import looplag, trace
from modemd.observe.metrics import Metrics
from modemd.quiet import quiet_hours
from modemd.runtime.bank import Bank
from modemd.runtime.campaigns import CampaignRunner
from modemd.runtime.conversations import Conversations
from modemd.runtime.expiry import expire_forever
from modemd.runtime.feeder import Feeder
from modemd.runtime.hosts import HostKeeper, default_host_id
from modemd.runtime.inbound import InboundListener
from modemd.runtime.recovery import RecoverySettings
from modemd.runtime.retention import prune_forever
from modemd.runtime.scheduler import Scheduler
from modemd.serving import (
    SHUTDOWN_STEP_TIMEOUT_S,
    flush_logs,
    freeze_opened_devices,
    restore_signals,
    settle_garbage_collector,
    shutdown_step,
    stop_on_signals,
)
from modemd.store.accept import DestinationLimits
from modemd.store.db import Store
from modemd.webhooks.egress import EgressPolicy, own_addresses
from modemd.webhooks.sender import IpnSender

if TYPE_CHECKING:  # imported when --simulate asks for them: a tenth of a second of start
    from modemd.emulators.modem import EmulatedModem
    from modemd.emulators.modem_bank import EmulatedBank
    from modemd.emulators.phone import EmulatedPhoneBank

    # imported when udev is followed or a modem is reset (pyudev: ~10 ms of a start)
    from modemd.hardware.hotplug import HotPlug
    from modemd.hardware.net import PhoneHotPlug

log = logging.getLogger(__name__)

# Sends in flight at SIGTERM may finish for this long (typical AT+CMGS: 2-6 s, tails 15-25 s);
# the unit's TimeoutStopSec=60 leaves room for the rest of the shutdown.
DRAIN_TIMEOUT_S = 40.0


def secrets_of(settings: Settings) -> list[str]:
    """Values of the config that must never appear in a log line."""
    found = [settings.admin_token, settings.option("server.metrics_token")]
    found += [p.password for p in settings.phones] + [p.signing_key for p in settings.phones]
    return [s for s in found if s]  # SIM PINs are never logged (and 4 digits match anything)


def recovery_settings(settings: Settings) -> RecoverySettings:
    """``[recovery]`` of the config file."""
    return RecoverySettings(
        **{f.name: settings.option(f"recovery.{f.name}") for f in fields(RecoverySettings)}
    )


def sim_storage(database: str, shared: bool) -> Path | None:
    """Where ``--simulate``'s SIM memories live: ``<database>-sims/`` beside a SQLite file, so
    that two daemons whose databases share a folder never share a SIM file (their emulated
    modems may have the same IMEIs); on a database server or ``:memory:``, nowhere."""
    if shared or database == ":memory:":
        return None
    return Path(f"{database}-sims")


class UsbResetter:
    """The ladder's USB reset: an emulated modem's own (``--simulate``), else the ioctl."""

    def __init__(self) -> None:
        self.emulated: dict[str, EmulatedModem] = {}  # port -> modem

    def add(self, modem: EmulatedModem) -> None:
        self.emulated[modem.port] = modem

    async def __call__(self, port: str) -> None:
        modem = self.emulated.pop(port, None)
        if modem is None:
            from modemd.hardware.usb_reset import usb_reset

            await usb_reset(port)
            return
        await modem.usb_reset()


async def serve(settings: Settings, *, ready: Callable[[int], None] | None = None) -> None:
    """Run the daemon until SIGTERM/SIGINT (or cancellation)."""
    # A wrong certificate is an error before anything starts.
    tls = server_context(settings.option("server.tls_cert"), settings.option("server.tls_key"))
    stop = stop_on_signals()  # before anything is announced: a SIGTERM then still drains
    # before the store: its thread stamps its commits into the trace it finds
    stalls = trace.begin(os.environ.get(trace.TRACE_ENV) or settings.option("server.stall_trace"))
    host_id = settings.host_id or default_host_id()
    store = Store(settings.db, host_id=host_id)  # a host id only matters on PostgreSQL
    await store.start()
    emulators: EmulatedBank | None = None
    phone_emulators: EmulatedPhoneBank | None = None
    metrics = Metrics(pacing=settings.pacing_of)
    pools = settings.option("pools") or {}
    caps = settings.caps()
    resetter = UsbResetter()
    bank = Bank(
        store,
        pacing=settings.pacing_of,
        pool_caps=caps.pools.pool,
        observer=metrics,
        country=lambda pin: (pools.get(pin) or {}).get("country"),
        recovery=recovery_settings(settings),
        usb_reset=resetter,
        multipart_timeout_s=settings.option("inbound.multipart_timeout_s"),
    )
    hotplug: HotPlug | None = None
    phone_plug: PhoneHotPlug | None = None
    watchdog: asyncio.Task[None] | None = None
    sender = IpnSender(store)
    sender.listen()  # commits that touch the outbox or the keys, not every accept's
    sender_task = asyncio.create_task(sender.run(), name="ipn sender")
    expiry_task = asyncio.create_task(expire_forever(store), name="report expiry")
    days, batch = settings.option("retention.jobs_days"), settings.option("retention.batch")
    retention_task = asyncio.create_task(
        prune_forever(store, days, batch) if days else asyncio.sleep(0), name="retention"
    )
    shared = store.host_id is not None  # PostgreSQL: other hosts may share the queue
    feeder = Feeder(store, bank, quiet=quiet_hours(settings.option("pools")), shared=shared)
    store.on_queue_notify.append(feeder.wake)
    limits = DestinationLimits(
        prefix_digits=settings.option("limits.prefix_digits"),
        per_prefix_per_hour=settings.option("limits.per_prefix_per_hour"),
        per_recipient_per_hour=settings.option("limits.per_recipient_per_hour"),
    )
    campaigns = CampaignRunner(store, feeder, limits=limits, key_caps=caps.key)
    scheduler = Scheduler(store, campaigns)
    time_tasks: list[asyncio.Task[None]] = []
    talk = Conversations.from_pools(store, bank, settings.option("pools"))
    bank.inbound_listeners.append(_to_conversations(talk))
    talk_task: asyncio.Task[None] | None = None
    runner = None
    try:
        await bank.start()
        talk_task = asyncio.create_task(talk.run(), name="conversations")  # after the refill
        await campaigns.recover()
        time_tasks += [
            asyncio.create_task(feeder.run(), name="feeder"),
            asyncio.create_task(campaigns.run(), name="campaign progress"),
            asyncio.create_task(scheduler.run(), name="scheduler"),
            asyncio.create_task(looplag.probe(metrics.observe_loop), name="loop lag probe"),
        ]
        if stalls is not None:
            stalls.start(threading.current_thread())
            time_tasks.append(asyncio.create_task(stalls.probe(), name="stall trace probe"))
        if shared:
            keeper = HostKeeper(
                store,
                bank,
                host_id,
                lease_s=settings.option("server.host_lease_s"),
                on_takeover=feeder.wake,
            )
            await keeper.beat()
            time_tasks.append(asyncio.create_task(keeper.run(), name="host heartbeat"))
            log.info("host %s on a shared database", host_id)
        ports = list(settings.devices)
        if settings.simulate:
            from modemd.emulators.modem_bank import EmulatedBank

            emulators = EmulatedBank.create(
                settings.simulate,
                record=settings.record,
                storage_dir=sim_storage(settings.db, shared),
                identities_of=settings.host_id,
            )
            await emulators.start()
            if settings.simulate_replies:
                emulators.answer_with(settings.simulate_replies)
            ports += [PortConfig(m.port, settings.simulate_pin) for m in emulators.modems]
            for modem in emulators.modems:
                resetter.add(modem)
                modem.on_replug = _replugged(bank, resetter, settings)
        phones = [p for p in settings.phones if p.url]  # the others are found by udev
        if settings.simulate_phones:
            from modemd.emulators.phone import EmulatedPhoneBank

            phone_emulators = EmulatedPhoneBank.create(
                settings.simulate_phones, record=settings.record
            )
            await phone_emulators.start()
            phones += [
                PhoneConfig(p.url, settings.simulate_pin, p.profile.password)
                for p in phone_emulators.phones
            ]
        api = api_config(
            settings.trusted_proxies,
            settings.admin_token,
            limits,
            settings.option("server.failed_auth_per_minute"),
            caps=caps,
        )
        app = create_app(
            store,
            bank,
            api,
            metrics=metrics,
            metrics_token=settings.option("server.metrics_token"),
            pacing=settings.pacing_of,
            simulated=(
                EmulatedDevices(
                    emulators.modems if emulators is not None else [],
                    settings.simulate_pin,
                    phone_emulators.phones if phone_emulators is not None else [],
                )
                if emulators is not None or phone_emulators is not None
                else None
            ),
            runner=campaigns,
            conversations_alarm=talk.alarm,
        )
        settle_garbage_collector()  # before the devices open: a backlog then starts sending
        by_iccid = settings.sim_pins.get  # [sim_pins] serve every modem, as under udev
        specs: list[registry.DeviceSpec] = [
            *(registry.SerialModem(p.port, p.pin, p.sim_pin or by_iccid) for p in ports),
            *(registry.phone_of(p) for p in phones),
        ]
        bank.identify_later = True  # maker, model, IMSI ... once every device is open and idle
        attached = await asyncio.gather(*(bank.attach(registry.factory(s)) for s in specs))
        bank.opened()
        total = len(ports) + len(phones)
        log.info("%d of %d devices ready", sum(w is not None for w in attached), total)
        if settings.udev:
            from modemd.hardware import HotPlug, PhoneHotPlug, Udev

            hotplug = HotPlug(
                Udev(),
                attach=bank.attach_spec,
                detach=bank.detach,
                labels=settings.labels,
                sim_pins=settings.sim_pins,
                opening=bank.opening,
            )
            await hotplug.start()
            phone_plug = PhoneHotPlug(
                Udev(),
                attach=bank.attach_spec,
                detach=bank.detach,
                phones=settings.phones,
                labels=settings.labels,
            )
            await phone_plug.start()
            log.info("following udev: modems labelled MODEMD_PIN join their pool when plugged in")
        runner, port = await start_site(
            app,
            settings.host,
            settings.port,
            ssl_context=tls,
            fast_send=settings.option("server.fast_send"),
        )
        freeze_opened_devices()
        metrics.gc.install()  # each collection timed from here on (/metrics)
        scheme = "https" if tls else "http"
        log.info("API listening on %s://%s:%d", scheme, settings.host, port)
        flush_logs()  # the line that says it is ready goes out now, not with the next burst
        sender.egress = EgressPolicy(
            deny_loopback=settings.option("ipn.deny_loopback"),
            deny_private=settings.option("ipn.deny_private"),
            own=own_addresses(settings.host, port),
        )
        if settings.option("server.admin_socket"):
            await start_admin_socket(runner, settings.option("server.admin_socket"))
        if ready is not None:
            ready(port)
        notify("READY=1")
        if (interval := watchdog_interval_s()) is not None:
            watchdog = asyncio.create_task(feed_watchdog(interval), name="systemd watchdog")
        await stop.wait()
    finally:
        notify("STOPPING=1")
        restore_signals()
        log.info("stopping")
        if hotplug is not None:
            await shutdown_step("udev", hotplug.close())
        if phone_plug is not None:
            await shutdown_step("udev (phones)", phone_plug.close())
        if runner is not None:
            await shutdown_step("HTTP API", runner.cleanup())
        await shutdown_step(
            "draining sends",
            bank.drain(DRAIN_TIMEOUT_S),
            timeout_s=DRAIN_TIMEOUT_S + SHUTDOWN_STEP_TIMEOUT_S,
        )
        for task in time_tasks:
            task.cancel()
        await shutdown_step(
            "feeder and campaigns",
            asyncio.gather(*time_tasks, campaigns.close(), return_exceptions=True),
        )
        await shutdown_step("devices", bank.close())
        if watchdog is not None:  # fed until the devices are closed: a hung close gets killed
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
        tasks = [sender_task, expiry_task, retention_task, *([talk_task] if talk_task else [])]
        for task in tasks:
            task.cancel()
        await shutdown_step("IPN sender", asyncio.gather(*tasks, return_exceptions=True))
        if emulators is not None:
            await shutdown_step("emulators", emulators.close())
        if phone_emulators is not None:
            await shutdown_step("emulated phones", phone_emulators.close())
        await shutdown_step("store", store.close())
        metrics.gc.remove()
        trace.end()  # written once the store's thread stamped its last commit
        log.info("stopped")


def _to_conversations(talk: Conversations) -> InboundListener:
    """Each stored inbound SMS goes through the conversation engine (rules, opt-out, surveys)."""

    def listener(pin: str, sender: str, device_id: str, sms: InboundSms) -> Awaitable[object]:
        return talk.on_inbound(Inbound(pin, sender, sms.text or "", device_id, time.time()))

    return listener


def _replugged(
    bank: Bank, resetter: UsbResetter, settings: Settings
) -> Callable[[EmulatedModem], None]:
    """An emulated modem back after a USB reset, on a new pty: attach it as hot-plug would."""
    attaching: set[asyncio.Task[object]] = set()

    def attach(modem: EmulatedModem) -> None:
        resetter.add(modem)
        spec = registry.SerialModem(modem.port, settings.simulate_pin, settings.sim_pins.get)
        task = asyncio.create_task(bank.attach(registry.factory(spec)), name=f"replug {modem.name}")
        attaching.add(task)
        task.add_done_callback(attaching.discard)

    return attach
