"""Request fields of a send: read from JSON or a form, checked, normalised. No I/O."""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
from typing import Any, NamedTuple

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from modemd.api.contract import StatusCode

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1600  # ~10 GSM-7 parts; longer texts are almost always a client bug
MAX_SHORT_CODE_DIGITS = 6  # national short codes (e.g. 4916) are never given a country prefix
MAX_IDEMPOTENCY_KEY_CHARS = 255  # Stripe's limit; a UUID is 36
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
# Number types that cost the sender (toll fraud, "SMS pumping"): refused unless the key allows.
BLOCKED_TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
}
_DIALLED = re.compile(r"^\+?[0-9(][0-9\s\-().]*$")  # '+' only in front; no sign, no letters
_SEPARATORS = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"^[0-9]{3,15}$")  # E.164 allows 15 digits; short codes 3+
_PLAIN_E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # '+' and 7 to 15 digits, nothing else
MAX_COUNTRY_CODE_DIGITS = 3  # ITU E.164: country codes have 1 to 3 digits


class SendRequest(NamedTuple):
    """A send's checked fields (a named tuple: a frozen dataclass sets each field through
    ``object.__setattr__``, ~1,400 instructions apiece on the loop per send)."""

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


# json's own scanner (its C one where built), called without ``json.loads``' three Python
# frames and two whitespace matches: a body that it reads whole from its first character
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def json_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object; ``RequestError`` (code 5) names what is wrong."""
    try:
        text = raw.decode("utf-8")
        try:
            data, end = _SCAN(text, 0)
        except (StopIteration, ValueError, RecursionError):
            end = -1
        if end != len(text):  # whitespace around it, a BOM, extra data, not JSON: json.loads
            data = json.loads(text)  # answers (or refuses) it, as before
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError also covers integers too long to convert; RecursionError deep nesting
        raise RequestError(StatusCode.PARAM_ERROR, f"malformed JSON: {exc}"[:200]) from exc
    if not isinstance(data, dict):
        raise RequestError(StatusCode.PARAM_ERROR, "the JSON body must be an object")
    return data


def valid_utf8(value: str, name: str) -> str:
    """``value`` if it can be stored and sent: JSON's ``\\ud800`` (a lone surrogate) cannot."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestError(
            StatusCode.PARAM_ERROR, f"'{name}' is not valid Unicode (a lone surrogate?)"
        ) from exc
    return value


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if value.__class__ is str and value.isascii():  # (as a rule: nothing below can refuse it)
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RequestError(StatusCode.PARAM_ERROR, f"'{name}' must be a string")
    if isinstance(value, int) and value < 0:
        raise RequestError(StatusCode.PARAM_ERROR, f"'{name}' cannot be negative")
    return valid_utf8(str(value), name).strip()


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
    they are, as the modem will dial them. A plain E.164 number takes ``plain_e164`` (a third
    of the cost); everything else, and whatever that cannot vouch for, ``parse_number``."""
    return plain_e164(raw) or parse_number(raw, default_country)


def plain_e164(raw: str) -> tuple[str, str | None] | None:
    """``parse_number``'s answer for '+' and 7-15 digits, without phonenumbers' parser: the
    country code split off as it does, the length and region checked by phonenumbers itself.
    None whenever parsing could change the digits (a national prefix or leading zero after the
    country code) or would refuse them: then only ``parse_number`` answers."""
    if not _PLAIN_E164.fullmatch(raw):
        return None
    for size in range(1, MAX_COUNTRY_CODE_DIGITS + 1):
        code = int(raw[1 : 1 + size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = raw[1 + size :]
    prefix = _national_prefix(code)
    if national.startswith("0") or (prefix is not None and prefix.match(national)):
        return None
    if not _possible_length(code, len(national)):
        return None
    return raw, _region(code, national)


@functools.cache  # ~250 country codes x 15 lengths at most
def _possible_length(code: int, digits: int) -> bool:
    """``phonenumbers.is_possible_number`` of a national number of ``digits`` digits without
    a leading zero: it tests nothing but the country code's possible lengths."""
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int("1" * digits))
    return bool(phonenumbers.is_possible_number(number))


