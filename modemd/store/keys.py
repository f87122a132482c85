"""API keys: only a SHA-256 of each key is stored; lookups by a short prefix, comparison in
constant time. Keys are 32 random bytes, so a fast hash is enough (no password stretching)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import sqlite_utils

from modemd.model import ApiKey

KEY_PREFIX = "mdk_"
LOOKUP_CHARS = 12  # characters of the key kept in clear for lookup (prefix included)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        pin=row["pin"],
        allow_ips=tuple(json.loads(row["allow_ips"])),
        over_ip=bool(row["over_ip"]),
        ipn_url=row["ipn_url"],
        label=row["label"],
    )


def create_key(
    db: sqlite_utils.Database,
    *,
    pin: str,
    allow_ips: list[str],
    over_ip: bool,
    ipn_url: str | None,
    label: str = "",
) -> tuple[ApiKey, str]:
    """Create a key; return it and the secret, which is never stored nor shown again."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    db.table("api_keys").insert(
        {
            "prefix": secret[:LOOKUP_CHARS],
            "hash": _hash(secret),
            "pin": pin,
            "allow_ips": json.dumps(allow_ips),
            "over_ip": int(over_ip),
            "ipn_url": ipn_url,
            "label": label,
            "created_at": time.time(),
            "revoked_at": None,
        }
    )
    row = db.execute("SELECT last_insert_rowid()").fetchone()
    return _key(db.table("api_keys").get(row[0])), secret


def find_key(db: sqlite_utils.Database, secret: str) -> ApiKey | None:
    """The live key ``secret`` is, or None."""
    if not secret.startswith(KEY_PREFIX) or len(secret) <= LOOKUP_CHARS:
        return None
    rows = list(
        db.table("api_keys").rows_where(
            "prefix = ? AND revoked_at IS NULL", [secret[:LOOKUP_CHARS]]
        )
    )
    for row in rows:
        if hmac.compare_digest(row["hash"], _hash(secret)):
            return _key(row)
    return None


def list_keys(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT key_id, prefix, pin, allow_ips, over_ip, ipn_url, label, created_at, "
            "revoked_at FROM api_keys ORDER BY key_id"
        )
    )
