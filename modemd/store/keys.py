"""API keys: only a SHA-256 of each key is stored; lookups by a short prefix, comparison in
constant time. Keys are 32 random bytes, so a fast hash is enough (no password stretching).

A rotation gives the same key (same id, settings, wallet, jobs) a new secret; the old secret may
keep working for a grace period. A revocation ends the key and any grace at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
from typing import Any

import sqlite_utils

from modemd.model import DEFAULT_EVENTS, ApiKey
from modemd.store.db import Store

KEY_PREFIX = "mdk_"
LOOKUP_CHARS = 12  # characters of the key kept in clear for lookup (prefix included)
LISTED = (
    "key_id, prefix, pin, allow_ips, over_ip, ipn_url, label, cors_origins, default_country, "
    "rate_limit, transactional, allow_premium, events, created_at, revoked_at, previous_until"
)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_secret() -> tuple[str, dict[str, str]]:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, {"prefix": secret[:LOOKUP_CHARS], "hash": _hash(secret)}


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        pin=row["pin"],
        allow_ips=tuple(json.loads(row["allow_ips"])),
        over_ip=bool(row["over_ip"]),
        ipn_url=row["ipn_url"],
        label=row["label"],
        cors_origins=tuple(json.loads(row["cors_origins"])),
        default_country=row["default_country"],
        rate_limit=row["rate_limit"],
        transactional=bool(row["transactional"]),
        allow_premium=bool(row["allow_premium"]),
        events=key_events(row["events"]),
    )


def key_events(stored: str | None) -> tuple[str, ...]:
    """A key's IPN event types from its ``events`` column (NULL: the default set)."""
    return DEFAULT_EVENTS if stored is None else tuple(json.loads(stored))


