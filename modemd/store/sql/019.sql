-- partial indexes: the feed's of queued jobs, the campaigns' of campaign jobs, the pools' sends of sent ones (a job's moves rewrite fewer pages)
DROP INDEX jobs_feed;
CREATE INDEX jobs_feed ON jobs(state, pin, lane, seq) WHERE state = 'queued';
DROP INDEX jobs_campaign;
CREATE INDEX jobs_campaign ON jobs(campaign_id, state) WHERE campaign_id IS NOT NULL;
DROP INDEX jobs_pin_sent;
CREATE INDEX jobs_pin_sent ON jobs(pin, sent_at) WHERE sent_at IS NOT NULL
