-- lanes, send_at, valid_until; campaigns with their recipients; schedules and their runs
ALTER TABLE jobs ADD COLUMN lane TEXT NOT NULL DEFAULT 'high';  -- high | bulk
ALTER TABLE jobs ADD COLUMN send_at REAL;        -- not before (NULL: at once)
ALTER TABLE jobs ADD COLUMN valid_until REAL;    -- queued past it: lapsed
ALTER TABLE jobs ADD COLUMN campaign_id TEXT;    -- the campaign that queued it
CREATE INDEX jobs_feed ON jobs(state, pin, lane, seq);
CREATE INDEX jobs_campaign ON jobs(campaign_id, state);
ALTER TABLE api_keys ADD COLUMN lane TEXT;              -- default lane of its sends
ALTER TABLE api_keys ADD COLUMN max_queue_age_s REAL;   -- NULL: 24 h
CREATE TABLE campaigns (
    campaign_id TEXT PRIMARY KEY,    -- cmp_<hex>
    key_id INTEGER NOT NULL REFERENCES api_keys(key_id),
    pin TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    template TEXT NOT NULL,
    state TEXT NOT NULL,             -- see model.CampaignState
    reason TEXT,                     -- why it is paused or failed
    lane TEXT NOT NULL DEFAULT 'bulk',
    rate_per_min INTEGER,            -- NULL: as fast as the pool goes
    send_at REAL,                    -- start no earlier
    ttl_s REAL,                      -- a job still queued this long after it may go lapses
    report TEXT NOT NULL,            -- the validation report (JSON)
    schedule_id TEXT,                -- the schedule whose slot made it
    slot REAL,                       -- that slot (Unix seconds)
    progress_every_s REAL NOT NULL DEFAULT 10,  -- campaign.progress at most this often
    progress_at REAL,                -- last campaign.progress event
    total INTEGER NOT NULL DEFAULT 0,   -- valid recipients
    queued INTEGER NOT NULL DEFAULT 0,  -- of them, made jobs so far
    queued_row INTEGER NOT NULL DEFAULT 0,  -- recipients up to this row are jobs
    opted_out INTEGER NOT NULL DEFAULT 0,   -- recipients skipped: opted out by then
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE UNIQUE INDEX campaigns_slot ON campaigns(schedule_id, slot);
CREATE INDEX campaigns_state ON campaigns(state);
CREATE TABLE campaign_recipients (
    campaign_id TEXT NOT NULL REFERENCES campaigns(campaign_id),
    row INTEGER NOT NULL,            -- line in the file (1: the header)
    to_number TEXT NOT NULL,         -- E.164
    country TEXT,                    -- ISO region (pricing)
    message TEXT NOT NULL,           -- the template filled in
    parts INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    job_id TEXT,                     -- NULL until queued
    PRIMARY KEY (campaign_id, row)
);
CREATE TABLE schedules (
    schedule_id TEXT PRIMARY KEY,    -- sch_<hex>
    key_id INTEGER NOT NULL REFERENCES api_keys(key_id),
    pin TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,              -- cron | rrule
    expression TEXT NOT NULL,
    timezone TEXT NOT NULL,
    missed TEXT NOT NULL,            -- skip | run_once: slots missed while down
    template TEXT NOT NULL,
    recipients TEXT NOT NULL,        -- JSON list of validated, filled-in recipients
    report TEXT NOT NULL,            -- their validation report (JSON)
    lane TEXT NOT NULL DEFAULT 'bulk',
    ttl_s REAL,                      -- of each run's jobs
    start REAL NOT NULL,             -- the rule's epoch (RRULE's DTSTART)
    anchor TEXT,                     -- wall time an RRULE restarts from (its last slot)
    next_slot REAL,                  -- NULL: it never fires again
    last_slot REAL,                  -- the last slot dealt with (run or skipped)
    created_at REAL NOT NULL,
    deleted_at REAL
);
