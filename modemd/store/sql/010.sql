-- inbound SMS, each stored once (its natural key per device)
CREATE TABLE inbound (
    inbound_id INTEGER PRIMARY KEY,
    natural_key TEXT NOT NULL,       -- equal when the same message is read twice
    pin TEXT NOT NULL,               -- the pool of the device that received it
    device_id TEXT NOT NULL,
    iccid TEXT NOT NULL DEFAULT '',  -- the SIM that received it
    sender TEXT NOT NULL,            -- E.164 when a number, else as received
    text TEXT,                       -- NULL for 8-bit data
    data BLOB,                       -- 8-bit data (or an undecodable PDU, raw)
    encoding TEXT NOT NULL,          -- gsm7 | ucs2 | 8bit | raw
    parts INTEGER NOT NULL,
    incomplete INTEGER NOT NULL DEFAULT 0,  -- parts missing after the timeout
    sent_at REAL,                    -- when the SMSC took it (SCTS)
    received_at REAL NOT NULL,       -- when it was stored here
    reply_to_job_id TEXT,            -- the pool's latest job to this sender, if any
    raw TEXT NOT NULL DEFAULT ''     -- the PDUs as received, space separated
);
CREATE UNIQUE INDEX inbound_key ON inbound(device_id, natural_key);
CREATE INDEX inbound_sender ON inbound(pin, sender, inbound_id);
CREATE INDEX inbound_received ON inbound(received_at)
