"""Log lines an operator and a log pipeline can read: one line per event, as text or JSON, with
``event``, ``job_id``, ``device_id`` and ``pin`` fields; no timestamp and a syslog priority
prefix under journald (it stamps lines itself); secrets and URL credentials never written."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "FORMATS",
    "BatchedStreamHandler",
    "JsonFormatter",
    "TextFormatter",
    "configure",
    "fields_of",
    "redact",
]

FORMATS = ("text", "json")
# A line below WARNING logged while an event loop runs waits this long at most, to be written
# with the others of its burst: one write instead of one a line (each wakes the reader,
# journald). 64 modems at 0.1 s: ~640 "sent" lines a second, ~50 writes (README, Round 4).
LOG_FLUSH_S = 0.02
MIN_KNOWN_SECRET = 8  # shorter configured values would blank out ordinary digits
# sd-daemon(3): "<N>" at the start of a line sets its priority (syslog levels)
PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}
_PREFIXES = {level: f"<{priority}>" for level, priority in PRIORITY.items()}
_MILLISECONDS = [f"{ms:03d}" for ms in range(1000)]  # a look-up, not a format spec, per line
_PLACEHOLDER = re.compile(r"%[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[sdrfxXeEgGio%]")
_JOB = re.compile(r"\bjob_[0-9a-f]{8,}\b")
_DEVICE = re.compile(r"\b(?:device|modem|phone) ([\w.:-]+?)(?=[:,;)]|\s|$)|\b(\d{15})\b")
_PIN = re.compile(r"\b(?:pin|pool) ([\w.+-]{1,64})\b")
_SECRETS = [  # (pattern, replacement)
    (re.compile(r"\b(mdk_)[\w-]{4,}"), r"\1***"),  # API keys
    (re.compile(r"\b(whsec_)[\w+/=-]{4,}"), r"\1***"),  # IPN signing secrets
    (re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@"), r"\1***:***@"),
    (re.compile(r"(?i)([?&;](?:apikey|api_key|token|password|secret|key)=)[^&\s'\"]+"), r"\1***"),
    (
        re.compile(r"(?i)((?:password|passwd|secret|token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
        r"\1***",
    ),
]


# What every _SECRETS pattern needs to find (in the case-folded line): most lines (a device's
# state, a job sent) have none of these, and six scans per line were a tenth of a 256-modem
# start's CPU. Substring tests, not one case-insensitive regex: 1 us a line instead of 12.
_MAY_HOLD_SECRET = ("mdk_", "whsec_", "bearer", "://", "?", "&", ";", "passw", "secret", "token")


def _may_hold_secret(text: str) -> bool:
    folded = text.casefold()  # as wide as the patterns' (?i)
    # a loop, not any() over a generator (a frame resumed per hint): half the instructions
    for hint in _MAY_HOLD_SECRET:  # noqa: SIM110
        if hint in folded:
            return True
    return False


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with API keys, signing secrets, bearer tokens, URL credentials and the
    configured secrets (``known``) replaced by ``***``."""
    for secret in known:
        if len(secret) >= MIN_KNOWN_SECRET:
            text = text.replace(secret, "***")
    if not _may_hold_secret(text):
        return text
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _event(record: logging.LogRecord) -> str:
    """An explicit ``extra={"event": ...}``, else a stable name from the message template."""
    explicit = getattr(record, "event", None)
    if explicit:
        return str(explicit)
    words = re.findall(r"[a-z]+", _PLACEHOLDER.sub(" ", str(record.msg)).lower())
    return ".".join(words[:5]) or record.name  # no words: the logger's (no caller looked up)


def fields_of(record: logging.LogRecord, message: str) -> dict[str, str]:
    """``job_id``, ``device_id``, ``pin``: from ``extra=`` or, else, read off the message."""
    found: dict[str, str] = {}
    for name in ("job_id", "device_id", "pin"):
        if value := getattr(record, name, None):
            found[name] = str(value)
    if "job_id" not in found and (job := _JOB.search(message)):
        found["job_id"] = job.group(0)
    if "device_id" not in found and (device := _DEVICE.search(message)):
        found["device_id"] = device.group(1) or device.group(2)
    if "pin" not in found and (pin := _PIN.search(message)):
        found["pin"] = pin.group(1)
    return found


