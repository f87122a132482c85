-- idempotency keys of sends to several recipients
CREATE TABLE idempotent_batches (
    key_id INTEGER NOT NULL REFERENCES api_keys(key_id),
    idempotency_key TEXT NOT NULL,   -- the client's Idempotency-Key, as sent
    request_hash TEXT NOT NULL,      -- sha256 of the normalised request
    outcomes TEXT NOT NULL,          -- JSON, per recipient: to, job_id, refusal, detail
    created_at REAL NOT NULL,        -- a key is remembered 24 h
    PRIMARY KEY (key_id, idempotency_key)
);
CREATE INDEX idempotent_batches_created ON idempotent_batches(created_at)
