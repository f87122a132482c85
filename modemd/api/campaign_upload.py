"""Reading ``POST /api/v1/campaigns``: a multipart form with a ``file`` part, the file itself
as the body (fields in the query string), or a JSON object with ``recipients``. The file is
spooled to a temporary file as it arrives (50 MB at most), never held in memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from modemd.api.campaign_files import MAX_FILE_BYTES
from modemd.api.contract import StatusCode
from modemd.api.validation import RequestError, json_body

MAX_FIELD_BYTES = 64 * 1024  # a form field (the template is at most 1600 characters)
MAX_RECIPIENTS_JSON = 1_000_000  # recipients given as JSON
CHUNK_BYTES = 256 * 1024
FILE_TYPES = (
    "text/csv",
    "text/plain",
    "application/csv",
    "application/octet-stream",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


class TooLargeError(Exception):
    """The upload is over ``MAX_FILE_BYTES`` (HTTP 413)."""


@dataclass
class Upload:
    fields: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the spooled file
    recipients: list[Any] | None = None  # from JSON

    def close(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.path = None


async def read_upload(request: web.Request) -> Upload:
    """The request's fields and file (the caller ``close``s the upload)."""
    if (request.content_length or 0) > MAX_FILE_BYTES + MAX_FIELD_BYTES:
        raise TooLargeError
    upload = Upload(fields=dict(request.query))
    try:
        if request.content_type == "multipart/form-data":
            try:
                await _multipart(request, upload)
            except (HttpProcessingError, ValueError, AssertionError) as exc:
                # aiohttp's multipart reader: a malformed part header, boundary or encoding
                raise RequestError(
                    StatusCode.PARAM_ERROR, f"malformed multipart body: {exc}"[:200]
                ) from exc
        elif request.content_type == "application/json":
            data = await read_json(request)
            upload.fields.update(data)
            recipients = data.get("recipients")
            if recipients is None and data.get("list") not in (None, ""):
                return upload  # a contact list of the pool: read by the caller
            if not isinstance(recipients, list):
                raise RequestError(
                    StatusCode.PARAM_ERROR,
                    "'recipients' must be a list (or give a contact 'list', or upload a file)",
                )
            upload.recipients = recipients
        elif request.content_type in FILE_TYPES:
            upload.path = await _spool(request.content)
        elif request.content_type == "application/x-www-form-urlencoded":
            raise RequestError(
                StatusCode.PARAM_ERROR,
                "a campaign needs a file (multipart/form-data) or JSON 'recipients'",
            )
        else:
            raise RequestError(
                StatusCode.PARAM_ERROR, f"unsupported Content-Type {request.content_type}"
            )
    except BaseException:
        upload.close()
        raise
    return upload


async def _multipart(request: web.Request, upload: Upload) -> None:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise RequestError(StatusCode.PARAM_ERROR, "nested multipart is not supported")
        if part.filename is not None or part.name == "file":
            if upload.path is not None:
                raise RequestError(StatusCode.PARAM_ERROR, "one file per campaign")
            upload.path = await _spool(part)
            continue
        raw = bytearray()
        while chunk := await part.read_chunk(CHUNK_BYTES):
            raw += chunk
            if len(raw) > MAX_FIELD_BYTES:
                raise RequestError(StatusCode.PARAM_ERROR, f"field {part.name!r} is too long")
        try:
            upload.fields[part.name or ""] = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(StatusCode.PARAM_ERROR, f"field {part.name!r}: not UTF-8") from exc


async def _spool(source: Any) -> Path:
    """Copy a stream (request body or multipart part) to a temporary file, at most 50 MB."""
    fd, name = tempfile.mkstemp(prefix="modemd-campaign-", suffix=".upload")
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await _chunk(source):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise TooLargeError
                out.write(chunk)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


async def _chunk(source: Any) -> bytes:
    if hasattr(source, "read_chunk"):
        return bytes(await source.read_chunk(CHUNK_BYTES))
    return bytes(await source.read(CHUNK_BYTES))


async def read_json(request: web.Request) -> dict[str, Any]:
    """A JSON object body of up to 50 MB (the app's own limit is for sends)."""
    raw = bytearray()
    while chunk := await request.content.read(CHUNK_BYTES):
        raw += chunk
        if len(raw) > MAX_FILE_BYTES:
            raise TooLargeError
    return json_body(bytes(raw))


def json_rows(recipients: list[Any]) -> Iterator[list[str]]:
    """JSON recipients as rows, header first: ``["+39..."]`` or ``[{"to": ..., "name": ...}]``.

    Rows are numbered from 1 for the first recipient (the header is row 0)."""
    if len(recipients) > MAX_RECIPIENTS_JSON:
        raise RequestError(
            StatusCode.PARAM_ERROR, f"at most {MAX_RECIPIENTS_JSON} recipients per campaign"
        )
    columns: dict[str, None] = {"to": None}
    for entry in recipients:
        if isinstance(entry, dict):
            columns.update(dict.fromkeys(str(k) for k in entry))
    header = list(columns)
    yield header
    for entry in recipients:
        if isinstance(entry, dict):
            yield [_text(entry.get(c)) for c in header]
        else:
            yield [_text(entry)] + [""] * (len(header) - 1)


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()