class _Base(logging.Formatter):
    def __init__(self, *, journald: bool, known: Iterable[str] = ()) -> None:
        super().__init__()
        self.journald = journald
        self.known = tuple(known)

    def message(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redact(text, self.known)

    def prefix(self, record: logging.LogRecord) -> str:
        if not self.journald:
            return ""
        if (known := _PREFIXES.get(record.levelno)) is not None:  # the usual levels: a lookup
            return known
        level = max((lv for lv in PRIORITY if lv <= record.levelno), default=logging.DEBUG)
        return f"<{PRIORITY[level]}>"


class TextFormatter(_Base):
    """``2026-12-01T10:00:00.123+00:00 INFO modemd.runtime.worker: job ... sent``."""

    def __init__(self, *, journald: bool, known: Iterable[str] = ()) -> None:
        super().__init__(journald=journald, known=known)
        self._second = -1  # the whole second whose local time (with its ".") and offset are below
        self._clock = self._zone = ""

    def format(self, record: logging.LogRecord) -> str:
        body = f"{record.name}: {self.message(record)}"
        if self.journald:  # journald adds time and host; the priority says the level
            return self.prefix(record) + body
        return f"{self.stamp(record.created)} {record.levelname} {body}"

    def stamp(self, created: float) -> str:
        """``datetime.fromtimestamp(created).astimezone().isoformat("T", "milliseconds")``,
        with the local time zone looked up once a second (it was a quarter of a line's cost)."""
        second = int(created)
        micro = round((created - second) * 1e6)  # rounded as fromtimestamp rounds
        if micro >= 1_000_000:
            second, micro = second + 1, micro - 1_000_000
        if second != self._second:
            whole = datetime.fromtimestamp(second).astimezone().isoformat("T", "seconds")
            self._second, self._clock, self._zone = second, whole[:19] + ".", whole[19:]
        return self._clock + _MILLISECONDS[micro // 1000] + self._zone


class JsonFormatter(_Base):
    """One JSON object per line: ts (not under journald), level, logger, event, message and
    the job_id/device_id/pin fields found."""

    def format(self, record: logging.LogRecord) -> str:
        message = self.message(record)
        line: dict[str, Any] = {}
        if not self.journald:
            line["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            )
        line.update(
            level=record.levelname.lower(),
            logger=record.name,
            event=_event(record),
            message=message,
            **fields_of(record, message),
        )
        return self.prefix(record) + json.dumps(line, ensure_ascii=False)


class BatchedStreamHandler(logging.StreamHandler):
    """A stream handler that writes the lines below WARNING logged while an event loop runs
    together, at most ``LOG_FLUSH_S`` after the first of them. Any other line (WARNING and
    above, or one logged where no loop runs) is written at once, after those waiting; so is
    everything at ``flush`` (``logging.shutdown`` at exit). A kill -9 loses at most the last
    ``LOG_FLUSH_S`` of INFO and DEBUG lines."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._waiting: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the one a flush is due on

    def handle(self, record: logging.LogRecord) -> bool:
        """``Handler.handle``: the filters (when there are any), then ``emit`` under the
        handler's lock, taken with ``with`` (not two method calls around it)."""
        if self.filters:
            passed = self.filter(record)
            if not passed:
                return False
            if isinstance(passed, logging.LogRecord):  # 3.12: a filter may return a new one
                record = passed
        with self.lock:  # type: ignore[union-attr]
            self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:  # called with the handler's lock held (``handle``)
            self._waiting.append(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING or not self._flush_due():
                self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _flush_due(self) -> bool:
        """True when a flush is due on a running loop (this thread's, due from now on)."""
        if self._loop is not None and self._loop.is_running():
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._loop = loop
        loop.call_later(LOG_FLUSH_S, self._flush_due_now)
        return True

    def _flush_due_now(self) -> None:
        try:
            self.flush()
        except Exception:  # the stream failed (journald gone): said as a line's failure is
            self.handleError(logging.makeLogRecord({"msg": "lines written together"}))

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._loop = None
            waiting, self._waiting = self._waiting, []  # written once, even if the write fails
            if waiting:
                self.stream.write("".join(waiting))
            super().flush()


def configure(
    level: int,
    log_format: str = "text",
    *,
    known_secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Replace the root logger's handlers with one writing ``log_format`` to ``stream``."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    journald = bool((os.environ if environ is None else environ).get("JOURNAL_STREAM"))
    kind = JsonFormatter if log_format == "json" else TextFormatter
    # No line shows the thread or the process: not looked up per record (a getpid() each);
    # nor the caller's file, function and line: no walk up the stack per record (4 us of the
    # 13 of a record handled, timeit under load; one record a send)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # the logging module's documented switch for the caller lookup
    handler = BatchedStreamHandler(stream or sys.stderr)
    handler.setFormatter(kind(journald=journald, known=known_secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
