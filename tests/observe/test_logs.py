"""Log lines: text or JSON with event/job_id/device_id/pin, no timestamps under journald,
syslog priorities, secrets never written; and the daemon itself logging JSON."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

import pytest

from modemd.observe import logs

JOB = "job_18c2f0a1b2cdeadbeef"
IMEI = "350000990000008"


def emit(fmt: str, *, journald: bool = False, level: int = logging.INFO, **kwargs: object) -> str:
    out = io.StringIO()
    environ = {"JOURNAL_STREAM": "8:12345"} if journald else {}
    handler = logs.configure(logging.DEBUG, fmt, stream=out, environ=environ, **kwargs)  # type: ignore[arg-type]
    try:
        logging.getLogger("modemd.runtime.worker").log(
            level, "job %s sent by %s (MR %s)", JOB, IMEI, 7
        )
    finally:
        logging.getLogger().removeHandler(handler)
    return out.getvalue()


def test_json_lines_carry_event_and_ids() -> None:
    line = json.loads(emit("json"))
    assert line["event"] == "job.sent.by.mr"
    assert line["job_id"] == JOB and line["device_id"] == IMEI
    assert line["level"] == "info" and line["logger"] == "modemd.runtime.worker"
    assert line["message"] == f"job {JOB} sent by {IMEI} (MR 7)"
    assert line["ts"].endswith("+00:00")


def test_explicit_fields_win() -> None:
    out = io.StringIO()
    handler = logs.configure(logging.INFO, "json", stream=out, environ={})
    try:
        logging.getLogger("x").info(
            "pool %s has no ready device", "4711", extra={"event": "pool.empty", "pin": "4711"}
        )
    finally:
        logging.getLogger().removeHandler(handler)
    line = json.loads(out.getvalue())
    assert line["event"] == "pool.empty" and line["pin"] == "4711"


def test_no_caller_is_looked_up_and_a_wordless_event_is_the_loggers() -> None:
    out = io.StringIO()
    handler = logs.configure(logging.INFO, "json", stream=out, environ={})
    seen: list[logging.LogRecord] = []
    handler.addFilter(lambda record: seen.append(record) or True)
    try:
        logging.getLogger("modemd.runtime.bank").info("%s", "+31612345678"[:3])
    finally:
        logging.getLogger().removeHandler(handler)
    assert json.loads(out.getvalue())["event"] == "modemd.runtime.bank"
    assert seen[0].funcName == "(unknown function)" and seen[0].lineno == 0  # no stack walk


def test_under_journald_no_timestamp_and_a_syslog_priority() -> None:
    text = emit("text", journald=True, level=logging.WARNING)
    assert text == f"<4>modemd.runtime.worker: job {JOB} sent by {IMEI} (MR 7)\n"
    line = emit("json", journald=True, level=logging.ERROR)
    assert line.startswith("<3>{") and "ts" not in json.loads(line[3:])
    assert emit("text").split(" ")[1] == "INFO"  # on a terminal: time, level, logger


def test_secrets_and_url_credentials_are_never_written() -> None:
    said = (
        "key mdk_AbCdEf0123456789 secret whsec_c2VjcmV0IHNlY3JldA== "
        "Authorization: Bearer admin-token-123 url https://user:pa55@hooks.example/x?apikey=zz9 "
        'password="hunter2hunter2" configured s3cr3t-admin-value'
    )
    out = logs.redact(said, ["s3cr3t-admin-value", "1234"])
    for secret in ("AbCdEf0123456789", "c2VjcmV0", "admin-token-123", "pa55", "zz9", "hunter2"):
        assert secret not in out, out
    assert "s3cr3t-admin-value" not in out
    assert "https://***:***@hooks.example/x" in out
    assert logs.redact("to +393331234567", ["1234"]) == "to +393331234567"  # too short to blank


async def test_the_daemon_logs_json_under_journald(tmp_path: Path) -> None:
    token = "admin-token-for-log-test"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "modemd", "serve", "--simulate", "1", "--port", "0",
        "--db", str(tmp_path / "modemd.db"), "--log-format", "json",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "JOURNAL_STREAM": "8:1", "MODEMD_ADMIN_TOKEN": token,
             "MODEMD_CONFIG": ""},
    )  # fmt: skip
    assert proc.stderr is not None
    lines = []
    try:
        async with asyncio.timeout(60):
            while raw := await proc.stderr.readline():
                lines.append(raw.decode())
                if "API listening" in lines[-1]:
                    break
    finally:
        proc.send_signal(signal.SIGTERM)
        _, tail = await proc.communicate()
        lines += tail.decode().splitlines(keepends=True)
    assert await proc.wait() == 0
    for line in lines:
        assert line[0] == "<" and line[2] == ">", line
        entry = json.loads(line[3:])
        assert {"level", "logger", "event", "message"} <= set(entry) and "ts" not in entry
        assert token not in line
    assert any(json.loads(x[3:]).get("device_id") for x in lines)  # a device's own lines


def test_the_cached_stamp_is_the_local_iso_time() -> None:
    formatter = logs.TextFormatter(journald=False)
    start = 1_790_000_000.0  # several seconds, fractions that round up to the next second too
    for created in [start + n * 0.1234567 for n in range(40)] + [start + 0.9999996, start + 2]:
        expected = datetime.fromtimestamp(created).astimezone().isoformat("T", "milliseconds")
        assert formatter.stamp(created) == expected, created


async def test_lines_of_a_burst_on_the_loop_are_written_together() -> None:
    out = Writes()
    handler = logs.configure(logging.DEBUG, "text", stream=out, environ={"JOURNAL_STREAM": "1"})
    log = logging.getLogger("modemd.runtime.worker")
    try:
        for n in range(5):
            log.info("job %d sent", n)
        assert out.writes == []  # waiting for the burst's end
        log.warning("device %s: weak signal", IMEI)  # written at once, after those before it
        assert "".join(out.writes).splitlines() == [
            *(f"<6>modemd.runtime.worker: job {n} sent" for n in range(5)),
            f"<4>modemd.runtime.worker: device {IMEI}: weak signal",
        ]
        log.debug("job 5 sent")
        async with asyncio.timeout(30):  # the timer writes it (within LOG_FLUSH_S)
            while len(out.writes) < 2:
                await asyncio.sleep(logs.LOG_FLUSH_S)
        assert out.writes[-1] == "<7>modemd.runtime.worker: job 5 sent\n"
        await asyncio.to_thread(log.info, "from the store's thread")  # no loop there: at once
        assert out.writes[-1] == "<6>modemd.runtime.worker: from the store's thread\n"
        log.info("last words")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.flush()  # as logging.shutdown() at exit
    assert out.writes[-1] == "<6>modemd.runtime.worker: last words\n"


def test_outside_a_loop_every_line_is_written_at_once() -> None:
    out = Writes()
    handler = logs.configure(logging.INFO, "text", stream=out, environ={"JOURNAL_STREAM": "1"})
    try:
        asyncio.run(asyncio.sleep(0))  # a loop that ran and is gone leaves nothing due on it
        logging.getLogger("x").info("one")
        assert out.writes == ["<6>x: one\n"]
    finally:
        logging.getLogger().removeHandler(handler)


def test_the_handlers_filters_still_decide() -> None:
    out = Writes()
    handler = logs.configure(logging.INFO, "text", stream=out, environ={"JOURNAL_STREAM": "1"})
    handler.addFilter(lambda record: "secret plan" not in record.getMessage())
    try:
        logging.getLogger("x").info("the secret plan")
        logging.getLogger("x").info("the public one")
        assert out.writes == ["<6>x: the public one\n"]
    finally:
        logging.getLogger().removeHandler(handler)


class Writes(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        self.writes.append(text)
        return len(text)


async def test_a_failing_stream_is_reported_not_raised_on_the_loop(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = Writes()
    handler = logs.configure(logging.INFO, "text", stream=out, environ={"JOURNAL_STREAM": "1"})
    try:
        logging.getLogger("x").info("lost with the stream")
        out.close()  # journald went away
        async with asyncio.timeout(30):
            while "Logging error" not in capsys.readouterr().err:
                await asyncio.sleep(logs.LOG_FLUSH_S)
        logging.getLogger("x").info("the next burst is tried afresh")
    finally:
        logging.getLogger().removeHandler(handler)
