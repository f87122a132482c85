"""A campaign's rows checked one by one: the number (E.164 after normalisation, duplicates found
on it), every placeholder of the template filled, the text's length, the pool's opt-outs and
the key's blocked destinations; the validation report counts them (``valid``, ``duplicates``,
``opted_out``, ``blocked``, ``invalid`` with row, column and reason). No I/O."""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata

from modemd.api.contract import StatusCode
from modemd.api.validation import (
    BLOCKED_TYPES,
    MAX_MESSAGE_CHARS,
    RequestError,
    blocked_number,
    normalise_number,
    pattern_for,
    unknown_type,
)
from modemd.sms.encoding import split_message
from modemd.store.campaigns import Recipient

NUMBER_COLUMNS = ("to", "number", "phone", "mobile", "msisdn", "telephone", "tel")
MAX_INVALID_LISTED = 1000  # the report lists this many invalid rows; ``invalid_count`` has all
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]*$")


def blocked_destination(
    to: str, region: str | None, *, log_unknown: bool = False
) -> tuple[str, str] | None:
    """``blocked_number`` (premium rate, shared cost, short code) at a sixth of its cost for
    an E.164 number whose region is known: only the pattern tests that decide those types,
    in phonenumbers' own order (a toll-free match ends the search before shared cost).
    ``log_unknown``: a number of unknown type is logged, as ``blocked_number`` does (a send;
    not each row of a campaign)."""
    code_digits = _code_digits(region) if region else None
    if code_digits is None or not to.startswith("+"):
        return blocked_number(to)
    national = to[1 + code_digits :]
    general, kinds = _pumping_tests(str(region), len(national))
    if general is None or not general.fullmatch(national):
        if log_unknown:
            unknown_type(to)
        return None  # phonenumbers' UNKNOWN: allowed
    for pattern, kind in kinds:
        if pattern.fullmatch(national):
            if kind not in BLOCKED_TYPES:
                return None
            name = BLOCKED_TYPES[kind]
            return name, f"{to} is a {name.replace('_', '-')} number; this key may not send to it"
    return None


