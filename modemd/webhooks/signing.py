"""Standard Webhooks signatures (HMAC-SHA256, ``v1``). Pure functions, no I/O.

``webhook-signature`` is ``v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``; during a
secret rotation it carries one such entry per live secret, separated by spaces. A secret is
shown to users as ``whsec_<base64 key>``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from modemd.store.endpoints import SECRET_PREFIX  # the store mints secrets in this format


@functools.lru_cache(maxsize=64)
def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<signature>`` entry."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.digest(_key(secret), signed, hashlib.sha256)
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one entry per live secret."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """True when one ``v1`` entry of ``header`` is ``secret``'s signature (constant time)."""
    expected = sign(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, entry) for entry in header.split())
