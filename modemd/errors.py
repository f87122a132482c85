"""The modemd error tree. Drivers wrap low-level errors at their boundary with ``raise from``.

ModemdError
├── ConfigError                  bad config file / flags
├── PduError                     an SMS PDU that cannot be decoded (``raw`` keeps it)
├── StoreError                   SQLite could not do what was asked
│   └── InvalidTransitionError   a job state change the state machine forbids
└── DeviceError                  anything a device did wrong
    ├── PortClosedError          the port went away (unplug, EIO)
    ├── DeviceTimeoutError       no final result within the command's timeout
    ├── NoPromptError            no "> " for a command with a body: nothing of it was sent
    ├── NoFinalResultError       the body went out, no final result came: outcome unknown
    ├── ModemCommandError        final ERROR / +CME ERROR / +CMS ERROR (``code``)
    │   └── SimLockedError       the SIM needs a person (none, PIN missing or wrong, PUK)
    └── SendError                a send failed; ``outcome_known`` False: the network may have it
"""

from __future__ import annotations


class ModemdError(Exception):
    """Base of every error modemd raises on purpose."""


class ConfigError(ModemdError):
    """The configuration is invalid."""


class PduError(ModemdError, ValueError):
    """A PDU is malformed or truncated. ``raw`` is the PDU as received (hex), "" if not known.

    Also a ValueError: the SUBMIT and STATUS-REPORT parsers promised ValueError before it existed.
    """

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


class StoreError(ModemdError):
    """The store failed."""


class InvalidTransitionError(StoreError):
    """A job state change that ``JOB_TRANSITIONS`` forbids."""


class DeviceError(ModemdError):
    """A device failed."""


class PortClosedError(DeviceError):
    """The serial port is gone."""


class DeviceTimeoutError(DeviceError):
    """A command got no final result in time."""


class NoPromptError(DeviceError):
    """A command that takes a body (AT+CMGS) got no ``> `` prompt: nothing was sent."""


class NoFinalResultError(DeviceError):
    """The body went out after ``> `` and no final result came: the modem may have sent it."""


class ModemCommandError(DeviceError):
    """The modem answered a command with an error result."""

    def __init__(self, command: str, result: str, code: int | None = None) -> None:
        super().__init__(f"{command!r} -> {result}")
        self.command = command
        self.result = result
        self.code = code  # the number of +CMS/+CME ERROR, None for plain ERROR


class SimLockedError(ModemCommandError):
    """The SIM cannot be used until a person acts; ``problem`` says what, in plain words."""

    def __init__(self, command: str, result: str, code: int | None, problem: str) -> None:
        super().__init__(command, result, code)
        self.problem = problem


class SendError(DeviceError):
    """A send did not complete.

    ``outcome_known`` is True when the device says for sure what happened (with ``transient``:
    nothing reached the network, safe to requeue); False when the network may have the message
    (never resend automatically).
    """

    def __init__(
        self,
        message: str,
        *,
        outcome_known: bool,
        transient: bool,
        sent_parts: int = 0,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome_known = outcome_known  # False: the network may have the message
        self.transient = transient  # True: another attempt (maybe on another device) may work
        self.sent_parts = sent_parts  # parts the network accepted before the failure
        self.code = code
