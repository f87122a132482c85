"""The plain-E.164 fast path of number parsing answers exactly as phonenumbers' parser does.

``normalise_number`` takes ``plain_e164`` first (the send route's hot path); whatever it returns
must be what ``parse_number`` returns for the same input, whatever the key's default country,
and it must refuse (None) everything the parser would change or reject."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from modemd.api.validation import RequestError, normalise_number, parse_number, plain_e164

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
DEFAULT_COUNTRIES = (None, "IT", "US", "GB", "DE")
DIGITS = "0123456789"


def slow(raw: str, country: str | None) -> tuple[str, str | None] | tuple[str, int, str]:
    """``parse_number``'s answer, or its refusal (code and message)."""
    try:
        return parse_number(raw, country)
    except RequestError as exc:
        return ("refused", exc.code.value, exc.message)


def assert_same(raw: str) -> None:
    fast = plain_e164(raw)
    for country in DEFAULT_COUNTRIES:
        if fast is not None:
            assert fast == slow(raw, country), (raw, country)
        try:
            whole: object = normalise_number(raw, country)
        except RequestError as exc:
            whole = ("refused", exc.code.value, exc.message)
        assert whole == slow(raw, country), (raw, country)


@settings(max_examples=600, deadline=None)
@given(code=st.sampled_from(COUNTRY_CODES), national=st.text(DIGITS, min_size=1, max_size=14))
@example(code=44, national="7911123")  # GG/GB/JE/IM share +44: the region needs the whole number
@example(code=44, national="7911123456")
@example(code=39, national="0669812345")  # Vatican inside +39, behind a leading zero
@example(code=1, national="4155550123")
@example(code=7, national="89161234567")  # Russia's national prefix 8 after the country code
def test_country_code_and_digits(code: int, national: str) -> None:
    assert_same(f"+{code}{national}")


@settings(max_examples=400, deadline=None)
@given(st.text("+0123456789 -().", max_size=20))
@example("+ 393331234567")  # the parser refuses a space after '+': so must the fast path
@example("+0393331234567")
@example("++393331234567")
def test_anything_a_caller_types(raw: str) -> None:
    assert_same(raw)


def example_numbers() -> list[str]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                numbers.append(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    return numbers


def test_every_region_example_number_and_its_neighbours() -> None:
    """Real numbers of every region, one digit longer and shorter: the same answers, and the
    fast path answers most of them itself (else it would be no faster)."""
    numbers = example_numbers()
    for raw in numbers:
        for variant in (raw, raw + "1", raw[:-1]):
            assert_same(variant)
    answered = sum(plain_e164(raw) is not None for raw in numbers)
    assert answered >= 0.9 * len(numbers)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+393331234567", ("+393331234567", "IT")),
        ("+14155550123", ("+14155550123", "US")),
        ("+447911123456", ("+447911123456", "GG")),
    ],
)
def test_fast_path_answers_plain_numbers(raw: str, expected: tuple[str, str]) -> None:
    assert plain_e164(raw) == expected == parse_number(raw, None)


@pytest.mark.parametrize(
    "raw",
    [
        "+393331234567 ",  # anything but '+' and digits: the parser decides
        "+39 333 1234567",
        "+390612345678",  # a leading zero after the country code (Italy keeps it)
        "+78916123456",  # Russia: 8 is the national prefix the parser may strip
        "+99912345678",  # 999 is no country code
        "+3912",  # too short for E.164
    ],
)
def test_fast_path_leaves_the_rest_to_the_parser(raw: str) -> None:
    assert plain_e164(raw) is None
