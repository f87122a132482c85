"""GSM-7 / UCS-2 choice and splitting: boundaries, invariants and the alphabet itself."""

from __future__ import annotations

import gsmmodem.pdu
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.sms.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    Encoding,
    SplitMessage,
    decode_gsm7,
    encode_gsm7,
    gsm7_septet_cost,
    is_gsm7,
    split_by_cost,
    split_message,
    utf16_unit_cost,
)

# Independent of the module under test: 23.038 6.2.1.1 extension characters (two septets each).
EXTENSION_CHARS = "\f^{}\\[~]|€"
EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair in UTF-16
CYRILLIC = "й"  # BMP, not GSM-7: one UTF-16 unit


def septets(text: str) -> int:
    """GSM-7 septets ``text`` takes, computed without the module under test."""
    return sum(2 if char in EXTENSION_CHARS else 1 for char in text)


def utf16_units(text: str) -> int:
    """UTF-16 code units of ``text``."""
    return len(text.encode("utf-16-be")) // 2


def test_empty_text_is_one_empty_gsm7_part() -> None:
    assert split_message("") == SplitMessage(Encoding.GSM7, ("",))
    assert split_message("").count == 1


@pytest.mark.parametrize(
    ("text", "encoding", "lengths"),
    [
        pytest.param("a" * 160, Encoding.GSM7, [160], id="gsm7-160-single"),
        pytest.param("a" * 161, Encoding.GSM7, [153, 8], id="gsm7-161-two-parts"),
        pytest.param("a" * 306, Encoding.GSM7, [153, 153], id="gsm7-153x2"),
        pytest.param("a" * 307, Encoding.GSM7, [153, 153, 1], id="gsm7-153x2+1"),
        pytest.param("€" * 80, Encoding.GSM7, [80], id="extension-160-septets-single"),
        pytest.param("€" * 81, Encoding.GSM7, [76, 5], id="extension-162-septets"),
        pytest.param("a" * 158 + "€", Encoding.GSM7, [159], id="extension-ends-at-160"),
        pytest.param("a" * 159 + "€", Encoding.GSM7, [153, 7], id="extension-makes-161"),
        pytest.param(CYRILLIC * 70, Encoding.UCS2, [70], id="ucs2-70-single"),
        pytest.param(CYRILLIC * 71, Encoding.UCS2, [67, 4], id="ucs2-71-two-parts"),
        pytest.param(CYRILLIC * 134, Encoding.UCS2, [67, 67], id="ucs2-67x2"),
        pytest.param(CYRILLIC * 135, Encoding.UCS2, [67, 67, 1], id="ucs2-67x2+1"),
        pytest.param(EMOJI * 35, Encoding.UCS2, [35], id="emoji-70-units-single"),
        pytest.param(EMOJI * 36, Encoding.UCS2, [33, 3], id="emoji-72-units"),
        pytest.param("a" * 100 + CYRILLIC, Encoding.UCS2, [67, 34], id="one-char-forces-ucs2"),
    ],
)
def test_split_lengths(text: str, encoding: Encoding, lengths: list[int]) -> None:
    split = split_message(text)
    assert split.encoding is encoding
    assert [len(part) for part in split.parts] == lengths
    assert split.count == len(lengths)
    assert "".join(split.parts) == text


def test_extension_char_that_would_end_at_septet_154_moves_to_next_part() -> None:
    parts = split_message("a" * 152 + "€" + "b" * 10).parts
    assert parts == ("a" * 152, "€" + "b" * 10)
    assert septets(parts[0]) == 152


def test_extension_char_ending_exactly_at_septet_153_stays() -> None:
    parts = split_message("a" * 151 + "€" + "b" * 10).parts
    assert parts == ("a" * 151 + "€", "b" * 10)
    assert septets(parts[0]) == 153


def test_emoji_at_units_67_and_68_moves_to_next_part() -> None:
    parts = split_message(CYRILLIC * 66 + EMOJI + CYRILLIC * 10).parts
    assert parts == (CYRILLIC * 66, EMOJI + CYRILLIC * 10)
    assert utf16_units(parts[0]) == 66


def test_emoji_at_units_66_and_67_stays() -> None:
    parts = split_message(CYRILLIC * 65 + EMOJI + CYRILLIC * 10).parts
    assert parts == (CYRILLIC * 65 + EMOJI, CYRILLIC * 10)
    assert utf16_units(parts[0]) == 67


