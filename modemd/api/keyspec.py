"""Settings of an API key as people type them (CLI flags, admin API JSON): checked, normalised.

No I/O; the CLI and the admin API both go through ``check_settings`` so a key is the same
whichever way it was made."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from typing import Any

import phonenumbers

from modemd.model import DEFAULT_EVENTS, EventType

DEFAULT_WORD = "default"  # in events: the default set of event types
MAX_RATE_PER_MIN = 1_000_000  # beyond this a limit means nothing; a typo more likely
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_ORIGIN = re.compile(r"^(https?)://([^/:?#\s]+)(:[0-9]{1,5})?$")


class KeySettingsError(ValueError):
    """A key setting that cannot be used; the message names the setting."""


@dataclass(frozen=True, slots=True)
class KeySettings:
    pin: str
    allow_ips: tuple[str, ...] = ()
    over_ip: bool = False
    ipn_url: str | None = None
    label: str = ""
    cors_origins: tuple[str, ...] = ()
    default_country: str | None = None
    rate_limit: int | None = None
    transactional: bool = False  # one-time passwords, alerts: may send to opted-out numbers
    allow_premium: bool = False  # premium-rate, shared-cost numbers and short codes allowed
    events: tuple[str, ...] | None = None  # IPN event types it receives; None: DEFAULT_EVENTS

    def columns(self) -> dict[str, Any]:
        """As keyword arguments of ``store.keys.create_key``."""
        return asdict(self)


def check_network(entry: str) -> str:
    """An address or CIDR, v4 or v6, as its canonical network; IPv6-mapped IPv4 becomes IPv4."""
    try:
        network = ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError as exc:
        raise KeySettingsError(f"allow_ips: {entry!r} is not an address or CIDR") from exc
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        mapped = network.network_address.ipv4_mapped
        prefix = max(network.prefixlen - 96, 0)
        return str(ipaddress.ip_network(f"{mapped}/{prefix}", strict=False))
    return str(network)


def check_origin(entry: str) -> str:
    """``https://host[:port]``, a bare ``host`` (any scheme) or ``*.host``; never ``*`` alone."""
    value = entry.strip().lower().rstrip("/")
    match = _ORIGIN.match(value)
    host = match.group(2) if match else value
    if not _HOST.match(host) or (match and host.startswith("*.")):
        raise KeySettingsError(
            f"cors_origins: {entry!r} is not an origin (https://app.example.com) nor a domain"
        )
    return value


def check_country(value: str) -> str:
    """An ISO 3166 alpha-2 region ``phonenumbers`` knows (``IT``, ``DE``...)."""
    country = value.strip().upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise KeySettingsError(f"default_country: {value!r} is not an ISO 3166 alpha-2 code")
    return country


def check_destination(value: str) -> str:
    """A price's destination: ``+<1-15 digits>`` prefix, an ISO country, or ``*``."""
    text = value.strip()
    if text == "*" or re.fullmatch(r"\+[0-9]{1,15}", text):
        return text
    try:
        return check_country(text)
    except KeySettingsError as exc:
        raise KeySettingsError(
            f"destination: {value!r} is not '+<prefix>', an ISO country (IT) or '*'"
        ) from exc


def check_ipn_url(value: str) -> str:
    url = value.strip()
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise KeySettingsError("ipn_url: must start with http:// or https://")
    return url


def check_events(names: list[str]) -> tuple[str, ...]:
    """IPN event types (``sms.received``, or comma-separated), each one modemd posts;
    ``default`` stands for the default set (``default,sms.received``)."""
    given = [n.strip() for name in names for n in name.split(",") if n.strip()]
    chosen = [e for n in given for e in (DEFAULT_EVENTS if n == DEFAULT_WORD else (n,))]
    known = {t.value for t in EventType}
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise KeySettingsError(
            f"events: {', '.join(map(repr, unknown)) or 'none given'}: choose among "
            f"{', '.join(sorted(known))}"
        )
    return tuple(dict.fromkeys(chosen))


def check_rate_limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise KeySettingsError("rate_limit: must be a whole number of requests per minute")
    try:
        rate = int(value)
    except ValueError as exc:
        raise KeySettingsError("rate_limit: must be a whole number of requests per minute") from exc
    if not 1 <= rate <= MAX_RATE_PER_MIN:
        raise KeySettingsError(f"rate_limit: must be between 1 and {MAX_RATE_PER_MIN} per minute")
    return rate


def _strings(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise KeySettingsError(f"{name}: must be a list of strings")
    return list(value)


def check_settings(data: dict[str, Any]) -> KeySettings:
    """Build checked settings from loose input (unknown names are ignored)."""
    pin = data.get("pin")
    if isinstance(pin, bool) or not isinstance(pin, str | int) or not str(pin).strip():
        raise KeySettingsError("pin: required")
    for flag in ("over_ip", "transactional", "allow_premium"):
        if not isinstance(data.get(flag, False), bool):
            raise KeySettingsError(f"{flag}: must be true or false")
    label = data.get("label") or ""
    if not isinstance(label, str):
        raise KeySettingsError("label: must be a string")
    ipn_url, country = data.get("ipn_url"), data.get("default_country")
    rate = data.get("rate_limit")
    for name, value in (("ipn_url", ipn_url), ("default_country", country)):
        if value is not None and not isinstance(value, str):
            raise KeySettingsError(f"{name}: must be a string")
    return KeySettings(
        pin=str(pin).strip(),
        allow_ips=tuple(dict.fromkeys(check_network(e) for e in _strings(data, "allow_ips"))),
        over_ip=bool(data.get("over_ip", False)),
        ipn_url=check_ipn_url(ipn_url) if ipn_url else None,
        label=label,
        cors_origins=tuple(dict.fromkeys(check_origin(e) for e in _strings(data, "cors_origins"))),
        default_country=check_country(country) if country else None,
        rate_limit=check_rate_limit(rate) if rate is not None else None,
        transactional=bool(data.get("transactional", False)),
        allow_premium=bool(data.get("allow_premium", False)),
        events=check_events(_strings(data, "events")) if data.get("events") is not None else None,
    )
