"""IPN delivery: ``IpnSender`` posts committed outbox events, signed as Standard Webhooks
(``signing``: ``sign``, ``verify``, ``signature_header``), retries and dead-letters them."""

from modemd.webhooks.sender import IpnSender
from modemd.webhooks.signing import sign, signature_header, verify

__all__ = ["IpnSender", "sign", "signature_header", "verify"]
