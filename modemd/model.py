"""Domain values shared by every layer: frozen dataclasses and explicit state enums."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class JobState(enum.StrEnum):
    """Where a job stands. Final states never move backwards (see ``JOB_TRANSITIONS``)."""

    QUEUED = "queued"  # accepted (fsync'd), waiting for an idle device of its pool
    SENDING = "sending"  # claimed by exactly one device; AT+CMGS may be in progress
    SENT = "sent"  # every part got +CMGS: <mr>; waiting for status reports
    DELIVERED = "delivered"  # every part reported delivered (TP-Status 0x00-0x1F)
    FAILED = "failed"  # rejected by the modem/network, or a part reported failed
    UNKNOWN = "unknown"  # outcome not known (timeout after Ctrl-Z, crash): never resent by itself
    EXPIRED = "expired"  # sent, but no final status report within the report window


FINAL_JOB_STATES = frozenset(
    {JobState.DELIVERED, JobState.FAILED, JobState.UNKNOWN, JobState.EXPIRED}
)

# The only moves a job may make. SENDING -> QUEUED is a requeue after the device provably did
# not submit anything (error before Ctrl-Z, or a +CMS ERROR that is transient).
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.SENDING, JobState.FAILED}),
    JobState.SENDING: frozenset(
        {JobState.SENT, JobState.FAILED, JobState.UNKNOWN, JobState.QUEUED}
    ),
    JobState.SENT: frozenset({JobState.DELIVERED, JobState.FAILED, JobState.EXPIRED}),
    JobState.DELIVERED: frozenset(),
    JobState.FAILED: frozenset(),
    # A status report is evidence that an unknown send did reach the network (see
    # store.reports.settle_unknown_by_report): never a resend, only a verdict.
    JobState.UNKNOWN: frozenset({JobState.DELIVERED, JobState.FAILED}),
    # A late report still settles an expired job: it was only "no news", never a verdict.
    JobState.EXPIRED: frozenset({JobState.DELIVERED, JobState.FAILED}),
}

# Moves only a person may order (``modemd jobs retry``): the outcome was unknown or failed and
# someone decided to send again. Never taken automatically.
MANUAL_RETRY_FROM = frozenset({JobState.UNKNOWN, JobState.FAILED, JobState.EXPIRED})


class DeviceState(enum.StrEnum):
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


class DeviceKind(enum.StrEnum):
    MODEM = "modem"  # USB/serial GSM modem spoken to with AT commands
    PHONE = "phone"  # Android phone running the SMS gateway app


class EventType(enum.StrEnum):
    """IPN event names (dotted, as the IPN body's ``type``)."""

    SMS_SENT = "sms.sent"
    SMS_DELIVERED = "sms.delivered"
    SMS_FAILED = "sms.failed"
    SMS_UNKNOWN = "sms.unknown"
    SMS_EXPIRED = "sms.expired"
    DEVICE_FAILED = "device.failed"  # the recovery ladder gave up on a device
    DEVICE_RECOVERED = "device.recovered"  # a device answers again (after which step)


class EventState(enum.StrEnum):
    """Delivery state of one outbox event."""

    PENDING = "pending"  # waiting for (another) attempt
    DELIVERED = "delivered"  # the endpoint answered 2xx
    NO_ENDPOINT = "no_endpoint"  # the key has no IPN URL: kept for the record, never posted
    FAILED = "failed"  # dead letter: retries exhausted or endpoint gone (410); replayable


@dataclass(frozen=True, slots=True)
class Pacing:
    """How fast one device may send; None: no cap."""

    min_gap_s: float = 0.0  # between the end of one send and the start of the next
    daily_cap: int | None = None  # SMS parts per calendar day (local time)
    monthly_cap: int | None = None  # SMS parts per calendar month (local time)


NO_PACING = Pacing()


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Identity of a device, read once at start-up."""

    device_id: str  # stable: the IMEI of a modem
    pin: str  # pool label
    kind: DeviceKind
    port: str  # unstable tty path
    manufacturer: str = ""
    model: str = ""
    imsi: str = ""
    iccid: str = ""
    reports: bool = True  # False when the device cannot route status reports (no CNMI)


@dataclass(frozen=True, slots=True)
class Job:
    """One accepted send request."""

    job_id: str
    key_id: int
    pin: str
    to: str
    message: str
    state: JobState
    id_device: str | None = None  # when set, only this device may send it
    device_id: str | None = None  # the device that claimed it
    parts: int = 1
    encoding: str = "gsm7"
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SentPart:
    """What the modem answered for one submitted part."""

    part: int  # 1-based
    mr: int  # TP-MR from +CMGS


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: int
    pin: str
    allow_ips: tuple[str, ...]  # addresses or CIDRs, v4 or v6
    over_ip: bool  # any caller IP is allowed
    ipn_url: str | None
    label: str = ""
    cors_origins: tuple[str, ...] = ()  # browser origins allowed: 'https://a.example', 'b.example'
    default_country: str | None = None  # ISO 3166 alpha-2 for numbers given without '+'
    rate_limit: int | None = None  # requests per minute; None: unlimited
