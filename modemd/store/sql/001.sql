-- devices, keys, jobs with parts, events outbox, status reports
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,      -- IMEI for a modem
    pin TEXT NOT NULL,
    kind TEXT NOT NULL,
    port TEXT NOT NULL,
    state TEXT NOT NULL,
    signal INTEGER,
    manufacturer TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    imsi TEXT NOT NULL DEFAULT '',
    iccid TEXT NOT NULL DEFAULT '',
    reports INTEGER NOT NULL DEFAULT 1,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE api_keys (
    key_id INTEGER PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,     -- first characters of the key, for lookup
    hash TEXT NOT NULL,              -- sha256 of the whole key
    pin TEXT NOT NULL,
    allow_ips TEXT NOT NULL DEFAULT '[]',
    over_ip INTEGER NOT NULL DEFAULT 0,
    ipn_url TEXT,
    label TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY,         -- queue order
    job_id TEXT NOT NULL UNIQUE,
    key_id INTEGER NOT NULL REFERENCES api_keys(key_id),
    pin TEXT NOT NULL,
    to_number TEXT NOT NULL,
    message TEXT NOT NULL,
    id_device TEXT,
    state TEXT NOT NULL,
    device_id TEXT,
    parts INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    final_at REAL
);
CREATE INDEX jobs_state ON jobs(state, seq);
CREATE TABLE job_parts (
    job_id TEXT NOT NULL REFERENCES jobs(job_id),
    part INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    mr INTEGER NOT NULL,
    state TEXT NOT NULL,             -- sent | delivered | pending | failed
    tp_status INTEGER,
    sent_at REAL NOT NULL,
    report_at REAL,
    PRIMARY KEY (job_id, part)
);
CREATE INDEX job_parts_mr ON job_parts(device_id, mr, sent_at);
CREATE TABLE status_reports (
    report_id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    mr INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    tp_status INTEGER NOT NULL,
    job_id TEXT,                     -- NULL: matched no sent part (kept, logged)
    received_at REAL NOT NULL
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,   -- stable across retries (webhook-id)
    job_id TEXT NOT NULL,
    key_id INTEGER NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,           -- the JSON body, fixed at creation
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX events_pending ON events(state, next_attempt_at);
CREATE TABLE event_attempts (
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    http_status INTEGER,
    error TEXT,
    PRIMARY KEY (event_id, attempt)
);
