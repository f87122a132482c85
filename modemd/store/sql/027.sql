-- an accept writes two indexes fewer: jobs_created goes (the readers of jobs by time alone read jobs_key_created for their bounds: store.filters.created_within), and jobs_state no longer holds queued jobs (jobs_feed holds them; an OR of the other states, so that a query's state = 'x', literal or bound, implies it)
DROP INDEX jobs_created;
DROP INDEX jobs_state;
CREATE INDEX jobs_state ON jobs(state, seq) WHERE state = 'sending' OR state = 'sent' OR state = 'delivered' OR state = 'failed' OR state = 'unknown' OR state = 'expired' OR state = 'lapsed' OR state = 'cancelled'