def _region(code: int, national: str) -> str | None:
    """``phonenumbers.region_code_for_number``: the country code's one region, or the first of
    its regions whose leading digits match or that gives the number a type."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not regions:
        return None
    if len(regions) == 1:
        return regions[0]
    for region, leading in _candidates(code):
        if leading is not None:
            if leading.match(national):
                return region
        elif _typed(national, region):
            return region
    return None


@functools.cache  # the ~20 country codes shared by several regions
def _candidates(code: int) -> tuple[tuple[str, re.Pattern[str] | None], ...]:
    """The regions of a shared country code that have metadata, in phonenumbers' order, each
    with its leading digits' pattern (None: the number's type decides)."""
    found = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()):
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is not None:
            leading = metadata.leading_digits
            found.append((region, None if leading is None else re.compile(leading)))
    return tuple(found)


def _typed(national: str, region: str) -> bool:
    """phonenumbers' number type is not UNKNOWN: the general description matches and so does
    one type's (any will do here: its own order only picks which)."""
    typing = _typing(region, len(national))
    return typing is not None and typing.fullmatch(national) is not None


@functools.cache  # a few regions x 15 lengths
def _typing(region: str, digits: int) -> re.Pattern[str] | None:
    """One pattern for ``_typed`` of a national number of ``digits`` digits: the general
    description's pattern (as a lookahead) and the alternatives of every type's whose lengths
    allow ``digits``, tested as ``matches_desc`` tests each; None when none can match. (One
    regular expression instead of a dozen calls: a +39 number's region was 5 % of the loop.)"""
    metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
    assert metadata is not None  # one of _candidates
    general = pattern_for(metadata.general_desc, digits)
    descs = [metadata.fixed_line, metadata.premium_rate, metadata.toll_free, metadata.shared_cost]
    descs += [metadata.voip, metadata.personal_number, metadata.pager, metadata.uan]
    descs.append(metadata.voicemail)
    if not metadata.same_mobile_and_fixed_line_pattern:  # else phonenumbers never asks mobile
        descs.insert(0, metadata.mobile)
    kinds = [text for text in (pattern_for(desc, digits) for desc in descs) if text is not None]
    if general is None or not kinds:
        return None
    return re.compile(f"(?=(?:{general})\\Z)(?:{'|'.join(f'(?:{text})' for text in kinds)})")


def pattern_for(desc: Any, digits: int) -> str | None:
    """A description's pattern when its lengths allow ``digits`` (as ``matches_desc``)."""
    if desc is None or desc.national_number_pattern is None:
        return None
    if desc.possible_length and digits not in desc.possible_length:
        return None
    return str(desc.national_number_pattern)


@functools.cache
def _national_prefix(code: int) -> re.Pattern[str] | None:
    """What phonenumbers' parse may strip after this country code (a national prefix, a
    carrier code): a number starting with it is left to ``parse_number``."""
    region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing or metadata.national_prefix
    return re.compile(prefix) if prefix else None


