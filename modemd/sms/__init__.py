"""SMS encoding and PDUs. The inbound face: decode a DELIVER, reassemble parts, build DELIVERs.

Outbound (SUBMIT, status reports) lives in ``modemd.sms.pdu``, ``encoding`` and ``status``.
"""

from modemd.sms.concat import InboundMessage, Reassembler
from modemd.sms.dcs import Alphabet
from modemd.sms.deliver import Deliver, decode_deliver
from modemd.sms.deliver_build import build_deliver
from modemd.sms.encoding import split_message
from modemd.sms.pdu import (
    StatusReport,
    build_submit_pdus,
    parse_status_report_pdu,
    parse_status_report_text,
)
from modemd.sms.status import classify_tp_status, delivery_report, is_reserved_tp_status
from modemd.sms.tpdu import Address

__all__ = [
    "Address",
    "Alphabet",
    "Deliver",
    "InboundMessage",
    "Reassembler",
    "StatusReport",
    "build_deliver",
    "build_submit_pdus",
    "classify_tp_status",
    "decode_deliver",
    "delivery_report",
    "is_reserved_tp_status",
    "parse_status_report_pdu",
    "parse_status_report_text",
    "split_message",
]
