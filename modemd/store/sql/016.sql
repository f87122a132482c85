-- partial indexes of the queued jobs by send_at and valid_until: the feeder sleeps until the first
CREATE INDEX jobs_queued_send_at ON jobs(state, send_at) WHERE state = 'queued' AND send_at IS NOT NULL;
CREATE INDEX jobs_queued_valid_until ON jobs(state, valid_until) WHERE state = 'queued'
