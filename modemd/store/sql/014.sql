-- hosts sharing one database: heartbeats, the host of each device, IPN leases
CREATE TABLE hosts (
    host_id TEXT PRIMARY KEY,        -- --host-id / server.host_id (default: machine id)
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,      -- a host silent for the lease timeout is dead
    down_at REAL                     -- when another host took over after its death
);
ALTER TABLE devices ADD COLUMN host_id TEXT;     -- the host the device is attached to
ALTER TABLE events ADD COLUMN lease_host TEXT;   -- the host posting it now ...
ALTER TABLE events ADD COLUMN lease_until REAL;  -- ... until then (then anyone may)
CREATE INDEX devices_host ON devices(host_id)
