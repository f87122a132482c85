"""Domain values shared by every layer: frozen dataclasses (a ``Job``: a named tuple) and
explicit state enums (a device's life and its moves in ``life.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from modemd.model.enums import TextEnum
from modemd.model.life import DEVICE_TRANSITIONS as DEVICE_TRANSITIONS
from modemd.model.life import DeviceLife as DeviceLife
from modemd.model.life import DeviceState as DeviceState
from modemd.model.life import StateListener as StateListener


class JobState(TextEnum):
    """Where a job stands. Final states never move backwards (see ``JOB_TRANSITIONS``)."""

    QUEUED = "queued"  # accepted (fsync'd), waiting for an idle device of its pool
    SENDING = "sending"  # claimed by exactly one device; AT+CMGS may be in progress
    SENT = "sent"  # every part got +CMGS: <mr>; waiting for status reports
    DELIVERED = "delivered"  # every part reported delivered (TP-Status 0x00-0x1F)
    FAILED = "failed"  # rejected by the modem/network, or a part reported failed
    UNKNOWN = "unknown"  # outcome not known (timeout after Ctrl-Z, crash): never resent by itself
    EXPIRED = "expired"  # sent, but no final status report within the report window
    LAPSED = "lapsed"  # still queued at its valid_until (or the key's max queue age): never sent
    CANCELLED = "cancelled"  # cancelled while queued (the job, or its campaign): never sent


FINAL_JOB_STATES = frozenset(
    {
        JobState.DELIVERED,
        JobState.FAILED,
        JobState.UNKNOWN,
        JobState.EXPIRED,
        JobState.LAPSED,
        JobState.CANCELLED,
    }
)
# Final states of a job that never reached the network (its credit is refunded).
NEVER_SENT_STATES = frozenset({JobState.LAPSED, JobState.CANCELLED})

# The only moves a job may make. SENDING -> QUEUED is a requeue after the device provably did
# not submit anything (error before Ctrl-Z, or a +CMS ERROR that is transient).
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset(
        {JobState.SENDING, JobState.FAILED, JobState.LAPSED, JobState.CANCELLED}
    ),
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
    JobState.LAPSED: frozenset(),
    JobState.CANCELLED: frozenset(),
}

# Moves only a person may order (``modemd jobs retry``): the outcome was unknown or failed and
# someone decided to send again. Never taken automatically.
MANUAL_RETRY_FROM = frozenset({JobState.UNKNOWN, JobState.FAILED, JobState.EXPIRED})


class Lane(TextEnum):
    """Priority lane of a job: a device takes the oldest job of the highest non-empty lane."""

    HIGH = "high"  # API sends by default (one-time passwords must not wait behind a campaign)
    BULK = "bulk"  # campaign jobs by default


LANE_ORDER = (Lane.HIGH, Lane.BULK)  # highest first


class CampaignState(TextEnum):
    """Life of a campaign, from its validated file to its last job leaving the queue."""

    VALIDATING = "validating"  # the file is being read (left over after a crash: discarded)
    DRAFT = "draft"  # validated: the report is ready, nothing is queued yet
    RUNNING = "running"  # its jobs are being queued and sent
    PAUSED = "paused"  # no job of it starts (by the client, or out of credit: see reason)
    CANCELLED = "cancelled"  # its queued jobs ended cancelled; what was in flight finished
    DONE = "done"  # every job left the queue (sent, failed, unknown, lapsed)


CAMPAIGN_TRANSITIONS: dict[CampaignState, frozenset[CampaignState]] = {
    CampaignState.VALIDATING: frozenset({CampaignState.DRAFT}),
    CampaignState.DRAFT: frozenset({CampaignState.RUNNING, CampaignState.CANCELLED}),
    CampaignState.RUNNING: frozenset(
        {CampaignState.PAUSED, CampaignState.CANCELLED, CampaignState.DONE}
    ),
    CampaignState.PAUSED: frozenset({CampaignState.RUNNING, CampaignState.CANCELLED}),
    CampaignState.CANCELLED: frozenset(),
    CampaignState.DONE: frozenset(),
}


class DeviceKind(TextEnum):
    MODEM = "modem"  # USB/serial GSM modem spoken to with AT commands
    PHONE = "phone"  # Android phone running the SMS gateway app


class EventType(TextEnum):
    """IPN event names (dotted, as the IPN body's ``type``)."""

    SMS_SENT = "sms.sent"
    SMS_DELIVERED = "sms.delivered"
    SMS_FAILED = "sms.failed"
    SMS_UNKNOWN = "sms.unknown"
    SMS_EXPIRED = "sms.expired"
    SMS_LAPSED = "sms.lapsed"
    SMS_CANCELLED = "sms.cancelled"
    CAMPAIGN_PROGRESS = "campaign.progress"
    CAMPAIGN_DONE = "campaign.done"
    SMS_RECEIVED = "sms.received"  # an inbound SMS answering one of the key's jobs
    DEVICE_FAILED = "device.failed"  # the recovery ladder gave up on a device
    DEVICE_RECOVERED = "device.recovered"  # a device answers again (after which step)


# What a key receives unless it chose (``--events``): every type of before inbound SMS, so a
# receiver written for them gets nothing new unasked; ``sms.received`` only to keys that ask.
DEFAULT_EVENTS: tuple[str, ...] = tuple(
    t.value for t in EventType if t is not EventType.SMS_RECEIVED
)


class EventState(TextEnum):
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


class Job(NamedTuple):
    """One accepted send request. A named tuple, not a frozen dataclass: the send path builds
    three or four a send and one an accept, and a frozen dataclass sets each of the 18 fields
    through ``object.__setattr__`` (19 us against 2 us a job on the development VM)."""

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
    lane: Lane = Lane.HIGH
    send_at: float | None = None  # not before (Unix seconds); None: at once
    valid_until: float | None = None  # still queued then: lapsed; None: never
    campaign_id: str | None = None  # the campaign that queued it
    # False: its key had no wallet when it was accepted, so it holds no credit and its moves
    # read no ledger (``store.wallet.settle``); True (the default): look.
    priced: bool = True


@dataclass(frozen=True, slots=True)
class SentPart:
    """What the device answered for one submitted part."""

    part: int  # 1-based
    # The part's reference for delivery reports: a modem's TP-MR from +CMGS (0-255, wraps); a
    # phone's own part number (unique across restarts, since the app keeps old messages).
    mr: int


class DeliveryOutcome(TextEnum):
    """What a delivery report says about one submitted part."""

    DELIVERED = "delivered"  # the recipient's phone has it
    PENDING = "pending"  # the network is still trying: a later report follows
    FAILED = "failed"  # the network gave up on it


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """News about one submitted part, whatever the device (a modem's status report, a phone
    app's message state); the store matches it to the part by ``reference`` and recipient."""

    reference: int  # the part's reference as ``send_sms`` returned it (``SentPart.mr``)
    recipient: str
    outcome: DeliveryOutcome
    detail: str  # in plain words for logs and errors: "TP-Status 0x45", "app: Failed (...)"
    network_status: int | None = None  # the network's own code when it gave one (TP-Status)


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A received SMS, whole (its parts joined) or what arrived of it, in model terms."""

    # The same message read twice (a crash before AT+CMGD, an SMSC retry, the phone app's
    # duplicate) has the same key: the store keeps it once.
    natural_key: str
    sender: str  # "+<E.164>", other digits as received, or an alphanumeric name
    text: str | None  # None for 8-bit data
    data: bytes | None  # 8-bit data; None for text
    encoding: str  # gsm7 | ucs2 | 8bit
    parts: int  # parts the message announced
    missing: tuple[int, ...] = ()  # parts that never came: delivered incomplete
    sent_at: float | None = None  # when the SMSC took it (SCTS), Unix seconds
    flash: bool = False  # class 0: meant for the screen, not the inbox
    raw: tuple[str, ...] = ()  # the PDUs as received, for the record

    @property
    def incomplete(self) -> bool:
        return bool(self.missing)


@dataclass(frozen=True, slots=True)
class Registration:
    """A device's network registration as its health check found it."""

    registered: bool  # may send now
    why: str  # plain words: "home network", "roaming", "searching (+CREG stat 2)"


class HintKind(TextEnum):
    """What a device made of a hint (a phone app's webhook)."""

    ACTED = "acted"  # it polls the message now
    DUPLICATE = "duplicate"  # already acted on (the app posts some twice)
    NO_DEVICE = "no_device"  # no such device, or it takes no hints
    UNSIGNED = "unsigned"  # bad or missing signature
    STALE = "stale"  # timestamp too far off (a replay)
    MALFORMED = "malformed"  # not the app's envelope
    NOT_WAITING = "not_waiting"  # signed and fresh, but about nothing the device waits for


@dataclass(frozen=True, slots=True)
class HintVerdict:
    kind: HintKind
    detail: str  # plain words for the caller and the log


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
    transactional: bool = False  # OTPs, alerts: its sends reach numbers that opted out
    allow_premium: bool = False  # may send to premium-rate, shared-cost numbers and short codes
    events: tuple[str, ...] = DEFAULT_EVENTS  # IPN event types it receives (``--events``)


@dataclass(frozen=True, slots=True)
class PhoneConfig:
    """An Android phone running SMSGate's local server, reached at ``url``."""

    url: str
    pin: str
    password: str
    username: str = "sms"
    pace_parts: int | None = None  # SMS parts per minute; None: the driver's default
    # A tethered phone found by udev (url ""): matched by any of these; address from its link.
    interface: str | None = None  # usb0, enx<mac>
    mac: str | None = None  # the interface's MAC address
    serial: str | None = None  # the phone's USB serial (ID_SERIAL_SHORT or ID_SERIAL)
    app_port: int = 8080  # SMSGate's local server port (8080 unless changed in the app)
    webhook_url: str | None = None  # the app posts hints here (both set: on; default off)
    signing_key: str | None = None  # the app signs them with it (HMAC-SHA256)


@dataclass(frozen=True, slots=True)
class LabelRule:
    """Config fallback for a device without a ``MODEMD_PIN`` udev rule: match, then pin."""

    key: str  # the udev property matched: ID_SERIAL or ID_PATH
    value: str  # ID_PATH matches the USB port path itself or any interface below it
    pin: str

    def matches(self, properties: dict[str, str]) -> bool:
        found = properties.get(self.key)
        if found is None:
            return False
        return found == self.value or (self.key == "ID_PATH" and found.startswith(self.value + ":"))


@dataclass(frozen=True, slots=True)
class Member:
    """A number in a contact list, with what its replies may say about it."""

    number: str  # E.164
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # more columns, for placeholders


@dataclass(frozen=True, slots=True)
class RadioStatus:
    """What a modem says about its network, for the operator (``modemd devices``, the API)."""

    operator: str | None  # the network's name (AT+COPS?), None when not registered
    registration: str  # home, roaming, searching, denied, not_registered or unknown
    own_number: str | None  # the SIM's own number (AT+CNUM), None when it does not know it
