"""TP-Status (23.040 9.2.3.15) -> what it means for a job. A table, not scattered ifs."""

from __future__ import annotations

import enum


class ReportOutcome(enum.StrEnum):
    DELIVERED = "delivered"  # 0x00-0x1F: transaction completed
    PENDING = "pending"  # 0x20-0x3F: SC still trying; a later report follows. Also bit 7 set
    FAILED = "failed"  # 0x40-0x7F: permanent error, or temporary with the SC no longer trying


def classify_tp_status(status: int) -> ReportOutcome:
    """Map a raw TP-ST octet to its outcome."""
    raise NotImplementedError
