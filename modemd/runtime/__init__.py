"""Pools by pin, one worker per device, delivery reports into the store, report expiry."""

from modemd.runtime.bank import Bank, Offer
from modemd.runtime.expiry import expire_forever
from modemd.runtime.pool import PoolQueue
from modemd.runtime.worker import DeviceWorker

__all__ = ["Bank", "DeviceWorker", "Offer", "PoolQueue", "expire_forever"]
