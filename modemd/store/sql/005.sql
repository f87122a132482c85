-- operator console password; readiness probe; indexes for charts and per-device counts
CREATE TABLE console_auth (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,     -- scrypt$n$r$p$salt_hex$hash_hex
    updated_at REAL NOT NULL
);
CREATE TABLE health_probe (          -- /readyz writes and deletes a row here
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    pad BLOB
);
CREATE INDEX jobs_created ON jobs(created_at);
CREATE INDEX job_parts_device_sent ON job_parts(device_id, sent_at);
