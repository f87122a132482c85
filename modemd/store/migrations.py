"""Numbered schema migrations, written for SQLite (``store.schema`` applies them to either
engine). Append only: a released migration is never edited."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "devices, keys, jobs with parts, events outbox, status reports",
        """
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
        """,
    ),
    (
        2,
        "key settings (CORS origins, default country, rate limit, rotation); wallets and ledger",
        """
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
        """,
    ),
    (
        3,
        "signed IPN endpoints (secret, rotation, format, disable); dead letters; expiry",
        """
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
        """,
    ),
    (
        4,
        "delivery reports in model terms: outcome and detail; TP-Status only from modems",
        """
        CREATE TABLE status_reports_v4 (
            report_id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            mr INTEGER NOT NULL,             -- the part's reference (a modem's TP-MR)
            recipient TEXT NOT NULL,
            outcome TEXT NOT NULL,           -- delivered | pending | failed
            detail TEXT NOT NULL,            -- plain words: 'TP-Status 0x45', the app's state
            tp_status INTEGER,               -- NULL: the device gave no TP-Status (a phone)
            job_id TEXT,                     -- NULL: matched no sent part (kept, logged)
            received_at REAL NOT NULL
        );
        INSERT INTO status_reports_v4
            SELECT report_id, device_id, mr, recipient,
                CASE WHEN tp_status < 32 THEN 'delivered' WHEN tp_status < 64 THEN 'pending'
                     WHEN tp_status < 128 THEN 'failed' ELSE 'pending' END,
                printf('TP-Status 0x%02X', tp_status), tp_status, job_id, received_at
            FROM status_reports;
        DROP TABLE status_reports;
        ALTER TABLE status_reports_v4 RENAME TO status_reports
        """,
    ),
    (
        5,
        "operator console password; readiness probe; indexes for charts and per-device counts",
        """
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
        """,
    ),
    (
        6,
        "conversations: contact lists, opt-outs, keyword rules, automatic replies, surveys",
        """
        ALTER TABLE api_keys ADD COLUMN transactional INTEGER NOT NULL DEFAULT 0;  -- OTP, alerts
        CREATE TABLE contact_lists (
            list_id INTEGER PRIMARY KEY,
            pin TEXT NOT NULL,
            name TEXT NOT NULL,              -- as given, unique per pool whatever its case
            keyword_join INTEGER NOT NULL DEFAULT 1,  -- JOIN <name> subscribes the sender
            welcome_text TEXT,               -- NULL: the default welcome
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX contact_lists_name ON contact_lists(pin, name COLLATE NOCASE);
        CREATE TABLE list_members (
            list_id INTEGER NOT NULL REFERENCES contact_lists(list_id) ON DELETE CASCADE,
            number TEXT NOT NULL,            -- E.164
            name TEXT NOT NULL DEFAULT '',
            fields TEXT NOT NULL DEFAULT '{}',  -- JSON object: more columns, for placeholders
            source TEXT NOT NULL,            -- api | cli | import | keyword
            added_at REAL NOT NULL,
            PRIMARY KEY (list_id, number)
        );
        CREATE TABLE optout_changes (
            change_id INTEGER PRIMARY KEY,   -- the newest row of a (pin, number) is its state
            pin TEXT NOT NULL,
            number TEXT NOT NULL,            -- E.164
            opted_out INTEGER NOT NULL,      -- 1: out, 0: back in
            source TEXT NOT NULL,            -- keyword | api | import | cli
            message TEXT,                    -- the text that caused it (a keyword's message)
            device_id TEXT,                  -- the device that received that message
            changed_at REAL NOT NULL
        );
        CREATE INDEX optout_changes_number ON optout_changes(pin, number, change_id);
        CREATE TABLE keyword_rules (
            rule_id INTEGER PRIMARY KEY,
            pin TEXT NOT NULL,
            kind TEXT NOT NULL,              -- exact | prefix | regex | default
            pattern TEXT NOT NULL DEFAULT '',
            reply TEXT NOT NULL,             -- template with {from} {text} {name} and list fields
            priority INTEGER NOT NULL DEFAULT 100,  -- lower first, then rule_id
            period_s INTEGER NOT NULL,       -- at most one reply per number in this period
            enabled INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL
        );
        CREATE TABLE auto_replies (
            reply_id INTEGER PRIMARY KEY,
            pin TEXT NOT NULL,
            number TEXT NOT NULL,
            rule TEXT NOT NULL,              -- rule:<id> | stop | start | help | join | survey
            text TEXT NOT NULL,
            id_device TEXT,                  -- the device that received the message (preferred)
            state TEXT NOT NULL,             -- waiting (quiet hours) | queued (job made)
            due_at REAL NOT NULL,
            job_id TEXT,
            cause TEXT NOT NULL DEFAULT '',  -- the message answered
            created_at REAL NOT NULL
        );
        CREATE INDEX auto_replies_rate ON auto_replies(pin, number, rule, created_at);
        CREATE INDEX auto_replies_due ON auto_replies(state, due_at);
        CREATE TABLE surveys (
            survey_id INTEGER PRIMARY KEY,
            pin TEXT NOT NULL,
            name TEXT NOT NULL,
            questions TEXT NOT NULL,         -- JSON list, fixed at creation
            timeout_s INTEGER NOT NULL,      -- a session with no answer for this long ends
            max_retries INTEGER NOT NULL,    -- retry prompts per question before giving up
            completion_text TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX surveys_name ON surveys(pin, name COLLATE NOCASE);
        CREATE TABLE survey_sessions (
            session_id INTEGER PRIMARY KEY,
            survey_id INTEGER NOT NULL REFERENCES surveys(survey_id),
            pin TEXT NOT NULL,
            number TEXT NOT NULL,
            state TEXT NOT NULL,  -- active | completed | timed_out | abandoned | replaced
            question INTEGER NOT NULL,       -- index of the question awaiting its answer
            retries INTEGER NOT NULL DEFAULT 0,
            started_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            ended_at REAL
        );
        CREATE INDEX survey_sessions_number ON survey_sessions(pin, number, state, session_id);
        CREATE TABLE survey_answers (
            session_id INTEGER NOT NULL REFERENCES survey_sessions(session_id),
            question INTEGER NOT NULL,
            value TEXT NOT NULL,             -- normalised: choice key, yes/no, number, text
            raw TEXT NOT NULL,               -- the message as received
            answered_at REAL NOT NULL,
            PRIMARY KEY (session_id, question)
        );
        """,
    ),
    (
        7,
        "security: idempotency keys, refused destinations, premium numbers per key, audit log",
        """
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
        """,
    ),
    (
        8,
        "lanes, send_at, valid_until; campaigns with their recipients; schedules and their runs",
        """
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
        """,
    ),
    (
        9,
        "device health: operator, registration, own number, last error and success, recovery",
        """
        -- what a health check and the recovery ladder learnt (comments before each statement:
        -- ADD COLUMN copies its text into the table's schema)
        -- AT+COPS? long name, home or roaming or searching ..., AT+CNUM when the SIM knows it
        ALTER TABLE devices ADD COLUMN operator TEXT;
        ALTER TABLE devices ADD COLUMN registration TEXT;
        ALTER TABLE devices ADD COLUMN own_number TEXT;
        -- why it last failed (plain words) and when, and its last send the network took
        ALTER TABLE devices ADD COLUMN last_error TEXT;
        ALTER TABLE devices ADD COLUMN last_error_at REAL;
        ALTER TABLE devices ADD COLUMN last_success_at REAL;
        -- the recovery step that last revived it
        ALTER TABLE devices ADD COLUMN recovered_after TEXT
        """,
    ),
    (
        10,
        "inbound SMS, each stored once (its natural key per device)",
        """
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
        """,
    ),
    (
        11,
        "each key chooses the IPN event types it receives",
        """
        -- a JSON list of event types, NULL: every type of before inbound SMS (all but
        -- sms.received), so receivers written for them get nothing new unasked
        ALTER TABLE api_keys ADD COLUMN events TEXT
        """,
    ),
    (
        12,
        "caps follow the SIM: each sent part keeps the ICCID it went out on",
        """
        -- the SIM (ICCID) that sent the part, empty for a device without one (a phone)
        ALTER TABLE job_parts ADD COLUMN iccid TEXT NOT NULL DEFAULT '';
        UPDATE job_parts SET iccid = COALESCE(
            (SELECT d.iccid FROM devices d WHERE d.device_id = job_parts.device_id), '');
        CREATE INDEX job_parts_iccid_sent ON job_parts(iccid, sent_at);
        CREATE INDEX jobs_pin_sent ON jobs(pin, sent_at)
        """,
    ),
    (
        13,
        "idempotency keys of sends to several recipients",
        """
        CREATE TABLE idempotent_batches (
            key_id INTEGER NOT NULL REFERENCES api_keys(key_id),
            idempotency_key TEXT NOT NULL,   -- the client's Idempotency-Key, as sent
            request_hash TEXT NOT NULL,      -- sha256 of the normalised request
            outcomes TEXT NOT NULL,          -- JSON, per recipient: to, job_id, refusal, detail
            created_at REAL NOT NULL,        -- a key is remembered 24 h
            PRIMARY KEY (key_id, idempotency_key)
        );
        CREATE INDEX idempotent_batches_created ON idempotent_batches(created_at)
        """,
    ),
    (
        14,
        "hosts sharing one database: heartbeats, the host of each device, IPN leases",
        """
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
        """,
    ),
]