@functools.cache  # phonenumbers' metadata_for_region takes a lock: once per region
def _code_digits(region: str) -> int | None:
    """How many digits the region's country code has (None: phonenumbers has no metadata)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    return None if metadata is None else len(str(metadata.country_code))


@functools.cache  # regions x 15 lengths
def _pumping_tests(
    region: str, digits: int
) -> tuple[re.Pattern[str] | None, tuple[tuple[re.Pattern[str], int], ...]]:
    """``blocked_destination``'s tests of a national number of ``digits`` digits, compiled
    once: the general description's pattern, then premium rate, toll free and shared cost
    (those whose lengths allow ``digits``), each with its type."""
    metadata = PhoneMetadata.metadata_for_region(region)
    assert metadata is not None  # blocked_destination had it
    general = pattern_for(metadata.general_desc, digits)
    kinds = []
    for desc, kind in (
        (metadata.premium_rate, phonenumbers.PhoneNumberType.PREMIUM_RATE),
        (metadata.toll_free, phonenumbers.PhoneNumberType.TOLL_FREE),
        (metadata.shared_cost, phonenumbers.PhoneNumberType.SHARED_COST),
    ):
        text = pattern_for(desc, digits)
        if text is not None:
            kinds.append((re.compile(text), kind))
    return (None if general is None else re.compile(general)), tuple(kinds)


def placeholders(template: str) -> list[str]:
    """The ``{name}`` placeholders of ``template`` (``{{``/``}}`` are literal braces)."""
    found = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None or not _NAME.match(name.strip()):
            raise RequestError(
                StatusCode.PARAM_ERROR,
                f"template: {token!r} at character {match.start() + 1} is not a placeholder "
                "like {name} (write {{ and }} for literal braces)",
            )
        found.append(name.strip())
    return found


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by its value."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values[match.group(1).strip()]

    return _TOKEN.sub(one, template)


@dataclass
class RowChecker:
    """Checks rows against one header and template; keeps the report's counts."""

    template: str
    header: list[str]
    default_country: str | None
    opted_out_numbers: set[str] = field(default_factory=set)  # the pool's: skipped, counted
    allow_premium: bool = False  # the key's: else blocked destinations are skipped, counted
    rows: int = 0
    valid: int = 0
    duplicates: int = 0
    opted_out: int = 0
    blocked: int = 0
    blocked_rows: list[dict[str, Any]] = field(default_factory=list)
    blank: int = 0
    invalid_count: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)
    parts: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    _seen: set[str] = field(default_factory=set)
    _columns: dict[str, int] = field(default_factory=dict)
    _number: int = 0
    _names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._columns = {}
        for i, name in enumerate(self.header):
            self._columns.setdefault(name.strip().lower(), i)
        number = next((self._columns[c] for c in NUMBER_COLUMNS if c in self._columns), None)
        if number is None:
            raise RequestError(
                StatusCode.PARAM_ERROR,
                f"row 1 (the header) has no number column: name one of {', '.join(NUMBER_COLUMNS)}"
                f" (columns: {', '.join(self.header)[:200]})",
            )
        self._number = number
        self._names = placeholders(self.template)
        for name in self._names:
            if name.lower() not in self._columns:
                raise RequestError(
                    StatusCode.PARAM_ERROR,
                    f"template placeholder {{{name}}} has no column "
                    f"(columns: {', '.join(self.header)[:200]})",
                )

    def check(self, line: int, cells: list[str]) -> Recipient | None:
        """The recipient of row ``line`` (1-based, the header is 1), or None (counted)."""
        if not any(cells):
            self.blank += 1
            return None
        self.rows += 1
        raw = cells[self._number] if self._number < len(cells) else ""
        if not raw:
            return self._invalid(line, self.header[self._number], "no number")
        try:
            to, country = normalise_number(raw, self.default_country)
        except RequestError as exc:
            return self._invalid(line, self.header[self._number], exc.message.replace("'to' ", ""))
        values = {}
        for name in self._names:
            i = self._columns[name.lower()]
            value = cells[i] if i < len(cells) else ""
            if not value:
                return self._invalid(line, self.header[i], f"no value for {{{name}}}")
            values[name] = value
        message = render(self.template, values)
        if len(message) > MAX_MESSAGE_CHARS:
            return self._invalid(
                line, "", f"the message has {len(message)} characters; at most {MAX_MESSAGE_CHARS}"
            )
        if to in self._seen:
            self.duplicates += 1
            return None
        self._seen.add(to)
        if to in self.opted_out_numbers:
            self.opted_out += 1
            return None
        if not self.allow_premium and (refused := blocked_destination(to, country)):
            self.blocked += 1
            if len(self.blocked_rows) < MAX_INVALID_LISTED:
                column = self.header[self._number]
                self.blocked_rows.append({"row": line, "column": column, "reason": refused[1]})
            return None
        split = split_message(message)
        self.valid += 1
        self.parts[split.encoding.value] += split.count
        self.messages[split.encoding.value] += 1
        return Recipient(line, to, country, message, split.count, split.encoding.value)

    def _invalid(self, line: int, column: str, reason: str) -> Recipient | None:
        self.invalid_count += 1
        if len(self.invalid) < MAX_INVALID_LISTED:
            self.invalid.append({"row": line, "column": column, "reason": reason})
        return None

    def report(self) -> dict[str, Any]:
        """The counts (the caller adds cost and time)."""
        return {
            "rows": self.rows,
            "valid": self.valid,
            "duplicates": self.duplicates,
            "opted_out": self.opted_out,
            "blocked": self.blocked,
            "blocked_rows": self.blocked_rows,
            "invalid_count": self.invalid_count,
            "invalid": self.invalid,
            "blank_rows": self.blank,
            "messages": dict(self.messages),
            "parts": dict(self.parts),
            "total_parts": sum(self.parts.values()),
        }
