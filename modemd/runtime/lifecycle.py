"""The state of one device and the one method that changes it (checked, logged, announced)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from modemd.model import DEVICE_TRANSITIONS, DeviceState

log = logging.getLogger(__name__)

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
