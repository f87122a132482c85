"""The GenioApi contract: status codes 1-9 with their names and HTTP statuses."""

from __future__ import annotations

import enum
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
    BALANCE_ERROR = 9  # insufficient credit (wallets come later)


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
}


def body(code: StatusCode, **extra: Any) -> dict[str, Any]:
    """The JSON body every send answer carries (codes as strings, as the seed has them)."""
    return {
        "response": str(HTTP_STATUS[code]),
        "status_code": str(code.value),
        "status": STATUS_NAMES[code],
        **extra,
    }
