"""Received SMS from a device into the store: the sender in E.164 (a national number read with
the pool's country), stored once, then the listeners (conversations, ...) told."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import phonenumbers

from modemd.model import DeviceInfo, InboundSms
from modemd.store import inbound as inbound_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

# (pin, sender in E.164, device_id, message), after the message is committed
InboundListener = Callable[[str, str, str, InboundSms], Awaitable[object] | None]


def e164(sender: str, country: str | None) -> str:
    """``sender`` in E.164 when it is a phone number; names and short codes as received."""
    digits = sender.lstrip("+")
    if not digits.isdigit():
        return sender  # an alphanumeric sender ("BANK") stays a name
    if sender.startswith("+"):
        return "+" + digits
    if country is None:
        return sender
    try:
        number = phonenumbers.parse(digits, country.upper())
    except phonenumbers.NumberParseException:
        return sender
    if not phonenumbers.is_possible_number(number):
        return sender  # a short code (4 or 5 digits) is no E.164 number
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


async def receive(
    store: Store,
    info: DeviceInfo,
    sms: InboundSms,
    country: str | None,
    listeners: list[InboundListener],
) -> None:
    """Store ``sms`` received by the device ``info``; returns once it is committed."""
    sender = e164(sms.sender, country)
    stored = await store.write(
        inbound_rows.store_inbound, info.device_id, info.pin, info.iccid, sender, sms
    )
    if stored.duplicate:
        log.info(
            "%s: SMS %d from %s read again: stored once", info.device_id, stored.inbound_id, sender
        )
        return
    log.info(
        "%s: SMS %d from %s stored (%d parts%s)%s",
        info.device_id,
        stored.inbound_id,
        sender,
        sms.parts,
        ", incomplete" if sms.incomplete else "",
        f", answers job {stored.reply_to_job_id}" if stored.reply_to_job_id else "",
    )
    for listener in listeners:
        try:
            done = listener(info.pin, sender, info.device_id, sms)
            if done is not None:
                await done
        except Exception:
            log.exception("inbound listener failed on SMS %d", stored.inbound_id)
