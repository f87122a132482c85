-- security: idempotency keys, refused destinations, premium numbers per key, audit log
CREATE TABLE idempotency_keys (
    key_id INTEGER NOT NULL REFERENCES api_keys(key_id),
    idempotency_key TEXT NOT NULL,   -- the client's Idempotency-Key, as sent
    request_hash TEXT NOT NULL,      -- sha256 of the normalised request (pin, to, msg ...)
    job_id TEXT NOT NULL REFERENCES jobs(job_id),
    created_at REAL NOT NULL,        -- a key is remembered 24 h
    PRIMARY KEY (key_id, idempotency_key)
);
CREATE INDEX idempotency_created ON idempotency_keys(created_at);
CREATE TABLE refusals (              -- sends refused as blocked_destination
    refusal_id INTEGER PRIMARY KEY,
    key_id INTEGER NOT NULL,
    to_number TEXT NOT NULL,
    reason TEXT NOT NULL,            -- premium_rate | shared_cost | short_code | ...
    detail TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX refusals_created ON refusals(created_at);
CREATE INDEX jobs_key_created ON jobs(key_id, created_at);
ALTER TABLE api_keys ADD COLUMN allow_premium INTEGER NOT NULL DEFAULT 0;
CREATE TABLE audit_log (
    audit_id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,             -- socket uid/user, admin token, console session, cli
    action TEXT NOT NULL,            -- key.create | key.revoke | wallet.topup ...
    target TEXT NOT NULL DEFAULT '', -- what it acted on: key 3, '+39', evt_...
    detail TEXT NOT NULL DEFAULT ''
);
