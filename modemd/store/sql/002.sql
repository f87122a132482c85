-- key settings (CORS origins, default country, rate limit, rotation); wallets and ledger
ALTER TABLE api_keys ADD COLUMN cors_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN default_country TEXT;    -- ISO 3166 alpha-2, e.g. IT
ALTER TABLE api_keys ADD COLUMN rate_limit INTEGER;      -- per minute, NULL: no limit
ALTER TABLE api_keys ADD COLUMN previous_prefix TEXT;    -- the key before a rotation ...
ALTER TABLE api_keys ADD COLUMN previous_hash TEXT;
ALTER TABLE api_keys ADD COLUMN previous_until REAL;     -- ... still valid until then
CREATE INDEX api_keys_previous ON api_keys(previous_prefix);
CREATE TABLE wallets (
    key_id INTEGER PRIMARY KEY REFERENCES api_keys(key_id),  -- a row: credit is checked
    created_at REAL NOT NULL
);
CREATE TABLE prices (
    destination TEXT PRIMARY KEY,    -- '+<digits>' prefix, ISO country 'IT', or '*'
    per_part INTEGER NOT NULL,       -- in 1/10000 of the currency unit
    updated_at REAL NOT NULL
);
CREATE TABLE ledger (
    entry_id INTEGER PRIMARY KEY,
    key_id INTEGER NOT NULL REFERENCES api_keys(key_id),
    job_id TEXT,
    kind TEXT NOT NULL,              -- topup | reserve | release | charge | refund
    amount INTEGER NOT NULL,         -- signed, 1/10000 units, the balance is the sum
    note TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE INDEX ledger_key ON ledger(key_id, entry_id);
CREATE INDEX ledger_job ON ledger(job_id);
