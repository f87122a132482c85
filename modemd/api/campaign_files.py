"""A campaign's uploaded file, read row by row from disk (never held whole): CSV in UTF-8 (with
or without BOM), UTF-16 with BOM or Latin-1 (the fallback when the bytes are not UTF-8), with
``,`` ``;`` tab or ``|`` separators; or the first sheet of an XLSX workbook. No network I/O."""

from __future__ import annotations

import codecs
import csv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modemd.api.contract import StatusCode
from modemd.api.validation import RequestError

MAX_FILE_BYTES = 50 * 1024 * 1024  # issue 16: 50 MB; ~1 million rows of number + name
SNIFF_BYTES = 64 * 1024  # the separator is chosen from the header line within this
SEPARATORS = (",", ";", "\t", "|")
_XLSX_MAGIC = b"PK\x03\x04"  # a zip container (XLSX is one)
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # OLE2: Excel 97-2003 .xls, not supported
csv.field_size_limit(1024 * 1024)  # a cell of a 50 MB file; csv's default is 128 KiB


@dataclass(frozen=True, slots=True)
class FileKind:
    format: str  # csv | xlsx
    encoding: str | None  # CSV only: utf-8, utf-8-sig, utf-16, latin-1
    separator: str | None  # CSV only


def bad_file(message: str) -> RequestError:
    return RequestError(StatusCode.PARAM_ERROR, message)


def inspect(path: Path) -> FileKind:
    """What the file is (by its bytes, never its name); ``RequestError`` when it is neither
    CSV nor XLSX."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head.strip():
        raise bad_file("the file is empty")
    if head.startswith(_XLSX_MAGIC):
        return FileKind("xlsx", None, None)
    if head.startswith(_XLS_MAGIC):
        raise bad_file("an Excel 97-2003 (.xls) file is not supported: save it as XLSX or CSV")
    encoding = _encoding(path, head)
    text = head.decode(encoding, errors="ignore")
    if "\x00" in text:
        raise bad_file("the file is not CSV or XLSX (binary content)")
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    separator = max(SEPARATORS, key=header.count)
    return FileKind("csv", encoding, separator)


def _encoding(path: Path, head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"  # any byte is a Latin-1 character: the usual legacy spreadsheet export
    return "utf-8"


def rows(path: Path, kind: FileKind) -> Iterator[list[str]]:
    """The file's rows as lists of stripped strings, header first."""
    if kind.format == "xlsx":
        yield from _xlsx_rows(path)
        return
    assert kind.encoding is not None and kind.separator is not None
    with path.open(newline="", encoding=kind.encoding) as f:
        try:
            for record in csv.reader(f, delimiter=kind.separator):
                yield [cell.strip().lstrip("\ufeff") for cell in record]
        except csv.Error as exc:
            raise bad_file(f"CSV: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise bad_file(f"the file is not valid {kind.encoding}: {exc.reason}") from exc


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    # Imported here: openpyxl is a tenth of the daemon's import time (its start, README
    # "256 modems"), and only an XLSX upload needs it.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    # openpyxl's read-only mode streams the sheet's XML: the workbook is never loaded whole
    with path.open("rb") as f:  # a file object: openpyxl would judge a path by its suffix
        try:
            book = openpyxl.load_workbook(f, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
            raise bad_file(f"the file is not a readable XLSX workbook: {exc}"[:200]) from exc
        try:
            sheet = book.worksheets[0]
            for values in sheet.iter_rows(values_only=True):
                yield [_cell(v) for v in values]
        finally:
            book.close()


def _cell(value: Any) -> str:
    """A cell as text; a number typed in a spreadsheet (393331234567.0) without its '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
