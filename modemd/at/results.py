"""Final result codes and the +CMS/+CME error table (27.005 3.2.5, 27.007 9.2)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class FinalKind(enum.StrEnum):
    OK = "ok"
    ERROR = "error"  # plain ERROR, or a vendor's "COMMAND NOT SUPPORT"
    CME_ERROR = "cme_error"  # +CME ERROR: <n> (equipment)
    CMS_ERROR = "cms_error"  # +CMS ERROR: <n> (message service)


@dataclass(frozen=True, slots=True)
class Final:
    kind: FinalKind
    text: str
    code: int | None = None

    @property
    def ok(self) -> bool:
        return self.kind is FinalKind.OK


_ERROR_RE = re.compile(r"^\+(CME|CMS) ERROR:\s*(.*)$")
_ERROR_PREFIXES = ("+CME ERROR:", "+CMS ERROR:")  # what the pattern can match
_PLAIN_FINALS: dict[str, FinalKind] = {
    "OK": FinalKind.OK,
    "ERROR": FinalKind.ERROR,
    "COMMAND NOT SUPPORT": FinalKind.ERROR,  # Huawei E1752 on unknown commands
    "NO CARRIER": FinalKind.ERROR,
    "BUSY": FinalKind.ERROR,
    "NO ANSWER": FinalKind.ERROR,
    "NO DIALTONE": FinalKind.ERROR,
}


def parse_final(line: str) -> Final | None:
    """Return the final result ``line`` is, or None for any other line."""
    kind = _PLAIN_FINALS.get(line)
    if kind is not None:
        return Final(kind, line)
    if not line.startswith(_ERROR_PREFIXES):  # most lines: no pattern tried
        return None
    match = _ERROR_RE.match(line)
    if match is None:
        return None
    family, detail = match.groups()
    code = int(detail) if detail.strip().isdigit() else None
    kind = FinalKind.CME_ERROR if family == "CME" else FinalKind.CMS_ERROR
    return Final(kind, line, code)


class ErrorClass(enum.StrEnum):
    TRANSIENT = "transient"  # try again later, maybe on another device
    PERMANENT = "permanent"  # do not retry this message


# +CMS ERROR codes that are worth another attempt (at-sms.md "+CMS ERROR codes"). Everything
# else, and plain ERROR after the prompt, is permanent for the message.
TRANSIENT_CMS_CODES: frozenset[int] = frozenset({38, 41, 42, 47, 314, 331, 332, 500, 515})


def classify_cms(code: int | None) -> ErrorClass:
    """Transient or permanent, by the table above."""
    return ErrorClass.TRANSIENT if code in TRANSIENT_CMS_CODES else ErrorClass.PERMANENT


CME_SIM_NOT_INSERTED = 10
CME_SIM_PIN_REQUIRED = 11
CME_SIM_PUK_REQUIRED = 12
CME_SIM_FAILURE = 13
CME_INCORRECT_PASSWORD = 16
# Answers after which trying again cannot help (a person must act); the SIM is never retried.
SIM_PROBLEMS = {
    CME_SIM_NOT_INSERTED: "no SIM inserted",
    CME_SIM_PIN_REQUIRED: "SIM PIN needed: add the SIM's ICCID to [sim_pins]",
    CME_SIM_PUK_REQUIRED: "SIM blocked: PUK needed (put the SIM in a phone to unblock it)",
    CME_SIM_FAILURE: "SIM failure",
    CME_INCORRECT_PASSWORD: "wrong SIM PIN in [sim_pins]: not retried (3 tries block the SIM)",
}


def sim_problem(code: int | None, result: str) -> str | None:
    """What is wrong with the SIM in plain words (+CME code or the answer's text), or None."""
    if code in SIM_PROBLEMS:
        return SIM_PROBLEMS[code]
    if "SIM PUK" in result:
        return SIM_PROBLEMS[CME_SIM_PUK_REQUIRED]
    if "SIM PIN" in result:
        return SIM_PROBLEMS[CME_SIM_PIN_REQUIRED]
    return None
