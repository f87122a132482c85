"""IPN endpoint settings per key: the signing secret (with rotation), body format, disabling."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

ROTATION_OVERLAP_S = 24 * 3600  # after a rotation the old secret also signs for this long
FORMATS = ("json", "form")
SECRET_PREFIX = "whsec_"  # Standard Webhooks' way of showing a signing secret
SECRET_BYTES = 24  # 192-bit keys, as Svix generates them


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` + base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass(frozen=True, slots=True)
class Endpoint:
    key_id: int
    secret: str
    previous_secret: str | None
    previous_until: float | None
    format: str
    disabled_at: float | None
    disabled_reason: str | None

    def signing_secrets(self, now: float) -> list[str]:
        """The secrets to sign with now: the current one, and the previous during rotation."""
        live = [self.secret]
        if self.previous_secret and self.previous_until and now < self.previous_until:
            live.append(self.previous_secret)
        return live


_COLUMNS = ", ".join(f.name for f in dataclasses.fields(Endpoint))


def get_endpoint(db: sqlite_utils.Database, key_id: int) -> Endpoint | None:
    """The key's endpoint settings; None before its first IPN (a read never creates one)."""
    # plain SQL: every event written asks (sqlite-utils' table() reads the schema each time)
    row = db.execute(f"SELECT {_COLUMNS} FROM ipn_endpoints WHERE key_id = ?", [key_id]).fetchone()
    return None if row is None else Endpoint(*row)


def ensure_endpoint(db: sqlite_utils.Database, key_id: int) -> Endpoint:
    """The key's endpoint settings, created with a fresh secret on first use (a write)."""
    found = get_endpoint(db, key_id)
    if found is not None:
        return found
    row: dict[str, Any] = {
        "key_id": key_id,
        "secret": new_secret(),
        "previous_secret": None,
        "previous_until": None,
        "format": "json",
        "disabled_at": None,
        "disabled_reason": None,
    }
    db.table("ipn_endpoints").insert(row)
    return Endpoint(**row)


def ensure_pending_endpoints(db: sqlite_utils.Database) -> int:
    """Endpoints for keys with pending events but none yet (events from before schema 3, or
    replayed from then): the sender signs only with a stored secret. Returns how many."""
    missing = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT e.key_id FROM events e LEFT JOIN ipn_endpoints p USING (key_id) "
            "WHERE e.state = 'pending' AND p.key_id IS NULL"
        )
    ]
    for key_id in missing:
        ensure_endpoint(db, key_id)
    return len(missing)


def rotate_secret(db: sqlite_utils.Database, key_id: int) -> Endpoint:
    """New secret; the old one keeps signing (second signature) for ``ROTATION_OVERLAP_S``."""
    old = ensure_endpoint(db, key_id)
    db.table("ipn_endpoints").update(
        key_id,
        {
            "secret": new_secret(),
            "previous_secret": old.secret,
            "previous_until": time.time() + ROTATION_OVERLAP_S,
        },
    )
    return ensure_endpoint(db, key_id)


def set_format(db: sqlite_utils.Database, key_id: int, body_format: str) -> Endpoint:
    if body_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    ensure_endpoint(db, key_id)
    db.table("ipn_endpoints").update(key_id, {"format": body_format})
    return ensure_endpoint(db, key_id)


def disable(db: sqlite_utils.Database, key_id: int, reason: str) -> None:
    """Stop posting to the key's endpoint (it said 410 Gone); its pending events dead-letter."""
    ensure_endpoint(db, key_id)
    values = {"disabled_at": time.time(), "disabled_reason": reason}
    db.table("ipn_endpoints").update(key_id, values)
    db.execute(
        "UPDATE events SET state = 'failed', last_error = ? WHERE key_id = ? AND state = 'pending'",
        [f"endpoint disabled: {reason}", key_id],
    )


def enable(db: sqlite_utils.Database, key_id: int) -> None:
    ensure_endpoint(db, key_id)
    db.table("ipn_endpoints").update(key_id, {"disabled_at": None, "disabled_reason": None})
