"""Request fields of a send: read from JSON or a form, checked, normalised. No I/O."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from modemd.api.contract import StatusCode

MAX_MESSAGE_CHARS = 1600  # ~10 GSM-7 parts; longer texts are almost always a client bug
_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")  # E.164 allows 15 digits; short codes 3+
_SEPARATORS = re.compile(r"[\s\-().]")


@dataclass(frozen=True, slots=True)
class SendRequest:
    pin: str
    to: str
    msg: str
    id_device: str | None


class RequestError(Exception):
    """A send request that cannot be accepted; carries its GenioApi code."""

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RequestError(StatusCode.PARAM_ERROR, f"'{name}' must be a string")
    return str(value).strip()


def read_apikey(fields: dict[str, Any], authorization: str | None) -> str:
    """The key from the body, or from ``Authorization: Bearer <key>``."""
    apikey = _text(fields, "apikey")
    if not apikey and authorization and authorization.lower().startswith("bearer "):
        apikey = authorization[7:].strip()
    if not apikey:
        raise RequestError(StatusCode.API_KEY_ERROR, "missing apikey")
    return apikey


def parse_send(fields: dict[str, Any]) -> SendRequest:
    """Check the message fields (after the key): number, then text."""
    pin = _text(fields, "pin")
    to = _SEPARATORS.sub("", _text(fields, "to"))
    if not to:
        raise RequestError(StatusCode.MISSING_TO_NUMBER, "missing 'to' number")
    if not _NUMBER.match(to):
        raise RequestError(StatusCode.PARAM_ERROR, f"'to' is not a phone number: {to[:32]!r}")
    msg_value = fields.get("msg")
    if msg_value is not None and not isinstance(msg_value, str):
        raise RequestError(StatusCode.PARAM_ERROR, "'msg' must be a string")
    msg = msg_value or ""
    if not msg.strip():
        raise RequestError(StatusCode.MISSING_MSG, "missing 'msg'")
    if len(msg) > MAX_MESSAGE_CHARS:
        raise RequestError(
            StatusCode.PARAM_ERROR, f"'msg' has {len(msg)} characters; at most {MAX_MESSAGE_CHARS}"
        )
    id_device = _text(fields, "id_device") or None
    return SendRequest(pin=pin, to=to, msg=msg, id_device=id_device)


def ip_allowed(peer: str, allow: tuple[str, ...]) -> bool:
    """Is ``peer`` in one of the addresses/CIDRs? IPv6-mapped IPv4 counts as the IPv4."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for entry in allow:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
