"""SMS encoding and PDUs. The inbound face: decode a DELIVER, reassemble parts, build DELIVERs.

Outbound (SUBMIT, status reports) lives in ``modemd.sms.pdu``, ``encoding`` and ``status``.
"""

from modemd.sms.concat import InboundMessage, Reassembler
from modemd.sms.dcs import Alphabet
from modemd.sms.deliver import Deliver, decode_deliver
from modemd.sms.deliver_build import build_deliver
from modemd.sms.tpdu import Address

__all__ = [
    "Address",
    "Alphabet",
    "Deliver",
    "InboundMessage",
    "Reassembler",
    "build_deliver",
    "decode_deliver",
]
