"""Request fields of a send: read from JSON or a form, checked, normalised. No I/O."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import phonenumbers

from modemd.api.contract import StatusCode

MAX_MESSAGE_CHARS = 1600  # ~10 GSM-7 parts; longer texts are almost always a client bug
MAX_SHORT_CODE_DIGITS = 6  # national short codes (e.g. 4916) are never given a country prefix
_DIALLED = re.compile(r"^\+?[0-9(][0-9\s\-().]*$")  # '+' only in front; no sign, no letters
_SEPARATORS = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"^[0-9]{3,15}$")  # E.164 allows 15 digits; short codes 3+


@dataclass(frozen=True, slots=True)
class SendRequest:
    pin: str
    to: str  # E.164 (+393331234567), or the digits of a short code / number without country
    country: str | None  # ISO region of ``to`` when known (pricing)
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
    if isinstance(value, int) and value < 0:
        raise RequestError(StatusCode.PARAM_ERROR, f"'{name}' cannot be negative")
    return str(value).strip()


def read_apikey(fields: dict[str, Any], authorization: str | None) -> str:
    """The key from the body, or from ``Authorization: Bearer <key>``."""
    apikey = _text(fields, "apikey")
    if not apikey and authorization and authorization.lower().startswith("bearer "):
        apikey = authorization[7:].strip()
    if not apikey:
        raise RequestError(StatusCode.API_KEY_ERROR, "missing apikey")
    return apikey


def normalise_number(raw: str, default_country: str | None) -> tuple[str, str | None]:
    """``raw`` as E.164 with its region; national numbers need ``default_country``.

    Without a '+' and without a default country (or for a short code) the digits are kept as
    they are, as the modem will dial them."""
    if not _DIALLED.match(raw):
        raise RequestError(StatusCode.PARAM_ERROR, f"'to' is not a phone number: {raw[:32]!r}")
    digits = _SEPARATORS.sub("", raw)
    if not _DIGITS.match(digits.lstrip("+")):
        raise RequestError(
            StatusCode.PARAM_ERROR, f"'to' must have 3 to 15 digits: {digits[:32]!r}"
        )
    international = digits.startswith("+")
    if not international and (default_country is None or len(digits) <= MAX_SHORT_CODE_DIGITS):
        return digits, default_country
    try:
        number = phonenumbers.parse(digits, None if international else default_country)
    except phonenumbers.NumberParseException as exc:
        raise RequestError(StatusCode.PARAM_ERROR, f"'to' is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise RequestError(StatusCode.PARAM_ERROR, f"'to' is not a possible number: {digits}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.region_code_for_number(number)


def parse_send(fields: dict[str, Any], default_country: str | None = None) -> SendRequest:
    """Check the message fields (after the key): number, then text. Unknown fields are ignored."""
    pin = _text(fields, "pin")
    raw_to = _text(fields, "to")
    if not raw_to:
        raise RequestError(StatusCode.MISSING_TO_NUMBER, "missing 'to' number")
    to, country = normalise_number(raw_to, default_country)
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
    return SendRequest(pin=pin, to=to, country=country, msg=msg, id_device=id_device)


def plain_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address (IPv6-mapped IPv4 as the IPv4; a zone index dropped), or None if not one."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def ip_allowed(peer: str, allow: tuple[str, ...]) -> bool:
    """Is ``peer`` in one of the addresses/CIDRs? IPv6-mapped IPv4 counts as the IPv4."""
    address = plain_address(peer)
    if address is None:
        return False
    for entry in allow:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