INVARIANT_TEXTS = [
    "",
    "hello",
    "a" * 159 + "{",
    "[]" * 200,
    ("x" * 152 + "|") * 4,
    "\f" * 200,
    EMOJI * 500,
    (CYRILLIC * 66 + EMOJI) * 5,
    "Grüße " * 60 + EMOJI,
    "abc" * 1000,
]


@pytest.mark.parametrize("text", INVARIANT_TEXTS)
def test_split_invariants(text: str) -> None:
    split = split_message(text)
    assert "".join(split.parts) == text
    if split.encoding is Encoding.GSM7:
        cost, single, per_part = septets, 160, 153
    else:
        cost, single, per_part = utf16_units, 70, 67
    if cost(text) <= single:
        assert split.parts == (text,)
    else:
        assert all(0 < cost(part) <= per_part for part in split.parts)
        # Greedy: the next part's first character would not have fitted in the previous part.
        for previous, following in zip(split.parts, split.parts[1:], strict=False):
            assert cost(previous) + cost(following[0]) > per_part


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@£$¥ Hello", True),
        ("§ is 0x5F", True),
        (EXTENSION_CHARS, True),
        ("back`tick", False),
        ("ç lower-case cedilla", False),
        ("\x1b escape itself", False),
        (EMOJI, False),
        ("", True),
    ],
)
def test_is_gsm7(text: str, expected: bool) -> None:
    assert is_gsm7(text) is expected
    assert split_message(text).encoding is (Encoding.GSM7 if expected else Encoding.UCS2)


@pytest.mark.parametrize(
    ("text", "septet_values"),
    [
        ("@£$", b"\x00\x01\x02"),
        ("A§a", b"\x41\x5f\x61"),
        ("€", b"\x1b\x65"),
        ("\f", b"\x1b\x0a"),
        ("^{}\\[~]|", b"\x1b\x14\x1b\x28\x1b\x29\x1b\x2f\x1b\x3c\x1b\x3d\x1b\x3e\x1b\x40"),
    ],
)
def test_encode_gsm7_known_values(text: str, septet_values: bytes) -> None:
    assert encode_gsm7(text) == septet_values
    assert decode_gsm7(septet_values) == text


def test_whole_alphabet_round_trips() -> None:
    text = "".join(char for code, char in enumerate(GSM7_BASIC) if code != 0x1B)
    text += "".join(GSM7_EXTENSION)
    assert len(text) == 127 + 10
    assert is_gsm7(text)
    assert decode_gsm7(encode_gsm7(text)) == text
    assert len(encode_gsm7(text)) == septets(text)


def test_basic_table_matches_gsmmodem_except_its_0x5f_bug() -> None:
    theirs = gsmmodem.pdu.GSM7_BASIC
    differences = [code for code in range(128) if GSM7_BASIC[code] != theirs[code]]
    assert differences == [0x5F]
    assert (GSM7_BASIC[0x5F], theirs[0x5F]) == ("§", "`")


def test_unknown_extension_code_falls_back_to_basic_character() -> None:
    assert decode_gsm7(b"\x1b\x41") == "A"  # 23.038 6.2.1.1 display rule


@pytest.mark.parametrize(
    ("septet_values", "message"),
    [(b"\x41\x1b", "lone escape"), (b"\x80", "not a septet")],
)
def test_decode_gsm7_rejects_malformed(septet_values: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_gsm7(septet_values)


def test_encode_gsm7_rejects_non_gsm_text() -> None:
    with pytest.raises(ValueError, match="not in the GSM-7 alphabet"):
        encode_gsm7("price: 5 ₽")


ALPHABET_SAMPLE = GSM7_BASIC.replace("\x1b", "") + EXTENSION_CHARS + CYRILLIC + EMOJI + "\ud800"


@given(st.text(alphabet=ALPHABET_SAMPLE, max_size=200))
@settings(max_examples=300, deadline=None)
def test_one_part_shortcut_agrees_with_the_split_by_cost(text: str) -> None:
    """split_message counts a one-part text with str methods: the same answer as splitting
    character by character (lone surrogates count one UTF-16 unit there too)."""
    split = split_message(text)
    gsm7 = all(char in GSM7_BASIC.replace("\x1b", "") + EXTENSION_CHARS for char in text)
    cost, single, part = (gsm7_septet_cost, 160, 153) if gsm7 else (utf16_unit_cost, 70, 67)
    assert split.encoding is (Encoding.GSM7 if gsm7 else Encoding.UCS2)
    assert split.parts == split_by_cost(text, cost, single, part)
