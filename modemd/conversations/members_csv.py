"""List members from CSV: a file is read whole and checked before anything is stored.

Accepted: UTF-8 with or without BOM; ``,`` ``;`` or tab separators (the one the header uses);
a header naming the number column (``number``, ``phone``, ``mobile``, ``msisdn``, ``to``,
``tel``), an optional ``name`` column, any other columns kept as fields for placeholders.
Refused, with the line: broken quoting, a row with more or fewer cells than the header, a
number that is not one. One error refuses the whole file."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any

from modemd.model import Member

NUMBER_COLUMNS = ("number", "phone", "mobile", "msisdn", "to", "tel", "telephone", "cell")
SEPARATORS = (",", ";", "\t")
MAX_ROWS = 100_000
MAX_ERRORS = 20  # reported at most; the file is refused at the first anyway
EXPORT_COLUMNS = ("number", "name")


class CsvImportError(ValueError):
    """The file cannot be imported; ``errors`` says where (line numbers from 1)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:MAX_ERRORS]))
        self.errors = errors[:MAX_ERRORS]


def _text(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise CsvImportError([f"not UTF-16 as its BOM says: {exc}"]) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvImportError([f"not UTF-8 (byte {exc.start}): save the file as UTF-8 CSV"]) from exc


def _separator(header: str) -> str:
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def parse_members(data: bytes | str, normalise: Callable[[str], str]) -> list[Member]:
    """The members of a CSV file, or ``CsvImportError``. ``normalise`` turns a cell into E.164
    (``ValueError`` when it is not a number). A number twice: the last row wins."""
    text = _text(data)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise CsvImportError(["line 1: the file is empty (a header with a number column first)"])
    sep = _separator(lines[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    try:
        rows = list(_numbered(reader))
    except csv.Error as exc:
        raise CsvImportError([f"line {reader.line_num}: broken quoting: {exc}"]) from exc
    header = [h.strip().lower() for h in rows[0][1]]
    number_at = next((i for i, h in enumerate(header) if h in NUMBER_COLUMNS), None)
    if number_at is None:
        raise CsvImportError(
            [f"line 1: no number column (one of {', '.join(NUMBER_COLUMNS)}) in {header}"]
        )
    if len(set(header)) != len(header) or "" in header:
        raise CsvImportError(["line 1: column names must be unique and not empty"])
    if len(rows) - 1 > MAX_ROWS:
        raise CsvImportError([f"{len(rows) - 1} rows: at most {MAX_ROWS} per import"])
    members: dict[str, Member] = {}
    errors: list[str] = []
    for line, cells in rows[1:]:
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(header):
            errors.append(f"line {line}: {len(cells)} cells, the header has {len(header)}")
            continue
        try:
            number = normalise(cells[number_at].strip())
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        values = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        values.pop(header[number_at])
        name = values.pop("name", "")
        members[number] = Member(number, name, values)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise CsvImportError(errors)
    return list(members.values())


def _numbered(reader: Any) -> Iterable[tuple[int, list[str]]]:
    """Rows with the line each starts on (a quoted cell may span lines)."""
    start = 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def export_members(members: list[dict[str, Any]]) -> str:
    """CSV (UTF-8, comma, header) of members: number, name, then every field column."""
    extra = sorted({k for m in members for k in m["fields"]} - set(EXPORT_COLUMNS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*EXPORT_COLUMNS, *extra])
    for m in members:
        writer.writerow([m["number"], m["name"], *(m["fields"].get(k, "") for k in extra)])
    return out.getvalue()
