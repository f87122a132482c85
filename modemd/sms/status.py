"""TP-Status (23.040 9.2.3.15) -> what it means for a job. A table, not scattered ifs."""

from __future__ import annotations

import enum


class ReportOutcome(enum.StrEnum):
    DELIVERED = "delivered"  # 0x00-0x1F: transaction completed
    PENDING = "pending"  # 0x20-0x3F: SC still trying; a later report follows. Also bit 7 set
    FAILED = "failed"  # 0x40-0x7F: permanent error, or temporary with the SC no longer trying


# Reserved and SC-specific values keep the category of the range they fall in (23.040 9.2.3.15).
_TP_STATUS_RANGES: tuple[tuple[range, ReportOutcome], ...] = (
    (range(0x00, 0x20), ReportOutcome.DELIVERED),  # received, forwarded, replaced, SC-specific
    (range(0x20, 0x40), ReportOutcome.PENDING),  # temporary error, SC still trying
    (range(0x40, 0x60), ReportOutcome.FAILED),  # permanent error, SC is not making more attempts
    (range(0x60, 0x80), ReportOutcome.FAILED),  # temporary error, SC is not making more attempts
    (range(0x80, 0x100), ReportOutcome.PENDING),  # bit 7 set: reserved; the caller logs it
)


def classify_tp_status(status: int) -> ReportOutcome:
    """Map a raw TP-ST octet to its outcome."""
    for statuses, outcome in _TP_STATUS_RANGES:
        if status in statuses:
            return outcome
    raise ValueError(f"TP-Status must be 0..255, got {status!r}")


def is_reserved_tp_status(status: int) -> bool:
    """True for TP-ST values with bit 7 set, which 23.040 reserves (worth a log line)."""
    return 0x80 <= status <= 0xFF