def parse_number(raw: str, default_country: str | None) -> tuple[str, str | None]:
    """``normalise_number`` by phonenumbers' parser, for any number a person may type."""
    if not _DIALLED.match(raw):
        raise RequestError(StatusCode.PARAM_ERROR, f"'to' is not a phone number: {raw[:32]!r}")
    digits = _SEPARATORS.sub("", raw)
    if not _DIGITS.match(digits.lstrip("+")):
        raise RequestError(
            StatusCode.PARAM_ERROR, f"'to' must have 3 to 15 digits: {digits[:32]!r}"
        )
    international = digits.startswith("+")
    if not international and len(digits) <= MAX_SHORT_CODE_DIGITS:
        return digits, default_country
    if not international and default_country is None:
        raise RequestError(
            StatusCode.PARAM_ERROR,
            f"'to' {digits} has no '+' and the key has no default country: which country? "
            "Send it as +<country code><number> (a '+' in a form or URL must be sent as %2B, "
            "else it arrives as a space and is lost)",
        )
    try:
        number = phonenumbers.parse(digits, None if international else default_country)
    except phonenumbers.NumberParseException as exc:
        raise RequestError(StatusCode.PARAM_ERROR, f"'to' is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise RequestError(StatusCode.PARAM_ERROR, f"'to' is not a possible number: {digits}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.region_code_for_number(number)


def _lost_plus(value: Any) -> Any:
    """A form-encoded ``to=+39...`` arrives as ``" 39..."`` (``+`` means space there): the one
    leading space before digits is the sender's ``+``."""
    if isinstance(value, str) and re.match(r"^ [0-9]", value):
        return "+" + value[1:]
    return value


def parse_send(
    fields: dict[str, Any], default_country: str | None = None, *, form: bool = False
) -> SendRequest:
    """Check the message fields (after the key): number, then text. Unknown fields are ignored.

    ``form``: the fields were URL-encoded, where a ``+`` not written as ``%2B`` became a space."""
    pin = _text(fields, "pin")
    raw_to = _text({"to": _lost_plus(fields.get("to")) if form else fields.get("to")}, "to")
    if not raw_to:
        raise RequestError(StatusCode.MISSING_TO_NUMBER, "missing 'to' number")
    to, country = normalise_number(raw_to, default_country)
    msg_value = fields.get("msg")
    if msg_value is not None and not isinstance(msg_value, str):
        raise RequestError(StatusCode.PARAM_ERROR, "'msg' must be a string")
    msg = valid_utf8(msg_value or "", "msg")
    if not msg.strip():
        raise RequestError(StatusCode.MISSING_MSG, "missing 'msg'")
    if len(msg) > MAX_MESSAGE_CHARS:
        raise RequestError(
            StatusCode.PARAM_ERROR, f"'msg' has {len(msg)} characters; at most {MAX_MESSAGE_CHARS}"
        )
    id_device = _text(fields, "id_device") or None
    return SendRequest(pin=pin, to=to, country=country, msg=msg, id_device=id_device)


def blocked_number(to: str) -> tuple[str, str] | None:
    """(reason, detail) when ``to`` is a number a key may not send to by default: a short code,
    a premium-rate or shared-cost number; None otherwise (numbers of unknown type pass, logged)."""
    if not to.startswith("+"):
        if len(to) <= MAX_SHORT_CODE_DIGITS:
            return "short_code", f"{to} is a short code (premium services use them)"
        return None
    try:
        number = phonenumbers.parse(to, None)
    except phonenumbers.NumberParseException:
        return None
    kind = phonenumbers.number_type(number)
    if kind in BLOCKED_TYPES:
        name = BLOCKED_TYPES[kind]
        return name, f"{to} is a {name.replace('_', '-')} number; this key may not send to it"
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        unknown_type(to)
    return None


def unknown_type(to: str) -> None:
    """Log a number of a type phonenumbers does not know (allowed: the sysadmin may look)."""
    log.info("send to %s: number type unknown to phonenumbers; allowed", to)


def idempotency_key(fields: dict[str, Any], header: str | None) -> str | None:
    """The ``Idempotency-Key`` header, or the ``idempotency_key`` field; None when absent."""
    value = header if header is not None else fields.get("idempotency_key")
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or not _IDEMPOTENCY_KEY.match(value)
        or len(value) > MAX_IDEMPOTENCY_KEY_CHARS
    ):
        raise RequestError(
            StatusCode.PARAM_ERROR,
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII "
            "characters without spaces (a UUID is best)",
        )
    return value


@functools.lru_cache(maxsize=1024)  # every request's peer: a few callers, parsed once each
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
    return any(address in network for network in allowed_networks(allow))


@functools.lru_cache(maxsize=1024)  # a key's list, parsed once (10 us a request was spent here)
def allowed_networks(
    allow: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of an allow list; an entry that is not an address or a CIDR is left out."""
    networks = []
    for entry in allow:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return tuple(networks)
