"""What the runtime tells an observer (the metrics) about each send; nothing by default."""

from __future__ import annotations

from typing import Protocol

from modemd.errors import SendError
from modemd.model import Job

__all__ = ["NO_OBSERVER", "SendObserver", "send_result"]


class SendObserver(Protocol):
    def send_started(self, job: Job, device_id: str) -> None:
        """``device_id`` is about to submit ``job`` (AT+CMGS, or the phone's POST)."""

    def send_finished(self, job: Job, device_id: str, result: str, seconds: float) -> None:
        """The send ended with ``result`` (see ``send_result``) after ``seconds``."""


class _Nobody:
    def send_started(self, job: Job, device_id: str) -> None:
        pass

    def send_finished(self, job: Job, device_id: str, result: str, seconds: float) -> None:
        pass


NO_OBSERVER: SendObserver = _Nobody()


def send_result(error: SendError | None) -> str:
    """A bounded label for a send's outcome: ok, cms_<code>, unknown (maybe sent), error."""
    if error is None:
        return "ok"
    if error.code is not None:
        return f"cms_{error.code}"
    return "error" if error.outcome_known else "unknown"
