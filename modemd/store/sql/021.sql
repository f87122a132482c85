-- fewer b-trees per send: job_parts' device index only for parts sent without an ICCID (a modem's parts are counted by SIM), the outbox's pending index only for pending events, dead letters in their own
DROP INDEX job_parts_device_sent;
CREATE INDEX job_parts_device_sent ON job_parts(device_id, iccid, sent_at) WHERE iccid = '';
DROP INDEX events_pending;
CREATE INDEX events_pending ON events(state, next_attempt_at) WHERE state = 'pending';
CREATE INDEX events_failed ON events(state, seq) WHERE state = 'failed'
