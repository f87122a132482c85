"""The GenioApi contract: status codes 1-9 with their names and HTTP statuses, modemd's
extensions 10-12, and the few answers outside it. README's tables are generated from here
(``markdown_tables``; a test checks that README carries them verbatim)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class StatusCode(enum.IntEnum):
    """``status_code`` of every answer to a send, exactly as the seed product lists them."""

    OK_IP = 1  # key ok, caller IP in the key's allow list
    OK_OVER_IP = 2  # key ok, the key accepts any IP
    API_KEY_ERROR = 3  # no key, a wrong key, or a key of another pin
    UNAUTHORIZED_IP = 4  # key ok, caller IP not allowed
    PARAM_ERROR = 5  # malformed parameters (the seed calls it deprecated; kept for bad input)
    TOKEN_OR_ID_DEVICE_ERROR = 6  # id_device unknown or not in the pin's pool
    MISSING_TO_NUMBER = 7
    MISSING_MSG = 8
    BALANCE_ERROR = 9  # the key's wallet cannot cover the cost
    # modemd's extensions (GenioApi stops at 9); a client that knows only 1-9 still has HTTP
    OPTED_OUT = 10  # the recipient asked not to be sent to (STOP)
    BLOCKED_DESTINATION = 11  # premium/shared-cost/short-code number, or a destination limit
    IDEMPOTENCY_CONFLICT = 12  # an Idempotency-Key seen before with a different request


STATUS_NAMES: dict[StatusCode, str] = {
    StatusCode.OK_IP: "ok_ip",
    StatusCode.OK_OVER_IP: "ok_over_ip",
    StatusCode.API_KEY_ERROR: "api_key_error",
    StatusCode.UNAUTHORIZED_IP: "unauthorized_ip",
    StatusCode.PARAM_ERROR: "param_error",
    StatusCode.TOKEN_OR_ID_DEVICE_ERROR: "token_or_id_device_error",
    StatusCode.MISSING_TO_NUMBER: "missing_to_number",
    StatusCode.MISSING_MSG: "missing_msg",
    StatusCode.BALANCE_ERROR: "balance_error",
    StatusCode.OPTED_OUT: "opted_out",
    StatusCode.BLOCKED_DESTINATION: "blocked_destination",
    StatusCode.IDEMPOTENCY_CONFLICT: "idempotency_conflict",
}

HTTP_STATUS: dict[StatusCode, int] = {
    StatusCode.OK_IP: 200,
    StatusCode.OK_OVER_IP: 200,
    StatusCode.API_KEY_ERROR: 401,
    StatusCode.UNAUTHORIZED_IP: 403,
    StatusCode.PARAM_ERROR: 400,
    StatusCode.TOKEN_OR_ID_DEVICE_ERROR: 404,
    StatusCode.MISSING_TO_NUMBER: 400,
    StatusCode.MISSING_MSG: 400,
    StatusCode.BALANCE_ERROR: 402,
    StatusCode.OPTED_OUT: 409,
    StatusCode.BLOCKED_DESTINATION: 422,
    StatusCode.IDEMPOTENCY_CONFLICT: 422,
}

WHEN: dict[StatusCode, str] = {
    StatusCode.OK_IP: "key ok, caller IP in the key's allow list",
    StatusCode.OK_OVER_IP: "key ok, the key accepts any IP (`--over-ip`)",
    StatusCode.API_KEY_ERROR: "no key, a wrong or revoked key, or a key of another pin",
    StatusCode.UNAUTHORIZED_IP: "key ok, caller IP not in the allow list",
    StatusCode.PARAM_ERROR: "malformed JSON/form/UTF-8, wrong types, a `to` that is not a phone "
    "number (letters, a sign, too long, impossible), a text over 1600 characters",
    StatusCode.TOKEN_OR_ID_DEVICE_ERROR: "`id_device` is not a device of the pin's pool",
    StatusCode.MISSING_TO_NUMBER: "`to` missing or empty",
    StatusCode.MISSING_MSG: "`msg` missing or empty",
    StatusCode.BALANCE_ERROR: "the key has a wallet and its credit is less than the send's "
    "cost, or the send would pass the key's daily or monthly cap (`reason`: `daily_cap`, "
    "`monthly_cap`; `Retry-After`: seconds until it lifts)",
    StatusCode.OPTED_OUT: "the recipient opted out of messages from this pin (replied STOP)",
    StatusCode.BLOCKED_DESTINATION: "a destination the key may not send to (premium rate, "
    "shared cost, short code) or over a per-destination limit; the message says which",
    StatusCode.IDEMPOTENCY_CONFLICT: "an `Idempotency-Key` already used in the last 24 h with "
    "a different request",
}


@dataclass(frozen=True, slots=True)
class OtherAnswer:
    """An answer outside codes 1-9 (transport and server conditions)."""

    http: int
    status: str
    status_code: str  # what the body's ``status_code`` carries
    when: str


PAYLOAD_TOO_LARGE = OtherAnswer(413, "param_error", "5", "a body over 64 KiB")
RATE_LIMITED = OtherAnswer(
    429,
    "rate_limited",
    "",
    "over the key's rate limit, or too many wrong keys from the caller's address; "
    "`Retry-After` says in how many seconds",
)
STORE_ERROR = OtherAnswer(503, "store_error", "", "the database cannot write; nothing was accepted")
INTERNAL_ERROR = OtherAnswer(
    500,
    "internal_error",
    "",
    "a bug in modemd (the log has its traceback; please report it); what the request did "
    "before the failure stays done",
)
OTHER_ANSWERS = (PAYLOAD_TOO_LARGE, RATE_LIMITED, STORE_ERROR, INTERNAL_ERROR)


def body(code: StatusCode, **extra: Any) -> dict[str, Any]:
    """The JSON body every send answer carries (codes as strings, as the seed has them)."""
    return {**_HEADS[code], **extra}


# Written out once: every answer starts with one (body() then takes a quarter of the time).
_HEADS = {
    code: {"response": str(HTTP_STATUS[code]), "status_code": str(code.value), "status": name}
    for code, name in STATUS_NAMES.items()
}


def other_body(answer: OtherAnswer, message: str) -> dict[str, Any]:
    """The JSON body of an answer outside codes 1-9."""
    return {
        "response": str(answer.http),
        "status_code": answer.status_code,
        "status": answer.status,
        "message": message,
    }


def markdown_tables() -> str:
    """README's table of codes, then the table of other answers."""
    lines = ["| status_code | status | HTTP | when |", "|---|---|---|---|"]
    lines += [
        f"| {c.value} | {STATUS_NAMES[c]} | {HTTP_STATUS[c]} | {WHEN[c]} |" for c in StatusCode
    ]
    lines += ["", "| HTTP | status | status_code | when |", "|---|---|---|---|"]
    lines += [
        f"| {a.http} | {a.status} | {a.status_code or '(empty)'} | {a.when} |"
        for a in OTHER_ANSWERS
    ]
    return "\n".join(lines) + "\n"