def create_key(
    db: sqlite_utils.Database,
    *,
    pin: str,
    allow_ips: list[str] | tuple[str, ...],
    over_ip: bool,
    ipn_url: str | None,
    label: str = "",
    cors_origins: list[str] | tuple[str, ...] = (),
    default_country: str | None = None,
    rate_limit: int | None = None,
    transactional: bool = False,
    allow_premium: bool = False,
    events: list[str] | tuple[str, ...] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; return it and the secret, which is never stored nor shown again."""
    secret, stored = _new_secret()
    table = db.table("api_keys").insert(
        {
            **stored,
            "pin": pin,
            "allow_ips": json.dumps(list(allow_ips)),
            "over_ip": int(over_ip),
            "ipn_url": ipn_url,
            "label": label,
            "cors_origins": json.dumps(list(cors_origins)),
            "default_country": default_country,
            "rate_limit": rate_limit,
            "transactional": int(transactional),
            "allow_premium": int(allow_premium),
            "events": json.dumps(list(events)) if events is not None else None,
            "created_at": time.time(),
            "revoked_at": None,
        }
    )
    assert table.last_rowid is not None
    return _key(table.get(table.last_rowid)), secret


def find_key(db: sqlite_utils.Database, secret: str, now: float | None = None) -> ApiKey | None:
    """The live key ``secret`` is (its current secret, or the previous one in its grace)."""
    return find_key_until(db, secret, now)[0]


def find_key_until(
    db: sqlite_utils.Database, secret: str, now: float | None = None
) -> tuple[ApiKey | None, float]:
    """``find_key`` and until when the secret stays valid if nothing changes (a grace's end)."""
    if not secret.startswith(KEY_PREFIX) or len(secret) <= LOOKUP_CHARS:
        return None, 0.0
    now = time.time() if now is None else now
    lookup, digest = secret[:LOOKUP_CHARS], _hash(secret)
    rows = db.query(
        "SELECT * FROM api_keys WHERE revoked_at IS NULL AND "
        "(prefix = ? OR (previous_prefix = ? AND previous_until > ?))",
        [lookup, lookup, now],
    )
    for row in rows:
        current = row["prefix"] == lookup and hmac.compare_digest(row["hash"], digest)
        previous = row["previous_prefix"] == lookup and hmac.compare_digest(
            row["previous_hash"] or "", digest
        )
        if current:
            return _key(row), math.inf
        if previous:
            return _key(row), row["previous_until"]
    return None, 0.0


CACHED_KEYS_MAX = 4096  # live secrets remembered at most (wrong ones never are); then start over


class KeyCache:
    """``find_key`` for the API without a trip to the store's thread for a secret seen before.

    Only live keys are remembered, by the SHA-256 of their secret, and only until their grace
    (if any) ends. Everything is forgotten when the store's generation moves: a change to
    api_keys through the daemon (revoke, rotate, edit), at once; a commit by another process
    (``modemd keys revoke``), within ``DATA_VERSION_POLL_S`` on SQLite, when its NOTIFY
    arrives on PostgreSQL (another host's too)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._generation = store.generation
        self._entries: dict[str, tuple[ApiKey, float]] = {}

    def cached(self, secret: str) -> ApiKey | None:
        """The live key ``secret`` is if it was found before and nothing moved since, else
        None (then ``look_up``): a plain call, where ``find``'s coroutine is one more object and
        frame for the loop per request (the API's hot path asks here first)."""
        if not self._store.watched:  # changes by others would go unseen: no caching
            return None
        generation = self._store.generation
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        cached = self._entries.get(_hash(secret))
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        return None

    async def find(self, secret: str) -> ApiKey | None:
        """The live key ``secret`` is, or None: ``cached``, else ``look_up``."""
        key = self.cached(secret)
        return key if key is not None else await self.look_up(secret)

    async def look_up(self, secret: str) -> ApiKey | None:
        """``find`` after ``cached`` answered None: the store is asked (and a live key
        remembered), without asking the cache again."""
        if not self._store.watched:
            return await self._store.read(find_key, secret)
        generation = self._store.generation
        key, until = await self._store.read(find_key_until, secret, time.time())
        if key is not None and self._store.generation == generation:  # nothing moved meanwhile
            if len(self._entries) >= CACHED_KEYS_MAX:
                self._entries.clear()
            self._entries[_hash(secret)] = (key, until)
        return key


def get_key(db: sqlite_utils.Database, key_id: int) -> ApiKey | None:
    """The live key with this id, or None (unknown or revoked)."""
    rows = list(db.table("api_keys").rows_where("key_id = ? AND revoked_at IS NULL", [key_id]))
    return _key(rows[0]) if rows else None


def key_exists(db: sqlite_utils.Database, key_id: int) -> bool:
    """A key with this id was ever created (revoked ones too: their jobs and ledger remain)."""
    row = db.execute("SELECT 1 FROM api_keys WHERE key_id = ?", [key_id]).fetchone()
    return row is not None


def list_keys(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every key, revoked ones included, never a secret nor a hash."""
    rows = list(db.query(f"SELECT {LISTED} FROM api_keys ORDER BY key_id"))
    for row in rows:
        row["allow_ips"], row["cors_origins"] = (
            json.loads(row["allow_ips"]),
            json.loads(row["cors_origins"]),
        )
        row["over_ip"] = bool(row["over_ip"])
        row["transactional"] = bool(row["transactional"])
        row["allow_premium"] = bool(row["allow_premium"])
        row["events"] = list(key_events(row["events"]))
    return rows


def revoke_key(db: sqlite_utils.Database, key_id: int) -> bool:
    """End the key now (and a rotated-out secret with it); False if unknown or already revoked."""
    cursor = db.execute(
        "UPDATE api_keys SET revoked_at = ?, previous_until = NULL "
        "WHERE key_id = ? AND revoked_at IS NULL",
        [time.time(), key_id],
    )
    return cursor.rowcount == 1


def rotate_key(
    db: sqlite_utils.Database, key_id: int, grace_s: float = 0.0
) -> tuple[ApiKey, str] | None:
    """A new secret for the key; the old one keeps working ``grace_s`` seconds. None: no key."""
    key = get_key(db, key_id)
    if key is None:
        return None
    old = db.table("api_keys").get(key_id)
    secret, stored = _new_secret()
    db.table("api_keys").update(
        key_id,
        {
            **stored,
            "previous_prefix": old["prefix"] if grace_s > 0 else None,
            "previous_hash": old["hash"] if grace_s > 0 else None,
            "previous_until": time.time() + grace_s if grace_s > 0 else None,
        },
    )
    return key, secret


def live_cors_origins(db: sqlite_utils.Database) -> set[str]:
    """Every origin some live key lists (a preflight carries no key to narrow it down)."""
    origins: set[str] = set()
    for (raw,) in db.execute(
        "SELECT cors_origins FROM api_keys WHERE revoked_at IS NULL AND cors_origins != '[]'"
    ):
        origins.update(json.loads(raw))
    return origins
