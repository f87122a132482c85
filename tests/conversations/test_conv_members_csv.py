"""CSV import of list members: BOM, separators, quoting, bad rows refuse the whole file."""

from __future__ import annotations

import pytest

from modemd.conversations.members_csv import CsvImportError, export_members, parse_members


def e164(cell: str) -> str:
    digits = cell.replace(" ", "")
    if not digits.startswith("+") or not digits[1:].isdigit():
        raise ValueError(f"not a phone number: {cell!r}")
    return digits


def test_comma_file_with_bom_and_extra_columns() -> None:
    data = "\ufeffNumber,Name,City\r\n+39 333 1234567,Anna,Roma\r\n+393339999999,Bo,\r\n"
    members = parse_members(data.encode("utf-8"), e164)
    assert [(m.number, m.name, m.fields) for m in members] == [
        ("+393331234567", "Anna", {"city": "Roma"}),
        ("+393339999999", "Bo", {"city": ""}),
    ]


def test_semicolon_and_quoted_cells_spanning_lines() -> None:
    data = 'phone;name;note\n+4915112345678;"Müller; Hans";"two\nlines"\n'
    [member] = parse_members(data.encode("utf-8"), e164)
    assert member.name == "Müller; Hans"
    assert member.fields == {"note": "two\nlines"}


def test_utf16_with_bom_and_tabs() -> None:
    data = "msisdn\tname\n+33612345678\tJean\n"
    [member] = parse_members(data.encode("utf-16"), e164)
    assert (member.number, member.name) == ("+33612345678", "Jean")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'number,name\n+393331234567,"Anna\n', "line 2"),  # quote never closed
        (b'number,name\n+393331234567,"An"na\n', "line 2"),  # text after a closing quote
        (b"number,name\n+393331234567,Anna,extra\n", "line 2: 3 cells"),
        (b"number,name\n+393331234567,Anna\nabc,Bo\n", "line 3"),
        (b"name,city\nAnna,Roma\n", "no number column"),
        (b"", "empty"),
        (b"\xff\xfen\x00\x00\xd8", "not UTF-16"),  # a lone surrogate
        (b"number\n+39\xe9\n", "not UTF-8"),
    ],
)
def test_bad_files_are_refused_whole(data: bytes, where: str) -> None:
    with pytest.raises(CsvImportError) as caught:
        parse_members(data, e164)
    assert where in str(caught.value)


def test_every_bad_line_is_named() -> None:
    data = b"number\nx1\n+393331234567\nx2\n"
    with pytest.raises(CsvImportError) as caught:
        parse_members(data, e164)
    assert [e.split(":")[0] for e in caught.value.errors] == ["line 2", "line 4"]


def test_same_number_twice_last_row_wins_and_blank_lines_skipped() -> None:
    data = b"number,name\n+393331234567,Old\n\n+393331234567,New\n"
    [member] = parse_members(data, e164)
    assert member.name == "New"


def test_export_round_trips() -> None:
    rows = [
        {"number": "+393331234567", "name": "Anna, R.", "fields": {"city": "Roma"}},
        {"number": "+393339999999", "name": "Bo", "fields": {}},
    ]
    text = export_members(rows)
    assert text.splitlines()[0] == "number,name,city"
    again = parse_members(text, e164)
    assert [(m.number, m.name, m.fields) for m in again] == [
        ("+393331234567", "Anna, R.", {"city": "Roma"}),
        ("+393339999999", "Bo", {"city": ""}),
    ]
