-- conversations: contact lists, opt-outs, keyword rules, automatic replies, surveys
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
