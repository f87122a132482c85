"""The life of one device: its states, the moves it may make, and where it stands now."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from modemd.model.enums import TextEnum

log = logging.getLogger("modemd.devices")


class DeviceState(TextEnum):
    """Life of one device, from the udev event that shows it to its removal."""

    DISCOVERED = "discovered"  # seen (udev add, or named in the config); waiting for quiet
    OPENING = "opening"  # finding the AT port, opening it, waking the modem (ESC + AT)
    IDENTIFYING = "identifying"  # reading maker, model, IMEI, ICCID; unlocking the SIM
    SIM_LOCKED = "sim_locked"  # SIM needs a PIN we lack, refused ours, or a PUK: a person acts
    SEARCHING_NETWORK = "searching_network"  # SIM ready; waiting for +CREG 1 or 5
    READY = "ready"  # idle, waiting for a job of its pool
    BUSY = "busy"  # sending a job
    BACKING_OFF = "backing_off"  # stopped answering: climbing the recovery ladder
    FAILED = "failed"  # every recovery step failed: a person must look; retried hourly
    GONE = "gone"  # port closed or unplugged; out of its pool


# The moves a device may make; anything else is a bug and is logged as one.
DEVICE_TRANSITIONS: dict[DeviceState, frozenset[DeviceState]] = {
    DeviceState.DISCOVERED: frozenset({DeviceState.OPENING, DeviceState.GONE}),
    # A driver that reports no phases (a test double, a phone) goes from OPENING to READY.
    DeviceState.OPENING: frozenset(
        {DeviceState.IDENTIFYING, DeviceState.READY, DeviceState.BACKING_OFF, DeviceState.GONE}
    ),
    DeviceState.IDENTIFYING: frozenset(
        {
            DeviceState.SEARCHING_NETWORK,
            DeviceState.SIM_LOCKED,
            DeviceState.BACKING_OFF,
            DeviceState.GONE,
        }
    ),
    # A reset brings identification again: a SIM may then want its PIN (sim_locked); the
    # hourly retry of a failed or locked device starts over from opening.
    DeviceState.SIM_LOCKED: frozenset(
        {DeviceState.OPENING, DeviceState.BACKING_OFF, DeviceState.GONE}
    ),
    DeviceState.SEARCHING_NETWORK: frozenset(
        {DeviceState.READY, DeviceState.BACKING_OFF, DeviceState.GONE}
    ),
    DeviceState.READY: frozenset(
        {DeviceState.BUSY, DeviceState.BACKING_OFF, DeviceState.SEARCHING_NETWORK, DeviceState.GONE}
    ),
    DeviceState.BUSY: frozenset({DeviceState.READY, DeviceState.BACKING_OFF, DeviceState.GONE}),
    DeviceState.BACKING_OFF: frozenset(
        {
            DeviceState.OPENING,
            DeviceState.IDENTIFYING,  # a reopen or reset starts over (and may find the SIM locked)
            DeviceState.READY,
            DeviceState.SIM_LOCKED,
            DeviceState.SEARCHING_NETWORK,
            DeviceState.FAILED,
            DeviceState.GONE,
        }
    ),
    DeviceState.FAILED: frozenset({DeviceState.BACKING_OFF, DeviceState.GONE}),
    DeviceState.GONE: frozenset({DeviceState.DISCOVERED}),
}


StateListener = Callable[["DeviceLife", DeviceState], None]  # (life, previous state)


class DeviceLife:
    """Where one device stands; ``name`` is its port until its IMEI is known."""

    def __init__(self, name: str, state: DeviceState = DeviceState.DISCOVERED) -> None:
        self.name = name
        self.state = state
        self.reason = ""  # why it is in this state, in plain words ("" when obvious)
        self.since = time.monotonic()
        self.listeners: list[StateListener] = []

    def transition(self, state: DeviceState, reason: str = "") -> None:
        """Move to ``state``: the one place a device changes state. Logs every change."""
        if state is self.state:
            return
        previous = self.state
        if state not in DEVICE_TRANSITIONS[previous]:
            log.error("device %s: unexpected move %s -> %s", self.name, previous, state)
        suffix = f" ({reason})" if reason else ""
        level = (
            logging.WARNING
            if state in _TROUBLE
            else logging.DEBUG
            if {previous, state} == _ROUTINE  # twice per send: noise
            else logging.INFO
        )
        log.log(level, "device %s: %s -> %s%s", self.name, previous, state, suffix)
        self.state, self.reason, self.since = state, reason, time.monotonic()
        for listener in list(self.listeners):
            listener(self, previous)


_TROUBLE = frozenset({DeviceState.SIM_LOCKED, DeviceState.BACKING_OFF, DeviceState.GONE})
_ROUTINE = {DeviceState.READY, DeviceState.BUSY}  # each send; the job's own line says it
