-- a partial index of the deferred queued jobs by send_at: the feeder sleeps until the first
CREATE INDEX jobs_queued_send_at ON jobs(state, send_at) WHERE state = 'queued' AND send_at IS NOT NULL
