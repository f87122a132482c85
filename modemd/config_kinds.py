"""What a config value may be (its ``Kind``: a check and the words an error uses) and the nodes
``config_schema.SCHEMA`` is made of (``Key``, ``Section``, ``Mapping``)."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import phonenumbers


class Invalid(ValueError):
    """A value of the wrong kind; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class Kind:
    """What a value may be: ``words`` for messages, ``check`` returns it normalised."""

    words: str
    check: Callable[[Any], Any]


def _kind(words: str, test: Callable[[Any], bool], convert: Callable[[Any], Any] = lambda v: v):
    def check(value: Any) -> Any:
        if not test(value):
            raise Invalid(words)
        return convert(value)

    return Kind(words, check)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_address(value: Any) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        return False
    return True


STR = _kind("a string", lambda v: isinstance(v, str))
BOOL = _kind("true or false", lambda v: isinstance(v, bool))
LABEL = _kind("a string or a number", lambda v: isinstance(v, str) or _is_int(v), str)
TCP_PORT = _kind("a TCP port (1-65535)", lambda v: _is_int(v) and 0 < v < 65536)
LISTEN_PORT = _kind(
    "a TCP port (1-65535, 0: any free port)", lambda v: _is_int(v) and 0 <= v < 65536
)
COUNT = _kind("a whole number >= 0", lambda v: _is_int(v) and v >= 0)
POSITIVE = _kind("a whole number >= 1", lambda v: _is_int(v) and v >= 1)
SECONDS = _kind(
    "a number >= 0", lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
)
LOG_FORMAT = _kind('"text" or "json"', lambda v: v in ("text", "json"))
EVENT_LOOP = _kind('"uvloop" or "asyncio"', lambda v: v in ("uvloop", "asyncio"))
ADDRESSES = _kind(
    "a list of addresses or CIDRs",
    lambda v: isinstance(v, list) and all(isinstance(a, str) and _is_address(a) for a in v),
    tuple,
)


def _is_zone(value: Any) -> bool:
    try:
        zoneinfo.ZoneInfo(value)
    except (TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


COUNTRY = _kind(
    "an ISO 3166 alpha-2 country code (IT)",
    lambda v: isinstance(v, str) and v.upper() in phonenumbers.SUPPORTED_REGIONS,
    str.upper,
)
TIMEZONE = _kind("an IANA time zone (Europe/Rome)", lambda v: isinstance(v, str) and _is_zone(v))
HOURS = _kind(
    '"HH:MM-HH:MM" (local time; may span midnight)',
    lambda v: (
        isinstance(v, str)
        and re.fullmatch(
            r"([01][0-9]|2[0-3]):[0-5][0-9]-"
            r"([01][0-9]|2[0-3]):[0-5][0-9]",
            v.strip(),
        )
        is not None
    ),
    str.strip,
)
NUMBERS = _kind(
    "a list of E.164 numbers (+393331234567)",
    lambda v: (
        isinstance(v, list)
        and all(isinstance(n, str) and re.fullmatch(r"\+[0-9]{4,15}", n) for n in v)
    ),
    tuple,
)
WORDS = _kind(
    "a list of words",
    lambda v: isinstance(v, list) and all(isinstance(w, str) and w.strip() for w in v),
    tuple,
)


@dataclass(frozen=True, slots=True)
class Key:
    """``name = value``; ``example`` is TOML text for the docs and the template."""

    name: str
    kind: Kind
    default: Any
    help: str
    example: str


@dataclass(frozen=True, slots=True)
class Section:
    """``[name]`` (``array``: ``[[name]]``, repeatable; ``each``: ``[name."<each>"]`` tables)."""

    name: str
    help: str
    entries: tuple[Node, ...]
    array: bool = False
    each: str | None = None


@dataclass(frozen=True, slots=True)
class Mapping:
    """``[name]`` whose keys are free (``"<each>" = value``), every value of one kind."""

    name: str
    each: str
    kind: Kind
    help: str
    example: str


Node: TypeAlias = Key | Section | Mapping
