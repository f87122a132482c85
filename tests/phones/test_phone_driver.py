"""The phone driver against the emulated app over real HTTP: polling alone gets every state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from modemd.drivers.phone_protocol import TRANSIENT_APP_ERRORS, PhoneTimings, app_result
from modemd.emulators.phone import EmulatedPhone
from modemd.emulators.profile import SendRecorder
from modemd.errors import DeviceError, SendError
from modemd.model import DeliveryOutcome, DeviceKind

from .conftest import FAST, Seen

WAIT_S = 5.0
TO = "+393331234567"


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.01)


def on_air(phone: EmulatedPhone) -> list[str]:
    assert phone.recorder is not None
    return [m.to for m in SendRecorder.read(phone.recorder.path)]


async def test_open_reads_identity_and_sets_fifo(make_phone: Any, make_driver: Any) -> None:
    phone = await make_phone()
    info = await make_driver(phone).open()
    assert (info.device_id, info.kind, info.model) == ("phone0", DeviceKind.PHONE, "Emulated Pixel")
    assert info.manufacturer == "modemd" and info.port == phone.url
    assert phone.settings["messages"]["processing_order"] == "FIFO"


async def test_send_returns_at_processed_and_polling_reports_delivery(
    make_phone: Any, make_driver: Any
) -> None:
    phone = await make_phone(delivered_delay_s=0.2)
    seen = Seen()
    driver = make_driver(phone, seen)
    await driver.open()
    parts = await driver.send_sms(TO, "x" * 200)  # two GSM-7 parts, one request
    assert [p.part for p in parts] == [1, 2] and parts[1].mr == parts[0].mr + 1
    assert len(phone.messages) == 1
    (message,) = phone.messages.values()
    assert message.id == f"modemd-{parts[0].mr}-2" and message.phone_numbers == [TO]
    assert message.state.value in ("Processed", "Sent")  # not waiting for delivery
    await until(lambda: len(seen.reports) == 2)
    assert {(r.reference, r.recipient, r.outcome) for r in seen.reports} == {
        (parts[0].mr, TO, DeliveryOutcome.DELIVERED),
        (parts[1].mr, TO, DeliveryOutcome.DELIVERED),
    }


async def test_failed_delivery_is_a_failed_report(make_phone: Any, make_driver: Any) -> None:
    phone = await make_phone(delivery_failure_rate=1.0)
    seen = Seen()
    driver = make_driver(phone, seen)
    await driver.open()
    (part,) = await driver.send_sms(TO, "hello")
    await until(lambda: len(seen.reports) == 1)
    assert (seen.reports[0].reference, seen.reports[0].outcome) == (part.mr, DeliveryOutcome.FAILED)


@pytest.mark.parametrize(
    ("error", "transient"),
    [("RESULT_ERROR_NO_SERVICE", True), ("RESULT_ERROR_GENERIC_FAILURE", False)],
)
async def test_refused_by_the_radio_is_a_known_outcome(
    make_phone: Any, make_driver: Any, error: str, transient: bool
) -> None:
    phone = await make_phone(send_error=error, send_error_rate=1.0, sent_delay_s=1.0)
    driver = make_driver(phone)
    await driver.open()
    with pytest.raises(SendError) as caught:
        await driver.send_sms(TO, "hello")
    assert caught.value.outcome_known and caught.value.transient is transient
    assert error in str(caught.value) and on_air(phone) == []


def test_the_result_is_read_out_of_the_apps_error_sentence() -> None:
    words = "Send result: RESULT_RIL_NETWORK_NOT_READY (The network is not ready to perform it)"
    assert app_result(words) in TRANSIENT_APP_ERRORS
    assert app_result("Send result: RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)") == (
        "RESULT_ERROR_GENERIC_FAILURE"
    )
    assert app_result("sendSMS: Invalid phone number") is None
    assert app_result(None) is None


async def test_timeout_on_send_then_retry_sends_once(make_phone: Any, make_driver: Any) -> None:
    phone = await make_phone()
    phone.stall_posts = 1  # the phone queues the message but its answer never comes
    driver = make_driver(phone, timings=PhoneTimings(http_s=0.3, send_poll_s=0.01, poll_s=0.02))
    await driver.open()
    parts = await driver.send_sms(TO, "once")  # retried with the same id: 409 = it has it
    assert len(parts) == 1 and len(phone.messages) == 1
    await until(lambda: next(iter(phone.messages.values())).state.value == "Delivered")
    assert on_air(phone) == [TO]


async def test_phone_gone_mid_send_is_unknown_never_resent(
    make_phone: Any, make_driver: Any
) -> None:
    phone = await make_phone(process_delay_s=10.0)
    seen = Seen()
    driver = make_driver(phone, seen)
    await driver.open()
    send = asyncio.create_task(driver.send_sms(TO, "hello"), name="send")
    await until(lambda: len(phone.messages) == 1)
    await phone.go_away()
    with pytest.raises(SendError) as caught:
        await send
    assert not caught.value.outcome_known and not caught.value.transient
    assert driver.closed and seen.gone == ["phone0"]
    assert not await driver.probe()


async def test_unreachable_phone_is_a_known_outcome(make_phone: Any, make_driver: Any) -> None:
    phone = await make_phone()
    driver = make_driver(phone)
    await driver.open()
    await phone.go_away()  # refused before anything was sent
    with pytest.raises(SendError) as caught:
        await driver.send_sms(TO, "hello")
    assert caught.value.outcome_known and caught.value.transient


@pytest.mark.parametrize(
    ("knob", "words"),
    [("password", "wrong username or password"), ("html", "text/html"), ("hang", "GET /")],
)
async def test_bad_phone_fails_open_with_a_clear_reason(
    make_phone: Any, make_driver: Any, knob: str, words: str
) -> None:
    phone = await make_phone()
    kwargs: dict[str, Any] = {"timings": PhoneTimings(http_s=0.3)}
    if knob == "password":
        kwargs["password"] = "wrong"
    else:
        setattr(phone, knob, True)
    driver = make_driver(phone, **kwargs)
    with pytest.raises(DeviceError, match=words):
        await driver.open()
    assert driver.closed


async def test_unknown_state_is_logged_and_waited_out(
    make_phone: Any, make_driver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    phone = await make_phone(delivered_delay_s=0.5)
    seen = Seen()
    driver = make_driver(phone, seen)
    await driver.open()
    await driver.send_sms(TO, "hello")
    (message,) = phone.messages.values()
    await until(lambda: message.state.value == "Sent")
    message.recipients[0]["state"] = "Teleported"  # a state a future app version may add
    with caplog.at_level(logging.WARNING, logger="modemd.drivers.phone"):
        await until(lambda: "Teleported" in caplog.text)
    await until(lambda: len(seen.reports) == 1)
    assert seen.reports[0].outcome is DeliveryOutcome.DELIVERED


async def test_restart_resumes_polling_unfinished_messages(
    make_phone: Any, make_driver: Any
) -> None:
    phone = await make_phone(delivered_delay_s=0.5)
    first = make_driver(phone)
    await first.open()
    (part,) = await first.send_sms(TO, "hello")
    await first.close()  # modemd restarts before the report
    seen = Seen()
    await make_driver(phone, seen).open()
    await until(lambda: len(seen.reports) == 1)
    assert (seen.reports[0].reference, seen.reports[0].outcome) == (
        part.mr,
        DeliveryOutcome.DELIVERED,
    )


async def test_gone_while_idle_is_noticed_by_liveness(make_phone: Any, make_driver: Any) -> None:
    phone = await make_phone()
    seen = Seen()
    driver = make_driver(phone, seen, timings=FAST)
    await driver.open()
    await phone.go_away()
    await until(lambda: seen.gone == ["phone0"])
    assert driver.closed
