"""GSM-7 national language shift tables (23.038 Annex A) and the UDH elements that select them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.sms.alphabets import (
    decode_septets,
    encode_septets,
    locking_languages,
    single_languages,
)
from modemd.sms.dcs import Alphabet
from modemd.sms.deliver import decode_deliver
from modemd.sms.deliver_build import build_deliver
from modemd.sms.national import LANGUAGES, LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES, UNDEFINED

SCTS = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)

# oFono (unit/test-sms.c, sms_charset_* vectors): SMS-DELIVER TPDUs (no SMSC part) whose septets
# read as the expected UTF-8 with the named tables. Locking 0 / single 0 is the default.
OFONO_ALL_SEPTETS = (
    "0001000B915310101010100000808080604028180E888462C168381E90886442A9582E988C06C4E9783EA090"
    "68442A994EA8946AC56AB95EB0986C46ABD96EB89C6EC7EBF97EC0A070482C1A8FC8A472C96C3A9FD0A8744AAD"
    "5AAFD8AC76CBED7ABFE0B0784C2E9BCFE8B47ACD6EBBDFF0B87C4EAFDBEFF8BC7ECFEFFBFF"
)
OFONO = [
    pytest.param(
        OFONO_ALL_SEPTETS,
        1,
        0,
        "40c2a324c2a5e282acc3a9c3b9c4b1c3b2c3870ac49ec49f0dc385c3a5ce945fcea6ce93ce9bcea9cea0cea8"
        "cea3ce98ce9e20c59ec59fc39fc38920212223c2a425262728292a2b2c2d2e2f303132333435363738393a3b"
        "3c3d3e3fc4b04142434445464748494a4b4c4d4e4f505152535455565758595ac384c396c391c39cc2a7c3a7"
        "6162636465666768696a6b6c6d6e6f707172737475767778797ac3a4c3b6c3b1c3bcc3a0",
        id="turkish-locking",
    ),
    pytest.param(
        "0001000B9153101010101000001A1BC586B2416D529BD786B7E96D7C1BE002C8011318870E",
        1,
        1,
        "0c5e7b7d5c5b7e5d7cc49ec4b0c59ec3a7e282acc49fc4b1c59f",
        id="turkish-single",
    ),
    pytest.param(
        OFONO_ALL_SEPTETS,
        3,
        0,
        "40c2a324c2a5c3aac3a9c3bac3adc3b3c3a70ac394c3b40dc381c3a1ce945fc2aac387c380e2889e5e5ce282"
        "acc3937c20c382c3a2c38ac38920212223c2ba25262728292a2b2c2d2e2f303132333435363738393a3b3c3d"
        "3e3fc38d4142434445464748494a4b4c4d4e4f505152535455565758595ac383c395c39ac39cc2a77e616263"
        "6465666768696a6b6c6d6e6f707172737475767778797ac3a3c3b560c3bcc3a0",
        id="portuguese-locking",
    ),
    pytest.param(
        "0001000B9153101010101000003184C446B160381E1BC96662D9543696CD6583D9643C1BD42675D9F0C01B9F86"
        "02CC74B75C0EE68030ECF91D",
        3,
        3,
        "c3aac3a70cc394c3b4c381c3a1cea6ce935ecea9cea0cea8cea3ce98c38a7b7d5c5b7e5d7cc380c38dc393c3"
        "9ac383c395c382e282acc3adc3b3c3bac3a3c3b5c3a2",
        id="portuguese-single",
    ),
    pytest.param(
        "0001000B915310101010100000269BC446B1A16C509BD4E6B5E16D7A1BDF06B8096E929BE7A6BA096FCA9BF4E6"
        "BDA903",
        2,
        2,
        "c3a70c5e7b7d5c5b7e5d7cc381c38dc393c39ac3a1e282acc3adc3b3c3ba",
        id="spanish-single",
    ),
]


@pytest.mark.parametrize(("tpdu", "locking", "single", "utf8_hex"), OFONO)
def test_ofono_vectors(tpdu: str, locking: int, single: int, utf8_hex: str) -> None:
    body = decode_deliver("00" + tpdu).body  # "00": the empty SMSC part a modem would print
    decoded = decode_septets(body, locking, single)
    assert decoded.text == bytes.fromhex(utf8_hex).decode()
    assert decoded.notes == ()


def test_every_annex_a_table_is_present() -> None:
    assert locking_languages() == {0, *range(1, 14)}  # Spanish (2) locks to the default alphabet
    assert single_languages() == {0, *range(1, 14)}
    assert set(LANGUAGES) == set(range(1, 14))


@pytest.mark.parametrize("language", sorted(LOCKING_SHIFT_TABLES))
def test_locking_tables_are_well_formed(language: int) -> None:
    table = LOCKING_SHIFT_TABLES[language]
    assert len(table) == 128 and table[0x1B] == "\x1b"
    assert (table[0x0A], table[0x0D], table[0x20]) == ("\n", "\r", " ")
    defined = [char for char in table if char != UNDEFINED]
    assert len(defined) == len(set(defined)), "a character at two positions"


@pytest.mark.parametrize(
    ("language", "code", "char"),
    [  # spot values of 23.038 Annex A that transcriptions got wrong elsewhere
        (1, 0x07, "\u0131"),  # Turkish locking: dotless i replaces ì
        (3, 0x1E, "\u00ca"),  # Portuguese locking: Ê, then É at 0x1F
        (6, 0x00, "\u0901"),  # Hindi locking starts in the Devanagari block, not Bengali
        (7, 0x24, "\u0ca1"),  # Kannada DDA, not PA (which is 0x3D)
        (13, 0x2C, ","),  # Urdu locking: a comma, as in every Indic table
    ],
)
def test_locking_spot_values(language: int, code: int, char: str) -> None:
    assert LOCKING_SHIFT_TABLES[language][code] == char


@pytest.mark.parametrize("language", sorted(SINGLE_SHIFT_TABLES))
def test_single_shift_tables_have_the_euro_and_no_escape(language: int) -> None:
    table = SINGLE_SHIFT_TABLES[language]
    assert table[0x65] == "€" and 0x1B not in table


def test_portuguese_single_shift_has_e_circumflex() -> None:
    """0x1F Ê, missing from one published transcription (warthog618/sms#9)."""
    assert SINGLE_SHIFT_TABLES[3][0x1F] == "\u00ca"


def test_udh_selects_the_turkish_tables() -> None:
    text = "Şişli'de güzel bir gün, İğneada'ya €5"
    [pdu] = build_deliver("+905321234567", text, scts=SCTS, locking_shift=1, single_shift=1)
    deliver = decode_deliver(pdu)
    assert deliver.dcs.alphabet is Alphabet.GSM7  # UCS-2 without the tables
    assert (deliver.header.locking_shift, deliver.header.single_shift) == (1, 1)
    assert deliver.text == text and deliver.notes == ()
    assert [e.iei for e in deliver.header.elements] == [0x25, 0x24]


def test_unknown_language_falls_back_to_the_default_and_says_so() -> None:
    decoded = decode_septets(b"\x41\x1b\x65", locking=42, single=42)
    assert decoded.text == "A€"
    assert len(decoded.notes) == 2 and "42" in decoded.notes[0]


def test_undefined_position_is_shown_as_replacement_and_noted() -> None:
    code = LOCKING_SHIFT_TABLES[11].index(UNDEFINED)  # Tamil leaves the most positions open
    decoded = decode_septets(bytes((code, code)), locking=11)
    assert decoded.text == UNDEFINED * 2
    assert decoded.notes == (f"septet 0x{code:02X} is undefined in locking shift table 11",)


def test_escape_rules_of_23038() -> None:
    assert decode_septets(b"\x1b\x1bA").text == " A"  # escape escape: a space
    missing = decode_septets(b"\x1b\x41")  # "escape A": not in the table, the main character
    assert missing.text == "A" and "not in the shift table" in missing.notes[0]
    assert decode_septets(b"A\x1b").text == "A "  # a lone escape at the end


@settings(max_examples=40, deadline=None)
@given(data=st.data(), language=st.sampled_from(sorted(LANGUAGES)))
def test_every_table_round_trips(data: st.DataObject, language: int) -> None:
    locking = language if language in LOCKING_SHIFT_TABLES else 0
    chars = sorted(
        {c for c in LOCKING_SHIFT_TABLES.get(locking, "") if c not in (UNDEFINED, "\x1b")}
        | set(SINGLE_SHIFT_TABLES[language].values())
    )
    text = data.draw(st.text(st.sampled_from(chars), max_size=200))
    septets = encode_septets(text, locking, language)
    assert decode_septets(septets, locking, language).text == text
    pdus = build_deliver(
        "+911234567890", text, scts=SCTS, locking_shift=locking, single_shift=language, concat_ref=4
    )
    parts = [decode_deliver(pdu) for pdu in pdus]
    assert all(part.dcs.alphabet is Alphabet.GSM7 for part in parts)
    assert "".join(part.text or "" for part in parts) == text
