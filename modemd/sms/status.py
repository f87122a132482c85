"""TP-Status (23.040 9.2.3.15) -> what it means for a job. A table, not scattered ifs.

0x00-0x1F: delivered (transaction completed); 0x20-0x3F: pending (SC still trying, a later
report follows; also bit 7 set); 0x40-0x7F: failed (permanent error, or temporary with the SC
no longer trying)."""

from __future__ import annotations

from modemd.model import DeliveryOutcome, DeliveryReport
from modemd.sms.pdu import StatusReport

# Reserved and SC-specific values keep the category of the range they fall in (23.040 9.2.3.15).
_TP_STATUS_RANGES: tuple[tuple[range, DeliveryOutcome], ...] = (
    (range(0x00, 0x20), DeliveryOutcome.DELIVERED),  # received, forwarded, replaced, SC-specific
    (range(0x20, 0x40), DeliveryOutcome.PENDING),  # temporary error, SC still trying
    (range(0x40, 0x60), DeliveryOutcome.FAILED),  # permanent error, SC is not making more attempts
    (range(0x60, 0x80), DeliveryOutcome.FAILED),  # temporary error, SC is not making more attempts
    (range(0x80, 0x100), DeliveryOutcome.PENDING),  # bit 7 set: reserved; the caller logs it
)


def classify_tp_status(status: int) -> DeliveryOutcome:
    """Map a raw TP-ST octet to its outcome."""
    for statuses, outcome in _TP_STATUS_RANGES:
        if status in statuses:
            return outcome
    raise ValueError(f"TP-Status must be 0..255, got {status!r}")


def is_reserved_tp_status(status: int) -> bool:
    """True for TP-ST values with bit 7 set, which 23.040 reserves (worth a log line)."""
    return 0x80 <= status <= 0xFF


def delivery_report(report: StatusReport) -> DeliveryReport:
    """A status report in model terms (what the runtime and the store understand)."""
    return DeliveryReport(
        reference=report.reference,
        recipient=report.recipient,
        outcome=classify_tp_status(report.status),
        detail=f"TP-Status 0x{report.status:02X}",
        network_status=report.status,
    )
