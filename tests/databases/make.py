"""Write ``schema_vN.db``: a database as modemd left it at schema version N, with data in it.

Run once when a migration is added (``python tests/databases/make.py N``); the files are kept,
never regenerated for old versions: they are what an installation of that version has on disk.
Each row below carries every column any version had; a version's file gets the columns its
tables have. Times are fixed so the files are reproducible."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from modemd.store.migrations import MIGRATIONS  # noqa: E402

T0 = 1_764_000_000.0  # 2025-11-24, fixed
IPN_URL = "http://127.0.0.1:9/ipn"

KEY = {
    "key_id": 1,
    "prefix": "mdk_oldkey123",
    "hash": "0" * 64,
    "pin": "4711",
    "allow_ips": "[]",
    "over_ip": 1,
    "ipn_url": IPN_URL,
    "label": "shop",
    "created_at": T0,
    "revoked_at": None,
    "cors_origins": "[]",
    "default_country": "IT",
    "rate_limit": None,
    "events": None,  # v11: the default set
}


def job(n: int, state: str, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": f"job_old{n}",
        "key_id": 1,
        "pin": "4711",
        "to_number": f"+39333000000{n}",
        "message": f"message {n} àè",
        "id_device": None,
        "state": state,
        "device_id": None if state == "queued" else "350000990000001",
        "parts": 1,
        "encoding": "ucs2",
        "attempts": 0 if state == "queued" else 1,
        "error": None,
        "created_at": T0 + n,
        "updated_at": T0 + n + 1,
        "sent_at": None if state == "queued" else T0 + n + 1,
        "final_at": T0 + n + 2 if state == "delivered" else None,
        **extra,
    }


JOBS = [job(1, "queued"), job(2, "sent"), job(3, "delivered")]
PARTS = [
    {
        "job_id": "job_old2",
        "part": 1,
        "device_id": "350000990000001",
        "mr": 12,
        "state": "sent",
        "tp_status": None,
        "sent_at": T0 + 3,
        "report_at": None,
    },
    {
        "job_id": "job_old3",
        "part": 1,
        "device_id": "350000990000001",
        "mr": 13,
        "state": "delivered",
        "tp_status": 0,
        "sent_at": T0 + 4,
        "report_at": T0 + 5,
    },
]
REPORTS = [
    {
        "report_id": 1,
        "device_id": "350000990000001",
        "mr": 13,
        "recipient": "+393330000003",
        "tp_status": 0,
        "outcome": "delivered",
        "detail": "TP-Status 0x00",
        "job_id": "job_old3",
        "received_at": T0 + 5,
    },
]


def event(n: int, job_id: str, type_: str, state: str, attempts: int) -> dict[str, Any]:
    payload = (
        f'{{"type":"{type_}","event_id":"evt_old{n}","timestamp":"2025-11-24T16:00:0{n}.000+00:00"'
        f',"data":{{"job_id":"{job_id}","pin":"4711","status":"{type_[4:]}"}}}}'
    )
    return {
        "seq": n,
        "event_id": f"evt_old{n}",
        "job_id": job_id,
        "key_id": 1,
        "type": type_,
        "payload": payload,
        "state": state,
        "attempts": attempts,
        "next_attempt_at": T0 + n,
        "last_error": "HTTP 500" if state == "failed" else None,
        "created_at": T0 + n,
        "delivered_at": T0 + n if state == "delivered" else None,
        "schedule_base": 0,
    }


EVENTS = [
    event(1, "job_old2", "sms.sent", "pending", 0),
    event(2, "job_old3", "sms.sent", "delivered", 1),
    event(3, "job_old3", "sms.delivered", "failed", 8),
]
ATTEMPTS = [
    {"event_id": "evt_old2", "attempt": 1, "at": T0 + 2, "http_status": 200, "error": None},
    {"event_id": "evt_old3", "attempt": 1, "at": T0 + 3, "http_status": 500, "error": "HTTP 500"},
]
WALLETS = [{"key_id": 1, "created_at": T0}]
PRICES = [{"destination": "IT", "per_part": 500, "updated_at": T0}]
LEDGER = [  # a top-up of 10.00; job 2 reserved, then charged (sent); job 1 reserved (queued)
    {
        "entry_id": 1,
        "key_id": 1,
        "job_id": None,
        "kind": "topup",
        "amount": 100_000,
        "note": "",
        "created_at": T0,
    },
    {
        "entry_id": 2,
        "key_id": 1,
        "job_id": "job_old2",
        "kind": "reserve",
        "amount": -500,
        "note": "",
        "created_at": T0 + 2,
    },
    {
        "entry_id": 3,
        "key_id": 1,
        "job_id": "job_old2",
        "kind": "release",
        "amount": 500,
        "note": "",
        "created_at": T0 + 3,
    },
    {
        "entry_id": 4,
        "key_id": 1,
        "job_id": "job_old2",
        "kind": "charge",
        "amount": -500,
        "note": "sent",
        "created_at": T0 + 3,
    },
    {
        "entry_id": 5,
        "key_id": 1,
        "job_id": "job_old1",
        "kind": "reserve",
        "amount": -500,
        "note": "",
        "created_at": T0 + 1,
    },
]
DEVICES = [
    {
        "device_id": "350000990000001",
        "pin": "4711",
        "kind": "modem",
        "port": "/dev/ttyUSB2",
        "state": "offline",
        "signal": 20,
        "first_seen": T0,
        "last_seen": T0 + 5,
    },
]
ENDPOINTS = [  # from schema 3 on (older files exercise the sender creating it)
    {
        "key_id": 1,
        "secret": "whsec_" + "QUJD" * 8,
        "previous_secret": None,
        "previous_until": None,
        "format": "json",
        "disabled_at": None,
        "disabled_reason": None,
    },
]
ROWS = {
    "devices": DEVICES,
    "api_keys": [KEY],
    "jobs": JOBS,
    "job_parts": PARTS,
    "status_reports": REPORTS,
    "events": EVENTS,
    "event_attempts": ATTEMPTS,
    "wallets": WALLETS,
    "prices": PRICES,
    "ledger": LEDGER,
    "ipn_endpoints": ENDPOINTS,
}


def write(version: int) -> Path:
    path = HERE / f"schema_v{version}.db"
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    conn.execute("BEGIN")
    for number, name, sql in MIGRATIONS[:version]:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (number, name, T0))
    for table, rows in ROWS.items():
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        if not columns:
            continue  # the table came later
        for row in rows:
            present = [c for c in columns if c in row]
            conn.execute(
                f"INSERT INTO {table} ({', '.join(present)}) VALUES "
                f"({', '.join('?' * len(present))})",
                [row[c] for c in present],
            )
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.close()
    return path


if __name__ == "__main__":
    versions = [int(v) for v in sys.argv[1:]] or [m[0] for m in MIGRATIONS]
    for v in versions:
        print(write(v))
