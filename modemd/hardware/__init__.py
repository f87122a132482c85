"""Real hardware: udev discovery of labelled modems and tethered phones, hot-plug, the doctor.

``udev`` is the only module of modemd that imports pyudev. Hot-plug is given ``attach`` and
``detach`` callables by the wiring; it imports neither the runtime nor the config."""

from modemd.hardware.discovery import PIN_LABEL, answers_at, find_at_port, group, label_of
from modemd.hardware.doctor import examine
from modemd.hardware.hotplug import HotPlug
from modemd.hardware.net import ROUTE_TABLE, PhoneHotPlug, diagnose, is_phone_link
from modemd.hardware.udev import Port, Udev, UdevEvent

__all__ = [
    "PIN_LABEL",
    "ROUTE_TABLE",
    "HotPlug",
    "PhoneHotPlug",
    "Port",
    "Udev",
    "UdevEvent",
    "answers_at",
    "diagnose",
    "examine",
    "find_at_port",
    "group",
    "is_phone_link",
    "label_of",
]
