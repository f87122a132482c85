-- signed IPN endpoints (secret, rotation, format, disable); dead letters; expiry
CREATE TABLE ipn_endpoints (
    key_id INTEGER PRIMARY KEY REFERENCES api_keys(key_id),
    secret TEXT NOT NULL,            -- whsec_<base64>: Standard Webhooks signing secret
    previous_secret TEXT,            -- also signed with until previous_until (rotation)
    previous_until REAL,
    format TEXT NOT NULL DEFAULT 'json',  -- json | form (GenioApi-era scripts)
    disabled_at REAL,                -- the endpoint answered 410 Gone
    disabled_reason TEXT
);
ALTER TABLE events ADD COLUMN schedule_base INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_job ON events(job_id, seq);
CREATE INDEX job_parts_state ON job_parts(state, sent_at);
